#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_fail(const char *cmd) {
    fprintf(stderr, "xling %s: %s\n", cmd, xl_last_error());
    return 1;
}

int cli_parse_int(const char *cmd, const char *opt, const char *val, int min, int max, int *out) {
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || end == val || *end || v < min || v > max) {
        fprintf(stderr, "xling %s: %s expects an integer in [%d, %d], got \"%s\"\n", cmd, opt, min, max, val);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int cli_threads(const char *cmd, int requested) {
    int cpus = xl_usable_cpus();
    if (requested <= cpus) return requested;
    fprintf(stderr, "xling %s: warning: %d threads requested, but this process may use %d CPU%s; using %d\n", cmd,
            requested, cpus, cpus == 1 ? "" : "s", cpus);
    return cpus;
}

int cli_parse_pooling(const char *s, xl_pooling *out) {
    if (!strcmp(s, "cls")) *out = XL_POOL_CLS;
    else if (!strcmp(s, "mean")) *out = XL_POOL_MEAN;
    else if (!strcmp(s, "max")) *out = XL_POOL_MAX;
    else if (!strcmp(s, "last") || !strcmp(s, "lasttoken")) *out = XL_POOL_LAST;
    else return -1;
    return 0;
}

const char *cli_pooling_name(xl_pooling p) {
    switch (p) {
    case XL_POOL_CLS: return "cls";
    case XL_POOL_MEAN: return "mean";
    case XL_POOL_MAX: return "max";
    case XL_POOL_LAST: return "lasttoken";
    case XL_POOL_DEFAULT: return "default";
    }
    return "?";
}
