/* Encoder forward-pass micro benchmark.
 *
 *   encoder_speed [--hidden 384 --layers 12 --heads 12 --ffn 1536 --vocab 8000]
 *                 [--model HF_DIR] [--batch 32 --seq 128 --reps 5 --threads N] [--layer-times]
 *
 * Without --model it writes a random-weight XLM-R-style checkpoint of the given shape
 * (config.json + model.safetensors, F32) into a temporary folder and loads it through
 * the normal path (xl_arch_find + load). A small vocabulary keeps the file small; it
 * does not change the speed (one row lookup per token). Prints tokens/s and ms per
 * call (median of --reps after one warm-up) and the median process CPU time per call.
 * --layer-times also times each kernel of one layer in isolation at this batch shape
 * (CPU time with --threads 1, wall time otherwise).
 * Measure with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE` (see the shared bench README). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "io/safetensors.h"
#include "kernels/kernels.h"
#include "models/arch.h"
#include "util/json.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* CPU time of the whole process: with one thread it is the compute time even on a busy
 * machine (time spent preempted is not counted), a steadier figure than wall time. */
static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static unsigned long long rng = 88172645463325252ull;
static float frand(void) { /* ~ uniform in [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 4503599627370496.0 - 1.0);
}

typedef struct {
    char name[128];
    int64_t rows, cols; /* cols = 0: 1-D */
    float scale, offset;
} tdesc;

/* Writes config.json and model.safetensors for an XLM-R-shaped encoder into dir. */
static int write_model(const char *dir, int H, int L, int heads, int F, int V) {
    const int maxpos = 514;
    tdesc *td = calloc((size_t)(5 + 16 * L), sizeof *td);
    int n = 0;
#define ADD(nm, r, c, sc, off) (snprintf(td[n].name, sizeof td[n].name, "%s", nm), td[n].rows = r, td[n].cols = c, td[n].scale = sc, td[n].offset = off, n++)
    ADD("embeddings.word_embeddings.weight", V, H, 0.02f, 0);
    ADD("embeddings.position_embeddings.weight", maxpos, H, 0.02f, 0);
    ADD("embeddings.token_type_embeddings.weight", 1, H, 0.02f, 0);
    ADD("embeddings.LayerNorm.weight", H, 0, 0.02f, 1);
    ADD("embeddings.LayerNorm.bias", H, 0, 0.02f, 0);
    for (int l = 0; l < L; l++) {
        char p[128];
        const char *lin[6][2] = {{"attention.self.query", ""}, {"attention.self.key", ""}, {"attention.self.value", ""},
                                 {"attention.output.dense", ""}, {"intermediate.dense", ""}, {"output.dense", ""}};
        int64_t shp[6][2] = {{H, H}, {H, H}, {H, H}, {H, H}, {F, H}, {H, F}};
        for (int i = 0; i < 6; i++) {
            snprintf(p, sizeof p, "encoder.layer.%d.%s.weight", l, lin[i][0]);
            ADD(p, shp[i][0], shp[i][1], 0.02f, 0);
            snprintf(p, sizeof p, "encoder.layer.%d.%s.bias", l, lin[i][0]);
            ADD(p, shp[i][0], 0, 0.02f, 0);
        }
        const char *lns[2] = {"attention.output.LayerNorm", "output.LayerNorm"};
        for (int i = 0; i < 2; i++) {
            snprintf(p, sizeof p, "encoder.layer.%d.%s.weight", l, lns[i]);
            ADD(p, H, 0, 0.02f, 1);
            snprintf(p, sizeof p, "encoder.layer.%d.%s.bias", l, lns[i]);
            ADD(p, H, 0, 0.02f, 0);
        }
    }
#undef ADD
    json_t *hdr = json_object();
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        size_t cnt = (size_t)td[i].rows * (td[i].cols ? (size_t)td[i].cols : 1);
        json_t *shape = td[i].cols ? json_pack("[I,I]", (json_int_t)td[i].rows, (json_int_t)td[i].cols)
                                   : json_pack("[I]", (json_int_t)td[i].rows);
        json_object_set_new(hdr, td[i].name,
                            json_pack("{s:s, s:o, s:[I,I]}", "dtype", "F32", "shape", shape, "data_offsets",
                                      (json_int_t)off, (json_int_t)(off + 4 * cnt)));
        off += 4 * cnt;
    }
    char *htxt = json_dumps(hdr, JSON_COMPACT);
    json_decref(hdr);
    size_t hl = strlen(htxt), padded = (hl + 7) / 8 * 8;
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    uint64_t hl64 = padded;
    fwrite(&hl64, 8, 1, f);
    fwrite(htxt, 1, hl, f);
    for (size_t i = hl; i < padded; i++) fputc(' ', f);
    free(htxt);
    float *buf = malloc(sizeof(float) * 65536);
    for (int i = 0; i < n; i++) {
        size_t cnt = (size_t)td[i].rows * (td[i].cols ? (size_t)td[i].cols : 1);
        while (cnt) {
            size_t k = cnt < 65536 ? cnt : 65536;
            for (size_t j = 0; j < k; j++) buf[j] = td[i].offset + td[i].scale * frand();
            fwrite(buf, sizeof(float), k, f);
            cnt -= k;
        }
    }
    free(buf);
    free(td);
    if (fclose(f)) return -1;
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *cfg = json_pack("{s:[s], s:s, s:s, s:f, s:i, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "architectures",
                            "XLMRobertaModel", "model_type", "xlm-roberta", "hidden_act", "gelu", "layer_norm_eps", 1e-5,
                            "pad_token_id", 1, "position_embedding_type", "absolute", "vocab_size", V, "hidden_size", H,
                            "num_hidden_layers", L, "num_attention_heads", heads, "intermediate_size", F,
                            "type_vocab_size", 1, "max_position_embeddings", maxpos);
    int rc = json_dump_file(cfg, path, JSON_INDENT(2));
    json_decref(cfg);
    return rc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Times each kernel of one encoder layer at this shape (random data). */
static void layer_times(int B, int T, int H, int heads, int F, int threads, int reps) {
    int R = B * T;
    float *x = malloc(sizeof(float) * (size_t)R * H), *qkv = malloc(sizeof(float) * (size_t)R * 3 * H);
    float *ctx = malloc(sizeof(float) * (size_t)R * H), *ffn = malloc(sizeof(float) * (size_t)R * F);
    float *wqkv = malloc(sizeof(float) * 3 * (size_t)H * H), *w1 = malloc(sizeof(float) * (size_t)F * H);
    float *w2 = malloc(sizeof(float) * (size_t)F * H), *g = malloc(sizeof(float) * H), *bb = malloc(sizeof(float) * F);
    uint8_t *mask = malloc((size_t)R);
    memset(mask, 1, (size_t)R);
    for (size_t i = 0; i < (size_t)R * H; i++) x[i] = frand();
    for (size_t i = 0; i < (size_t)R * 3 * H; i++) qkv[i] = frand();
    for (size_t i = 0; i < 3 * (size_t)H * H; i++) wqkv[i] = 0.05f * frand();
    for (size_t i = 0; i < (size_t)F * H; i++) w1[i] = 0.05f * frand(), w2[i] = 0.05f * frand();
    for (int i = 0; i < H; i++) g[i] = 1.0f;
    for (int i = 0; i < F; i++) bb[i] = 0.01f * frand();
    xl_attn_params ap = {B, T, heads, heads, H / heads, 1.0f / sqrtf((float)(H / heads)), -1, -1, mask};
    /* packed once, as the model does at load */
    xl_packed_w pqkv, po, p1, p2;
    if (xl_pack_w(wqkv, 3 * H, H, &pqkv) || xl_pack_w(wqkv, H, H, &po) || xl_pack_w(w1, F, H, &p1) ||
        xl_pack_w(w2, H, F, &p2)) {
        fprintf(stderr, "pack: %s\n", xl_last_error());
        exit(1);
    }
    const char *names[] = {"qkv gemm", "attention", "out gemm", "res+LN", "ffn1+gelu", "bias+gelu", "ffn2 gemm"};
    double flops[] = {2.0 * R * H * 3 * H, 4.0 * B * T * T * H, 2.0 * R * H * H, 0, 2.0 * R * H * F, 0, 2.0 * R * H * F};
    double tot = 0;
    for (int k = 0; k < 7; k++) {
        double best = 1e30;
        for (int r = 0; r < reps + 1; r++) {
            double t0 = threads == 1 ? cpu_ms() : now_ms();
            switch (k) {
            case 0: xl_linear_packed(x, R, &pqkv, bb, XL_KACT_NONE, qkv, threads); break;
            case 1: xl_attention(&ap, qkv, 3 * H, qkv + H, qkv + 2 * H, 3 * H, ctx, threads); break;
            case 2: xl_linear_packed(ctx, R, &po, NULL, XL_KACT_NONE, x, threads); break;
            case 3: xl_residual_layernorm(x, ctx, bb, R, H, g, g, 1e-5f, threads); break;
            case 4: xl_linear_packed(x, R, &p1, bb, XL_KACT_GELU_ERF, ffn, threads); break;
            case 5: xl_bias_act(ffn, R, F, bb, XL_KACT_GELU_ERF, threads); break; /* alone, for reference */
            case 6: xl_linear_packed(ffn, R, &p2, NULL, XL_KACT_NONE, ctx, threads); break;
            }
            double dt = (threads == 1 ? cpu_ms() : now_ms()) - t0;
            if (r && dt < best) best = dt;
        }
        if (k != 5) tot += best; /* the model fuses bias + GELU into the ffn1 GEMM */
        if (flops[k] > 0)
            fprintf(stderr, "  %-10s %8.3f ms  %6.1f GFLOP/s\n", names[k], best, flops[k] / best * 1e-6);
        else
            fprintf(stderr, "  %-10s %8.3f ms\n", names[k], best);
    }
    fprintf(stderr, "  layer total %.3f ms (x layers for the model)\n", tot);
    xl_packed_w_free(&pqkv); xl_packed_w_free(&po); xl_packed_w_free(&p1); xl_packed_w_free(&p2);
    free(x); free(qkv); free(ctx); free(ffn); free(wqkv); free(w1); free(w2); free(g); free(bb); free(mask);
}

int main(int argc, char **argv) {
    int H = 384, L = 12, heads = 12, F = 1536, V = 8000, B = 32, T = 128, reps = 5, lt = 0;
    int threads = xl_default_threads();
    const char *model_dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT_INT(flag, var) if (!strcmp(a, flag) && v) { var = atoi(v); i++; continue; }
        OPT_INT("--hidden", H) OPT_INT("--layers", L) OPT_INT("--heads", heads) OPT_INT("--ffn", F)
        OPT_INT("--vocab", V) OPT_INT("--batch", B) OPT_INT("--seq", T) OPT_INT("--reps", reps)
        OPT_INT("--threads", threads)
#undef OPT_INT
        if (!strcmp(a, "--model") && v) { model_dir = v; i++; continue; }
        if (!strcmp(a, "--layer-times")) { lt = 1; continue; }
        fprintf(stderr, "usage: %s [--hidden N --layers N --heads N --ffn N --vocab N | --model DIR] "
                        "[--batch N --seq N --reps N --threads N] [--layer-times]\n", argv[0]);
        return 2;
    }
    char tmpl[] = "/tmp/xl_encoder_speed_XXXXXX";
    const char *dir = model_dir;
    if (!dir) {
        if (!mkdtemp(tmpl) || write_model(tmpl, H, L, heads, F, V)) {
            fprintf(stderr, "cannot write the random model\n");
            return 1;
        }
        dir = tmpl;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *cfg;
    xl_weights *w;
    const xl_arch *arch;
    void *model, *state;
    if (xl_json_load_file(path, &cfg) || xl_weights_open_dir(dir, &w) || xl_arch_find(cfg, dir, &arch) ||
        arch->load(cfg, w, dir, NULL, &model) || arch->state_new(model, &state)) {
        fprintf(stderr, "load: %s\n", xl_last_error());
        return 1;
    }
    xl_arch_info info;
    arch->get_info(model, &info);
    H = info.hidden_size;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)B * T);
    uint8_t *mask = malloc((size_t)B * T);
    int *lens = malloc(sizeof(int) * B);
    for (int i = 0; i < B * T; i++) ids[i] = 5 + (int)((unsigned)(rng = rng * 6364136223846793005ull + 1) >> 1) % (info.vocab_size - 5);
    memset(mask, 1, (size_t)B * T);
    for (int b = 0; b < B; b++) lens[b] = T;
    float *hidden = malloc(sizeof(float) * (size_t)B * T * H);
    xl_batch bt = {.B = B, .T = T, .ids = ids, .mask = mask, .lens = lens};
    if (reps < 1) reps = 1;
    double *ms = malloc(sizeof(double) * reps), *cms = malloc(sizeof(double) * reps);
    if (arch->forward(model, state, &bt, hidden, NULL, NULL, threads)) {
        fprintf(stderr, "forward: %s\n", xl_last_error());
        return 1;
    }
    for (int r = 0; r < reps; r++) {
        double t0 = now_ms(), c0 = cpu_ms();
        arch->forward(model, state, &bt, hidden, NULL, NULL, threads);
        ms[r] = now_ms() - t0;
        cms[r] = cpu_ms() - c0;
    }
    qsort(ms, (size_t)reps, sizeof(double), cmp_double);
    qsort(cms, (size_t)reps, sizeof(double), cmp_double);
    double med = ms[reps / 2];
    double flop_tok = 2.0 * (double)info.num_layers * (4.0 * H * H + 2.0 * H * info.intermediate_size) +
                      4.0 * info.num_layers * (double)T * H;
    printf("{\"shape\": \"H%d L%d heads%d ffn%d\", \"batch\": %d, \"seq\": %d, \"threads\": %d, \"median_ms\": %.3f, "
           "\"min_ms\": %.3f, \"tokens_per_s\": %.1f, \"gflops\": %.1f, \"cpu_ms_median\": %.3f}\n",
           H, info.num_layers, info.num_heads, info.intermediate_size, B, T, threads, med, ms[0], B * T / (med * 1e-3),
           flop_tok * B * T / (med * 1e-3) * 1e-9, cms[reps / 2]);
    if (lt) layer_times(B, T, H, info.num_heads, info.intermediate_size, threads, reps);
    arch->state_free(state);
    arch->free(model);
    xl_weights_close(w);
    json_decref(cfg);
    free(ids); free(mask); free(lens); free(hidden); free(ms); free(cms);
    if (!model_dir) {
        snprintf(path, sizeof path, "%s/model.safetensors", tmpl);
        unlink(path);
        snprintf(path, sizeof path, "%s/config.json", tmpl);
        unlink(path);
        rmdir(tmpl);
    }
    return 0;
}
