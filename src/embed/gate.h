/* The process's compute gate: every transformer forward of the library passes through
 * it, one at a time, in arrival order, on the caller's own thread with all the threads
 * its options ask for. Concurrent contexts thus take turns batch by batch instead of
 * running several OpenMP teams at once on the same cores.
 *
 * Why a gate and not a dedicated compute thread: handing each batch to another thread
 * costs two wake-ups per batch, and with OpenMP's default spin-waiting workers on a
 * loaded machine those wake-ups cost milliseconds (measured 10-30x slower on small
 * batches, see the api branch notes). With the gate, the caller is the OpenMP master,
 * as in a single-threaded program. */
#ifndef XL_GATE_H
#define XL_GATE_H
#include "xling.h"

/* Runs fn(arg) once no other forward is running and every caller that arrived earlier
 * has had its turn; returns its status (its message stays in xl_last_error). A call from
 * inside fn (a nested forward) runs at once. */
xl_status xl_gate_run(xl_status (*fn)(void *arg), void *arg);

/* 1 in a process forked after forwards ran: libgomp's thread teams do not survive a
 * fork (a parallel region in the child waits for workers that are gone), so such a
 * child must run its forwards on one thread. */
int xl_gate_forked(void);

#endif
