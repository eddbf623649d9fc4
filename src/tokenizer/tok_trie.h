/* A read-only byte trie over a set of keys (token strings), built once at load.
 *
 * Used for every prefix question the tokenizer asks: exact vocabulary lookups,
 * WordPiece's longest prefix, Unigram's common-prefix search and the added-token
 * matcher. Nodes are numbered in breadth-first order, so the children of a node are
 * consecutive node records: a lookup scans a few neighbouring records (or reads one
 * dense 256-entry row for a node with many children), and the record it finds
 * already holds the child's value and children — one memory access per byte. */
#ifndef XL_TOK_TRIE_H
#define XL_TOK_TRIE_H
#include <stddef.h>
#include <stdint.h>
#include "xling.h"

#define TK_TRIE_NONE UINT32_MAX

typedef struct {
    uint32_t first;  /* node number of the first child */
    uint32_t n;      /* child count, or TK_DENSE | dense row when the node has many */
    int32_t value;   /* value of the key ending here, or -1 */
    uint32_t label;  /* the byte leading to this node */
} tk_trie_node;

typedef struct {
    tk_trie_node *node;
    uint32_t *dense;   /* rows of 256 child numbers (TK_TRIE_NONE = no child) */
    uint32_t n_nodes, n_dense;
    uint32_t max_depth; /* length of the longest key */
} tk_trie;

#define TK_DENSE 0x80000000u

/* Builds the trie of keys[i] (lens[i] bytes) -> values[i]. When a key appears more
 * than once, the largest value wins (the last one of a list given in id order, as a
 * hash map filled in order would keep). `what` names the source for errors. */
xl_status tk_trie_build(tk_trie *t, const char *const *keys, const uint32_t *lens, const int32_t *values,
                        size_t n, const char *what);
void tk_trie_free(tk_trie *t);

/* Child of node through byte b, or TK_TRIE_NONE. */
static inline uint32_t tk_trie_child(const tk_trie *t, uint32_t node, uint8_t b) {
    const tk_trie_node *nd = &t->node[node];
    uint32_t n = nd->n;
    if (n & TK_DENSE) return t->dense[(size_t)(n & ~TK_DENSE) * 256 + b];
    const tk_trie_node *c = t->node + nd->first;
    for (uint32_t i = 0; i < n; i++) {
        if (c[i].label == b) return nd->first + i;
        if (c[i].label > b) break; /* siblings are sorted by label */
    }
    return TK_TRIE_NONE;
}

/* The compiled cache (tok_cache.h): the node and dense tables are stored as they are.
 * Loading checks every child link, dense row and value (values must be -1 or in
 * 0..value_limit-1), so that no walk can leave the tables; 1 on success. */
typedef struct tk_cache_writer tk_cache_writer;
typedef struct tk_cache_reader tk_cache_reader;
void tk_trie_cache_save(const tk_trie *t, tk_cache_writer *w, uint32_t tag_nodes, uint32_t tag_dense);
int tk_trie_cache_load(tk_trie *t, tk_cache_reader *r, uint32_t tag_nodes, uint32_t tag_dense, uint32_t n_nodes,
                       uint32_t n_dense, uint32_t max_depth, int64_t value_limit);

/* Walks s[0..len) from node; returns the node reached or TK_TRIE_NONE. */
uint32_t tk_trie_walk(const tk_trie *t, uint32_t node, const char *s, size_t len);
/* Value of the exact key s[0..len), or -1. */
int32_t tk_trie_get(const tk_trie *t, const char *s, size_t len);

#endif
