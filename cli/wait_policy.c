/* The OpenMP wait policy of the CLI (issue 9). libgomp's idle threads spin (~300000
 * pauses, milliseconds) before sleeping; when another process holds one of the cores,
 * a spinning thread keeps the core its partner needs and every fork/join waits a time
 * slice: a 1 x 16 embed at 2 threads went many times slower than at 1. Threads that
 * sleep at once (passive) are woken in microseconds (figures: README, "Threads").
 * The runtime reads OMP_WAIT_POLICY once, in its constructor, before main (a setenv
 * then, even from .preinit_array, is undone by glibc's start-up before libgomp reads
 * it), so when the user has chosen no policy the CLI sets passive and executes itself
 * again, once: the variable is then set. If that exec fails it runs on as it is. */
#include "cli.h"

#include <stdlib.h>
#include <unistd.h>

void cli_wait_policy(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") || getenv("KMP_BLOCKTIME")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
    execv("/proc/self/exe", argv);
}
