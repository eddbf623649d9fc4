#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

/* Messages quote bytes from the input (jansson's "near '...'", names, lines): a control
 * byte there must not break the message over several lines or into the terminal. */
static void one_line(char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

xl_status xl_err(xl_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    one_line(last_error);
    return st;
}

void xl_err_clear(void) { last_error[0] = '\0'; }

void xl_err_prefix(const char *fmt, ...) {
    char prefix[512], old[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    /* The message is cut at the buffer size on purpose: one line, bounded. */
    snprintf(last_error, sizeof last_error, "%.500s: %.500s", prefix, old);
    one_line(last_error);
}

const char *xl_last_error(void) { return last_error; }

const char *xl_status_name(xl_status st) {
    switch (st) {
    case XL_OK: return "ok";
    case XL_ERR_IO: return "io";
    case XL_ERR_FORMAT: return "format";
    case XL_ERR_UNSUPPORTED: return "unsupported";
    case XL_ERR_ARG: return "argument";
    case XL_ERR_NOMEM: return "memory";
    case XL_ERR_INPUT: return "input";
    case XL_ERR_CANCELLED: return "cancelled";
    }
    return "unknown";
}
