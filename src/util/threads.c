/* How many threads xling runs.
 *
 * The CPUs this process may run on (sched_getaffinity: taskset, cpusets), not the
 * machine's; OMP_NUM_THREADS, when set, lowers the default. More threads than CPUs only
 * makes threads wait for each other at every kernel's barrier, and so does a forward
 * too small to share: it runs on one thread. (How idle threads wait is the OpenMP
 * runtime's OMP_WAIT_POLICY, read before main: the CLI sets it, cli/wait_policy.c.) */
#include "util/threads.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

int xl_usable_cpus(void) {
    int n = 0;
    for (int cpus = 1024; cpus <= (1 << 20); cpus *= 2) { /* EINVAL: the kernel's mask is larger */
        cpu_set_t *set = CPU_ALLOC(cpus);
        if (!set) break;
        size_t size = CPU_ALLOC_SIZE(cpus);
        int rc = sched_getaffinity(0, size, set), err = errno;
        if (rc == 0) n = CPU_COUNT_S(size, set);
        CPU_FREE(set);
        if (rc == 0 || err != EINVAL) break;
    }
#ifdef _OPENMP
    /* OMP_PROC_BIND / OMP_PLACES pin the calling thread to one place of the runtime's
     * set; the runtime still counts all of it */
    if (getenv("OMP_PROC_BIND") || getenv("OMP_PLACES")) {
        int p = omp_get_num_procs();
        if (p > n) n = p;
    }
#endif
    if (n < 1) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c >= 1 && c < (1 << 20) ? (int)c : 1;
    }
    return n;
}

int xl_default_threads(void) {
    int n = xl_usable_cpus();
    const char *e = getenv("OMP_NUM_THREADS"); /* "4" or a list "4,2": the first level */
    if (e && *e) {
        char *end;
        long v = strtol(e, &end, 10);
        if (end != e && (*end == '\0' || *end == ',') && v >= 1 && v < n) n = (int)v;
    }
    return n;
}

int xl_threads_for(int requested) {
    if (requested <= 0) return xl_default_threads();
    int cpus = xl_usable_cpus();
    return requested < cpus ? requested : cpus;
}

/* Below this many multiply-adds a forward runs on one thread: each parallel region
 * costs a wake-up (tens of microseconds idle, a scheduler time slice when another
 * process holds the core), more than such a batch's compute (~0.2 ms at 8M). */
#define PAR_MIN_MACS 8e6

int xl_threads_for_work(int threads, double macs) {
    double min_macs = PAR_MIN_MACS;
    const char *e = getenv("XLING_PAR_MIN_MACS"); /* an override (0: always threads; tests) */
    if (e && *e) {
        char *end;
        double v = strtod(e, &end);
        if (*end == '\0' && v >= 0.0) min_macs = v;
    }
    return threads > 1 && macs < min_macs ? 1 : threads;
}
