/* Threads under a competing load: batches embedded at 2 threads while busy processes
 * take the cores, compared with the same batches at 1 thread.
 *
 * A batch of 4 runs sequence by sequence at both thread counts (each sequence through
 * the same kernels in the same shape), so its vectors must be bit-identical. Between
 * batches a single text runs batch-wide at 2 threads (tolerance 1e-5 against 1 thread):
 * that switches the BLAS thread count back and forth, which is what exposed the
 * OpenBLAS buffer race (issue 9) on builds that multiply with OpenBLAS.
 * Then the encoder forward itself at 4 threads, more than the CPUs (oversubscribed).
 * Then the thread counts (xl_usable_cpus, xl_default_threads) under a changed affinity
 * and OMP_NUM_THREADS (the wait policy is checked in tests/cli/test_threads_cli.sh).
 * XLING_STRESS_SECONDS (default 2) and XLING_STRESS_BUSY (busy processes, default 2)
 * make it longer or heavier (tests/stress/threads.sh). XLING_PAR_MIN_MACS=0 makes these
 * small forwards use 2 threads at all. */
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "io/safetensors.h"
#include "models/arch.h"
#include "testlib.h"
#include "util/json.h"
#include "util/threads.h"
#include "xling.h"

#define MAX_BUSY 16

static const char *const k_texts[4] = {
    "Prate jo Italiaansk?",
    "Bonjour le monde, ceci est un test un peu plus long que le premier.",
    "Hallo Welt",
    "मी टोकी पोनाचा अभ्यास करतो आहे. Tom is niet heel jong.",
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int env_int(const char *name, int dflt, int lo, int hi) {
    const char *s = getenv(name);
    if (!s || !*s) return dflt;
    char *end;
    long v = strtol(s, &end, 10);
    return *end || v < lo || v > hi ? dflt : (int)v;
}

/* Busy processes, started before the OpenMP runtime (fork copies no threads) and
 * ended by their ids; they die with this process too. */
static int start_busy(pid_t *pids, int n) {
    int started = 0;
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            volatile unsigned long x = 0;
            for (;;) x++;
        }
        if (p < 0) break;
        pids[started++] = p;
    }
    return started;
}

static void stop_busy(const pid_t *pids, int n) {
    for (int i = 0; i < n; i++) kill(pids[i], SIGKILL);
    for (int i = 0; i < n; i++) waitpid(pids[i], NULL, 0);
}

static int embed(xl_model *m, const char *const *texts, size_t n, int threads, float *out) {
    xl_embed_options o;
    xl_embed_options_init(&o);
    o.threads = threads;
    return xl_embed_texts(m, texts, NULL, n, &o, out, NULL) == XL_OK;
}

static void stress(const char *name, int seconds, int busy) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/models/%s", t_repo_dir(), name);
    pid_t pids[MAX_BUSY];
    int nb = start_busy(pids, busy);
    CHECK_MSG(nb == busy, "started %d of %d busy processes", nb, busy);
    xl_model_options mo = {.threads = 2};
    xl_model *m = NULL;
    if (!CHECK_MSG(xl_model_load(dir, &mo, &m) == XL_OK, "%s: %s", dir, xl_last_error())) {
        stop_busy(pids, nb);
        return;
    }
    xl_model_info info;
    xl_model_get_info(m, &info);
    const size_t D = (size_t)info.dim;
    float *ref4 = malloc(4 * D * sizeof *ref4), *got4 = malloc(4 * D * sizeof *got4);
    float *ref1 = malloc(D * sizeof *ref1), *got1 = malloc(D * sizeof *got1);
    int ok = ref4 && got4 && ref1 && got1 && embed(m, k_texts, 4, 1, ref4) && embed(m, k_texts + 1, 1, 1, ref1);
    CHECK_MSG(ok, "%s: reference at 1 thread: %s", name, xl_last_error());
    long runs = 0, bad4 = 0, bad1 = 0;
    double worst4 = 0, worst1 = 0;
    const double end = now() + seconds;
    while (ok && now() < end) {
        /* batch-wide at 2 threads, then 4 sequences side by side at 2 threads */
        if (!embed(m, k_texts + 1, 1, 2, got1) || !embed(m, k_texts, 4, 2, got4)) {
            ok = CHECK_MSG(0, "%s: embed at 2 threads: %s", name, xl_last_error());
            break;
        }
        runs++;
        if (memcmp(got4, ref4, 4 * D * sizeof *got4) != 0) {
            double d = t_max_abs_diff(got4, ref4, 4 * D);
            bad4++;
            worst4 = d > worst4 ? d : worst4;
        }
        double d1 = t_max_abs_diff(got1, ref1, D);
        if (d1 > 1e-5) bad1++;
        worst1 = d1 > worst1 ? d1 : worst1;
    }
    stop_busy(pids, nb);
    printf("%s: %ld rounds in %d s with %d busy processes; batch of 4 differs in %ld (max abs %.3g), single text in %ld (max abs %.3g)\n",
           name, runs, seconds, nb, bad4, worst4, bad1, worst1);
    CHECK_MSG(runs >= 1, "%s: only %ld rounds ran", name, runs);
    CHECK_MSG(bad4 == 0, "%s: %ld of %ld batches of 4 at 2 threads differ from 1 thread (max abs %g)", name, bad4, runs,
              worst4);
    CHECK_MSG(bad1 == 0, "%s: %ld of %ld single texts at 2 threads differ from 1 thread by > 1e-5 (max abs %g)", name,
              bad1, runs, worst1);
    free(ref4);
    free(got4);
    free(ref1);
    free(got1);
    xl_model_free(m);
}

/* The encoder forward itself at 4 threads on 2 CPUs or fewer (the public API would cap the
 * count): every parallel region then has threads waiting for a core, so each runs at
 * preempted moments even without busy processes. 8 sequences go side by side (whole
 * sequences per thread through the same kernels and shapes as at 1 thread: bit-identical), alternating
 * with one sequence batch-wide at 4 threads, for `seconds`. */
static void oversubscribed(const char *name, int seconds) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/models/%s", t_repo_dir(), name);
    json_t *cfg = NULL;
    xl_weights *w = NULL;
    const xl_arch *arch = NULL;
    void *model = NULL;
    if (!CHECK_MSG(!xl_json_load_file(t_path(dir, "config.json"), &cfg) && !xl_weights_open_dir(dir, &w) &&
                       !xl_arch_find(cfg, dir, &arch) && !arch->load(cfg, w, dir, NULL, &model),
                   "%s: %s", dir, xl_last_error())) {
        xl_weights_close(w);
        json_decref(cfg);
        return;
    }
    xl_arch_info info;
    arch->get_info(model, &info);
    enum { B = 8, T = 24 };
    int32_t ids[B * T];
    uint8_t mask[B * T];
    int lens[B];
    unsigned seed = 12345;
    for (int b = 0; b < B; b++) {
        lens[b] = T - 2 * b; /* right-padded, lengths 24 .. 10 */
        for (int t = 0; t < T; t++) {
            seed = seed * 1103515245u + 12345u;
            ids[b * T + t] = t < lens[b] ? 3 + (int32_t)((seed >> 8) % (unsigned)(info.vocab_size - 3)) : 0;
            mask[b * T + t] = t < lens[b];
        }
    }
    const size_t n = (size_t)B * T * info.hidden_size, n1 = (size_t)T * info.hidden_size;
    float *ref = malloc(n * sizeof *ref), *got = malloc(n * sizeof *got);
    float *ref1 = malloc(n1 * sizeof *ref1), *got1 = malloc(n1 * sizeof *got1);
    xl_batch all = {.B = B, .T = T, .ids = ids, .mask = mask, .lens = lens};
    xl_batch one = {.B = 1, .T = T, .ids = ids, .mask = mask, .lens = lens};
    void *state = NULL;
    int ok = ref && got && ref1 && got1 && !arch->state_new(model, &state) &&
             !arch->forward(model, state, &all, ref, NULL, NULL, 1) &&
             !arch->forward(model, state, &one, ref1, NULL, NULL, 1);
    CHECK_MSG(ok, "%s: forward at 1 thread: %s", name, xl_last_error());
    long runs = 0, bad = 0, bad1 = 0;
    double worst = 0;
    const double end = now() + seconds;
    while (ok && now() < end) {
        if (arch->forward(model, state, &one, got1, NULL, NULL, 4) ||
            arch->forward(model, state, &all, got, NULL, NULL, 4)) {
            ok = CHECK_MSG(0, "%s: forward at 4 threads: %s", name, xl_last_error());
            break;
        }
        runs++;
        int differs = 0;
        for (int b = 0; b < B; b++) { /* the real rows of each sequence */
            size_t off = (size_t)b * T * info.hidden_size, len = (size_t)lens[b] * info.hidden_size;
            if (memcmp(got + off, ref + off, len * sizeof *got) == 0) continue;
            double d = t_max_abs_diff(got + off, ref + off, len);
            differs = 1;
            worst = d > worst ? d : worst;
        }
        bad += differs;
        if (t_max_abs_diff(got1, ref1, (size_t)lens[0] * info.hidden_size) > 1e-5) bad1++;
    }
    printf("%s forward at 4 threads on %d CPUs: %ld rounds in %d s; batch of 8 differs in %ld (max abs %.3g), one sequence in %ld\n",
           name, xl_usable_cpus(), runs, seconds, bad, worst, bad1);
    CHECK_MSG(runs >= 1, "%s: no round ran", name);
    CHECK_MSG(bad == 0, "%s: %ld of %ld batches of 8 at 4 threads differ from 1 thread (max abs %g)", name, bad, runs, worst);
    CHECK_MSG(bad1 == 0, "%s: %ld of %ld single sequences at 4 threads differ from 1 thread by > 1e-5", name, bad1, runs);
    free(ref);
    free(got);
    free(ref1);
    free(got1);
    if (state) arch->state_free(state);
    arch->free(model);
    xl_weights_close(w);
    json_decref(cfg);
}

static void counts(void) {
    cpu_set_t all, one;
    if (!CHECK(sched_getaffinity(0, sizeof all, &all) == 0)) return;
    const int cpus = CPU_COUNT(&all);
    CHECK_EQ_INT(xl_usable_cpus(), cpus);
    unsetenv("OMP_NUM_THREADS");
    CHECK_EQ_INT(xl_default_threads(), cpus);
    setenv("OMP_NUM_THREADS", "1", 1);
    CHECK_EQ_INT(xl_default_threads(), 1);
    setenv("OMP_NUM_THREADS", "1,1", 1); /* nested levels: the first counts */
    CHECK_EQ_INT(xl_default_threads(), 1);
    setenv("OMP_NUM_THREADS", "100000", 1); /* never above the usable CPUs */
    CHECK_EQ_INT(xl_default_threads(), cpus);
    setenv("OMP_NUM_THREADS", "zero", 1); /* not a number: ignored */
    CHECK_EQ_INT(xl_default_threads(), cpus);
    unsetenv("OMP_NUM_THREADS");
    /* small forwards run on one thread; XLING_PAR_MIN_MACS moves the bar */
    setenv("XLING_PAR_MIN_MACS", "8e6", 1);
    CHECK_EQ_INT(xl_threads_for_work(2, 65536.0), 1);     /* xlmr-tiny 1 x 16 */
    CHECK_EQ_INT(xl_threads_for_work(2, 3.4e8), 2);       /* e5-small 1 x 16 */
    CHECK_EQ_INT(xl_threads_for_work(1, 3.4e8), 1);
    setenv("XLING_PAR_MIN_MACS", "0", 1);
    CHECK_EQ_INT(xl_threads_for_work(2, 1.0), 2);
    unsetenv("XLING_PAR_MIN_MACS");
    CHECK_EQ_INT(xl_threads_for_work(4, 1e6), 1);
    CHECK_EQ_INT(xl_threads_for_work(4, 1e8), 4);
    setenv("XLING_PAR_MIN_MACS", "0", 1); /* back to what main set */
    /* pinned to one CPU (as taskset -c does) */
    int first = 0;
    while (!CPU_ISSET(first, &all)) first++;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    if (CHECK(sched_setaffinity(0, sizeof one, &one) == 0)) {
        CHECK_EQ_INT(xl_usable_cpus(), 1);
        CHECK_EQ_INT(xl_default_threads(), 1);
        CHECK(sched_setaffinity(0, sizeof all, &all) == 0);
    }
    CHECK_EQ_INT(xl_usable_cpus(), cpus);
}

int main(void) {
    /* the fixtures' forwards are small enough to run on one thread by default */
    setenv("XLING_PAR_MIN_MACS", "0", 1);
    int seconds = env_int("XLING_STRESS_SECONDS", 2, 1, 86400);
    int busy = env_int("XLING_STRESS_BUSY", 2, 0, MAX_BUSY);
    stress("xlmr-tiny", seconds, busy);
    stress("bert-tiny", seconds, busy);
    oversubscribed("xlmr-tiny", (seconds + 1) / 2);
    oversubscribed("bert-tiny", (seconds + 1) / 2);
    counts();
    return test_summary("test_threads");
}
