/* Thread counts (xl_usable_cpus, xl_default_threads in xling.h) and the OpenMP wait
 * policy set at program start (threads.c). */
#ifndef XL_THREADS_H
#define XL_THREADS_H
#include "xling.h"

/* The thread count for a request: 0 or less = xl_default_threads(), else capped at
 * xl_usable_cpus(). */
int xl_threads_for(int requested);

#endif
