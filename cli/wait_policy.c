/* The OpenMP wait policy of the CLI (issue 9). libgomp's idle threads spin (~300000
 * pauses, milliseconds) before sleeping; when another process holds one of the cores,
 * a spinning thread keeps the core its partner needs and every fork/join waits a time
 * slice. Sleeping at once (passive) fixes that but costs a wake-up per parallel region
 * on an idle machine (e5-small 1 x 16 at 2 threads, Zen 5: 3.1 ms spinning, 8 ms
 * passive). So the CLI looks at the machine when it starts: with other runnable tasks
 * holding all but one of the usable CPUs it runs passive (under a busy loop on one of
 * two cores: 6.0 ms), else it spins briefly (GOMP_SPINCOUNT=30000: 3.2 ms idle).
 * The runtime reads its variables once, in its constructor, before main (a setenv
 * then, even from .preinit_array, is undone by glibc's start-up before libgomp reads
 * it), so when the user has chosen no policy the CLI sets one and executes itself
 * again, once: the variable is then set. If that exec fails it runs on as it is. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Tasks runnable right now, this one included (/proc/loadavg's "R/T" field); -1 if unknown. */
static int runnable_now(void) {
    FILE *f = fopen("/proc/loadavg", "r");
    double a, b, c;
    int r = -1, t;
    if (!f) return -1;
    if (fscanf(f, "%lf %lf %lf %d/%d", &a, &b, &c, &r, &t) != 5) r = -1;
    fclose(f);
    return r;
}

void cli_wait_policy(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") || getenv("KMP_BLOCKTIME")) return;
    int others = runnable_now() - 1, cpus = xl_usable_cpus();
    int busy = others >= 1 && others >= cpus - 1;
    if ((busy ? setenv("OMP_WAIT_POLICY", "passive", 1) : setenv("GOMP_SPINCOUNT", "30000", 1)) != 0) return;
    execv("/proc/self/exe", argv);
}
