#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char g_msg[1024];

void cli_set_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
}

void cli_take_lib_error(void) { snprintf(g_msg, sizeof g_msg, "%s", xl_last_error()); }

const char *cli_error(void) { return g_msg; }

int cli_report(const char *cmd) {
    fprintf(stderr, "xling %s: %s\n", cmd, g_msg);
    return 1;
}

int cli_fail(const char *cmd) {
    fprintf(stderr, "xling %s: %s\n", cmd, xl_last_error());
    return 1;
}

int cli_usage(const char *cmd, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "xling %s: %s (see `xling %s --help`)\n", cmd, msg, cmd);
    return 2;
}

int cli_bad_option(const char *cmd, int c, char **argv) {
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    if (c == ':') return cli_usage(cmd, "%s needs a value", arg);
    if (optopt && optopt < 128 && arg[0] == '-' && arg[1] != '-') return cli_usage(cmd, "unknown option -%c", optopt);
    return cli_usage(cmd, "unknown option %s", arg);
}

int cli_parse_int(const char *cmd, const char *opt, const char *val, int min, int max, int *out) {
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || end == val || *end || v < min || v > max) {
        cli_usage(cmd, "%s expects an integer in [%d, %d], got \"%s\"", opt, min, max, val);
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

int cli_has_ext(const char *name, const char *ext) {
    size_t a = strlen(name), b = strlen(ext);
    return a > b && strcasecmp(name + a - b, ext) == 0;
}

size_t cli_special_count(const xl_tokenizer *tok) {
    if (!tok) return 0;
    xl_encoding e;
    if (xl_tokenize(tok, "", 0, 1, &e)) return 0;
    size_t n = e.n;
    xl_encoding_free(&e);
    return n;
}

void cli_put_json_string(FILE *f, const char *s, size_t len) {
    char *fixed = NULL;
    for (size_t i = 0; i < len && !fixed; i++) /* only text with non-ASCII bytes can be invalid */
        if ((unsigned char)s[i] >= 0x80) {
            size_t fl;
            if ((fixed = xl_utf8_repair(s, len, &fl, NULL))) {
                s = fixed;
                len = fl;
            }
            break;
        }
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { fputc('\\', f); fputc(c, f); }
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c == '\r') fputs("\\r", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
    free(fixed);
}
