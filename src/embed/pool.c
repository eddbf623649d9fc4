/* The compute pool: see pool.h. */
#include "embed/pool.h"
#include "util/error.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct job {
    xl_status (*fn)(void *);
    void *arg;
    xl_status st;
    int done;
    char msg[1024];
    struct job *next;
} job;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_work = PTHREAD_COND_INITIALIZER, g_done = PTHREAD_COND_INITIALIZER;
static job *g_head, *g_tail;
static int g_started; /* 0: no pool thread could be made; callers then run jobs in turn themselves */
static _Thread_local int t_on_pool;

static void run_job(job *j) {
    xl_err_clear();
    j->st = j->fn(j->arg);
    if (j->st) snprintf(j->msg, sizeof j->msg, "%s", xl_last_error());
}

static void *pool_main(void *unused) {
    (void)unused;
    t_on_pool = 1;
    pthread_mutex_lock(&g_lock);
    for (;;) {
        while (!g_head) pthread_cond_wait(&g_work, &g_lock);
        job *j = g_head;
        g_head = j->next;
        if (!g_head) g_tail = NULL;
        pthread_mutex_unlock(&g_lock);
        run_job(j);
        pthread_mutex_lock(&g_lock);
        j->done = 1;
        pthread_cond_broadcast(&g_done);
    }
    return NULL;
}

/* A forked child has no pool thread (and may inherit the lock held): it runs its jobs
 * on the calling thread, one at a time. */
static void child_after_fork(void) {
    pthread_mutex_init(&g_lock, NULL);
    pthread_cond_init(&g_work, NULL);
    pthread_cond_init(&g_done, NULL);
    g_head = g_tail = NULL;
    g_started = 0;
}

static void start_pool(void) {
    pthread_atfork(NULL, NULL, child_after_fork);
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    /* The forward's stack use is small, but OpenMP's master thread wants room. */
    pthread_attr_setstacksize(&at, 8u << 20);
    g_started = pthread_create(&th, &at, pool_main, NULL) == 0;
    pthread_attr_destroy(&at);
}

xl_status xl_pool_run(xl_status (*fn)(void *), void *arg) {
    job j = {.fn = fn, .arg = arg};
    if (t_on_pool) {
        run_job(&j);
    } else {
        pthread_once(&g_once, start_pool);
        pthread_mutex_lock(&g_lock);
        if (g_started) {
            if (g_tail) g_tail->next = &j; else g_head = &j;
            g_tail = &j;
            pthread_cond_signal(&g_work);
            while (!j.done) pthread_cond_wait(&g_done, &g_lock);
        } else {
            run_job(&j); /* under the lock: still one forward at a time */
        }
        pthread_mutex_unlock(&g_lock);
    }
    if (j.st) return xl_err(j.st, "%s", j.msg);
    return XL_OK;
}
