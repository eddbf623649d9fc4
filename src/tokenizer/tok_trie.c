#include "tokenizer/tok_trie.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_cache.h"
#include "util/error.h"

/* Nodes with at least this many children get a dense 256-entry row: the root and
 * the nodes after common UTF-8 lead bytes, where a linear scan would be long. */
#define DENSE_MIN 24

/* Sorting by the first 8 bytes as one big-endian integer settles most comparisons
 * without touching the strings (memcmp order, a prefix before its extensions). */
typedef struct {
    uint64_t head;
    uint32_t idx;
} sort_key;

typedef struct {
    const char *const *keys;
    const uint32_t *lens;
    const int32_t *values;
} sort_ctx;

static int cmp_keys(const void *pa, const void *pb, void *arg) {
    const sort_key *x = pa, *y = pb;
    if (x->head != y->head) return x->head < y->head ? -1 : 1;
    const sort_ctx *c = arg;
    uint32_t a = x->idx, b = y->idx, la = c->lens[a], lb = c->lens[b];
    if (la > 8 && lb > 8) {
        uint32_t m = (la < lb ? la : lb) - 8;
        int r = memcmp(c->keys[a] + 8, c->keys[b] + 8, m);
        if (r) return r;
    }
    if (la != lb) return la < lb ? -1 : 1;
    /* equal keys: ascending value, so the last of a run holds the largest */
    return c->values[a] < c->values[b] ? -1 : c->values[a] > c->values[b];
}

typedef struct {
    uint32_t lo, hi, depth;
} node_range;

xl_status tk_trie_build(tk_trie *t, const char *const *keys, const uint32_t *lens, const int32_t *values,
                        size_t n, const char *what) {
    memset(t, 0, sizeof *t);
    if (n >= UINT32_MAX / 2) return xl_err(XL_ERR_UNSUPPORTED, "%s: too many tokens (%zu)", what, n);
    size_t total = 1;
    for (size_t i = 0; i < n; i++) {
        total += lens[i];
        if (total >= UINT32_MAX / 2) return xl_err(XL_ERR_UNSUPPORTED, "%s: vocabulary too large", what);
    }
    uint32_t *order = malloc((n ? n : 1) * sizeof *order);
    sort_key *sk = malloc((n ? n : 1) * sizeof *sk);
    tk_trie_node *node = malloc(total * sizeof *node);
    node_range *rng = malloc(total * sizeof *rng);
    if (!order || !sk || !node || !rng) {
        free(order); free(sk); free(node); free(rng);
        return xl_err(XL_ERR_NOMEM, "%s: out of memory building the vocabulary trie", what);
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t h = 0;
        for (uint32_t k = 0; k < 8; k++) h = h << 8 | (k < lens[i] ? (uint8_t)keys[i][k] : 0);
        sk[i] = (sort_key){h, (uint32_t)i};
    }
    sort_ctx ctx = {keys, lens, values};
    qsort_r(sk, n, sizeof *sk, cmp_keys, &ctx);
    for (size_t i = 0; i < n; i++) order[i] = sk[i].idx;
    free(sk);

    uint32_t n_nodes = 1, n_dense = 0, max_depth = 0;
    node[0].label = 0;
    rng[0] = (node_range){0, (uint32_t)n, 0};
    /* Breadth-first: node k's children are created consecutively at the end. */
    for (uint32_t k = 0; k < n_nodes; k++) {
        uint32_t lo = rng[k].lo, hi = rng[k].hi, d = rng[k].depth;
        node[k].value = -1;
        if (d > max_depth) max_depth = d;
        /* Keys ending here sort first (a prefix sorts before its extensions). */
        while (lo < hi && lens[order[lo]] == d) {
            node[k].value = values[order[lo]];
            lo++;
        }
        node[k].first = n_nodes;
        uint32_t count = 0;
        while (lo < hi) {
            uint8_t b = (uint8_t)keys[order[lo]][d];
            uint32_t e = lo + 1;
            while (e < hi && (uint8_t)keys[order[e]][d] == b) e++;
            node[n_nodes].label = b;
            rng[n_nodes] = (node_range){lo, e, d + 1};
            n_nodes++;
            count++;
            lo = e;
        }
        node[k].n = count;
        if (count >= DENSE_MIN) n_dense++;
    }
    free(rng);
    free(order);

    uint32_t *dense = malloc((size_t)(n_dense ? n_dense : 1) * 256 * sizeof *dense);
    if (!dense) {
        free(node);
        return xl_err(XL_ERR_NOMEM, "%s: out of memory building the vocabulary trie", what);
    }
    uint32_t row = 0;
    for (uint32_t k = 0; k < n_nodes; k++) {
        if (node[k].n < DENSE_MIN) continue;
        uint32_t *r = dense + (size_t)row * 256;
        for (int b = 0; b < 256; b++) r[b] = TK_TRIE_NONE;
        for (uint32_t i = 0; i < node[k].n; i++) r[node[node[k].first + i].label] = node[k].first + i;
        node[k].n = TK_DENSE | row;
        row++;
    }
    tk_trie_node *shrunk = realloc(node, (size_t)n_nodes * sizeof *node);
    t->node = shrunk ? shrunk : node;
    t->dense = dense;
    t->n_nodes = n_nodes;
    t->n_dense = n_dense;
    t->max_depth = max_depth;
    return XL_OK;
}

void tk_trie_free(tk_trie *t) {
    free(t->node);
    free(t->dense);
    memset(t, 0, sizeof *t);
}

uint32_t tk_trie_walk(const tk_trie *t, uint32_t node, const char *s, size_t len) {
    for (size_t i = 0; i < len && node != TK_TRIE_NONE; i++) node = tk_trie_child(t, node, (uint8_t)s[i]);
    return node;
}

int32_t tk_trie_get(const tk_trie *t, const char *s, size_t len) {
    if (!t->node) return -1;
    uint32_t nd = tk_trie_walk(t, 0, s, len);
    return nd == TK_TRIE_NONE ? -1 : t->node[nd].value;
}

void tk_trie_cache_save(const tk_trie *t, tk_cache_writer *w, uint32_t tag_nodes, uint32_t tag_dense) {
    tk_cache_put_ref(w, tag_nodes, t->node, (size_t)t->n_nodes * sizeof *t->node);
    tk_cache_put_ref(w, tag_dense, t->dense, (size_t)t->n_dense * 256 * sizeof *t->dense);
}

int tk_trie_cache_load(tk_trie *t, tk_cache_reader *r, uint32_t tag_nodes, uint32_t tag_dense, uint32_t n_nodes,
                       uint32_t n_dense, uint32_t max_depth, int64_t value_limit) {
    memset(t, 0, sizeof *t);
    if (n_nodes == 0 || n_nodes >= UINT32_MAX / 2 || n_dense > n_nodes ||
        !tk_cache_len_is(r, tag_nodes, (uint64_t)n_nodes * sizeof *t->node) ||
        !tk_cache_len_is(r, tag_dense, (uint64_t)n_dense * 256 * sizeof *t->dense))
        return 0;
    t->node = malloc((size_t)n_nodes * sizeof *t->node);
    t->dense = malloc((size_t)(n_dense ? n_dense : 1) * 256 * sizeof *t->dense);
    t->n_nodes = n_nodes;
    t->n_dense = n_dense;
    t->max_depth = max_depth;
    int ok = t->node && t->dense && tk_cache_read(r, tag_nodes, t->node, (size_t)n_nodes * sizeof *t->node) &&
             tk_cache_read(r, tag_dense, t->dense, (size_t)n_dense * 256 * sizeof *t->dense);
    for (uint32_t k = 0; ok && k < n_nodes; k++) {
        const tk_trie_node *nd = &t->node[k];
        if (nd->n & TK_DENSE) ok = (nd->n & ~TK_DENSE) < n_dense;
        else ok = (uint64_t)nd->first + nd->n <= n_nodes;
        ok = ok && nd->value >= -1 && nd->value < value_limit && nd->label < 256;
    }
    for (size_t i = 0; ok && i < (size_t)n_dense * 256; i++) ok = t->dense[i] == TK_TRIE_NONE || t->dense[i] < n_nodes;
    if (!ok) tk_trie_free(t);
    return ok;
}
