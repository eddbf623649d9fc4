/* Tests of checkpoint merging (xl_merge_average, xl_merge_swap) on small random models
 * written by the test with xling's safetensors writer: an encoder named as BERT
 * (embeddings.*, encoder.layer.N.*, an I64 position_ids buffer, F32 / BF16 / F16
 * tensors, a sentence-transformers Dense module) and a decoder named as Llama
 * (model.embed_tokens, model.layers.N.*, model.norm, an untied lm_head).
 * Averages: every float tensor equals the weighted mean computed here in double within
 * float32 rounding (|d| <= 2^-22 x the sum of |w_i x_i|; BF16 / F16 outputs within half
 * a unit of their precision of it), the non-float buffer comes from the first model;
 * swaps: each tensor's bytes equal those of the model it must come from. Bad input:
 * shapes, names, architectures, layer ranges, an existing output, the output being an
 * input, a truncated checkpoint, a full disk (RLIMIT_FSIZE): each fails with its status
 * and a message naming the tensor / folder, and leaves no output and no temporary folder. */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "testlib.h"

static char tmpdir[256];
enum { V = 50, H = 8, I = 12, P = 16, L = 3 };
enum { NORMAL = 0, BAD_SHAPE, MISSING, OTHER_ARCH, OTHER_IDS };

static const char *tp(const char *name) { return t_path(tmpdir, name); }

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static uint64_t rng;
static float urand(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

/* Declares and writes one random tensor (or reports an error). */
typedef struct {
    const char *name, *dtype;
    int ndim;
    int64_t shape[2];
} spec;

static void write_model(const char *dir, const spec *s, int n, uint64_t seed, int variant) {
    xl_st_writer *w;
    if (xl_st_writer_new(dir, 0, &w)) {
        fprintf(stderr, "%s\n", xl_last_error());
        exit(2);
    }
    for (int i = 0; i < n; i++) xl_st_writer_declare(w, s[i].name, s[i].dtype, s[i].shape, s[i].ndim);
    rng = seed;
    float buf[V * H];
    for (int i = 0; i < n; i++) {
        size_t numel = 1;
        for (int d = 0; d < s[i].ndim; d++) numel *= (size_t)s[i].shape[d];
        if (strcmp(s[i].dtype, "I64") == 0) {
            int64_t ids[P];
            for (int k = 0; k < P; k++) ids[k] = variant == OTHER_IDS ? 100 + k : k;
            xl_st_writer_write_raw(w, ids, sizeof ids);
        } else {
            for (size_t k = 0; k < numel; k++) buf[k] = urand();
            xl_st_writer_write_f32(w, buf);
        }
    }
    if (xl_st_writer_finish(w)) {
        fprintf(stderr, "%s\n", xl_last_error());
        exit(2);
    }
}

/* A BERT-named encoder with a Dense module. */
static void make_encoder(const char *name, uint64_t seed, int variant) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s", tp(name));
    mkdir(dir, 0755);
    spec s[40];
    int n = 0;
    static char names[40][96];
#define ADD(nm, dt, nd, a, b) (snprintf(names[n], 96, "%s", nm), s[n] = (spec){names[n], dt, nd, {a, b}}, n++)
    ADD("embeddings.word_embeddings.weight", "F32", 2, V, H);
    ADD("embeddings.position_embeddings.weight", "BF16", 2, P, H);
    ADD("embeddings.LayerNorm.weight", "F32", 1, H, 0);
    ADD("embeddings.position_ids", "I64", 2, 1, P);
    for (int l = 0; l < L; l++) {
        char b[96];
        snprintf(b, sizeof b, "encoder.layer.%d.attention.self.query.weight", l);
        ADD(b, "BF16", 2, H, H);
        snprintf(b, sizeof b, "encoder.layer.%d.intermediate.dense.weight", l);
        ADD(b, "F16", 2, (variant == BAD_SHAPE && l == 1) ? I + 1 : I, H);
        snprintf(b, sizeof b, "encoder.layer.%d.output.LayerNorm.bias", l);
        ADD(b, "F32", 1, H, 0);
    }
    if (variant != MISSING) ADD("pooler.dense.weight", "F32", 2, H, H);
    write_model(dir, s, n, seed, variant);
    put(t_path(dir, "config.json"), variant == OTHER_ARCH
                                        ? "{\"architectures\": [\"XLMRobertaModel\"], \"model_type\": \"xlm-roberta\", \"num_hidden_layers\": 3}"
                                        : "{\"architectures\": [\"BertModel\"], \"model_type\": \"bert\", \"num_hidden_layers\": 3,\n \"torch_dtype\": \"float32\"}");
    put(t_path(dir, "modules.json"),
        "[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
        "{\"idx\":1,\"name\":\"1\",\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"},"
        "{\"idx\":2,\"name\":\"2\",\"path\":\"2_Dense\",\"type\":\"sentence_transformers.models.Dense\"}]");
    mkdir(t_path(dir, "1_Pooling"), 0755);
    put(t_path(t_path(dir, "1_Pooling"), "config.json"), "{\"pooling_mode_mean_tokens\": true}");
    char dense[600];
    snprintf(dense, sizeof dense, "%s/2_Dense", dir);
    mkdir(dense, 0755);
    put(t_path(dense, "config.json"), "{\"in_features\": 8, \"out_features\": 4, \"bias\": true}");
    n = 0;
    ADD("linear.weight", "F32", 2, 4, H);
    ADD("linear.bias", "F32", 1, 4, 0);
    write_model(dense, s, n, seed + 7, NORMAL);
    put(t_path(dir, "tokenizer.json"), "{\"model\": {}}");
#undef ADD
}

/* A Llama-named decoder with an untied lm_head. */
static void make_decoder(const char *name, uint64_t seed) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s", tp(name));
    mkdir(dir, 0755);
    spec s[20];
    static char names[20][96];
    int n = 0;
#define ADD(nm, dt, nd, a, b) (snprintf(names[n], 96, "%s", nm), s[n] = (spec){names[n], dt, nd, {a, b}}, n++)
    ADD("model.embed_tokens.weight", "BF16", 2, V, H);
    for (int l = 0; l < L; l++) {
        char b[96];
        snprintf(b, sizeof b, "model.layers.%d.self_attn.q_proj.weight", l);
        ADD(b, "BF16", 2, H, H);
        snprintf(b, sizeof b, "model.layers.%d.input_layernorm.weight", l);
        ADD(b, "BF16", 1, H, 0);
    }
    ADD("model.norm.weight", "BF16", 1, H, 0);
    ADD("lm_head.weight", "BF16", 2, V, H);
#undef ADD
    write_model(dir, s, n, seed, NORMAL);
    put(t_path(dir, "config.json"), "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"num_hidden_layers\": 3}");
}

static xl_weights *open_dir(const char *dir) {
    xl_weights *w = NULL;
    if (xl_weights_open_dir(dir, &w)) {
        fprintf(stderr, "  open %s: %s\n", dir, xl_last_error());
        return NULL;
    }
    return w;
}

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* No ".NAME.tmp-*" folder left in tmpdir. */
static int no_temp_left(void) {
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int ok = 1;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp-")) ok = 0;
    if (d) closedir(d);
    return ok;
}

/* Checks out's tensors against the weighted mean of the inputs' in double. */
static void check_average(const char *out_rel, const char *const *in_rel, const float *w, int n, const char *part,
                          const char *force_dtype) {
    char od[600], id[8][600];
    snprintf(od, sizeof od, "%s%s%s", tp(out_rel), *part ? "/" : "", part);
    xl_weights *o = open_dir(od), *in[8];
    for (int k = 0; k < n; k++) {
        snprintf(id[k], sizeof id[k], "%s%s%s", tp(in_rel[k]), *part ? "/" : "", part);
        in[k] = open_dir(id[k]);
        if (!in[k]) return;
    }
    if (!CHECK(o != NULL)) return;
    CHECK_EQ_INT(xl_weights_count(o), xl_weights_count(in[0]));
    int bad = 0;
    for (size_t i = 0; i < xl_weights_count(in[0]); i++) {
        const xl_tensor *t0 = xl_weights_at(in[0], i), *ot = xl_weights_find(o, t0->name);
        if (!CHECK_MSG(ot != NULL, "%s missing from the output", t0->name)) continue;
        if (!xl_dtype_is_float(t0->dtype)) {
            CHECK_MSG(ot->dtype == t0->dtype && memcmp(ot->data, t0->data, t0->nbytes) == 0, "%s not copied from the first",
                      t0->name);
            continue;
        }
        xl_dtype want = force_dtype ? (strcmp(force_dtype, "F16") == 0 ? XL_DT_F16 : strcmp(force_dtype, "BF16") == 0 ? XL_DT_BF16 : XL_DT_F32)
                                    : t0->dtype;
        CHECK_MSG(ot->dtype == want, "%s: dtype %s", t0->name, xl_dtype_name(ot->dtype));
        float *got;
        xl_tensor_to_f32(ot, &got);
        float *x[8];
        for (int k = 0; k < n; k++) xl_tensor_to_f32(xl_weights_find(in[k], t0->name), &x[k]);
        double sumw = 0;
        for (int k = 0; k < n; k++) sumw += w[k];
        for (size_t e = 0; e < t0->numel; e++) {
            double ref = 0, mag = 0;
            for (int k = 0; k < n; k++) {
                ref += w[k] / sumw * x[k][e];
                mag += fabs(w[k] / sumw * x[k][e]);
            }
            /* float32 accumulation; then the output's own rounding (half a unit) */
            double tol = mag * 0x1p-22 + 1e-30;
            if (ot->dtype == XL_DT_BF16) tol += fabs(ref) * 0x1p-8 + 0x1p-133;
            if (ot->dtype == XL_DT_F16) tol += fabs(ref) * 0x1p-11 + 0x1p-25;
            if (fabs(got[e] - ref) > tol) {
                if (bad++ < 3) fprintf(stderr, "  %s[%zu]: %.9g, want %.9g\n", t0->name, e, got[e], ref);
            }
        }
        free(got);
        for (int k = 0; k < n; k++) free(x[k]);
    }
    CHECK_MSG(bad == 0, "%s%s: %d averaged values off", out_rel, part, bad);
    xl_weights_close(o);
    for (int k = 0; k < n; k++) xl_weights_close(in[k]);
}

typedef struct {
    char notes[4096];
    int n_tensors, n_donor;
    const char *donor;
} sink;

static void on_note(void *user, const char *msg) {
    sink *s = user;
    strncat(s->notes, msg, sizeof s->notes - strlen(s->notes) - 2);
    strcat(s->notes, "\n");
}

static void on_tensor(void *user, const char *name, const char *source) {
    (void)name;
    sink *s = user;
    s->n_tensors++;
    if (s->donor && source == s->donor) s->n_donor++;
}

static void test_average(void) {
    make_encoder("a", 1, NORMAL);
    make_encoder("b", 2, OTHER_IDS);
    make_encoder("c", 3, NORMAL);
    char d_a[512], d_b[512], d_c[512];
    snprintf(d_a, sizeof d_a, "%s", tp("a"));
    snprintf(d_b, sizeof d_b, "%s", tp("b"));
    snprintf(d_c, sizeof d_c, "%s", tp("c"));
    const char *dirs[3] = {d_a, d_b, d_c};
    sink s = {0};
    float w13[2] = {1, 3};
    xl_merge_options o = {.weights = w13, .on_note = on_note, .user = &s};
    xl_status st = xl_merge_average(tp("avg13"), dirs, 2, &o);
    if (!CHECK_MSG(st == XL_OK, "%s", xl_last_error())) return;
    const char *in2[2] = {"a", "b"};
    check_average("avg13", in2, w13, 2, "", NULL);
    check_average("avg13", in2, w13, 2, "2_Dense", NULL);
    /* the differing I64 buffer: copied from the first, with a note naming it */
    CHECK_MSG(strstr(s.notes, "embeddings.position_ids") && strstr(s.notes, "copied from"), "notes: %s", s.notes);
    /* the other files come along, unchanged */
    CHECK(exists(t_path(tp("avg13"), "1_Pooling/config.json")) && exists(t_path(tp("avg13"), "tokenizer.json")) &&
          exists(t_path(tp("avg13"), "modules.json")) && exists(t_path(tp("avg13"), "2_Dense/config.json")));

    /* three models, uniform; every float tensor stored as F16 */
    float w1[3] = {1, 1, 1};
    const char *in3[3] = {"a", "b", "c"};
    xl_merge_options o3 = {.dtype = "F16"};
    st = xl_merge_average(tp("avg3"), dirs, 3, &o3);
    if (CHECK_MSG(st == XL_OK, "%s", xl_last_error())) {
        check_average("avg3", in3, w1, 3, "", "F16");
        check_average("avg3", in3, w1, 3, "2_Dense", "F16");
        char *cfg = NULL;
        FILE *cf = fopen(t_path(tp("avg3"), "config.json"), "r");
        if (cf) {
            static char buf[2048];
            size_t k = fread(buf, 1, sizeof buf - 1, cf);
            buf[k] = '\0';
            cfg = buf;
            fclose(cf);
        }
        CHECK_MSG(cfg && strstr(cfg, "\"torch_dtype\": \"float16\"") && !strstr(cfg, "float32"), "config: %s", cfg ? cfg : "");
    }

    /* a model averaged with itself is itself, bit for bit (0.5 x + 0.5 x = x) */
    const char *aa[2] = {d_a, d_a};
    st = xl_merge_average(tp("self"), aa, 2, NULL);
    if (CHECK_MSG(st == XL_OK, "%s", xl_last_error())) {
        xl_weights *x = open_dir(tp("a")), *y = open_dir(tp("self"));
        int same = x && y && xl_weights_count(x) == xl_weights_count(y);
        for (size_t i = 0; same && i < xl_weights_count(x); i++) {
            const xl_tensor *p = xl_weights_at(x, i), *q = xl_weights_find(y, p->name);
            same = q && q->dtype == p->dtype && q->nbytes == p->nbytes && memcmp(p->data, q->data, p->nbytes) == 0;
        }
        CHECK(same);
        xl_weights_close(x);
        xl_weights_close(y);
    }

    /* sharded output: the same tensors, split as asked, readable as one checkpoint */
    xl_merge_options os = {.weights = w13, .max_shard_bytes = 1000};
    st = xl_merge_average(tp("avg13s"), dirs, 2, &os);
    if (CHECK_MSG(st == XL_OK, "%s", xl_last_error())) {
        CHECK(exists(t_path(tp("avg13s"), "model.safetensors.index.json")));
        CHECK(exists(t_path(tp("avg13s"), "model-00003-of-00003.safetensors"))); /* 1600 | 256..128 (992) | 192..256 */
        CHECK(!exists(t_path(tp("avg13s"), "model.safetensors")));
        CHECK(exists(t_path(tp("avg13s"), "2_Dense/model.safetensors"))); /* modules are not sharded */
        xl_weights *x = open_dir(tp("avg13")), *y = open_dir(tp("avg13s"));
        int same = x && y && xl_weights_count(x) == xl_weights_count(y);
        for (size_t i = 0; same && i < xl_weights_count(x); i++) {
            const xl_tensor *p = xl_weights_at(x, i), *q = xl_weights_find(y, p->name);
            same = q && q->nbytes == p->nbytes && memcmp(p->data, q->data, p->nbytes) == 0;
        }
        CHECK(same);
        xl_weights_close(x);
        xl_weights_close(y);
    }
    CHECK(no_temp_left());
}

/* Every tensor of out equals (bytes) the one of the model it must come from. */
static void check_swap(const char *out, const char *a, const char *b, int (*from_b)(const char *name)) {
    xl_weights *o = open_dir(tp(out)), *wa = open_dir(tp(a)), *wb = open_dir(tp(b));
    if (!CHECK(o && wa && wb)) return;
    int bad = 0, nb = 0;
    for (size_t i = 0; i < xl_weights_count(wa); i++) {
        const xl_tensor *ta = xl_weights_at(wa, i), *ot = xl_weights_find(o, ta->name);
        int fb = from_b(ta->name);
        nb += fb;
        const xl_tensor *want = fb ? xl_weights_find(wb, ta->name) : ta;
        if (!ot || ot->nbytes != want->nbytes || memcmp(ot->data, want->data, want->nbytes) != 0) {
            if (bad++ < 3) fprintf(stderr, "  %s: not from %s\n", ta->name, fb ? b : a);
        }
    }
    CHECK_MSG(bad == 0 && nb > 0, "%s: %d tensors from the wrong model (%d expected from %s)", out, bad, nb, b);
    xl_weights_close(o);
    xl_weights_close(wa);
    xl_weights_close(wb);
}

static int enc_layers_0_2(const char *n) { return strstr(n, "layer.0.") || strstr(n, "layer.2."); }
static int enc_layer_1_emb(const char *n) { return strstr(n, "layer.1.") || strncmp(n, "embeddings.", 11) == 0; }
static int dec_layer_2(const char *n) { return strstr(n, "layers.2.") != NULL; }
static int dec_emb(const char *n) {
    return strstr(n, "embed_tokens") || strcmp(n, "model.norm.weight") == 0 || strcmp(n, "lm_head.weight") == 0;
}

static void test_swap(void) {
    char d_a[512], d_c[512];
    snprintf(d_a, sizeof d_a, "%s", tp("a"));
    snprintf(d_c, sizeof d_c, "%s", tp("c"));
    int l02[2] = {0, 2}, l1[1] = {1}, l2[1] = {2};
    xl_status st = xl_merge_swap(tp("sw02"), d_a, d_c, l02, 2, 0, NULL);
    if (CHECK_MSG(st == XL_OK, "%s", xl_last_error())) check_swap("sw02", "a", "c", enc_layers_0_2);
    st = xl_merge_swap(tp("sw1e"), d_a, d_c, l1, 1, 1, NULL);
    if (CHECK_MSG(st == XL_OK, "%s", xl_last_error())) check_swap("sw1e", "a", "c", enc_layer_1_emb);
    /* the Dense module always comes from the base */
    {
        xl_weights *o = open_dir(t_path(tp("sw1e"), "2_Dense")), *x = open_dir(t_path(tp("a"), "2_Dense"));
        const xl_tensor *p = x ? xl_weights_find(x, "linear.weight") : NULL, *q = o ? xl_weights_find(o, "linear.weight") : NULL;
        CHECK(p && q && memcmp(p->data, q->data, p->nbytes) == 0);
        xl_weights_close(o);
        xl_weights_close(x);
    }
    make_decoder("da", 11);
    make_decoder("db", 12);
    char d_da[512], d_db[512];
    snprintf(d_da, sizeof d_da, "%s", tp("da"));
    snprintf(d_db, sizeof d_db, "%s", tp("db"));
    st = xl_merge_swap(tp("dsw2"), d_da, d_db, l2, 1, 0, NULL);
    if (CHECK_MSG(st == XL_OK, "%s", xl_last_error())) check_swap("dsw2", "da", "db", dec_layer_2);
    st = xl_merge_swap(tp("dswe"), d_da, d_db, NULL, 0, 1, NULL);
    if (CHECK_MSG(st == XL_OK, "%s", xl_last_error())) check_swap("dswe", "da", "db", dec_emb);

    /* dry run: reports every tensor, the donor's count right, writes nothing */
    sink s = {0};
    s.donor = d_c;
    xl_merge_options o = {.dry_run = 1, .on_tensor = on_tensor, .user = &s};
    st = xl_merge_swap(tp("dry"), d_a, d_c, l02, 2, 0, &o);
    CHECK(st == XL_OK);
    CHECK_EQ_INT(s.n_tensors, 4 + 3 * L + 1 + 2); /* model + Dense */
    CHECK_EQ_INT(s.n_donor, 2 * 3);
    CHECK(!exists(tp("dry")));
    CHECK(no_temp_left());
}

static void expect_fail(xl_status st, xl_status want, const char *needle1, const char *needle2, const char *out) {
    const char *msg = xl_last_error();
    CHECK_MSG(st == want && (!needle1 || strstr(msg, needle1)) && (!needle2 || strstr(msg, needle2)),
              "status %s (want %s): %s", xl_status_name(st), xl_status_name(want), msg);
    if (out) CHECK_MSG(!exists(tp(out)), "%s was created", out);
}

static void test_errors(void) {
    make_encoder("shape", 4, BAD_SHAPE);
    make_encoder("missing", 5, MISSING);
    make_encoder("arch", 6, OTHER_ARCH);
    char d_a[512], d_x[512];
    snprintf(d_a, sizeof d_a, "%s", tp("a"));
    const char *dirs[2] = {d_a, d_x};
    snprintf(d_x, sizeof d_x, "%s", tp("shape"));
    expect_fail(xl_merge_average(tp("e1"), dirs, 2, NULL), XL_ERR_INPUT, "encoder.layer.1.intermediate.dense.weight",
                "[13, 8]", "e1");
    snprintf(d_x, sizeof d_x, "%s", tp("missing"));
    expect_fail(xl_merge_average(tp("e2"), dirs, 2, NULL), XL_ERR_INPUT, "pooler.dense.weight", "is not in", "e2");
    const char *rev[2] = {d_x, d_a}; /* the other way round: the extra tensor is named too */
    expect_fail(xl_merge_average(tp("e2"), rev, 2, NULL), XL_ERR_INPUT, "pooler.dense.weight", NULL, "e2");
    snprintf(d_x, sizeof d_x, "%s", tp("arch"));
    expect_fail(xl_merge_average(tp("e3"), dirs, 2, NULL), XL_ERR_INPUT, "XLMRobertaModel", "BertModel", "e3");
    expect_fail(xl_merge_swap(tp("e3"), d_a, d_x, (int[]){0}, 1, 0, NULL), XL_ERR_INPUT, "architecture", NULL, "e3");
    snprintf(d_x, sizeof d_x, "%s", tp("shape"));
    expect_fail(xl_merge_swap(tp("e4"), d_a, d_x, (int[]){1}, 1, 0, NULL), XL_ERR_INPUT,
                "encoder.layer.1.intermediate.dense.weight", NULL, "e4");
    /* layer 0 of the odd model is fine to take */
    CHECK(xl_merge_swap(tp("ok0"), d_a, d_x, (int[]){0}, 1, 0, NULL) == XL_OK);
    expect_fail(xl_merge_swap(tp("e5"), d_a, tp("c"), (int[]){1, 3}, 2, 0, NULL), XL_ERR_ARG, "layer 3",
                "3 layers (0-2)", "e5");
    expect_fail(xl_merge_swap(tp("e5"), d_a, tp("c"), (int[]){-1}, 1, 0, NULL), XL_ERR_ARG, "layer -1", NULL, "e5");
    expect_fail(xl_merge_swap(tp("e5"), d_a, tp("c"), NULL, 0, 0, NULL), XL_ERR_ARG, "nothing to swap", NULL, "e5");
    const char *one[1] = {d_a};
    expect_fail(xl_merge_average(tp("e6"), one, 1, NULL), XL_ERR_ARG, "at least two", NULL, "e6");
    const char *same[2] = {d_a, d_a};
    float zero[2] = {0, 0}, neg[2] = {1, -1};
    xl_merge_options oz = {.weights = zero}, on = {.weights = neg}, od = {.dtype = "F8"};
    expect_fail(xl_merge_average(tp("e6"), same, 2, &oz), XL_ERR_ARG, "sum to 0", NULL, "e6");
    expect_fail(xl_merge_average(tp("e6"), same, 2, &on), XL_ERR_ARG, "weight 2", NULL, "e6");
    expect_fail(xl_merge_average(tp("e6"), same, 2, &od), XL_ERR_ARG, "F8", NULL, "e6");
    const char *nodir[2] = {d_a, tp("nosuch")};
    expect_fail(xl_merge_average(tp("e7"), nodir, 2, NULL), XL_ERR_IO, "nosuch", NULL, "e7");

    /* an existing output: refused (untouched), replaced with force; never an input */
    expect_fail(xl_merge_average(tp("self"), same, 2, NULL), XL_ERR_ARG, "already exists", NULL, NULL);
    xl_merge_options of = {.force = 1};
    expect_fail(xl_merge_average(d_a, same, 2, &of), XL_ERR_ARG, "is the input", NULL, NULL);
    const char *ac[2] = {d_a, tp("c")};
    char d_c[512];
    snprintf(d_c, sizeof d_c, "%s", tp("c"));
    ac[1] = d_c;
    CHECK(xl_merge_average(tp("self"), ac, 2, &of) == XL_OK);
    check_average("self", (const char *[]){"a", "c"}, (float[]){1, 1}, 2, "", NULL);

    /* a truncated checkpoint: named, nothing written */
    make_encoder("trunc", 8, NORMAL);
    char tf[600];
    snprintf(tf, sizeof tf, "%s/model.safetensors", tp("trunc"));
    CHECK(truncate(tf, 600) == 0);
    snprintf(d_x, sizeof d_x, "%s", tp("trunc"));
    expect_fail(xl_merge_average(tp("e8"), dirs, 2, NULL), XL_ERR_FORMAT, "trunc/model.safetensors", NULL, "e8");
    expect_fail(xl_merge_swap(tp("e8"), d_a, d_x, (int[]){0}, 1, 0, NULL), XL_ERR_FORMAT, "trunc/model.safetensors",
                NULL, "e8");

    /* a full disk (files limited to 4 KiB, SIGXFSZ ignored) while replacing "self":
     * the old folder stays as it was and no temporary folder is left */
    xl_weights *before = open_dir(tp("self"));
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &rl);
        xl_status st = xl_merge_average(tp("self"), same, 2, &of);
        int ok = st == XL_ERR_IO && strstr(xl_last_error(), "write failed");
        if (!ok) fprintf(stderr, "  full disk: %s %s\n", xl_status_name(st), xl_last_error());
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    check_average("self", (const char *[]){"a", "c"}, (float[]){1, 1}, 2, "", NULL);
    xl_weights_close(before);
    CHECK(no_temp_left());
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/xl_merge_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_average();
    test_swap();
    test_errors();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_summary("merge");
}
