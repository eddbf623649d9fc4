/* The process's one compute pool: a thread, started on first use and kept until exit,
 * that runs every transformer forward of the library (its OpenMP team is the one pool
 * of worker threads). Callers queue a job and wait for it, in arrival order, so
 * concurrent contexts take turns batch by batch instead of starting a team each. */
#ifndef XL_POOL_H
#define XL_POOL_H
#include "xling.h"

/* Runs fn(arg) on the pool thread and returns its status; a failure's message is
 * copied to the caller's xl_last_error(). Called from the pool thread itself (a nested
 * job), fn runs in place. */
xl_status xl_pool_run(xl_status (*fn)(void *arg), void *arg);

#endif
