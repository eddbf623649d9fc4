/* A minimal test harness: CHECK* macros count passes and failures; each test binary
 * ends with test_summary(), which prints "<name>: N passed, N failed, N skipped" and
 * returns the exit code. Failures print file:line and what differed. */
#ifndef XL_TESTLIB_H
#define XL_TESTLIB_H
#include <stddef.h>
#include <stdio.h>

extern int t_pass, t_fail, t_skip;

#define CHECK(cond) t_check((cond) != 0, __FILE__, __LINE__, #cond)
/* CHECK with a printf-style explanation on failure; an expression (returns the outcome). */
#define CHECK_MSG(cond, ...) t_check_msg((cond) != 0, __FILE__, __LINE__, #cond, __VA_ARGS__)
#define CHECK_EQ_INT(a, b) t_check_int((long long)(a), (long long)(b), __FILE__, __LINE__, #a, #b)
#define CHECK_STR(a, b) t_check_str((a), (b), __FILE__, __LINE__, #a)
#define CHECK_NEAR(a, b, tol) t_check_near((double)(a), (double)(b), (double)(tol), __FILE__, __LINE__, #a)

int t_check(int ok, const char *file, int line, const char *expr);
int t_check_msg(int ok, const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int t_check_int(long long a, long long b, const char *file, int line, const char *ea, const char *eb);
int t_check_str(const char *a, const char *b, const char *file, int line, const char *ea);
int t_check_near(double a, double b, double tol, const char *file, int line, const char *ea);
/* Marks a skipped case with a reason (printed). */
void t_skip_case(const char *what, const char *why);
int test_summary(const char *name);

/* Root of the shared fixtures: $XLING_SHARED, else ../shared relative to the repo root.
 * Returns NULL when absent. */
const char *t_shared_dir(void);
/* Repository root (from $XLING_ROOT or the current directory). */
const char *t_repo_dir(void);
/* Joins into a static rotating buffer. */
const char *t_path(const char *a, const char *b);
/* Max abs difference of two float arrays. */
double t_max_abs_diff(const float *a, const float *b, size_t n);

#endif
