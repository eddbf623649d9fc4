/* libFuzzer target: arbitrary config.json and sentence-transformers module files in a
 * model folder, loaded by xl_model_load (config.json → architecture → weights →
 * modules.json, Pooling, Dense, sentence_bert_config.json, prompts), then, if the
 * folder loads, embedded.
 *
 *   XLING_FUZZ_MODELS=build-fuzz/config-models ./fuzz_config [libFuzzer flags] CORPUS...
 *
 * XLING_FUZZ_MODELS holds small checkpoints (fuzz/make_seeds.py cuts the fixture
 * models' vocabularies to 64 rows), one folder per name in MODELS. Input layout: byte 0
 * picks the checkpoint (bits 0-2), --quantize q8 (bit 3), the attention direction
 * (bits 4-5: folder, bidirectional, causal) and, with its top bit, a long sequence to
 * embed (quadratic attention cost: not on every input); the rest is split at "\n#-#\n" into the
 * files of SECTIONS, in order; a section that is missing or empty leaves its file
 * absent. The files are written into a per-process temporary folder beside links to
 * the checkpoint (xl_model_load reads a folder; there is no in-memory entry point for a
 * whole model and the files are small).
 *
 * Beyond crashes, each input checks:
 *   - a folder that fails to load gets a NULL model and a non-empty one-line message;
 *   - a folder that loads has positive sizes, a pooling mode, dim = xl_embed_dim,
 *     a default prompt that is one of the prompts, and embeds token ids 0 and
 *     vocab_size - 1 and a second sequence (8 tokens, or longer than max_seq_length and
 *     so truncated, see byte 0) into finite
 *     values, of unit norm when the folder normalizes (tolerance 1e-3); an id equal to
 *     vocab_size is refused with XL_ERR_INPUT. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xling.h"

static const char *const MODELS[] = {"bert-tiny", "xlmr-tiny", "llama-bi-tiny", "mistral-tiny", "qwen2-tiny",
                                     "qwen3-tiny", "gemma3-tiny", "qwen3-reranker-seqcls-tiny"};
#define N_MODELS (sizeof MODELS / sizeof MODELS[0])
static const char *const SECTIONS[] = {"config.json", "modules.json", "1_Pooling/config.json", "2_Dense/config.json",
                                       "3_Dense/config.json", "sentence_bert_config.json",
                                       "config_sentence_transformers.json"};
#define N_SECTIONS (sizeof SECTIONS / sizeof SECTIONS[0])
#define SEP "\n#-#\n"
/* Longest sequence embedded per input: enough to pass every fixture's position table
 * (512), short enough to keep runs fast. */
#define MAX_LEN 520

static char root[4096];

static void fail(const char *what, size_t size) {
    fprintf(stderr, "fuzz_config: %s (input of %zu bytes; last error: %s)\n", what, size, xl_last_error());
    abort();
}

static void path_of(char *buf, size_t cap, size_t model, const char *name) {
    snprintf(buf, cap, "%s/%zu%s%s", root, model, *name ? "/" : "", name);
}

static void cleanup(void) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "fuzz_config: could not remove %s\n", root);
}

/* Links src (if it exists) as dst. */
static void link_if(const char *src, const char *dst) {
    if (access(src, R_OK) == 0 && symlink(src, dst) != 0) {
        perror(dst);
        exit(2);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *models = getenv("XLING_FUZZ_MODELS");
    char abs[4096];
    if (!models || !realpath(models, abs)) {
        fprintf(stderr, "fuzz_config: set XLING_FUZZ_MODELS to the folder fuzz/make_seeds.py writes (config-models)\n");
        exit(2);
    }
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(root, sizeof root, "%s/fuzz_config_XXXXXX", tmp);
    if (!mkdtemp(root)) {
        perror(root);
        exit(2);
    }
    atexit(cleanup);
    for (size_t i = 0; i < N_MODELS; i++) {
        char dst[4400], src[8400];
        const char *subs[] = {"", "1_Pooling", "2_Dense", "3_Dense"};
        for (size_t s = 0; s < 4; s++) {
            path_of(dst, sizeof dst, i, subs[s]);
            mkdir(dst, 0700);
        }
        const char *weights[] = {"model.safetensors", "2_Dense/model.safetensors", "3_Dense/model.safetensors"};
        for (size_t k = 0; k < 3; k++) {
            snprintf(src, sizeof src, "%s/%s/%s", abs, MODELS[i], weights[k]);
            path_of(dst, sizeof dst, i, weights[k]);
            link_if(src, dst);
        }
        snprintf(src, sizeof src, "%s/%s/model.safetensors", abs, MODELS[i]);
        if (access(src, R_OK) != 0) {
            fprintf(stderr, "fuzz_config: %s missing (run fuzz/make_seeds.py)\n", src);
            exit(2);
        }
    }
    return 0;
}

static const uint8_t *find_sep(const uint8_t *p, const uint8_t *end) {
    size_t n = strlen(SEP);
    for (; (size_t)(end - p) >= n; p++)
        if (memcmp(p, SEP, n) == 0) return p;
    return NULL;
}

static void write_sections(size_t model, const uint8_t *p, size_t size) {
    const uint8_t *end = p + size;
    for (size_t s = 0; s < N_SECTIONS; s++) {
        char file[4400];
        path_of(file, sizeof file, model, SECTIONS[s]);
        const uint8_t *q = p ? find_sep(p, end) : NULL;
        const uint8_t *stop = q ? q : end;
        if (!p || stop == p) {
            unlink(file);
        } else {
            FILE *f = fopen(file, "wb");
            if (!f || fwrite(p, 1, (size_t)(stop - p), f) != (size_t)(stop - p) || fclose(f) != 0)
                fail("cannot write a section file", size);
        }
        p = q ? q + strlen(SEP) : NULL;
    }
}

/* long: embed a sequence past max_seq_length (up to MAX_LEN), else one of 8 tokens. */
static void check_embeddings(xl_model *m, const xl_model_info *info, int long_seq, size_t size) {
    int V = info->vocab_size;
    size_t L = info->max_seq_length > 0 ? (size_t)info->max_seq_length + 3 : 40;
    if (L > MAX_LEN) L = MAX_LEN;
    if (!long_seq) L = 8;
    static int32_t a[3], b[MAX_LEN];
    a[0] = 0;
    a[1] = V - 1;
    a[2] = V > 1 ? 1 : 0;
    for (size_t i = 0; i < L; i++) b[i] = (int32_t)((i * 7 + 3) % (size_t)V);
    const int32_t *ids[2] = {a, b};
    size_t lens[2] = {3, L};
    xl_embed_options o;
    xl_embed_options_init(&o);
    o.threads = 1;
    int dim = xl_embed_dim(m, &o);
    if (dim != info->dim || dim <= 0) fail("xl_embed_dim differs from info.dim", size);
    float *out = malloc(2 * (size_t)dim * sizeof *out);
    if (!out) fail("out of memory", size);
    size_t cut = 0;
    if (xl_embed_ids(m, ids, lens, 2, &o, out, &cut) != XL_OK) fail("embedding valid ids failed", size);
    for (int r = 0; r < 2; r++) {
        double ss = 0;
        for (int k = 0; k < dim; k++) {
            float v = out[(size_t)r * dim + k];
            if (!isfinite(v)) fail("an embedding is not finite", size);
            ss += (double)v * v;
        }
        if (info->normalize && fabs(sqrt(ss) - 1.0) > 1e-3) fail("a normalized embedding has norm != 1", size);
    }
    a[1] = V;
    lens[1] = 1;
    if (xl_embed_ids(m, ids, lens, 1, &o, out, NULL) != XL_ERR_INPUT) fail("an id = vocab_size was not refused", size);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    _Static_assert(N_MODELS == 8, "byte 0 keeps 3 bits for the checkpoint");
    size_t model = data[0] & 7;
    write_sections(model, data + 1, size - 1);
    char dir[4400];
    path_of(dir, sizeof dir, model, "");
    /* Bits 3-5 of byte 0: load options, which decoders apply after reading the config. */
    int attn = (data[0] >> 4) & 3;
    xl_model_options mo = {.threads = 1,
                           .quantize = (data[0] >> 3) & 1 ? XL_QUANTIZE_Q8 : XL_QUANTIZE_NONE,
                           .attention = attn == 1   ? XL_ATTN_FORCE_BIDIRECTIONAL
                                        : attn == 2 ? XL_ATTN_FORCE_CAUSAL
                                                    : XL_ATTN_DEFAULT};
    xl_model *m = (xl_model *)&mo; /* must come back NULL on failure */
    xl_status st = xl_model_load(dir, &mo, &m);
    if (st != XL_OK) {
        const char *msg = xl_last_error();
        if (m) fail("a failed load left a model", size);
        if (!*msg || strchr(msg, '\n')) fail("the error message is empty or not one line", size);
        return 0;
    }
    xl_model_info info;
    xl_model_get_info(m, &info);
    if (info.hidden_size <= 0 || info.num_layers <= 0 || info.num_heads <= 0 || info.vocab_size <= 0 ||
        info.intermediate_size <= 0 || info.max_seq_length < 0 || info.n_dense < 0)
        fail("a loaded model reports a size <= 0", size);
    if (info.pooling == XL_POOL_DEFAULT) fail("no pooling mode after loading", size);
    if (info.default_prompt_name) {
        int found = 0;
        for (int i = 0; i < info.n_prompts; i++) found |= strcmp(info.prompt_names[i], info.default_prompt_name) == 0;
        if (!found) fail("the default prompt is not one of the prompts", size);
    }
    check_embeddings(m, &info, data[0] >> 7, size);
    xl_model_free(m);
    return 0;
}
