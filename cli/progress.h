/* A progress line on stderr, only when stderr is a terminal. */
#ifndef XL_CLI_PROGRESS_H
#define XL_CLI_PROGRESS_H
#include <stddef.h>

typedef struct {
    int enabled;
    const char *what;
    double start, last;
    size_t done;
} progress;

void progress_init(progress *p, const char *what);
/* Adds n finished items and redraws at most ~10 times a second. */
void progress_add(progress *p, size_t n);
void progress_end(progress *p);

/* A bar fed by the library's progress callback (xl_*_options.progress with ctx = the
 * progress_run): done counts within the current library call, so base holds the items
 * finished before it. */
typedef struct {
    progress bar;
    size_t base;
} progress_run;
void progress_run_cb(void *ctx, size_t done, size_t total);

#endif
