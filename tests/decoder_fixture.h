/* Shared by test_llama.c and test_gemma3.c: loads a decoder fixture from
 * ../shared/fixtures/models/<name> (config.json, model.safetensors, reference.json) and
 * compares an architecture's forward pass with the float64 reference, one input at a
 * time and as the reference's padded batch (left padding moved to the right, positions
 * 0..n-1 over the real tokens). Every run of a loaded model goes through one run state,
 * so inputs of different lengths also check that the state grows and is reused right.
 * Header-only: each test binary is a single file plus testlib. */
#ifndef XL_TEST_DECODER_FIXTURE_H
#define XL_TEST_DECODER_FIXTURE_H
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "io/safetensors.h"
#include "models/arch.h"
#include "models/decoder.h"
#include "testlib.h"
#include "util/error.h"
#include "util/json.h"

typedef struct {
    char dir[4096];
    json_t *config, *ref;
    xl_weights *w;
    const xl_arch *arch;
    void *model, *state; /* state: made by state_new for model */
    int variant;         /* 1: a dfx_load copy, owning only model and state */
    xl_arch_info info;
    const char *pooling; /* "mean" or "lasttoken" */
    int n_inputs;
} dfx;

/* Opens the fixture and loads the model; 0 (after t_skip_case) when ../shared is absent. */
static int dfx_open(dfx *f, const char *name, const xl_arch *arch) {
    memset(f, 0, sizeof *f);
    const char *shared = t_shared_dir();
    if (!shared) {
        t_skip_case(name, "../shared (fixtures) not found");
        return 0;
    }
    snprintf(f->dir, sizeof f->dir, "%s/fixtures/models/%s", shared, name);
    f->arch = arch;
    xl_status st = xl_json_load_file(t_path(f->dir, "config.json"), &f->config);
    if (!st) st = xl_json_load_file(t_path(f->dir, "reference.json"), &f->ref);
    if (!st) st = xl_weights_open_dir(f->dir, &f->w);
    CHECK_MSG(st == XL_OK, "%s: %s", name, xl_last_error());
    if (st) return 0;
    CHECK_MSG(arch->matches(f->config), "%s: %s does not claim its config", name, arch->name);
    const xl_arch *found = NULL;
    CHECK(xl_arch_find(f->config, f->dir, &found) == XL_OK && found == arch);
    st = arch->load(f->config, f->w, f->dir, NULL, &f->model);
    if (!st) st = arch->state_new(f->model, &f->state);
    CHECK_MSG(st == XL_OK, "%s: load: %s", name, xl_last_error());
    if (st) return 0;
    arch->get_info(f->model, &f->info);
    f->pooling = json_string_value(json_object_get(f->ref, "pooling"));
    f->n_inputs = (int)json_array_size(json_object_get(f->ref, "inputs"));
    CHECK(f->pooling != NULL && f->n_inputs > 0);
    return f->pooling && f->n_inputs > 0;
}

static void dfx_close(dfx *f) {
    if (f->state) f->arch->state_free(f->state);
    if (f->model) f->arch->free(f->model);
    if (f->w) xl_weights_close(f->w);
    json_decref(f->config);
    json_decref(f->ref);
    memset(f, 0, sizeof *f);
}

/* Max abs difference between n floats and a JSON array of numbers (or of arrays of
 * numbers, flattened); a length mismatch counts as infinite. */
static double dfx_diff(const float *x, size_t n, const json_t *arr) {
    double m = 0;
    size_t k = 0, i;
    const json_t *row;
    json_array_foreach(arr, i, row) {
        if (json_is_array(row)) {
            size_t j;
            const json_t *v;
            json_array_foreach(row, j, v) {
                if (k >= n) return INFINITY;
                double d = fabs((double)x[k++] - json_number_value(v));
                if (!(d <= m)) m = d;
            }
        } else {
            if (k >= n) return INFINITY;
            double d = fabs((double)x[k++] - json_number_value(row));
            if (!(d <= m)) m = d;
        }
    }
    return k == n ? m : INFINITY;
}

/* Pools rows [0, len) of one sequence's hidden states [T][H] as the fixture says. */
static void dfx_pool(const char *pooling, const float *h, int len, int H, float *out) {
    if (strcmp(pooling, "lasttoken") == 0) {
        memcpy(out, h + (size_t)(len - 1) * H, (size_t)H * sizeof(float));
        return;
    }
    for (int c = 0; c < H; c++) {
        double s = 0;
        for (int t = 0; t < len; t++) s += h[(size_t)t * H + c];
        out[c] = (float)(s / len);
    }
}

/* Layer callback: keeps the hidden states of sequence 0, rows [0, len0), per layer. */
typedef struct {
    int len0, H, n_layers;
    float **layers; /* [n_layers + 2][len0 * H] */
    int calls;
} dfx_capture;

static void dfx_capture_cb(void *ctx, int layer, const float *hidden, int B, int T, int H) {
    dfx_capture *c = ctx;
    (void)B;
    (void)T;
    c->calls++;
    if (layer < 0 || layer > c->n_layers + 1 || H != c->H) return;
    memcpy(c->layers[layer], hidden, (size_t)c->len0 * H * sizeof(float));
}

static void dfx_capture_init(dfx_capture *c, int len0, int H, int n_layers) {
    c->len0 = len0;
    c->H = H;
    c->n_layers = n_layers;
    c->calls = 0;
    c->layers = calloc((size_t)n_layers + 2, sizeof *c->layers);
    for (int l = 0; l < n_layers + 2; l++) c->layers[l] = calloc((size_t)len0 * H, sizeof(float));
}

static void dfx_capture_free(dfx_capture *c) {
    for (int l = 0; l < c->n_layers + 2; l++) free(c->layers[l]);
    free(c->layers);
}

/* Compares captured layers of input 0 with first_input (embedding_output,
 * layer_outputs[l] before the final norm, last_hidden_state after it). */
static void dfx_check_layers(const dfx *f, const dfx_capture *c, double tol, const char *how) {
    const json_t *fi = json_object_get(f->ref, "first_input");
    const json_t *lo = json_object_get(fi, "layer_outputs");
    size_t n = (size_t)c->len0 * c->H;
    CHECK_EQ_INT(c->calls, f->info.num_layers + 2);
    CHECK_EQ_INT(json_array_size(lo), f->info.num_layers);
    double d = dfx_diff(c->layers[0], n, json_object_get(fi, "embedding_output"));
    CHECK_MSG(d <= tol, "%s %s: embedding_output max abs diff %.3g > %.1g", f->dir, how, d, tol);
    for (int l = 0; l < f->info.num_layers; l++) {
        d = dfx_diff(c->layers[l + 1], n, json_array_get(lo, (size_t)l));
        CHECK_MSG(d <= tol, "%s %s: layer_outputs[%d] max abs diff %.3g > %.1g", f->dir, how, l, d, tol);
    }
    d = dfx_diff(c->layers[f->info.num_layers + 1], n, json_object_get(fi, "last_hidden_state"));
    CHECK_MSG(d <= tol, "%s %s: last_hidden_state max abs diff %.3g > %.1g", f->dir, how, d, tol);
}

static const json_t *dfx_input_ids(const dfx *f, int i) {
    return json_object_get(json_array_get(json_object_get(f->ref, "inputs"), (size_t)i), "input_ids");
}

/* The fixture's weights loaded with another config (NULL: the fixture's) and options,
 * into a copy of f with its own model and state (free with dfx_unload). */
static xl_status dfx_load(const dfx *f, const json_t *config, const xl_model_options *o, dfx *out) {
    *out = *f;
    out->model = out->state = NULL;
    out->variant = 1;
    xl_status st = f->arch->load(config ? config : f->config, f->w, f->dir, o, &out->model);
    if (!st) st = f->arch->state_new(out->model, &out->state);
    if (!st) f->arch->get_info(out->model, &out->info);
    return st;
}

static void dfx_unload(dfx *g) {
    if (g->state) g->arch->state_free(g->state);
    if (g->model) g->arch->free(g->model);
    g->model = g->state = NULL;
}

/* Runs input i alone; returns its hidden states [n][H] (malloc'd) and its length. */
static float *dfx_run_single(const dfx *f, int i, dfx_capture *cap, int threads, int *len_out) {
    const json_t *ids = dfx_input_ids(f, i);
    int n = (int)json_array_size(ids), H = f->info.hidden_size;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)n);
    uint8_t *mask = malloc((size_t)n);
    float *hidden = malloc(sizeof(float) * (size_t)n * H);
    for (int t = 0; t < n; t++) {
        tok[t] = (int32_t)json_integer_value(json_array_get(ids, (size_t)t));
        mask[t] = 1;
    }
    xl_batch b = {.B = 1, .T = n, .ids = tok, .mask = mask, .lens = &n};
    xl_status st = f->arch->forward(f->model, f->state, &b, hidden, cap ? dfx_capture_cb : NULL, cap, threads);
    CHECK_MSG(st == XL_OK, "%s input %d: %s", f->dir, i, xl_last_error());
    free(tok);
    free(mask);
    *len_out = n;
    if (st) {
        free(hidden);
        return NULL;
    }
    return hidden;
}

/* Every input alone: layers of input 0, pooled vectors of all. */
static void dfx_check_single(const dfx *f, double tol) {
    int H = f->info.hidden_size;
    float *pooled = malloc(sizeof(float) * (size_t)H);
    for (int i = 0; i < f->n_inputs; i++) {
        dfx_capture cap;
        int n0 = (int)json_array_size(dfx_input_ids(f, i)), n;
        dfx_capture_init(&cap, n0, H, f->info.num_layers);
        float *hidden = dfx_run_single(f, i, i == 0 ? &cap : NULL, 1 + (i & 1), &n);
        if (hidden) {
            if (i == 0) dfx_check_layers(f, &cap, tol, "single");
            dfx_pool(f->pooling, hidden, n, H, pooled);
            double d = dfx_diff(pooled, (size_t)H, json_array_get(json_object_get(f->ref, "pooled"), (size_t)i));
            CHECK_MSG(d <= tol, "%s single input %d (%d tokens): pooled max abs diff %.3g > %.1g", f->dir, i, n, d, tol);
        }
        free(hidden);
        dfx_capture_free(&cap);
    }
    free(pooled);
}

/* The reference's padded batch, moved to right padding. */
static void dfx_check_batch(const dfx *f, double tol) {
    const json_t *bj = json_object_get(f->ref, "batch");
    const json_t *bids = json_object_get(bj, "input_ids"), *bmask = json_object_get(bj, "attention_mask");
    int B = (int)json_array_size(bids), T = (int)json_array_size(json_array_get(bids, 0)), H = f->info.hidden_size;
    CHECK_EQ_INT(B, f->n_inputs);
    int32_t *ids = calloc((size_t)B * T, sizeof(int32_t));
    uint8_t *mask = calloc((size_t)B * T, 1);
    int *lens = calloc((size_t)B, sizeof(int));
    float *hidden = malloc(sizeof(float) * (size_t)B * T * H), *pooled = malloc(sizeof(float) * (size_t)H);
    for (int b = 0; b < B; b++) {
        const json_t *row = json_array_get(bids, (size_t)b), *mrow = json_array_get(bmask, (size_t)b);
        int n = 0;
        for (int t = 0; t < T; t++)
            if (json_integer_value(json_array_get(mrow, (size_t)t)))
                ids[(size_t)b * T + n++] = (int32_t)json_integer_value(json_array_get(row, (size_t)t));
        lens[b] = n;
        for (int t = 0; t < n; t++) mask[(size_t)b * T + t] = 1;
        /* The batch holds the same ids as the single inputs. */
        const json_t *single = dfx_input_ids(f, b);
        int same = (size_t)n == json_array_size(single);
        for (int t = 0; same && t < n; t++) same = ids[(size_t)b * T + t] == json_integer_value(json_array_get(single, (size_t)t));
        CHECK_MSG(same, "%s batch row %d differs from inputs[%d].input_ids", f->dir, b, b);
    }
    dfx_capture cap;
    dfx_capture_init(&cap, lens[0], H, f->info.num_layers);
    xl_batch batch = {.B = B, .T = T, .ids = ids, .mask = mask, .lens = lens};
    xl_status st = f->arch->forward(f->model, f->state, &batch, hidden, dfx_capture_cb, &cap, 2);
    CHECK_MSG(st == XL_OK, "%s batch: %s", f->dir, xl_last_error());
    if (!st) {
        dfx_check_layers(f, &cap, tol, "batch");
        for (int b = 0; b < B; b++) {
            dfx_pool(f->pooling, hidden + (size_t)b * T * H, lens[b], H, pooled);
            double d = dfx_diff(pooled, (size_t)H, json_array_get(json_object_get(f->ref, "pooled"), (size_t)b));
            CHECK_MSG(d <= tol, "%s batch row %d (%d of %d tokens): pooled max abs diff %.3g > %.1g", f->dir, b, lens[b], T, d,
                      tol);
        }
    }
    dfx_capture_free(&cap);
    free(ids);
    free(mask);
    free(lens);
    free(hidden);
    free(pooled);
}

static double dfx_cosine(const float *a, const json_t *ref, int n) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        double b = json_number_value(json_array_get(ref, (size_t)i));
        ab += a[i] * b;
        aa += (double)a[i] * a[i];
        bb += b * b;
    }
    return ab / (sqrt(aa * bb) + 1e-300);
}

/* Loaded with q8 weights: every input's pooled vector has cosine >= min_cos to the
 * reference. The float model, sharing the mapping whose pages the quantization handed
 * back, still holds the reference at tol (the pages are read again from the file). */
static void dfx_check_q8(const dfx *f, double min_cos, double tol) {
    int H = f->info.hidden_size;
    xl_model_options o = {.threads = 2, .quantize = XL_QUANTIZE_Q8};
    dfx g;
    xl_status st = dfx_load(f, NULL, &o, &g);
    CHECK_MSG(st == XL_OK, "%s: quantize: %s", f->dir, xl_last_error());
    if (st) {
        dfx_unload(&g);
        return;
    }
    float *pooled = malloc(sizeof(float) * (size_t)H);
    double worst = 1.0, maxdiff = 0;
    for (int i = 0; i < f->n_inputs; i++) {
        int n;
        float *h = dfx_run_single(&g, i, NULL, 1 + (i & 1), &n);
        if (!h) continue;
        dfx_pool(f->pooling, h, n, H, pooled);
        const json_t *ref = json_array_get(json_object_get(f->ref, "pooled"), (size_t)i);
        double c = dfx_cosine(pooled, ref, H), d = dfx_diff(pooled, (size_t)H, ref);
        CHECK_MSG(c >= min_cos, "%s q8 input %d: cosine %.6f < %.4f", f->dir, i, c, min_cos);
        if (c < worst) worst = c;
        if (d > maxdiff) maxdiff = d;
        free(h);
    }
    /* q8 is an approximation: it must differ from the float result somewhere. */
    CHECK_MSG(maxdiff > 1e-6, "%s q8: identical to float32 (%.3g), not quantized?", f->dir, maxdiff);
    printf("    %s: q8 worst cosine %.6f over %d inputs\n", strrchr(f->dir, '/') + 1, worst, f->n_inputs);
    free(pooled);
    dfx_unload(&g);
    dfx_check_single(f, tol);
}

/* Loads a modified copy of the fixture's config; returns the status and frees any model. */
static xl_status dfx_load_variant(const dfx *f, json_t *config) {
    void *m = NULL;
    xl_status st = f->arch->load(config, f->w, f->dir, NULL, &m);
    if (m) f->arch->free(m);
    CHECK(st != XL_OK || m != NULL);
    return st;
}

/* Layer-1 output (after the first block) of a run of f's model over ids[0, n), row `at`. */
static void dfx_layer1_row(const dfx *f, const int32_t *ids, int n, int at, float *out) {
    int H = f->info.hidden_size;
    uint8_t *mask = malloc((size_t)n);
    float *hidden = malloc(sizeof(float) * (size_t)n * H);
    memset(mask, 1, (size_t)n);
    dfx_capture cap;
    dfx_capture_init(&cap, n, H, f->info.num_layers);
    xl_batch b = {.B = 1, .T = n, .ids = ids, .mask = mask, .lens = &n};
    xl_status st = f->arch->forward(f->model, f->state, &b, hidden, dfx_capture_cb, &cap, 1);
    CHECK_MSG(st == XL_OK, "%s: %s", f->dir, xl_last_error());
    memcpy(out, cap.layers[1] + (size_t)at * H, sizeof(float) * (size_t)H);
    dfx_capture_free(&cap);
    free(mask);
    free(hidden);
}

/* A batch of inputs [0, B) of the reference, right-padded, with its own buffers. */
typedef struct {
    int32_t *ids;
    uint8_t *mask;
    int *lens;
    xl_batch b;
} dfx_inputs;

static void dfx_inputs_make(const dfx *f, int B, dfx_inputs *in) {
    int T = 0;
    for (int i = 0; i < B; i++) {
        int n = (int)json_array_size(dfx_input_ids(f, i));
        if (n > T) T = n;
    }
    size_t nb = B > 0 ? (size_t)B : 0, nt = T > 0 ? (size_t)T : 0;
    in->ids = calloc(nb * nt, sizeof(int32_t));
    in->mask = calloc(nb * nt, 1);
    in->lens = calloc(nb, sizeof(int));
    for (int i = 0; i < B; i++) {
        const json_t *ids = dfx_input_ids(f, i);
        in->lens[i] = (int)json_array_size(ids);
        for (int t = 0; t < in->lens[i]; t++) {
            in->ids[(size_t)i * T + t] = (int32_t)json_integer_value(json_array_get(ids, (size_t)t));
            in->mask[(size_t)i * T + t] = 1;
        }
    }
    in->b = (xl_batch){.B = B, .T = T, .ids = in->ids, .mask = in->mask, .lens = in->lens};
}

static void dfx_inputs_free(dfx_inputs *in) {
    free(in->ids);
    free(in->mask);
    free(in->lens);
}

static float *dfx_forward_with(const dfx *f, void *state, const xl_batch *b, int threads) {
    float *h = malloc(sizeof(float) * (size_t)b->B * b->T * f->info.hidden_size);
    xl_status st = f->arch->forward(f->model, state, b, h, NULL, NULL, threads);
    CHECK_MSG(st == XL_OK, "%s: %s", f->dir, xl_last_error());
    if (st) {
        free(h);
        return NULL;
    }
    return h;
}

typedef struct {
    const dfx *f;
    const xl_batch *b;
    const float *want;
    int same; /* every repetition equal to want, bit for bit */
} dfx_thread_job;

static void *dfx_thread(void *arg) {
    dfx_thread_job *j = arg;
    void *state = NULL;
    j->same = j->f->arch->state_new(j->f->model, &state) == XL_OK;
    size_t n = (size_t)j->b->B * j->b->T * j->f->info.hidden_size;
    for (int rep = 0; rep < 3 && j->same; rep++) {
        float *h = malloc(sizeof(float) * n);
        j->same = j->f->arch->forward(j->f->model, state, j->b, h, NULL, NULL, 1) == XL_OK &&
                  memcmp(h, j->want, n * sizeof(float)) == 0;
        free(h);
    }
    j->f->arch->state_free(state);
    return NULL;
}

/* The run state: one warmed by a larger batch gives a smaller one bit for bit what a
 * fresh state gives, and grows again for the larger one (same results); threads
 * sharing the model, each with its own state, get the single-threaded result bit for
 * bit (each thread runs its forward on 1 thread: a fixed order of additions). */
static void dfx_check_state(const dfx *f) {
    dfx_inputs big, small;
    int B = f->n_inputs < 4 ? f->n_inputs : 4;
    dfx_inputs_make(f, B, &big);
    dfx_inputs_make(f, 1, &small);
    void *s1 = NULL, *s2 = NULL;
    CHECK(f->arch->state_new(f->model, &s1) == XL_OK);
    CHECK(f->arch->state_new(f->model, &s2) == XL_OK);
    float *a = dfx_forward_with(f, s1, &big.b, 2), *b = dfx_forward_with(f, s1, &small.b, 2);
    float *b2 = dfx_forward_with(f, s2, &small.b, 2), *a2 = dfx_forward_with(f, s2, &big.b, 2);
    size_t nb = (size_t)small.b.T * f->info.hidden_size;
    if (a && b && a2 && b2) {
        /* Padded rows are unspecified: compare each sequence's real rows. */
        int same = 1;
        for (int i = 0; i < B; i++) {
            size_t at = (size_t)i * big.b.T * f->info.hidden_size, len = (size_t)big.lens[i] * f->info.hidden_size;
            same &= memcmp(a + at, a2 + at, len * sizeof(float)) == 0;
        }
        CHECK_MSG(same, "%s: the batch after a grown state differs", f->dir);
        CHECK_MSG(memcmp(b, b2, nb * sizeof(float)) == 0, "%s: a warmed state differs from a fresh one", f->dir);
    }
    f->arch->state_free(s1);
    f->arch->state_free(s2);
    free(a);
    free(a2);
    free(b2);

    void *s3 = NULL;
    CHECK(f->arch->state_new(f->model, &s3) == XL_OK);
    float *one = dfx_forward_with(f, s3, &small.b, 1);
    f->arch->state_free(s3);
    if (one) {
        pthread_t th[3];
        dfx_thread_job jobs[3];
        for (int t = 0; t < 3; t++) {
            jobs[t] = (dfx_thread_job){.f = f, .b = &small.b, .want = one, .same = 0};
            CHECK(pthread_create(&th[t], NULL, dfx_thread, &jobs[t]) == 0);
        }
        for (int t = 0; t < 3; t++) {
            pthread_join(th[t], NULL);
            CHECK_MSG(jobs[t].same, "%s: thread %d differs from the single-threaded run", f->dir, t);
        }
    }
    free(one);
    free(b);
    dfx_inputs_free(&big);
    dfx_inputs_free(&small);
}

/* Hidden states of input i from the fixture loaded with the given attention option
 * (an xl_attention_mode). */
static float *dfx_run_mode(const dfx *f, int i, int mode, int *n) {
    xl_model_options o = {.attention = (xl_attention_mode)mode};
    dfx g;
    float *h = NULL;
    xl_status st = dfx_load(f, NULL, &o, &g);
    CHECK_MSG(st == XL_OK, "%s attention %d: %s", f->dir, mode, xl_last_error());
    if (!st) h = dfx_run_single(&g, i, NULL, 1, n);
    dfx_unload(&g);
    return h;
}

#endif
