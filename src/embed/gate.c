/* The compute gate: see gate.h. A ticket lock: callers are served in arrival order. */
#include "embed/gate.h"

#include <pthread.h>

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_turn = PTHREAD_COND_INITIALIZER;
static unsigned long g_next, g_serving;
static _Thread_local int t_inside;
static int g_used, g_forked;

/* A forked child has only the forking thread: no turn of another thread can end there. */
static void child_after_fork(void) {
    g_forked = g_used;
    pthread_mutex_init(&g_lock, NULL);
    pthread_cond_init(&g_turn, NULL);
    g_next = g_serving = 0;
    t_inside = 0;
}

static void register_fork_handler(void) { pthread_atfork(NULL, NULL, child_after_fork); }

xl_status xl_gate_run(xl_status (*fn)(void *), void *arg) {
    if (t_inside) return fn(arg);
    pthread_once(&g_once, register_fork_handler);
    pthread_mutex_lock(&g_lock);
    g_used = 1;
    unsigned long ticket = g_next++;
    while (ticket != g_serving) pthread_cond_wait(&g_turn, &g_lock);
    pthread_mutex_unlock(&g_lock);
    t_inside = 1;
    xl_status st = fn(arg);
    t_inside = 0;
    pthread_mutex_lock(&g_lock);
    g_serving++;
    pthread_cond_broadcast(&g_turn);
    pthread_mutex_unlock(&g_lock);
    return st;
}

int xl_gate_forked(void) { return g_forked; }
