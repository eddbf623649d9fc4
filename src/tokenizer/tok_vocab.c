#include "tokenizer/tok_vocab.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"

xl_status tk_vocab_build(tk_vocab *v, const char *const *strs, const uint32_t *lens, const int32_t *ids, size_t n,
                         const char *what) {
    memset(v, 0, sizeof *v);
    size_t pool = 0, n_ids = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0) return xl_err(XL_ERR_FORMAT, "%s: negative token id %d", what, (int)ids[i]);
        pool += (size_t)lens[i] + 1;
        if ((size_t)ids[i] + 1 > n_ids) n_ids = (size_t)ids[i] + 1;
    }
    /* ids index a table: refuse a sparse numbering that would blow it up */
    if (n_ids > 4 * n + 65536)
        return xl_err(XL_ERR_FORMAT, "%s: token id %zu is far beyond the %zu tokens of the vocabulary", what, n_ids - 1, n);
    if (pool >= UINT32_MAX) return xl_err(XL_ERR_UNSUPPORTED, "%s: vocabulary strings exceed 4 GiB", what);
    v->pool = malloc(pool ? pool : 1);
    v->off = malloc((n_ids ? n_ids : 1) * sizeof *v->off);
    if (!v->pool || !v->off) {
        tk_vocab_free(v);
        return xl_err(XL_ERR_NOMEM, "%s: out of memory for the vocabulary", what);
    }
    for (size_t i = 0; i < n_ids; i++) v->off[i] = UINT32_MAX;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(v->pool + at, strs[i], lens[i]);
        v->pool[at + lens[i]] = '\0';
        v->off[ids[i]] = (uint32_t)at; /* a repeated id: the last string wins */
        at += (size_t)lens[i] + 1;
    }
    v->pool_len = at;
    v->n_ids = n_ids;
    xl_status st = tk_trie_build(&v->trie, strs, lens, ids, n, what);
    if (st) tk_vocab_free(v);
    return st;
}

void tk_vocab_free(tk_vocab *v) {
    free(v->pool);
    free(v->off);
    tk_trie_free(&v->trie);
    memset(v, 0, sizeof *v);
}
