/* The tokenization model stage (WordPiece, Unigram, BPE): turns one pre-token — a
 * normalized, pre-tokenized UTF-8 string — into token ids. The pipeline in
 * tokenizer.c owns normalization, pre-tokenization, added tokens and
 * post-processing; a model only sees pre-tokens. */
#ifndef XL_TOK_MODEL_H
#define XL_TOK_MODEL_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "util/vec.h"
#include "xling.h"

typedef struct xl_tok_model xl_tok_model;
typedef struct tk_cache_writer tk_cache_writer; /* tok_cache.h */
typedef struct tk_cache_reader tk_cache_reader;

typedef struct {
    const char *type;  /* "WordPiece", "Unigram", "BPE" */
    void (*free)(void *impl);
    /* Appends the ids of one pre-token s[0..len) (valid UTF-8, len > 0) to out. */
    xl_status (*encode)(const void *impl, const char *s, size_t len, xl_ivec *out);
    /* Exact vocabulary lookup; -1 if absent. */
    int32_t (*token_to_id)(const void *impl, const char *s, size_t len);
    /* Token string of id (NUL-terminated), or NULL when out of range. */
    const char *(*id_to_token)(const void *impl, int32_t id);
    size_t (*vocab_size)(const void *impl);
    /* Hands the built tables to the compiled cache (tok_cache.h) by reference. */
    void (*cache_save)(const void *impl, tk_cache_writer *w);
    /* encode plus the span [start, end) in s of every token appended (2 entries a
     * token in spans), as the crate's token offsets (xl_tokenize_offsets). */
    xl_status (*encode_spans)(const void *impl, const char *s, size_t len, xl_ivec *out, xl_ivec *spans);
} xl_tok_model_ops;

struct xl_tok_model {
    const xl_tok_model_ops *ops;
    void *impl;
};

/* Loaders for the "model" object of tokenizer.json. `what` names the file for errors. */
xl_status xl_wordpiece_load(const json_t *model, const char *what, xl_tok_model *out);
xl_status xl_unigram_load(const json_t *model, const char *what, xl_tok_model *out);
xl_status xl_bpe_load(const json_t *model, const char *what, xl_tok_model *out);

/* The same models from the compiled cache: `model` is the "model" object without its
 * "vocab" / "merges" (options are read from it as above), the tables come from r and
 * are checked entry by entry. 1 on success; 0 when anything does not check out
 * (nothing is kept; the caller then loads from JSON). */
int xl_wordpiece_load_cached(const json_t *model, tk_cache_reader *r, const char *what, xl_tok_model *out);
int xl_unigram_load_cached(const json_t *model, tk_cache_reader *r, const char *what, xl_tok_model *out);
int xl_bpe_load_cached(const json_t *model, tk_cache_reader *r, const char *what, xl_tok_model *out);

/* For tests: encodes one pre-token with the BPE model as ops->encode does, with the
 * cutting of long pre-tokens (bpe.c) from segment_min bytes on (0: never; the whole
 * pre-token is then merged with one heap, without the cache of short pre-tokens);
 * *n_pieces (may be NULL) gets how many pieces were encoded. */
xl_status xl_bpe_encode_segmented(const xl_tok_model *model, const char *s, size_t len, size_t segment_min,
                                  xl_ivec *out, size_t *n_pieces);

#endif
