/* The model side of vocabulary adaptation: opening a source folder (config, tokenizer,
 * checkpoint, the input embedding), finding its vocabulary-sized tensors, and making
 * their new rows from recipes; XLM-R's position rows moved with pad_token_id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt/vocab_model.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"

void xl_vocab_options_init(xl_vocab_options *o) {
    memset(o, 0, sizeof *o);
    o->min_count = 3;
    o->iterations = 5;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix) && (n == m || s[n - m - 1] == '.');
}

int va_is_input_embedding(const char *name) {
    return ends_with(name, "word_embeddings.weight") || ends_with(name, "embed_tokens.weight");
}

int va_is_vocab_tensor(const xl_tensor *t, size_t rows) {
    if (!xl_dtype_is_float(t->dtype) || t->ndim < 1 || (size_t)t->shape[0] != rows) return 0;
    if (t->ndim == 2)
        return va_is_input_embedding(t->name) || ends_with(t->name, "lm_head.weight") ||
               ends_with(t->name, "lm_head.decoder.weight") || ends_with(t->name, "predictions.decoder.weight");
    if (t->ndim == 1)
        return ends_with(t->name, "lm_head.bias") || ends_with(t->name, "lm_head.decoder.bias") ||
               ends_with(t->name, "predictions.bias") || ends_with(t->name, "predictions.decoder.bias");
    return 0;
}

int va_is_position_table(const char *name) { return ends_with(name, "embeddings.position_embeddings.weight"); }
int va_is_position_ids(const char *name) { return ends_with(name, "embeddings.position_ids"); }

/* RoBERTa-style models count positions from padding_idx + 1 (as src/models/bert.c reads it). */
static int is_roberta(const json_t *config) {
    const char *mt = json_string_value(json_object_get(config, "model_type"));
    if (mt) return !strcmp(mt, "xlm-roberta") || !strcmp(mt, "roberta") || !strcmp(mt, "camembert");
    const char *arch = json_string_value(json_array_get(json_object_get(config, "architectures"), 0));
    return arch && (!strncmp(arch, "XLMRoberta", 10) || !strncmp(arch, "Roberta", 7) || !strncmp(arch, "Camembert", 9));
}

void va_model_close(va_model *m) {
    if (!m) return;
    json_decref(m->config);
    json_decref(m->tokjson);
    free(m->tokjson_path);
    free(m->tokcfg_path);
    free(m->tokdir);
    xl_tokenizer_free(m->tok);
    vc_free(&m->conv);
    vc_keys_free(m->keys);
    xl_weights_close(m->w);
    memset(m, 0, sizeof *m);
}

xl_status va_tokenizer_open(const char *path, const char *what, va_model *m) {
    char *file = xl_is_dir(path) ? xl_path_join(path, "tokenizer.json") : strdup(path);
    char *dir = NULL;
    if (file) {
        const char *slash = strrchr(file, '/');
        dir = slash ? strndup(file, (size_t)(slash - file) + (slash == file)) : strdup(".");
    }
    char *cfg = dir ? xl_path_join(dir, "tokenizer_config.json") : NULL;
    m->tokjson_path = file ? xl_resolve_text_link(file) : NULL;
    m->tokcfg_path = cfg ? xl_resolve_text_link(cfg) : NULL;
    free(cfg);
    m->tokdir = dir;
    xl_status st = XL_OK;
    if (!file || !m->tokjson_path || !m->tokcfg_path) st = xl_err(XL_ERR_NOMEM, "out of memory");
    else if (!xl_file_exists(m->tokjson_path)) st = xl_err(XL_ERR_INPUT, "%s: no tokenizer.json (%s)", path, what);
    free(file);
    if (!st) st = xl_tokenizer_load(path, &m->tok);
    if (!st) st = xl_json_load_file(m->tokjson_path, &m->tokjson);
    if (!st) st = vc_load(m->tokjson, m->tok, m->tokcfg_path, m->tokjson_path, &m->conv);
    return st;
}

xl_status va_model_open(const char *dir, va_model *m) {
    memset(m, 0, sizeof *m);
    m->dir = dir;
    if (!xl_is_dir(dir)) return xl_err(XL_ERR_IO, "%s: not a folder", dir);
    char *cfg = xl_path_join(dir, "config.json");
    if (!cfg) return xl_err(XL_ERR_NOMEM, "out of memory");
    xl_status st = xl_file_exists(cfg) ? xl_json_load_file(cfg, &m->config) : xl_err(XL_ERR_IO, "%s: no config.json", dir);
    if (!st && !json_is_object(m->config)) st = xl_err(XL_ERR_FORMAT, "%s: not a JSON object", cfg);
    free(cfg);
    if (!st) st = va_tokenizer_open(dir, "the source tokenizer is needed to read its pieces", m);
    if (!st) st = xl_weights_open_dir(dir, &m->w);
    for (size_t i = 0; !st && i < xl_weights_count(m->w); i++) {
        const xl_tensor *t = xl_weights_at(m->w, i);
        if (!va_is_input_embedding(t->name) || t->ndim != 2) continue;
        if (m->emb)
            st = xl_err(XL_ERR_UNSUPPORTED, "%s: two input embeddings (%s, %s)", xl_weights_path(m->w), m->emb->name, t->name);
        m->emb = t;
    }
    if (!st && !m->emb)
        st = xl_err(XL_ERR_UNSUPPORTED, "%s: no input embedding tensor (word_embeddings / embed_tokens)", xl_weights_path(m->w));
    if (!st && !xl_dtype_is_float(m->emb->dtype))
        st = xl_err(XL_ERR_UNSUPPORTED, "%s: %s has dtype %s", m->emb->file, m->emb->name, xl_dtype_name(m->emb->dtype));
    if (!st) {
        m->rows = (size_t)m->emb->shape[0];
        m->hidden = (size_t)m->emb->shape[1];
        m->roberta = is_roberta(m->config);
        st = vc_keys_build(&m->conv, m->tok, m->rows, &m->keys);
    }
    if (st) va_model_close(m);
    return st;
}

/* Row r of a [rows, cols] tensor as float32. */
static void get_row(const xl_tensor *t, size_t r, size_t cols, float *dst) {
    size_t es = xl_dtype_size(t->dtype);
    xl_convert_to_f32(t->dtype, (const char *)t->data + r * cols * es, dst, cols);
}

xl_status va_vocab_mean(const xl_tensor *t, double **out) {
    *out = NULL;
    size_t rows = (size_t)t->shape[0], cols = t->ndim == 2 ? (size_t)t->shape[1] : 1;
    if (!rows) return xl_err(XL_ERR_FORMAT, "%s: %s has no rows", t->file, t->name);
    double *mean = calloc(cols, sizeof *mean);
    float *row = malloc(cols * sizeof *row);
    if (!mean || !row) {
        free(mean);
        free(row);
        return xl_err(XL_ERR_NOMEM, "out of memory for %s", t->name);
    }
    for (size_t r = 0; r < rows; r++) {
        get_row(t, r, cols, row);
        for (size_t c = 0; c < cols; c++) mean[c] += row[c];
    }
    free(row);
    for (size_t c = 0; c < cols; c++) mean[c] /= (double)rows;
    *out = mean;
    return XL_OK;
}

xl_status va_vocab_rows(const xl_tensor *t, const vr_row *rec, size_t r0, size_t r1, const double *mean, int threads,
                        float *out) {
    size_t cols = t->ndim == 2 ? (size_t)t->shape[1] : 1;
    int fail = 0;
#pragma omp parallel num_threads(threads > 0 ? threads : 1)
    {
        float *src = malloc(cols * sizeof *src);
        double *acc = malloc(cols * sizeof *acc);
        if (!src || !acc) {
#pragma omp atomic write
            fail = 1;
        }
#pragma omp for schedule(dynamic, 256)
        for (size_t i = r0; i < r1; i++) {
            if (!src || !acc) continue;
            const vr_row *r = &rec[i];
            float *dst = out + (i - r0) * cols;
            if (r->n == 0) {
                for (size_t c = 0; c < cols; c++) dst[c] = (float)mean[c];
                continue;
            }
            if (r->n == 1 && (!r->w || r->w[0] > 0)) { /* a copy stays bit for bit */
                get_row(t, (size_t)r->src[0], cols, dst);
                continue;
            }
            double wsum = 0;
            memset(acc, 0, cols * sizeof *acc);
            for (uint32_t k = 0; k < r->n; k++) {
                double w = r->w ? r->w[k] : 1.0;
                get_row(t, (size_t)r->src[k], cols, src);
                for (size_t c = 0; c < cols; c++) acc[c] += w * src[c];
                wsum += w;
            }
            for (size_t c = 0; c < cols; c++) dst[c] = (float)(acc[c] / wsum);
        }
        free(src);
        free(acc);
    }
    return fail ? xl_err(XL_ERR_NOMEM, "out of memory") : XL_OK;
}

xl_status va_vocab_tensor(const xl_tensor *t, const vr_row *rec, size_t n_new, int threads, float **out) {
    *out = NULL;
    size_t cols = t->ndim == 2 ? (size_t)t->shape[1] : 1, total;
    if (!xl_mul_ok(n_new, cols, &total) || !xl_mul_ok(total, sizeof(float), &total))
        return xl_err(XL_ERR_NOMEM, "%s: %zu new rows do not fit", t->name, n_new);
    double *mean;
    xl_status st = va_vocab_mean(t, &mean);
    if (st) return st;
    float *res = malloc(total ? total : 1);
    if (!res) st = xl_err(XL_ERR_NOMEM, "out of memory for %s (%zu rows)", t->name, n_new);
    if (!st) st = va_vocab_rows(t, rec, 0, n_new, mean, threads, res);
    free(mean);
    if (st) {
        free(res);
        return st;
    }
    *out = res;
    return XL_OK;
}

xl_status va_check_recipes(const vr_row *rec, size_t n_new, size_t rows) {
    for (size_t i = 0; i < n_new; i++)
        for (uint32_t k = 0; k < rec[i].n; k++)
            if (rec[i].src[k] < 0 || (size_t)rec[i].src[k] >= rows)
                return xl_err(XL_ERR_ARG, "row %zu: source row %d outside the %zu rows", i, rec[i].src[k], rows);
    return XL_OK;
}

size_t va_positions_new_rows(size_t old_rows, int old_pad, int new_pad) {
    return (size_t)((long long)old_rows - old_pad + new_pad);
}

xl_status va_shift_positions(const xl_tensor *t, int old_pad, int new_pad, float **out) {
    *out = NULL;
    if (t->ndim != 2) return xl_err(XL_ERR_FORMAT, "%s: %s is not a matrix", t->file, t->name);
    size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1];
    if (old_pad < 0 || (size_t)old_pad + 1 >= rows)
        return xl_err(XL_ERR_FORMAT, "%s: %s has %zu rows, no position after padding_idx %d", t->file, t->name, rows, old_pad);
    if (new_pad < 0) return xl_err(XL_ERR_ARG, "negative pad id");
    size_t nr = va_positions_new_rows(rows, old_pad, new_pad);
    float *res = malloc(nr * cols * sizeof *res);
    if (!res) return xl_err(XL_ERR_NOMEM, "out of memory for %s", t->name);
    /* transformers: position = padding_idx + 1 + index among the real tokens, the pad
     * itself at padding_idx; rows below padding_idx are never read (they keep the
     * padding row) */
    for (size_t i = 0; i < nr; i++) {
        size_t from = i < (size_t)new_pad ? (size_t)old_pad : i - (size_t)new_pad + (size_t)old_pad;
        get_row(t, from, cols, res + i * cols);
    }
    *out = res;
    return XL_OK;
}

void va_plan_options(va_plan *p, const xl_vocab_options *o) {
    p->threads = o->threads > 0 ? o->threads : xl_default_threads();
    p->progress = o->progress;
    p->progress_ctx = o->progress_ctx;
}
