/* How many threads xling runs, and how idle OpenMP threads wait.
 *
 * Count: the CPUs this process may run on (sched_getaffinity: taskset, cpusets), not the
 * machine's; OMP_NUM_THREADS, when set, lowers the default. More threads than CPUs only
 * makes threads wait for each other at every kernel's barrier.
 *
 * Waiting: libgomp's threads spin (~300000 pauses, milliseconds) before sleeping. When
 * another process holds one of the cores, a spinning thread keeps the core its partner
 * needs, or makes the scheduler treat it as a CPU hog, and every fork/join waits a
 * time slice: a 1 x 16 embed at 2 threads went 7-40x slower than at 1 thread. Threads
 * that sleep at once (OMP_WAIT_POLICY=passive) are woken promptly and cost a futex wake
 * per parallel region when the machine is idle (figures: bench/wait_policy.sh, README).
 * libgomp reads its environment in its own constructor, before main and before any
 * constructor of ours, so the policy is set from the executable's .preinit_array,
 * which the dynamic loader runs first — only when the user has set none of
 * OMP_WAIT_POLICY, GOMP_SPINCOUNT or KMP_BLOCKTIME. glibc's start-up then points environ
 * back at the original block, so main, getenv and child processes see the environment
 * unchanged. LLVM's libomp reads its environment later, at the first parallel region:
 * with it (clang builds), set OMP_WAIT_POLICY=passive by hand. */
#include "util/threads.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static void set_wait_policy(int argc, char **argv, char **envp) {
    (void)argc;
    (void)argv;
    (void)envp;
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") || getenv("KMP_BLOCKTIME")) return;
    setenv("OMP_WAIT_POLICY", "passive", 0);
}

/* Only an executable's .preinit_array is run (a shared library's would be refused at
 * link time): libxling is a static library, linked into the program. */
__attribute__((section(".preinit_array"), used)) static void (*const preinit_wait_policy)(int, char **, char **) =
    set_wait_policy;

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
