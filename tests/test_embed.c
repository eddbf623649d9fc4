/* The whole pipeline through the public API (xl_model_load → xl_embed_ids /
 * xl_embed_texts) against the reference embeddings of every fixture model:
 * token ids as given, texts with their prompt, one batch or many.
 * Tolerance: max abs 1e-4 from the float64 reference (F32 compute, any stored dtype). */
#include <jansson.h>
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
    return test_summary("test_embed");
}
