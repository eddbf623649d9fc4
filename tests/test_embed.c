/* The whole pipeline through the public API (xl_model_load → xl_embed_ids /
 * xl_embed_texts) against the reference embeddings of every fixture model:
 * token ids as given, texts with their prompt, one batch or many.
 * Tolerance: max abs 1e-4 from the float64 reference (F32 compute, any stored dtype). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "xling.h"

#define TOL 1e-4

static const char *model_dir(const char *name) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/tests/fixtures/models/%s", t_repo_dir(), name);
    FILE *f = fopen(t_path(buf, "config.json"), "r");
    if (f) { fclose(f); return buf; }
    const char *shared = t_shared_dir();
    if (!shared) return NULL;
    snprintf(buf, sizeof buf, "%s/fixtures/models/%s", shared, name);
    return buf;
}

/* Mean over rows and the last row of a [n][H] JSON matrix. */
static void pool_ref(const json_t *mat, size_t H, double *mean, double *last) {
    size_t n = json_array_size(mat);
    for (size_t j = 0; j < H; j++) mean[j] = 0;
    for (size_t t = 0; t < n; t++)
        for (size_t j = 0; j < H; j++) {
            double v = json_number_value(json_array_get(json_array_get(mat, t), j));
            mean[j] += v / n;
            if (t == n - 1) last[j] = v;
        }
}

/* xl_embed_ids_layers on input 0 against the recorded hidden states: entry 0 = the
 * embedding output, entry l = block l, entry L = last_hidden_state (after the final
 * norm for decoders; the fixtures' layer_outputs are before it). Same 1e-4 tolerance. */
static void check_layers(const char *name, xl_model *m, const json_t *ref, const int32_t *ids, size_t len) {
    xl_model_info info;
    xl_model_get_info(m, &info);
    size_t H = (size_t)info.hidden_size, L1 = (size_t)xl_model_num_layer_outputs(m);
    const json_t *fi = json_object_get(ref, "first_input");
    const json_t *lo = json_object_get(fi, "layer_outputs");
    CHECK_EQ_INT(L1, json_array_size(lo) + 1);
    float *mean = calloc(L1 * H, sizeof *mean), *last = calloc(L1 * H, sizeof *last);
    double *rm = calloc(H, sizeof *rm), *rl = calloc(H, sizeof *rl);
    size_t cut;
    if (CHECK_MSG(xl_embed_ids_layers(m, &ids, &len, 1, NULL, mean, last, &cut) == XL_OK, "%s layers: %s", name, xl_last_error())) {
        for (size_t l = 0; l < L1; l++) {
            const json_t *mat = l == 0 ? json_object_get(fi, "embedding_output")
                              : l == L1 - 1 ? json_object_get(fi, "last_hidden_state")
                                            : json_array_get(lo, l - 1);
            pool_ref(mat, H, rm, rl);
            double dm = 0, dl = 0;
            for (size_t j = 0; j < H; j++) {
                double a = fabs(mean[l * H + j] - rm[j]), b = fabs(last[l * H + j] - rl[j]);
                if (a > dm) dm = a;
                if (b > dl) dl = b;
            }
            CHECK_MSG(dm <= TOL && dl <= TOL, "%s layer entry %zu: mean diff %.3g, last diff %.3g", name, l, dm, dl);
        }
    }
    free(mean); free(last); free(rm); free(rl);
}

static void check_model(const char *name) {
    const char *dir = model_dir(name);
    if (!dir) { t_skip_case(name, "fixtures absent (../shared)"); return; }
    json_error_t e;
    json_t *ref = json_load_file(t_path(dir, "reference.json"), JSON_ALLOW_NUL, &e);
    if (!CHECK_MSG(ref != NULL, "%s: reference.json: %s", name, e.text)) return;
    xl_model *m;
    xl_model_options mo = {.threads = 2};
    if (!CHECK_MSG(xl_model_load(dir, &mo, &m) == XL_OK, "%s: %s", name, xl_last_error())) { json_decref(ref); return; }
    xl_model_info info;
    xl_model_get_info(m, &info);
    json_t *inputs = json_object_get(ref, "inputs"), *embs = json_object_get(ref, "embeddings");
    size_t n = json_array_size(inputs), dim = (size_t)info.dim;
    CHECK_EQ_INT(json_array_size(json_array_get(embs, 0)), dim);
    int32_t **ids = calloc(n, sizeof *ids);
    size_t *lens = calloc(n, sizeof *lens);
    float *want = calloc(n * dim, sizeof *want), *got = calloc(n * dim, sizeof *got);
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_object_get(json_array_get(inputs, i), "input_ids");
        lens[i] = json_array_size(a);
        ids[i] = malloc(lens[i] * sizeof **ids);
        for (size_t k = 0; k < lens[i]; k++) ids[i][k] = (int32_t)json_integer_value(json_array_get(a, k));
        for (size_t k = 0; k < dim; k++) want[i * dim + k] = (float)json_number_value(json_array_get(json_array_get(embs, i), k));
    }
    /* All inputs in one padded batch, then one sequence per batch. */
    int batch_sizes[] = {0, 1, 3};
    for (int bs = 0; bs < 3; bs++) {
        xl_embed_options o;
        xl_embed_options_init(&o);
        o.batch_size = batch_sizes[bs];
        xl_status st = xl_embed_ids(m, (const int32_t *const *)ids, lens, n, &o, got, NULL);
        if (!CHECK_MSG(st == XL_OK, "%s: %s", name, xl_last_error())) continue;
        for (size_t i = 0; i < n; i++) {
            double d = t_max_abs_diff(got + i * dim, want + i * dim, dim);
            CHECK_MSG(d <= TOL, "%s ids input %zu (batch size %d): max abs diff %.3g", name, i, batch_sizes[bs], d);
        }
    }
    check_layers(name, m, ref, ids[0], lens[0]);
    /* Matryoshka: the first 8 values, renormalized when the folder normalizes. */
    {
        xl_embed_options o;
        xl_embed_options_init(&o);
        o.dim = 8;
        float short_v[8];
        CHECK_EQ_INT(xl_embed_dim(m, &o), 8);
        if (CHECK(xl_embed_ids(m, (const int32_t *const *)ids, lens, 1, &o, short_v, NULL) == XL_OK)) {
            double norm = 0;
            for (int k = 0; k < 8; k++) norm += (double)want[k] * want[k];
            norm = info.normalize ? sqrt(norm) : 1.0;
            for (int k = 0; k < 8; k++) CHECK_NEAR(short_v[k], want[k] / norm, TOL);
        }
    }
    /* Texts, with the prompt the reference used, through the model's own tokenizer. */
    if (xl_model_tokenizer(m)) {
        for (size_t i = 0; i < n; i++) {
            json_t *in = json_array_get(inputs, i);
            const char *raw = json_string_value(json_object_get(in, "raw_text"));
            if (!raw) continue; /* a lone special token, given only as ids */
            size_t rlen = json_string_length(json_object_get(in, "raw_text"));
            xl_embed_options o;
            xl_embed_options_init(&o);
            o.prompt_name = json_string_value(json_object_get(in, "prompt_name"));
            float *row = got + i * dim;
            xl_status st = xl_embed_texts(m, &raw, &rlen, 1, &o, row, NULL);
            if (!CHECK_MSG(st == XL_OK, "%s text %zu: %s", name, i, xl_last_error())) continue;
            double d = t_max_abs_diff(row, want + i * dim, dim);
            CHECK_MSG(d <= TOL, "%s text input %zu: max abs diff %.3g", name, i, d);
            /* --instruct with the task of an instruction prompt rebuilds that prompt with
             * its exact spacing, so it gives the reference vector too. */
            const char *prompt = json_string_value(json_object_get(in, "prompt"));
            const char *nl = prompt ? strstr(prompt, "\nQuery:") : NULL;
            if (prompt && !strncmp(prompt, "Instruct: ", 10) && nl) {
                char task[512];
                snprintf(task, sizeof task, "%.*s", (int)(nl - prompt - 10), prompt + 10);
                xl_embed_options oi;
                xl_embed_options_init(&oi);
                oi.instruct = task;
                oi.prompt_name = o.prompt_name;
                if (CHECK_MSG(xl_embed_texts(m, &raw, &rlen, 1, &oi, row, NULL) == XL_OK, "%s", xl_last_error()))
                    CHECK_MSG(t_max_abs_diff(row, want + i * dim, dim) <= TOL, "%s --instruct input %zu", name, i);
            }
        }
    }
    for (size_t i = 0; i < n; i++) free(ids[i]);
    free(ids); free(lens); free(want); free(got);
    xl_model_free(m);
    json_decref(ref);
}

int main(void) {
    const char *models[] = {"bert-tiny", "xlmr-tiny", "llama-bi-tiny", "qwen3-tiny", "qwen2-tiny", "mistral-tiny", "gemma3-tiny"};
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) check_model(models[k]);

    /* Error paths of the public API. */
    xl_model *m;
    CHECK_EQ_INT(xl_model_load("/nonexistent/model", NULL, &m), XL_ERR_IO);
    CHECK(strstr(xl_last_error(), "/nonexistent/model") != NULL);
    const char *dir = model_dir("bert-tiny");
    if (dir && xl_model_load(dir, NULL, &m) == XL_OK) {
        float out[16];
        int32_t bad[] = {101, 40000, 102};
        const int32_t *rows[] = {bad};
        size_t lens[] = {3};
        CHECK_EQ_INT(xl_embed_ids(m, rows, lens, 1, NULL, out, NULL), XL_ERR_INPUT);
        CHECK(strstr(xl_last_error(), "40000") != NULL);
        lens[0] = 0;
        CHECK_EQ_INT(xl_embed_ids(m, rows, lens, 1, NULL, out, NULL), XL_ERR_INPUT);
        xl_embed_options o;
        xl_embed_options_init(&o);
        o.prompt_name = "nosuch";
        const char *t = "hi";
        size_t tl = 2;
        CHECK_EQ_INT(xl_embed_texts(m, &t, &tl, 1, &o, out, NULL), XL_ERR_ARG);
        xl_model_free(m);
    }
    /* Without an instruction template in the folder, --instruct uses
     * "Instruct: {task}\nQuery: " exactly. */
    dir = model_dir("xlmr-tiny");
    if (dir && xl_model_load(dir, NULL, &m) == XL_OK) {
        float a[16], b[16];
        const char *t = "hello";
        size_t tl = 5;
        xl_embed_options o;
        xl_embed_options_init(&o);
        o.instruct = "Find the answer";
        CHECK(xl_embed_texts(m, &t, &tl, 1, &o, a, NULL) == XL_OK);
        xl_embed_options_init(&o);
        o.prefix = "Instruct: Find the answer\nQuery: ";
        CHECK(xl_embed_texts(m, &t, &tl, 1, &o, b, NULL) == XL_OK);
        CHECK(t_max_abs_diff(a, b, 16) == 0);
        xl_model_options mo = {.attention = XL_ATTN_FORCE_CAUSAL};
        xl_model *m2;
        CHECK_EQ_INT(xl_model_load(dir, &mo, &m2), XL_ERR_ARG); /* encoders have no causal switch */
        xl_model_free(m);
    }
    return test_summary("test_embed");
}
