/* The model side of vocabulary adaptation (vocab_model.c) and the output folder
 * (vocab_write.c). */
#ifndef XL_VOCAB_MODEL_H
#define XL_VOCAB_MODEL_H
#include <jansson.h>
#include "adapt/vocab_internal.h"
#include "io/safetensors.h"

/* A tokenizer and, for a source model, its folder. */
typedef struct {
    const char *dir;
    json_t *config;            /* config.json (source model only) */
    json_t *tokjson;           /* tokenizer.json */
    char *tokjson_path, *tokcfg_path; /* tokenizer.json, tokenizer_config.json (may not exist) */
    char *tokdir;              /* the folder of tokenizer.json as given */
    xl_tokenizer *tok;
    vc_info conv;
    vc_keys *keys;             /* source model only */
    xl_weights *w;
    const xl_tensor *emb;      /* input embedding */
    size_t rows, hidden;       /* its shape */
    int roberta;               /* positions count from pad_token_id + 1 */
} va_model;

/* Opens a source model folder: config.json, tokenizer (required), checkpoint, input
 * embedding, the source pieces by meaning. */
xl_status va_model_open(const char *dir, va_model *m);
/* Opens only a tokenizer (a folder or a tokenizer.json) into m; `what` says why it
 * is needed, for the message when tokenizer.json is missing. */
xl_status va_tokenizer_open(const char *path, const char *what, va_model *m);
void va_model_close(va_model *m);

int va_is_input_embedding(const char *name);
/* A tensor with one row per source token: input embeddings, an lm_head, an MLM decoder
 * and their biases, with `rows` rows. */
int va_is_vocab_tensor(const xl_tensor *t, size_t rows);
int va_is_position_table(const char *name);
int va_is_position_ids(const char *name);

/* Recipes refer only to rows below `rows`. */
xl_status va_check_recipes(const vr_row *rec, size_t n_new, size_t rows);
/* New rows of a vocabulary tensor ([rows, cols] or [rows]) from recipes: *out =
 * float32 [n_new, cols]; a one-row recipe copies the row exactly. */
xl_status va_vocab_tensor(const xl_tensor *t, const vr_row *rec, size_t n_new, int threads, float **out);
/* The same in pieces, for bounded memory: the mean of all rows (*out: cols doubles),
 * then new rows r0..r1 into out[(r1 - r0) * cols]. */
xl_status va_vocab_mean(const xl_tensor *t, double **out);
xl_status va_vocab_rows(const xl_tensor *t, const vr_row *rec, size_t r0, size_t r1, const double *mean, int threads,
                        float *out);

/* XLM-R: positions are padding_idx + 1 + index, so when pad_token_id moves from
 * old_pad to new_pad the table moves with it (new row new_pad + 1 + k = old row
 * old_pad + 1 + k) and keeps as many real positions. */
size_t va_positions_new_rows(size_t old_rows, int old_pad, int new_pad);
xl_status va_shift_positions(const xl_tensor *t, int old_pad, int new_pad, float **out);

/* What the output folder gets besides the source's other files. */
typedef struct {
    const vr_row *rec;         /* recipes of the vocabulary tensors */
    size_t n_new;              /* their new row count */
    int shift;                 /* move the position table */
    int old_pad, new_pad;
    json_t *config;            /* the new config.json */
    /* tokenizer files: tokenizer.json written from JSON or copied from a file;
     * tokenizer_config.json likewise (or neither); special_tokens_map.json copied from
     * a file (may be NULL). replace_tokenizer: the source's other tokenizer files
     * (vocab.txt, SentencePiece models, special_tokens_map.json, added_tokens.json...)
     * are left out, they belong to the old tokenizer. */
    json_t *tokenizer_json, *tokenizer_config;
    const char *tok_json_file, *tok_config_file, *tok_special_file;
    int replace_tokenizer;
    int threads;
    void (*progress)(void *ctx, const char *stage, size_t done, size_t total);
    void *progress_ctx;
    size_t n_changed;          /* out: tensors given new rows */
} va_plan;

/* Every new token's recipe for a transfer (copy / fvt / fallback, then align with a
 * parallel corpus: *n_pairs = its sentence pairs); *out has dst->conv.n_ids rows. */
xl_status va_transfer_recipes(const va_model *src, const va_model *dst, const xl_vocab_options *o, vr_row **out,
                              size_t *n_pairs);
/* Counts of the report: how the n rows were made. */
void va_report_counts(const vr_row *rec, size_t n, xl_vocab_report *rep);

/* o's threads (0 or less: the default) and progress callback into p. */
void va_plan_options(va_plan *p, const xl_vocab_options *o);
/* Writes out_dir from the source folder and the plan, atomically. */
xl_status va_write(const va_model *src, va_plan *p, const char *out_dir, int force);

#endif
