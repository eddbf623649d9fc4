/* Search index benchmark (not a test): N random unit vectors of dimension D in an
 * index with HNSW; build time (SQLite commits + graph insertion, then the graph
 * write), query latency one query at a time for exact search (GEMM over every vector)
 * and HNSW at several ef, and HNSW's recall@10 against exact.
 *   build/bench/index_bench [N=200000] [D=384] [QUERIES=200] [THREADS=0] [M=16] [EFC=200] [DATA=gauss]
 * DATA gauss: i.i.d. Gaussian vectors (on the sphere after normalisation), the hard case
 * for any graph index (full intrinsic dimension, near-equal distances); lowrank: W z +
 * noise with z of dimension 32, closer to text embeddings, whose intrinsic dimension is
 * far below their width. Queries come from the same distribution. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "xling.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_s(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)r.ru_utime.tv_sec + 1e-6 * (double)r.ru_utime.tv_usec + (double)r.ru_stime.tv_sec +
           1e-6 * (double)r.ru_stime.tv_usec;
}

static uint64_t rng = 0x243F6A8885A308D3ull;
static float nrand(void) {
    double u[2];
    for (int i = 0; i < 2; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        u[i] = ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
    }
    return (float)(sqrt(-2 * log(u[0])) * cos(2 * M_PI * u[1]));
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median and p95 of per-query latencies (ms) */
static void latency(xl_index *ix, const float *q, size_t nq, size_t dim, xl_index_search_options *o, int64_t *rows,
                    float *sc, int *nh, double *med, double *p95) {
    double *t = malloc(nq * sizeof *t);
    for (size_t i = 0; i < nq; i++) {
        double t0 = now();
        if (xl_index_search(ix, q + i * dim, 1, o, rows + i * (size_t)o->k, sc + i * (size_t)o->k, nh + i)) {
            fprintf(stderr, "search: %s\n", xl_last_error());
            exit(1);
        }
        t[i] = 1e3 * (now() - t0);
    }
    qsort(t, nq, sizeof *t, cmp_d);
    *med = t[nq / 2];
    *p95 = t[(size_t)(0.95 * (double)(nq - 1))];
    free(t);
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
    size_t dim = argc > 2 ? strtoul(argv[2], NULL, 10) : 384;
    size_t nq = argc > 3 ? strtoul(argv[3], NULL, 10) : 200;
    int threads = argc > 4 ? atoi(argv[4]) : 0;
    int M = argc > 5 ? atoi(argv[5]) : 16, efc = argc > 6 ? atoi(argv[6]) : 200;
    const char *data = argc > 7 ? argv[7] : "gauss";
    const int k = 10;
    char dir[] = "/tmp/xl_index_bench_XXXXXX";
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    char path[128];
    snprintf(path, sizeof path, "%s/bench.db", dir);
    float *v = malloc(n * dim * sizeof *v), *q = malloc(nq * dim * sizeof *q);
    if (!strcmp(data, "lowrank")) {
        const size_t r = 32;
        float *w = malloc(dim * r * sizeof *w), z[32];
        for (size_t i = 0; i < dim * r; i++) w[i] = nrand();
        for (size_t i = 0; i < n + nq; i++) {
            float *x = i < n ? v + i * dim : q + (i - n) * dim;
            for (size_t j = 0; j < r; j++) z[j] = nrand();
            for (size_t d = 0; d < dim; d++) {
                float s = 0;
                for (size_t j = 0; j < r; j++) s += w[d * r + j] * z[j];
                x[d] = s + 0.5f * nrand();
            }
        }
        free(w);
    } else {
        for (size_t i = 0; i < n * dim; i++) v[i] = nrand();
        for (size_t i = 0; i < nq * dim; i++) q[i] = nrand();
    }
    xl_l2_normalize_rows(v, n, dim);
    xl_l2_normalize_rows(q, nq, dim);
    xl_index_settings s = {.dim = (int)dim, .ann = XL_ANN_HNSW, .hnsw_m = M, .hnsw_ef_construction = efc};
    xl_index *ix;
    if (xl_index_create(path, &s) || xl_index_open(path, 1, &ix)) { fprintf(stderr, "%s\n", xl_last_error()); return 1; }
    const size_t batch = 10000;
    xl_index_item *it = calloc(batch, sizeof *it);
    double t0 = now(), c0 = cpu_s();
    for (size_t at = 0; at < n; at += batch) {
        size_t b = n - at < batch ? n - at : batch;
        for (size_t i = 0; i < b; i++) it[i] = (xl_index_item){.text = "x", .line_key = at + i + 1};
        if (xl_index_add(ix, it, b, v + at * dim, 0, NULL, NULL, NULL)) { fprintf(stderr, "%s\n", xl_last_error()); return 1; }
    }
    double t_add = now() - t0, c_add = cpu_s() - c0;
    t0 = now();
    if (xl_index_flush(ix)) { fprintf(stderr, "%s\n", xl_last_error()); return 1; }
    double t_flush = now() - t0;
    xl_index_close(ix);
    /* a fresh process's view: open, first search loads the vectors / the graph */
    t0 = now();
    if (xl_index_open(path, 1, &ix)) { fprintf(stderr, "%s\n", xl_last_error()); return 1; }
    int64_t *re = malloc(nq * k * sizeof *re), *ra = malloc(nq * k * sizeof *ra);
    float *se = malloc(nq * k * sizeof *se), *sa = malloc(nq * k * sizeof *sa);
    int *ne = malloc(nq * sizeof *ne), *na = malloc(nq * sizeof *na);
    xl_index_search_options oe = {.k = k, .exact = 1, .threads = threads};
    if (xl_index_search(ix, q, 1, &oe, re, se, ne)) { fprintf(stderr, "%s\n", xl_last_error()); return 1; }
    double t_load_exact = now() - t0;
    t0 = now();
    xl_index_search_options oa = {.k = k, .threads = threads};
    if (xl_index_search(ix, q, 1, &oa, ra, sa, na)) { fprintf(stderr, "%s\n", xl_last_error()); return 1; }
    double t_load_hnsw = now() - t0;
    double med, p95;
    latency(ix, q, nq, dim, &oe, re, se, ne, &med, &p95);
    t0 = now();
    xl_index_search(ix, q, nq, &oe, re, se, ne);
    double t_batch = now() - t0;
    printf("index_bench: %s data, n %zu, dim %zu, %zu queries, k %d, threads %d, HNSW M %d ef_construction %d\n", data,
           n, dim, nq, k, threads, M, efc);
    printf("build: %.1f s adding (%.1f s CPU; SQLite commits of %zu + graph insertion), %.1f s writing the graph\n",
           t_add, c_add, batch, t_flush);
    printf("first search of a fresh handle: exact %.2f s (loads the vectors), hnsw %.2f s (loads the graph)\n",
           t_load_exact, t_load_hnsw);
    printf("exact: %.2f ms median, %.2f ms p95 per query one at a time; %.3f ms per query in one batch of %zu\n", med,
           p95, 1e3 * t_batch / (double)nq, nq);
    const int efs[] = {10, 32, 64, 128, 256, 512, 1024, 2048};
    for (size_t e = 0; e < sizeof efs / sizeof *efs; e++) {
        oa.ef = efs[e];
        latency(ix, q, nq, dim, &oa, ra, sa, na, &med, &p95);
        size_t hit = 0;
        for (size_t i = 0; i < nq; i++)
            for (int a = 0; a < na[i]; a++)
                for (int b = 0; b < ne[i]; b++) hit += ra[i * k + (size_t)a] == re[i * k + (size_t)b];
        printf("hnsw ef %3d: %.3f ms median, %.3f ms p95 per query; recall@10 vs exact %.4f\n", efs[e], med, p95,
               (double)hit / (double)(nq * k));
    }
    xl_index_close(ix);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    free(v); free(q); free(it); free(re); free(ra); free(se); free(sa); free(ne); free(na);
    return 0;
}
