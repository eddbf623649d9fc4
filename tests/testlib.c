#include "testlib.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int t_pass, t_fail, t_skip;

int t_check(int ok, const char *file, int line, const char *expr) {
    if (ok) { t_pass++; return 1; }
    t_fail++;
    fprintf(stderr, "FAIL %s:%d: %s\n", file, line, expr);
    return 0;
}

int t_check_msg(int ok, const char *file, int line, const char *expr, const char *fmt, ...) {
    if (t_check(ok, file, line, expr)) return 1;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "    ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 0;
}

int t_check_int(long long a, long long b, const char *file, int line, const char *ea, const char *eb) {
    if (a == b) { t_pass++; return 1; }
    t_fail++;
    fprintf(stderr, "FAIL %s:%d: %s == %s (%lld vs %lld)\n", file, line, ea, eb, a, b);
    return 0;
}

int t_check_str(const char *a, const char *b, const char *file, int line, const char *ea) {
    if (a && b && strcmp(a, b) == 0) { t_pass++; return 1; }
    t_fail++;
    fprintf(stderr, "FAIL %s:%d: %s: got \"%s\", want \"%s\"\n", file, line, ea, a ? a : "(null)", b ? b : "(null)");
    return 0;
}

int t_check_near(double a, double b, double tol, const char *file, int line, const char *ea) {
    if (fabs(a - b) <= tol) { t_pass++; return 1; }
    t_fail++;
    fprintf(stderr, "FAIL %s:%d: %s: %.9g vs %.9g (|diff| %.3g > %.3g)\n", file, line, ea, a, b, fabs(a - b), tol);
    return 0;
}

void t_skip_case(const char *what, const char *why) {
    t_skip++;
    fprintf(stderr, "SKIP %s: %s\n", what, why);
}

int test_summary(const char *name) {
    printf("%s: %d passed, %d failed, %d skipped\n", name, t_pass, t_fail, t_skip);
    return t_fail ? 1 : 0;
}

const char *t_repo_dir(void) {
    const char *r = getenv("XLING_ROOT");
    return r && *r ? r : ".";
}

const char *t_shared_dir(void) {
    static char buf[4096];
    const char *s = getenv("XLING_SHARED");
    if (!s || !*s) {
        snprintf(buf, sizeof buf, "%s/../shared", t_repo_dir());
        s = buf;
    }
    struct stat st;
    if (stat(s, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    return s;
}

const char *t_path(const char *a, const char *b) {
    static char bufs[8][4096];
    static int k;
    char *p = bufs[k++ & 7];
    snprintf(p, 4096, "%s/%s", a, b);
    return p;
}

double t_max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d) m = d != d ? INFINITY : d;
    }
    return m;
}
