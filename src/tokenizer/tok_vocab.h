/* The id <-> string table shared by the WordPiece and Unigram models: every token
 * string in one pool, a trie for string -> id, an offset table for id -> string. */
#ifndef XL_TOK_VOCAB_H
#define XL_TOK_VOCAB_H
#include <stddef.h>
#include <stdint.h>
#include "tokenizer/tok_trie.h"
#include "xling.h"

typedef struct {
    char *pool;        /* NUL-terminated strings */
    size_t pool_len;
    uint32_t *off;     /* off[id] into pool, UINT32_MAX where no token has that id */
    size_t n_ids;      /* largest id + 1 */
    tk_trie trie;      /* string -> id (the largest id when a string repeats) */
} tk_vocab;

/* Builds the table from n (string, length, id) entries. */
xl_status tk_vocab_build(tk_vocab *v, const char *const *strs, const uint32_t *lens, const int32_t *ids, size_t n,
                         const char *what);
void tk_vocab_free(tk_vocab *v);

/* The compiled cache (tok_cache.h): the pool, offsets and trie as they are; loading
 * checks every offset and trie entry. 1 on success (else v is left empty). */
void tk_vocab_cache_save(const tk_vocab *v, tk_cache_writer *w);
int tk_vocab_cache_load(tk_vocab *v, tk_cache_reader *r);

static inline int32_t tk_vocab_id(const tk_vocab *v, const char *s, size_t len) { return tk_trie_get(&v->trie, s, len); }
static inline const char *tk_vocab_token(const tk_vocab *v, int32_t id) {
    return id < 0 || (size_t)id >= v->n_ids || v->off[id] == UINT32_MAX ? NULL : v->pool + v->off[id];
}

#endif
