#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void progress_init(progress *p, const char *what) {
    p->enabled = isatty(2);
    p->what = what;
    p->start = p->last = now();
    p->done = 0;
}

static void draw(progress *p, double t) {
    double el = t - p->start;
    fprintf(stderr, "\r%s: %zu done, %.1f/s, %.1fs", p->what, p->done, el > 0 ? p->done / el : 0.0, el);
}

void progress_add(progress *p, size_t n) {
    p->done += n;
    if (!p->enabled) return;
    double t = now();
    if (t - p->last < 0.1) return;
    p->last = t;
    draw(p, t);
}

void progress_end(progress *p) {
    if (!p->enabled || p->last == p->start) return;
    draw(p, now());
    fputc('\n', stderr);
}

void progress_run_cb(void *ctx, size_t done, size_t total) {
    progress_run *r = ctx;
    (void)total;
    progress_add(&r->bar, r->base + done - r->bar.done);
}
