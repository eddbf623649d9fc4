#include "tokenizer/tok_vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_cache.h"
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

#define SEC_META TK_TAG('V', 'M', 'E', 'T')
#define SEC_POOL TK_TAG('V', 'P', 'O', 'L')
#define SEC_OFF TK_TAG('V', 'O', 'F', 'F')
#define SEC_NODES TK_TAG('T', 'N', 'O', 'D')
#define SEC_DENSE TK_TAG('T', 'D', 'N', 'S')

typedef struct {
    uint64_t layout;   /* vocab_layout() of the build that wrote it */
    uint64_t pool_len, n_ids;
    uint32_t n_nodes, n_dense, max_depth, pad;
} vocab_meta;

/* Fingerprint of the cached layout: record sizes, the dense mark and the build. */
static uint64_t vocab_layout(void) {
    struct {
        uint64_t sizes[3], dense_mark;
        char build[64];
    } x;
    memset(&x, 0, sizeof x);
    x.sizes[0] = sizeof(tk_trie_node);
    x.sizes[1] = sizeof(vocab_meta);
    x.sizes[2] = sizeof(uint32_t);
    x.dense_mark = TK_DENSE;
    snprintf(x.build, sizeof x.build, "%s", TK_CACHE_BUILD_TAG);
    return tk_checksum(&x, sizeof x);
}

void tk_vocab_cache_save(const tk_vocab *v, tk_cache_writer *w) {
    vocab_meta meta = {vocab_layout(), v->pool_len, v->n_ids, v->trie.n_nodes, v->trie.n_dense, v->trie.max_depth, 0};
    tk_cache_put_copy(w, SEC_META, &meta, sizeof meta);
    tk_cache_put_ref(w, SEC_POOL, v->pool, v->pool_len);
    tk_cache_put_ref(w, SEC_OFF, v->off, v->n_ids * sizeof *v->off);
    tk_trie_cache_save(&v->trie, w, SEC_NODES, SEC_DENSE);
}

int tk_vocab_cache_load(tk_vocab *v, tk_cache_reader *r) {
    memset(v, 0, sizeof *v);
    vocab_meta meta;
    if (!tk_cache_read(r, SEC_META, &meta, sizeof meta) || meta.layout != vocab_layout() ||
        meta.pool_len >= UINT32_MAX || meta.n_ids > INT32_MAX)
        return 0;
    if (!tk_cache_len_is(r, SEC_POOL, meta.pool_len) || !tk_cache_len_is(r, SEC_OFF, meta.n_ids * sizeof *v->off))
        return 0;
    v->pool_len = (size_t)meta.pool_len;
    v->n_ids = (size_t)meta.n_ids;
    v->pool = malloc(v->pool_len ? v->pool_len : 1);
    v->off = malloc((v->n_ids ? v->n_ids : 1) * sizeof *v->off);
    int ok = v->pool && v->off && tk_cache_read(r, SEC_POOL, v->pool, v->pool_len) &&
             tk_cache_read(r, SEC_OFF, v->off, v->n_ids * sizeof *v->off) &&
             (v->pool_len == 0 || v->pool[v->pool_len - 1] == '\0'); /* every offset meets a NUL */
    for (size_t i = 0; ok && i < v->n_ids; i++) ok = v->off[i] == UINT32_MAX || v->off[i] < v->pool_len;
    ok = ok && tk_trie_cache_load(&v->trie, r, SEC_NODES, SEC_DENSE, meta.n_nodes, meta.n_dense, meta.max_depth,
                                  (int64_t)v->n_ids);
    if (!ok) tk_vocab_free(v);
    return ok;
}
