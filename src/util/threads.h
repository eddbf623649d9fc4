/* Thread counts (xl_usable_cpus, xl_default_threads in xling.h; threads.c). */
#ifndef XL_THREADS_H
#define XL_THREADS_H
#include "xling.h"

/* The thread count for a request: 0 or less = xl_default_threads(), else capped at
 * xl_usable_cpus(). */
int xl_threads_for(int requested);

/* threads, or 1 when a forward of `macs` multiply-adds is too small to share
 * (XLING_PAR_MIN_MACS, default 8e6; 0 = never). */
int xl_threads_for_work(int threads, double macs);

#endif
