/* The sequence layer of xling.h (contexts, xl_prepare_*, xl_run): many threads on one
 * model, a status per item, token-level and per-layer outputs, token types for text
 * pairs against a cross-encoder reference, cancellation, the one-call wrappers, and a
 * decoder (qwen3-tiny) shared by threads the same way.
 * Tolerances: 1e-4 max abs against the float64 references (as test_embed); results of
 * the same inputs on different threads or contexts must agree to 1e-6; the mean of
 * token states against mean pooling to 1e-5 (float sums in another order). */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"
#include "xling.h"

#define TOL_REF 1e-4
#define TOL_SAME 1e-6

static const char *local_model(const char *name) {
    static char buf[4][4096];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s/tests/fixtures/models/%s", t_repo_dir(), name);
    return b;
}

static json_t *load_json(const char *dir, const char *file) {
    json_error_t e;
    json_t *j = json_load_file(t_path(dir, file), 0, &e);
    CHECK_MSG(j != NULL, "%s/%s: %s", dir, file, e.text);
    return j;
}

/* The reference inputs' raw texts (prompt not applied) and ids. */
typedef struct {
    size_t n;
    const char *text[16];
    const char *prompt[16];
    int32_t *ids[16];
    size_t len[16];
} ref_inputs;

static void read_inputs(const json_t *ref, ref_inputs *r) {
    memset(r, 0, sizeof *r);
    const json_t *in = json_object_get(ref, "inputs");
    for (size_t i = 0; i < json_array_size(in) && i < 16; i++) {
        const json_t *x = json_array_get(in, i), *ids = json_object_get(x, "input_ids");
        r->text[i] = json_string_value(json_object_get(x, "raw_text"));
        r->prompt[i] = json_string_value(json_object_get(x, "prompt_name"));
        r->len[i] = json_array_size(ids);
        r->ids[i] = malloc((r->len[i] + 1) * sizeof(int32_t));
        for (size_t t = 0; t < r->len[i]; t++) r->ids[i][t] = (int32_t)json_integer_value(json_array_get(ids, t));
        r->n = i + 1;
    }
}

static void free_inputs(ref_inputs *r) {
    for (size_t i = 0; i < r->n; i++) free(r->ids[i]);
}

/* ------------------------------------------------------------ concurrency */

typedef struct {
    const xl_model *m;
    const ref_inputs *in;
    int threads;
    float *emb;  /* [n][dim] */
    xl_status st;
    char err[256];
} worker;

static void *work(void *arg) {
    worker *w = arg;
    xl_context *ctx = NULL;
    xl_sequence *seqs = NULL;
    xl_outputs out = {0};
    xl_embed_options o;
    xl_embed_options_init(&o);
    o.threads = w->threads;
    o.batch_size = 3; /* several batches per call, so contexts interleave on the pool */
    w->st = xl_context_new(w->m, &ctx);
    for (int rep = 0; rep < 3 && !w->st; rep++) {
        w->st = xl_prepare_ids(w->m, (const int32_t *const *)w->in->ids, w->in->len, NULL, w->in->n, &o, &seqs);
        if (!w->st) w->st = xl_run(ctx, seqs, w->in->n, XL_OUT_EMBEDDING, &o, &out);
        if (!w->st && out.n_failed) w->st = XL_ERR_INPUT;
        if (!w->st) memcpy(w->emb, out.embeddings, w->in->n * (size_t)out.dim * sizeof(float));
        xl_outputs_free(&out);
        xl_sequences_free(seqs, w->in->n);
        seqs = NULL;
    }
    if (w->st) snprintf(w->err, sizeof w->err, "%s", xl_last_error());
    xl_context_free(ctx);
    return NULL;
}

/* N threads share one model, each with its own context: every result equals the
 * single-threaded one and the reference. */
static void test_concurrency(const xl_model *m, const json_t *ref, const ref_inputs *in) {
    int dim = xl_embed_dim(m, NULL);
    size_t n = in->n;
    float *single = calloc(n * (size_t)dim, sizeof(float));
    worker w0 = {.m = m, .in = in, .threads = 1, .emb = single};
    work(&w0);
    if (!CHECK_MSG(w0.st == XL_OK, "single-threaded run: %s", w0.err)) { free(single); return; }
    const json_t *embs = json_object_get(ref, "embeddings");
    double dref = 0;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < dim; j++) {
            double d = fabs(single[i * dim + j] - json_number_value(json_array_get(json_array_get(embs, i), (size_t)j)));
            if (d > dref) dref = d;
        }
    CHECK_MSG(dref <= TOL_REF, "xl_run vs reference: %.3g", dref);

    enum { NT = 6 };
    pthread_t th[NT];
    worker w[NT];
    for (int t = 0; t < NT; t++) {
        w[t] = (worker){.m = m, .in = in, .threads = 1 + t % 2, .emb = calloc(n * (size_t)dim, sizeof(float))};
        CHECK(pthread_create(&th[t], NULL, work, &w[t]) == 0);
    }
    for (int t = 0; t < NT; t++) {
        pthread_join(th[t], NULL);
        CHECK_MSG(w[t].st == XL_OK, "thread %d: %s", t, w[t].err);
        double d = t_max_abs_diff(w[t].emb, single, n * (size_t)dim);
        CHECK_MSG(d <= TOL_SAME, "thread %d (%d threads) differs from single-threaded by %.3g", t, w[t].threads, d);
        free(w[t].emb);
    }
    free(single);
}

/* ------------------------------------------------------------ per-item status */

static void test_item_status(const xl_model *m, const ref_inputs *in) {
    xl_context *ctx;
    if (!CHECK(xl_context_new(m, &ctx) == XL_OK)) return;
    xl_model_info info;
    xl_model_get_info(m, &info);
    int32_t bad_id[3] = {101, info.vocab_size, 102};
    int32_t bad_type[3] = {0, 0, 2}; /* type_vocab_size is 2: found by the forward, not up front */
    xl_sequence s[5] = {
        {.ids = in->ids[0], .n = in->len[0]},
        {.ids = bad_id, .n = 3},
        {.ids = in->ids[1], .n = 0},
        {.ids = in->ids[1], .n = 3, .type_ids = bad_type},
        {.ids = in->ids[2], .n = in->len[2]},
    };
    xl_outputs out;
    xl_status st = xl_run(ctx, s, 5, XL_OUT_EMBEDDING | XL_OUT_TOKENS, NULL, &out);
    if (!CHECK_MSG(st == XL_OK, "%s", xl_last_error())) { xl_context_free(ctx); return; }
    CHECK_EQ_INT(out.n_failed, 3);
    CHECK_EQ_INT(out.status[0], XL_OK);
    CHECK_EQ_INT(out.status[1], XL_ERR_INPUT);
    CHECK_EQ_INT(out.status[2], XL_ERR_INPUT);
    CHECK_EQ_INT(out.status[3], XL_ERR_INPUT);
    CHECK_EQ_INT(out.status[4], XL_OK);
    CHECK_MSG(out.error[1] && strstr(out.error[1], "outside the vocabulary"), "item 2: %s", out.error[1]);
    CHECK_MSG(out.error[2] && strstr(out.error[2], "no tokens"), "item 3: %s", out.error[2]);
    CHECK_MSG(out.error[3] && strstr(out.error[3], "type_vocab_size"), "item 4: %s", out.error[3]);
    CHECK(out.error[0] == NULL && out.error[4] == NULL);
    CHECK(out.tokens[1] == NULL && out.n_tokens[1] == 0 && out.tokens[3] == NULL);
    float zero = 0;
    for (int j = 0; j < out.dim; j++) zero += fabsf(out.embeddings[3 * out.dim + j]);
    CHECK_MSG(zero == 0, "a failed item's row is not zero");
    /* the good items equal running them alone */
    xl_outputs one;
    if (CHECK(xl_run(ctx, &s[4], 1, XL_OUT_EMBEDDING, NULL, &one) == XL_OK)) {
        CHECK(t_max_abs_diff(one.embeddings, out.embeddings + 4 * out.dim, (size_t)out.dim) <= TOL_SAME);
        xl_outputs_free(&one);
    }
    xl_outputs_free(&out);

    /* The wrappers fail as a whole and name the item, numbered from 1. */
    const int32_t *ids[2] = {in->ids[0], bad_id};
    size_t lens[2] = {in->len[0], 3};
    float *emb = malloc(2 * (size_t)xl_embed_dim(m, NULL) * sizeof(float));
    CHECK_EQ_INT(xl_embed_ids(m, ids, lens, 2, NULL, emb, NULL), XL_ERR_INPUT);
    CHECK_MSG(strncmp(xl_last_error(), "input 2: token id", 17) == 0, "%s", xl_last_error());
    free(emb);
    /* head outputs are defined but no folder has a head yet */
    CHECK_EQ_INT(xl_run(ctx, s, 1, XL_OUT_SCORES, NULL, &out), XL_ERR_UNSUPPORTED);
    CHECK_EQ_INT(xl_run(ctx, s, 1, 1u << 9, NULL, &out), XL_ERR_ARG);
    xl_context_free(ctx);
}

/* ------------------------------------------------------------ token states */

/* Mean pooling of the token states = the pooled embedding (xlmr-tiny: mean pooling, no
 * Dense; normalization off); bert-tiny's token states of input 0 = the reference's
 * last_hidden_state; per-layer outputs = xl_embed_ids_layers. */
static void test_tokens(const xl_model *xlmr, const ref_inputs *xin, const xl_model *bert, const json_t *bref,
                        const ref_inputs *bin) {
    xl_context *ctx;
    if (!CHECK(xl_context_new(xlmr, &ctx) == XL_OK)) return;
    xl_embed_options o;
    xl_embed_options_init(&o);
    o.normalize = 0;
    xl_sequence *seqs;
    xl_outputs out;
    if (CHECK(xl_prepare_ids(xlmr, (const int32_t *const *)xin->ids, xin->len, NULL, xin->n, &o, &seqs) == XL_OK)) {
        if (CHECK_MSG(xl_run(ctx, seqs, xin->n, XL_OUT_EMBEDDING | XL_OUT_TOKENS, &o, &out) == XL_OK, "%s",
                      xl_last_error())) {
            int H = out.hidden;
            double worst = 0;
            for (size_t i = 0; i < xin->n; i++) {
                CHECK_EQ_INT(out.n_tokens[i], xin->len[i]);
                for (int j = 0; j < H; j++) {
                    double s = 0;
                    for (size_t t = 0; t < out.n_tokens[i]; t++) s += out.tokens[i][t * H + j];
                    double d = fabs(s / (double)out.n_tokens[i] - out.embeddings[i * (size_t)out.dim + j]);
                    if (d > worst) worst = d;
                }
            }
            CHECK_MSG(worst <= 1e-5, "mean of token states vs mean pooling: %.3g", worst);
            xl_outputs_free(&out);
        }
        xl_sequences_free(seqs, xin->n);
    }
    xl_context_free(ctx);

    if (!CHECK(xl_context_new(bert, &ctx) == XL_OK)) return;
    if (CHECK(xl_prepare_ids(bert, (const int32_t *const *)bin->ids, bin->len, NULL, bin->n, NULL, &seqs) == XL_OK)) {
        unsigned want = XL_OUT_TOKENS | XL_OUT_LAYER_MEAN | XL_OUT_LAYER_LAST;
        if (CHECK_MSG(xl_run(ctx, seqs, bin->n, want, NULL, &out) == XL_OK, "%s", xl_last_error())) {
            const json_t *lh = json_object_get(json_object_get(bref, "first_input"), "last_hidden_state");
            double d = 0;
            CHECK_EQ_INT(out.n_tokens[0], json_array_size(lh));
            for (size_t t = 0; t < out.n_tokens[0] && t < json_array_size(lh); t++)
                for (int j = 0; j < out.hidden; j++) {
                    double e = fabs(out.tokens[0][t * out.hidden + j] -
                                    json_number_value(json_array_get(json_array_get(lh, t), (size_t)j)));
                    if (e > d) d = e;
                }
            CHECK_MSG(d <= TOL_REF, "bert-tiny token states vs last_hidden_state: %.3g", d);
            size_t per = (size_t)out.n_layers * out.hidden;
            float *mean = malloc(bin->n * per * sizeof(float)), *last = malloc(bin->n * per * sizeof(float));
            if (CHECK(xl_embed_ids_layers(bert, (const int32_t *const *)bin->ids, bin->len, bin->n, NULL, mean, last,
                                          NULL) == XL_OK)) {
                CHECK(t_max_abs_diff(mean, out.layer_mean, bin->n * per) <= TOL_SAME);
                CHECK(t_max_abs_diff(last, out.layer_last, bin->n * per) <= TOL_SAME);
            }
            /* the last layer's last-token entry is the last token's state */
            size_t i = 1, L = (size_t)out.n_layers - 1;
            CHECK(t_max_abs_diff(out.layer_last + (i * out.n_layers + L) * out.hidden,
                                 out.tokens[i] + (out.n_tokens[i] - 1) * out.hidden, (size_t)out.hidden) == 0);
            free(mean); free(last);
            xl_outputs_free(&out);
        }
        xl_sequences_free(seqs, bin->n);
    }
    xl_context_free(ctx);
}

/* ------------------------------------------------------------ token types */

static const float *tensor_f32(json_t *hdr, const unsigned char *data, const char *name, size_t *n) {
    const json_t *t = json_object_get(hdr, name);
    const json_t *off = json_object_get(t, "data_offsets");
    if (!t || strcmp(json_string_value(json_object_get(t, "dtype")), "F32") != 0) return NULL;
    *n = (size_t)(json_integer_value(json_array_get(off, 1)) - json_integer_value(json_array_get(off, 0))) / 4;
    return (const float *)(data + json_integer_value(json_array_get(off, 0)));
}

/* The classification head of bert-nli-tiny, read straight from its safetensors file:
 * logits = classifier(tanh(pooler(h[CLS]))). Returns the raw file (free it). */
typedef struct {
    unsigned char *file;
    const float *pw, *pb, *cw, *cb;
    int H, labels;
} nli_head;

static int read_head(const char *dir, int H, nli_head *h) {
    memset(h, 0, sizeof *h);
    FILE *f = fopen(t_path(dir, "model.safetensors"), "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    h->file = malloc((size_t)sz);
    if (fread(h->file, 1, (size_t)sz, f) != (size_t)sz) { fclose(f); return 0; }
    fclose(f);
    uint64_t hl;
    memcpy(&hl, h->file, 8);
    json_error_t e;
    json_t *hdr = json_loadb((const char *)h->file + 8, (size_t)hl, 0, &e);
    const unsigned char *data = h->file + 8 + hl;
    size_t n1, n2, n3, n4;
    h->pw = tensor_f32(hdr, data, "bert.pooler.dense.weight", &n1);
    h->pb = tensor_f32(hdr, data, "bert.pooler.dense.bias", &n2);
    h->cw = tensor_f32(hdr, data, "classifier.weight", &n3);
    h->cb = tensor_f32(hdr, data, "classifier.bias", &n4);
    json_decref(hdr);
    h->H = H;
    h->labels = h->cb ? (int)n4 : 0;
    return h->pw && h->pb && h->cw && h->cb && n1 == (size_t)H * H && n2 == (size_t)H && n3 == n4 * (size_t)H;
}

static void head_logits(const nli_head *h, const float *cls, double *logits) {
    double pooled[256];
    for (int o = 0; o < h->H; o++) {
        double s = h->pb[o];
        for (int i = 0; i < h->H; i++) s += (double)h->pw[o * h->H + i] * cls[i];
        pooled[o] = tanh(s);
    }
    for (int k = 0; k < h->labels; k++) {
        double s = h->cb[k];
        for (int i = 0; i < h->H; i++) s += (double)h->cw[k * h->H + i] * pooled[i];
        logits[k] = s;
    }
}

/* bert-nli-tiny (../shared): pairs with their token_type_ids through xl_run give the
 * reference logits with the head computed here; with all-zero types they do not. Text
 * pairs through xl_prepare_texts give the reference ids and types. */
static void test_token_types(void) {
    const char *shared = t_shared_dir();
    if (!shared) { t_skip_case("token types", "../shared (fixtures) not found"); return; }
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s/fixtures/models/bert-nli-tiny", shared);
    json_t *ref = load_json(dir, "reference.json");
    xl_model *m;
    if (!ref || !CHECK_MSG(xl_model_load(dir, NULL, &m) == XL_OK, "%s", xl_last_error())) { json_decref(ref); return; }
    xl_model_info info;
    xl_model_get_info(m, &info);
    nli_head head;
    if (!CHECK_MSG(read_head(dir, info.hidden_size, &head), "bert-nli-tiny head tensors") || head.labels > 8) {
        free(head.file); xl_model_free(m); json_decref(ref); return;
    }
    const json_t *pairs = json_object_get(ref, "pairs");
    size_t n = json_array_size(pairs);
    xl_sequence *s = calloc(2 * n, sizeof *s);
    const char **ta = calloc(n, sizeof *ta), **tb = calloc(n, sizeof *tb);
    for (size_t i = 0; i < n; i++) {
        const json_t *p = json_array_get(pairs, i), *ids = json_object_get(p, "input_ids"),
                     *ty = json_object_get(p, "token_type_ids");
        ta[i] = json_string_value(json_object_get(p, "text"));
        tb[i] = json_string_value(json_object_get(p, "text_pair"));
        size_t len = json_array_size(ids);
        s[i].n = s[n + i].n = len;
        s[i].ids = malloc(len * sizeof(int32_t));
        s[i].type_ids = malloc(len * sizeof(int32_t));
        for (size_t t = 0; t < len; t++) {
            s[i].ids[t] = (int32_t)json_integer_value(json_array_get(ids, t));
            s[i].type_ids[t] = (int32_t)json_integer_value(json_array_get(ty, t));
        }
        s[n + i].ids = s[i].ids; /* the same ids, all types 0 */
    }
    xl_context *ctx;
    xl_outputs out;
    CHECK(xl_context_new(m, &ctx) == XL_OK);
    if (CHECK_MSG(xl_run(ctx, s, 2 * n, XL_OUT_TOKENS, NULL, &out) == XL_OK && out.n_failed == 0, "%s", xl_last_error())) {
        double worst = 0, moved = 0;
        for (size_t i = 0; i < n; i++) {
            double lg[8], lz[8];
            head_logits(&head, out.tokens[i], lg);
            head_logits(&head, out.tokens[n + i], lz);
            const json_t *want = json_object_get(json_array_get(pairs, i), "logits");
            for (int k = 0; k < head.labels; k++) {
                double d = fabs(lg[k] - json_number_value(json_array_get(want, (size_t)k)));
                if (d > worst) worst = d;
                if (fabs(lz[k] - lg[k]) > moved) moved = fabs(lz[k] - lg[k]);
            }
        }
        CHECK_MSG(worst <= TOL_REF, "pair logits with token types vs reference: %.3g", worst);
        CHECK_MSG(moved > 1e-3, "token type 1 does not change the output (%.3g)", moved);
        xl_outputs_free(&out);
    }
    /* text pairs: the tokenizer's pair template gives the reference ids and types */
    xl_sequence *ps;
    xl_status st = xl_prepare_texts(m, ta, NULL, tb, NULL, n, NULL, &ps);
    if (st == XL_OK && ps[0].status == XL_ERR_UNSUPPORTED) {
        t_skip_case("text pairs", ps[0].error);
    } else if (CHECK_MSG(st == XL_OK, "%s", xl_last_error())) {
        for (size_t i = 0; i < n; i++) {
            int same = ps[i].status == XL_OK && ps[i].n == s[i].n && ps[i].type_ids &&
                       memcmp(ps[i].ids, s[i].ids, s[i].n * 4) == 0 && memcmp(ps[i].type_ids, s[i].type_ids, s[i].n * 4) == 0;
            CHECK_MSG(same, "pair %zu: ids or token types differ from the reference (%s)", i,
                      ps[i].error ? ps[i].error : "");
        }
    }
    if (st == XL_OK) xl_sequences_free(ps, n);
    for (size_t i = 0; i < n; i++) { free(s[i].ids); free(s[i].type_ids); }
    free(s); free(ta); free(tb); free(head.file);
    xl_context_free(ctx);
    xl_model_free(m);
    json_decref(ref);
}

/* ------------------------------------------------------------ cancellation */

typedef struct {
    xl_context *ctx;
    size_t cancel_at;
    size_t calls;
} cancel_probe;

static void cancel_after(void *p, size_t done, size_t total) {
    cancel_probe *c = p;
    (void)total;
    c->calls++;
    if (done >= c->cancel_at) xl_context_cancel(c->ctx);
}

static void test_cancel(const xl_model *m, const ref_inputs *in) {
    xl_context *ctx;
    if (!CHECK(xl_context_new(m, &ctx) == XL_OK)) return;
    xl_sequence *seqs;
    xl_outputs out;
    if (!CHECK(xl_prepare_ids(m, (const int32_t *const *)in->ids, in->len, NULL, in->n, NULL, &seqs) == XL_OK)) {
        xl_context_free(ctx);
        return;
    }
    /* cancelled before it starts: nothing runs */
    xl_context_cancel(ctx);
    CHECK_EQ_INT(xl_run(ctx, seqs, in->n, XL_OUT_EMBEDDING, NULL, &out), XL_ERR_CANCELLED);
    CHECK_EQ_INT(out.n_failed, in->n);
    for (size_t i = 0; i < in->n; i++) CHECK_EQ_INT(out.status[i], XL_ERR_CANCELLED);
    xl_outputs_free(&out);
    /* cancelled from another call's progress after 2 one-item batches: those keep their results */
    xl_embed_options o;
    xl_embed_options_init(&o);
    o.batch_size = 1;
    cancel_probe cp = {.ctx = ctx, .cancel_at = 2};
    o.progress = cancel_after;
    o.progress_ctx = &cp;
    CHECK_EQ_INT(xl_run(ctx, seqs, in->n, XL_OUT_EMBEDDING, &o, &out), XL_ERR_CANCELLED);
    CHECK_EQ_INT(cp.calls, 2);
    CHECK_EQ_INT(out.n_failed, in->n - 2);
    size_t ok = 0;
    for (size_t i = 0; i < in->n; i++) ok += out.status[i] == XL_OK;
    CHECK_EQ_INT(ok, 2);
    xl_outputs_free(&out);
    /* the request was consumed: the context runs again */
    CHECK(xl_run(ctx, seqs, in->n, XL_OUT_EMBEDDING, NULL, &out) == XL_OK && out.n_failed == 0);
    xl_outputs_free(&out);
    xl_sequences_free(seqs, in->n);
    xl_context_free(ctx);
}

/* ------------------------------------------------------------ preparing texts */

/* Texts with their prompts through xl_prepare_texts give the reference ids. */
static void test_prepare(const xl_model *m, const ref_inputs *in) {
    for (size_t i = 0; i < in->n; i++) {
        if (!in->text[i]) continue; /* given only as ids */
        xl_embed_options o;
        xl_embed_options_init(&o);
        o.prompt_name = in->prompt[i];
        xl_sequence *s;
        if (!CHECK_MSG(xl_prepare_texts(m, &in->text[i], NULL, NULL, NULL, 1, &o, &s) == XL_OK, "%s", xl_last_error()))
            continue;
        CHECK_MSG(s[0].status == XL_OK && s[0].n == in->len[i] && memcmp(s[0].ids, in->ids[i], in->len[i] * 4) == 0,
                  "input %zu: prepared ids differ from the reference", i);
        xl_sequences_free(s, 1);
    }
    xl_embed_options o;
    xl_embed_options_init(&o);
    o.prompt_name = "no-such-prompt";
    xl_sequence *s = (xl_sequence *)&o;
    CHECK_EQ_INT(xl_prepare_texts(m, &in->text[0], NULL, NULL, NULL, 1, &o, &s), XL_ERR_ARG);
    CHECK(s == NULL);
}

/* A child forked after forwards ran (OpenMP teams started, which do not survive a
 * fork) runs forwards too, single-threaded, and gets the parent's result. */
static void test_fork(const xl_model *m, const ref_inputs *in) {
    int dim = xl_embed_dim(m, NULL);
    float *a = malloc((size_t)dim * sizeof(float)), *b = malloc((size_t)dim * sizeof(float));
    const int32_t *ids = in->ids[0];
    if (CHECK(xl_embed_ids(m, &ids, &in->len[0], 1, NULL, a, NULL) == XL_OK)) {
        fflush(NULL);
        pid_t p = fork();
        if (p == 0) {
            int rc = xl_embed_ids(m, &ids, &in->len[0], 1, NULL, b, NULL) != XL_OK ? 3
                     : t_max_abs_diff(a, b, (size_t)dim) <= TOL_SAME                ? 0
                                                                                     : 4;
            _exit(rc);
        }
        int wst = 0;
        CHECK(p > 0 && waitpid(p, &wst, 0) == p);
        CHECK_MSG(WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "forked child: status %d", wst);
    }
    free(a);
    free(b);
}

/* The sequence classification head (XL_OUT_SCORES) of ../shared's bert-nli-tiny
 * (BertForSequenceClassification: pooler + classifier, 3 labels, F32: 1e-4) and
 * xlmr-reranker-tiny (XLMRobertaForSequenceClassification: classifier.dense + out_proj,
 * 1 label, F16 weights: 2e-3, the fixtures' stated tolerances): the text pairs through
 * xl_prepare_texts (pair template, token types) give the reference logits. A model
 * without a head refuses XL_OUT_SCORES. */
static void test_scores(void) {
    const char *shared = t_shared_dir();
    if (!shared) { t_skip_case("classification scores", "../shared (fixtures) not found"); return; }
    static const char *const names[] = {"bert-nli-tiny", "xlmr-reranker-tiny"};
    static const double tol[] = {1e-4, 2e-3};
    for (int f = 0; f < 2; f++) {
        static char dir[4096];
        snprintf(dir, sizeof dir, "%s/fixtures/models/%s", shared, names[f]);
        json_t *ref = load_json(dir, "reference.json");
        xl_model *m;
        if (!ref || !CHECK_MSG(xl_model_load(dir, NULL, &m) == XL_OK, "%s: %s", names[f], xl_last_error())) {
            json_decref(ref);
            continue;
        }
        const json_t *pairs = json_object_get(ref, "pairs");
        size_t n = json_array_size(pairs);
        const char **ta = calloc(n, sizeof *ta), **tb = calloc(n, sizeof *tb);
        for (size_t i = 0; i < n; i++) {
            ta[i] = json_string_value(json_object_get(json_array_get(pairs, i), "text"));
            tb[i] = json_string_value(json_object_get(json_array_get(pairs, i), "text_pair"));
        }
        xl_sequence *ps = NULL;
        xl_context *ctx = NULL;
        xl_outputs out;
        if (CHECK(xl_prepare_texts(m, ta, NULL, tb, NULL, n, NULL, &ps) == XL_OK) && CHECK(xl_context_new(m, &ctx) == XL_OK) &&
            CHECK_MSG(xl_run(ctx, ps, n, XL_OUT_SCORES, NULL, &out) == XL_OK && out.n_failed == 0, "%s: %s", names[f],
                      xl_last_error())) {
            int labels = (int)json_integer_value(json_object_get(ref, "num_labels"));
            CHECK_EQ_INT(out.n_scores, labels);
            double worst = 0;
            for (size_t i = 0; i < n && out.n_scores == labels; i++) {
                const json_t *want = json_object_get(json_array_get(pairs, i), "logits");
                for (int k = 0; k < labels; k++) {
                    double d = fabs(out.scores[i * (size_t)labels + (size_t)k] - json_number_value(json_array_get(want, (size_t)k)));
                    if (d > worst) worst = d;
                }
            }
            CHECK_MSG(worst <= tol[f], "%s: logits vs reference: %.3g (tolerance %g)", names[f], worst, tol[f]);
            printf("%s: %zu pairs, %d labels, max abs %.3g vs the reference logits\n", names[f], n, labels, worst);
            xl_outputs_free(&out);
        }
        xl_context_free(ctx);
        if (ps) xl_sequences_free(ps, n);
        free(ta);
        free(tb);
        xl_model_free(m);
        json_decref(ref);
    }
    /* no head */
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/models/bert-tiny", t_repo_dir());
    xl_model *m;
    if (CHECK(xl_model_load(dir, NULL, &m) == XL_OK)) {
        xl_context *ctx;
        xl_sequence seq = {0};
        int32_t ids[] = {101, 102};
        seq.ids = ids;
        seq.n = 2;
        xl_outputs out;
        CHECK(xl_context_new(m, &ctx) == XL_OK);
        CHECK(xl_run(ctx, &seq, 1, XL_OUT_SCORES, NULL, &out) == XL_ERR_UNSUPPORTED);
        CHECK_MSG(strstr(xl_last_error(), "classification head") != NULL, "message: %s", xl_last_error());
        xl_context_free(ctx);
        xl_model_free(m);
    }
}

int main(void) {
    const char *bert_dir = local_model("bert-tiny"), *xlmr_dir = local_model("xlmr-tiny");
    json_t *bref = load_json(bert_dir, "reference.json"), *xref = load_json(xlmr_dir, "reference.json");
    xl_model *bert = NULL, *xlmr = NULL;
    xl_model_options mo = {.threads = 2};
    CHECK_MSG(xl_model_load(bert_dir, &mo, &bert) == XL_OK, "%s", xl_last_error());
    CHECK_MSG(xl_model_load(xlmr_dir, &mo, &xlmr) == XL_OK, "%s", xl_last_error());
    if (bert && xlmr && bref && xref) {
        ref_inputs bin, xin;
        read_inputs(bref, &bin);
        read_inputs(xref, &xin);
        test_concurrency(bert, bref, &bin);
        test_concurrency(xlmr, xref, &xin);
        test_item_status(bert, &bin);
        test_tokens(xlmr, &xin, bert, bref, &bin);
        test_cancel(bert, &bin);
        test_prepare(xlmr, &xin);
        test_prepare(bert, &bin);
        test_fork(bert, &bin);
        free_inputs(&bin);
        free_inputs(&xin);
    }
    test_token_types();
    test_scores();
    /* a decoder (run state from the one-decoder forward) shared the same way */
    const char *shared = t_shared_dir();
    if (shared) {
        static char qdir[4096];
        snprintf(qdir, sizeof qdir, "%s/fixtures/models/qwen3-tiny", shared);
        json_t *qref = load_json(qdir, "reference.json");
        xl_model *q = NULL;
        if (qref && CHECK_MSG(xl_model_load(qdir, &mo, &q) == XL_OK, "%s", xl_last_error())) {
            ref_inputs qin;
            read_inputs(qref, &qin);
            test_concurrency(q, qref, &qin);
            free_inputs(&qin);
        }
        xl_model_free(q);
        json_decref(qref);
    } else {
        t_skip_case("decoder contexts", "../shared (fixtures) not found");
    }
    xl_model_free(bert);
    xl_model_free(xlmr);
    json_decref(bref);
    json_decref(xref);
    return test_summary("test_api");
}
