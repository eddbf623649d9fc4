/* The output folder of a vocabulary transfer or extension: the source folder's other
 * files (modules, Pooling, Dense checkpoints...), the new config and tokenizer files,
 * and the checkpoint with new rows for the vocabulary tensors, every other tensor
 * copied as stored. Written through xl_hf_folder (a temporary folder next to OUT,
 * renamed into place when complete). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt/vocab_model.h"
#include "util/error.h"
#include "util/fileio.h"

/* What of the source folder is copied as it is. */
static int copy_filter(const char *rel, int is_weight, void *user) {
    const va_plan *p = user;
    const char *slash = strrchr(rel, '/');
    const char *base = slash ? slash + 1 : rel;
    int top = !slash;
    if (!strcmp(base, "tokenizer.json") || !strcmp(base, "tokenizer_config.json")) return !top; /* written anew */
    if (top && !strcmp(rel, "config.json")) return 0;
    if (is_weight) {
        /* the model's checkpoint (written anew) and other formats of it (stale: they
         * hold the old vocabulary); module checkpoints (2_Dense/...) and heads such as
         * bge-m3's colbert_linear.pt do not depend on the vocabulary */
        static const char *const stale[] = {"model", "pytorch_model", "tf_model", "flax_model", "rust_model"};
        for (size_t i = 0; top && i < sizeof stale / sizeof stale[0]; i++)
            if (!strncmp(base, stale[i], strlen(stale[i]))) return 0;
        size_t n = strlen(base);
        if ((n > 5 && !strcmp(base + n - 5, ".onnx")) || (n > 10 && !strcmp(base + n - 10, ".onnx_data")) ||
            (n > 5 && !strcmp(base + n - 5, ".gguf")))
            return 0;
        return 1;
    }
    if (p->replace_tokenizer && top) {
        /* the old tokenizer's other files */
        static const char *const old[] = {"special_tokens_map.json", "added_tokens.json", "vocab.txt", "vocab.json",
                                          "merges.txt", "sentencepiece.bpe.model", "tokenizer.model", "spiece.model",
                                          "sentencepiece.model", "source.spm", "target.spm"};
        for (size_t i = 0; i < sizeof old / sizeof old[0]; i++)
            if (!strcmp(rel, old[i])) return 0;
        size_t n = strlen(rel);
        if (n > 8 && !strcmp(rel + n - 8, ".tiktoken")) return 0;
    }
    return 1;
}

static xl_status write_json(xl_hf_folder *f, const char *rel, const json_t *j, size_t flags) {
    char *text = json_dumps(j, flags | JSON_INDENT(2));
    if (!text) return xl_err(XL_ERR_NOMEM, "out of memory writing %s", rel);
    size_t n = strlen(text);
    /* a newline at the end, as transformers writes its JSON files */
    char *t2 = realloc(text, n + 2);
    if (!t2) {
        free(text);
        return xl_err(XL_ERR_NOMEM, "out of memory writing %s", rel);
    }
    t2[n] = '\n';
    t2[n + 1] = 0;
    xl_status st = xl_hf_folder_write(f, rel, t2, n + 1);
    free(t2);
    return st;
}

static xl_status copy_file(xl_hf_folder *f, const char *rel, const char *path) {
    char *data;
    size_t len;
    xl_status st = xl_read_file(path, &data, &len);
    if (st) return st;
    st = xl_hf_folder_write(f, rel, data, len);
    free(data);
    return st;
}

static const char *dtype_out(xl_dtype dt) {
    return dt == XL_DT_F16 ? "F16" : dt == XL_DT_BF16 ? "BF16" : dt == XL_DT_F64 ? "F64" : "F32";
}

/* A vocabulary tensor's new rows, streamed in blocks of ~16 MB: memory stays bounded
 * whatever the vocabulary and hidden sizes. */
static xl_status vocab_rows(xl_st_writer *wr, const xl_tensor *t, const va_plan *p) {
    size_t cols = t->ndim == 2 ? (size_t)t->shape[1] : 1;
    size_t block = (16u << 20) / (cols * sizeof(float));
    if (block < 64) block = 64;
    double *mean;
    xl_status st = va_vocab_mean(t, &mean);
    if (st) return st;
    float *buf = malloc(block * cols * sizeof *buf);
    if (!buf) st = xl_err(XL_ERR_NOMEM, "out of memory for %s", t->name);
    for (size_t r0 = 0; r0 < p->n_new && !st; r0 += block) {
        size_t r1 = r0 + block < p->n_new ? r0 + block : p->n_new;
        st = va_vocab_rows(t, p->rec, r0, r1, mean, p->threads, buf);
        if (!st) st = xl_st_writer_append_f32(wr, buf, (r1 - r0) * cols);
    }
    free(buf);
    free(mean);
    return st;
}

/* The checkpoint: tensors in the source's order, the vocabulary tensors with n_new
 * rows, the position table (and its position_ids buffer) shifted when asked. */
static xl_status write_weights(const va_model *src, va_plan *p, const char *dir) {
    const xl_weights *w = src->w;
    size_t nt = xl_weights_count(w);
    const char *wp = xl_weights_path(w);
    size_t wl = strlen(wp);
    int sharded = wl > 11 && !strcmp(wp + wl - 11, ".index.json");
    xl_st_writer *wr = NULL;
    xl_status st = xl_st_writer_new(dir, sharded ? 5000000000ull : 0, &wr);
    if (st) return st;
    size_t pos_rows = 0;
    const xl_tensor *pos = NULL;
    for (size_t i = 0; i < nt && !st && p->shift; i++) {
        const xl_tensor *t = xl_weights_at(w, i);
        if (!va_is_position_table(t->name)) continue;
        if (pos) st = xl_err(XL_ERR_UNSUPPORTED, "%s: two position tables (%s, %s)", wp, pos->name, t->name);
        pos = t;
        pos_rows = va_positions_new_rows((size_t)t->shape[0], p->old_pad, p->new_pad);
    }
    if (!st && p->shift && !pos) st = xl_err(XL_ERR_FORMAT, "%s: no embeddings.position_embeddings.weight to shift", wp);
    for (size_t i = 0; i < nt && !st; i++) {
        const xl_tensor *t = xl_weights_at(w, i);
        int64_t shape[XL_MAX_DIMS];
        memcpy(shape, t->shape, sizeof shape);
        const char *dt = xl_dtype_name(t->dtype);
        if (va_is_vocab_tensor(t, src->rows)) {
            shape[0] = (int64_t)p->n_new;
            dt = dtype_out(t->dtype);
        } else if (t == pos) {
            shape[0] = (int64_t)pos_rows;
            dt = dtype_out(t->dtype);
        } else if (pos && va_is_position_ids(t->name) && t->ndim >= 1) {
            /* transformers' buffer arange(max_position_embeddings)[None]: it follows the table */
            if (t->dtype != XL_DT_I64) st = xl_err(XL_ERR_UNSUPPORTED, "%s: %s is not I64", wp, t->name);
            shape[t->ndim - 1] = (int64_t)pos_rows;
        }
        if (!st) st = xl_st_writer_declare(wr, t->name, dt, shape, t->ndim);
    }
    for (size_t i = 0; i < nt && !st; i++) {
        const xl_tensor *t = xl_weights_at(w, i);
        float *rows = NULL;
        if (va_is_vocab_tensor(t, src->rows)) {
            st = vocab_rows(wr, t, p);
            p->n_changed++;
        } else if (t == pos) {
            if (!(st = va_shift_positions(t, p->old_pad, p->new_pad, &rows))) st = xl_st_writer_write_f32(wr, rows);
            p->n_changed++;
        } else if (pos && va_is_position_ids(t->name)) {
            size_t outer = t->numel / (size_t)t->shape[t->ndim - 1];
            int64_t *ids = malloc(outer * pos_rows * sizeof *ids);
            if (!ids) st = xl_err(XL_ERR_NOMEM, "out of memory");
            for (size_t k = 0; ids && k < outer * pos_rows; k++) ids[k] = (int64_t)(k % pos_rows);
            if (!st) st = xl_st_writer_write_raw(wr, ids, outer * pos_rows * sizeof *ids);
            free(ids);
        } else {
            st = xl_st_writer_write_raw(wr, t->data, t->nbytes);
        }
        free(rows);
        /* src->w is mapped read-only from its files (va_model_open): the tensor's pages are
         * handed back once it is written, so resident memory does not grow to the whole
         * source checkpoint (a page read again later comes back from the file). */
        xl_pages_release(t->data, t->nbytes);
        if (p->progress) p->progress(p->progress_ctx, "tensors", i + 1, nt);
    }
    if (st) {
        xl_st_writer_free(wr);
        return st;
    }
    return xl_st_writer_finish(wr);
}

xl_status va_write(const va_model *src, va_plan *p, const char *out_dir, int force) {
    xl_status st = va_check_recipes(p->rec, p->n_new, src->rows);
    if (st) return st;
    xl_hf_folder *f = NULL;
    if ((st = xl_hf_folder_begin(out_dir, force, &f))) return st;
    p->n_changed = 0;
    st = xl_hf_folder_copy(f, src->dir, copy_filter, p);
    if (!st) st = write_json(f, "config.json", p->config, 0);
    if (!st) st = p->tokenizer_json ? write_json(f, "tokenizer.json", p->tokenizer_json, 0)
                                    : copy_file(f, "tokenizer.json", p->tok_json_file);
    if (!st && p->tokenizer_config) st = write_json(f, "tokenizer_config.json", p->tokenizer_config, 0);
    else if (!st && p->tok_config_file && xl_file_exists(p->tok_config_file))
        st = copy_file(f, "tokenizer_config.json", p->tok_config_file);
    if (!st && p->tok_special_file) st = copy_file(f, "special_tokens_map.json", p->tok_special_file);
    if (!st) st = write_weights(src, p, xl_hf_folder_path(f));
    if (st) {
        xl_hf_folder_abort(f);
        return st;
    }
    return xl_hf_folder_commit(f);
}
