/* Added tokens ("added_tokens" of tokenizer.json): strings split out of the input
 * before the model sees it, as the crate's AddedVocabulary does. Tokens with
 * normalized=false are matched on the raw input, tokens with normalized=true on the
 * normalized text (their content normalized the same way); both with leftmost-longest
 * matching over a trie, then the single_word / lstrip / rstrip options. */
#ifndef XL_TOK_ADDED_H
#define XL_TOK_ADDED_H
#include <jansson.h>
#include <stdint.h>
#include "tokenizer/tok_model.h"
#include "tokenizer/tok_normalizer.h"
#include "tokenizer/tok_pieces.h"
#include "tokenizer/tok_trie.h"

typedef struct {
    char *content;      /* as written in the file (NUL-terminated) */
    size_t len;
    int32_t id;
    uint8_t special, lstrip, rstrip, single_word, normalized;
} tk_added_token;

typedef struct {
    tk_added_token *tok;   /* sorted by id */
    size_t n;
    tk_trie raw, norm;     /* pattern -> index in tok (normalized=false / true) */
    tk_trie by_content;    /* content -> index in tok */
    int has_raw, has_norm;
    uint8_t raw_start[256], norm_start[256]; /* bytes that can begin a pattern */
} tk_added;

/* Reads the "added_tokens" array (may be NULL). A token's id is the model's id for
 * its content when the model has one, else the id in the file (the crate does the
 * same). Normalized tokens are matched through norm (may be NULL). */
xl_status tk_added_load(tk_added *a, const json_t *arr, const tk_normalizer *norm, const xl_tok_model *model,
                        const char *what);
void tk_added_free(tk_added *a);

/* Splits s[0..len) around the added tokens of one set (normalized = 0: raw
 * patterns, 1: normalized patterns), appending text and token pieces to out.
 * `first`: s begins at offset 0 of the input. */
xl_status tk_added_split(const tk_added *a, int normalized, const char *s, size_t len, int first, tk_pieces *out);

/* 1 when the set has at least one pattern. */
static inline int tk_added_has(const tk_added *a, int normalized) { return normalized ? a->has_norm : a->has_raw; }

/* Id of the added token whose content is s[0..len), or -1. */
int32_t tk_added_id(const tk_added *a, const char *s, size_t len);
/* Content of the added token with this id, or NULL. */
const char *tk_added_content(const tk_added *a, int32_t id);
/* Largest added-token id, or -1 when there is none. */
int32_t tk_added_max_id(const tk_added *a);

#endif
