/* Rates of the decoder linears this build compiles (BF16 weights in place:
 * xl_linear_half; block int8: xl_q8_linear), for a list of row counts.
 *
 *   build/bench/decoder_kernels [-m 1,16,512] [-k 1024] [-n 3072] [-r 10] [-w 1] [-t 1]
 *     -m  rows of x (comma-separated)    -k, -n  inputs and outputs of the layer
 *     -r  repetitions (the best counts)  -w  distinct weight matrices swept per
 *     repetition (e.g. 12: 72 MB of BF16 at 1024 x 3072, more than the L3, so the
 *     weights come from DRAM as in a model)  -t  threads
 *
 * With one thread the time is the thread's CPU time (CLOCK_THREAD_CPUTIME_ID): on a
 * shared machine the time slices lost to other processes do not count. With more
 * threads it is wall time. Rates: 2·M·N·K (BF16, GFLOP/s) and 2·M·N·Kp (q8, G int
 * ops/s, Kp = K rounded up to the 128-value block) per second. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kernels/linear_half.h"
#include "kernels/q8.h"
#include "util/alloc.h"

static double now(int threads) {
    struct timespec t;
    clock_gettime(threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static unsigned long long rng = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform in [-0.5, 0.5) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 - 0.5);
}

int main(int argc, char **argv) {
    const char *ms = "1,4,16,64,512";
    int K = 1024, N = 3072, R = 10, NW = 1, T = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-m")) ms = argv[i + 1];
        else if (!strcmp(argv[i], "-k")) K = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-n")) N = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-r")) R = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-w")) NW = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-t")) T = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "decoder_kernels: unknown option %s (see the comment at the top of the source)\n", argv[i]);
            return 2;
        }
    }
    if (K <= 0 || N <= 0 || R <= 0 || NW <= 0 || T <= 0) {
        fprintf(stderr, "decoder_kernels: -k, -n, -r, -w and -t must be positive\n");
        return 2;
    }
    uint16_t **W = malloc(sizeof *W * (size_t)NW);
    xl_q8_matrix *q = malloc(sizeof *q * (size_t)NW);
    for (int w = 0; w < NW; w++) {
        W[w] = malloc(sizeof(uint16_t) * (size_t)N * K);
        for (size_t i = 0; i < (size_t)N * K; i++) {
            float f = frand() * 0.1f;
            uint32_t b;
            memcpy(&b, &f, sizeof b);
            W[w][i] = (uint16_t)(b >> 16);
        }
        if (xl_q8_quantize(W[w], XL_DT_BF16, N, K, &q[w], T) != XL_OK) {
            fprintf(stderr, "decoder_kernels: out of memory\n");
            return 1;
        }
    }
    printf("K=%d N=%d, %d weight matri%s, %d thread%s, q8 kernel %s\n", K, N, NW, NW == 1 ? "x" : "ces", T,
           T == 1 ? " (thread CPU time)" : "s (wall time)", xl_q8_has_vnni() ? "VNNI" : "without VNNI");
    char *list = strdup(ms);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        int M = atoi(tok);
        if (M <= 0) continue;
        float *x = xl_alloc_huge(sizeof(float) * (size_t)M * K), *y = xl_alloc_huge(sizeof(float) * (size_t)M * N);
        float *work = xl_alloc_huge(sizeof(float) * xl_linear_half_work(M, K, T));
        void *qwork = xl_alloc_huge(xl_q8_work(M, K, T));
        if (!x || !y || !work || !qwork) {
            fprintf(stderr, "decoder_kernels: out of memory at M=%d\n", M);
            return 1;
        }
        for (size_t i = 0; i < (size_t)M * K; i++) x[i] = frand();
        double best = 1e30, bestq = 1e30;
        for (int r = 0; r < R; r++) {
            double t0 = now(T);
            for (int w = 0; w < NW; w++) xl_linear_half(x, M, K, W[w], XL_DT_BF16, N, NULL, y, work, T);
            double t1 = now(T);
            for (int w = 0; w < NW; w++) xl_q8_linear(x, M, K, &q[w], NULL, y, qwork, T);
            double t2 = now(T);
            if (t1 - t0 < best) best = t1 - t0;
            if (t2 - t1 < bestq) bestq = t2 - t1;
        }
        double flop = 2.0 * M * N * K * NW, iop = 2.0 * M * N * q[0].Kp * NW;
        printf("M=%5d  bf16 %9.3f ms %7.1f GFLOP/s   q8 %9.3f ms %7.1f G int-ops/s\n", M, best * 1e3, flop / best / 1e9,
               bestq * 1e3, iop / bestq / 1e9);
        free(x);
        free(y);
        free(work);
        free(qwork);
    }
    free(list);
    for (int w = 0; w < NW; w++) {
        free(W[w]);
        xl_q8_free(&q[w]);
    }
    free(W);
    free(q);
    return 0;
}
