/* Error reporting: every failing function records one line in a thread-local
 * buffer and returns its status, so callers can write `return xl_err(...)`. */
#ifndef XL_ERROR_H
#define XL_ERROR_H
#include "xling.h"

#if defined(__GNUC__)
#define XL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define XL_PRINTF(a, b)
#endif

/* Sets the thread's last error message and returns st. */
xl_status xl_err(xl_status st, const char *fmt, ...) XL_PRINTF(2, 3);
/* Clears the last error. */
void xl_err_clear(void);
/* Prepends "prefix: " to the current message (context from an outer layer). */
void xl_err_prefix(const char *fmt, ...) XL_PRINTF(1, 2);

#endif
