/* The BPE tokenization model, with the semantics of the Hugging Face `tokenizers`
 * crate (models/bpe): a pre-token is split into characters (each looked up in the
 * vocabulary, with continuing_subword_prefix / end_of_word_suffix, byte fallback and
 * unk handling), then merges are applied lowest rank first, leftmost on ties, with a
 * min-heap over (rank, position) and a linked list of symbols, so a long pre-token
 * costs O(n log n).
 *
 * Tables (built once at load, read-only afterwards):
 *   - vocab: open-addressing hash table token string -> id, strings in one arena;
 *   - merges: open-addressing hash table (left id, right id) -> (rank, merged id);
 *   - by_id: id -> string for id_to_token (indexed by id, or sorted when ids are sparse);
 *   - char_ids: ids of single code points below FAST_CHARS (when there is no
 *     prefix/suffix), so most character lookups skip hashing.
 * The only mutable state is a small cache of recent pre-token -> ids results,
 * guarded by striped mutexes so that one model handle can serve many threads. */
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tokenizer/tok_cache.h"
#include "tokenizer/tok_model.h"
#include "tokenizer/tok_unicode.h"
#include "util/error.h"
#include "util/utf8.h"
#include "util/vec.h"

#define FAST_CHARS 0x3000      /* code points with a precomputed single-char id */
#define CACHE_SLOTS 8192       /* power of two */
#define CACHE_LOCKS 64         /* power of two, divides CACHE_SLOTS */
#define CACHE_KEY_MAX 46       /* longest pre-token (bytes) kept in the cache */
#define CACHE_IDS_MAX 8        /* most ids of a cached pre-token */
#define SMALL_WORD 64          /* symbols handled with stack buffers */

typedef struct {
    uint32_t hash, len, off; /* hash 0 = empty slot */
    int32_t id;
} vocab_slot;

typedef struct {
    uint64_t key;            /* left id << 32 | right id */
    uint32_t rank;           /* UINT32_MAX = empty slot */
    int32_t new_id;
} merge_slot;

typedef struct {
    int32_t id;
    uint32_t off;
} id_entry;

typedef struct {
    uint64_t hash;           /* 0 = empty */
    uint8_t klen, nids;
    char key[CACHE_KEY_MAX];
    int32_t ids[CACHE_IDS_MAX];
} cache_slot;

typedef struct {
    char *arena;             /* every token string, NUL-terminated */
    size_t arena_len;
    vocab_slot *vslots;
    size_t vmask, n_vocab;
    id_entry *by_id;
    size_t n_by_id;
    int ids_dense;           /* by_id is indexed by id (holes have id -1) */
    merge_slot *mslots;
    size_t mmask, n_merges;

    char *prefix, *suffix, *unk;   /* NULL when absent or "" (same behaviour in the crate) */
    size_t prefix_len, suffix_len, unk_len;
    int32_t unk_id;                /* -1: no unk_token, or not in the vocabulary */
    int fuse_unk, byte_fallback, ignore_merges;
    int32_t byte_ids[256];         /* ids of "<0xXX>", -1 if absent */
    int32_t *char_ids;             /* FAST_CHARS entries, NULL when prefix/suffix are set */

    cache_slot *cache;
    pthread_mutex_t locks[CACHE_LOCKS];
    int locks_ready;               /* locks and sep_lock are initialized */

    /* Cutting long pre-tokens (encode_in_pieces), worked out on first use: */
    pthread_mutex_t sep_lock;
    int ids_unique;                /* -1 unknown; 1: no two tokens share an id */
    int32_t sep_id;                /* -1: none yet; the separator sep_before is for */
    uint8_t sep_before[32];        /* bit set: a byte that precedes an inner sep in some token */
    char *what;                    /* the file, for errors while encoding */
} bpe_model;

/* ------------------------------------------------------------------ hashing */

static inline uint64_t mix64(uint64_t a, uint64_t b) {
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t str_hash(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    uint64_t h = 0x243F6A8885A308D3ull ^ ((uint64_t)n * 0x9E3779B97F4A7C15ull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = mix64(h ^ w, 0xBF58476D1CE4E5B9ull);
        p += 8;
        n -= 8;
    }
    uint64_t t = 0;
    memcpy(&t, p, n);
    return mix64(h ^ t, 0x94D049BB133111EBull);
}

static inline uint32_t hash32(uint64_t h) {
    uint32_t x = (uint32_t)(h >> 32);
    return x ? x : 1; /* 0 marks an empty slot */
}

/* Probes the vocabulary with a precomputed hash. */
static int32_t vocab_find_h(const bpe_model *m, const char *s, size_t n, uint64_t h) {
    uint32_t h32 = hash32(h);
    for (size_t i = (size_t)h & m->vmask;; i = (i + 1) & m->vmask) {
        const vocab_slot *e = &m->vslots[i];
        if (e->hash == 0) return -1;
        if (e->hash == h32 && e->len == n && memcmp(m->arena + e->off, s, n) == 0) return e->id;
    }
}

static int32_t vocab_find(const bpe_model *m, const char *s, size_t n) {
    return vocab_find_h(m, s, n, str_hash(s, n));
}

static inline uint64_t pair_key(int32_t a, int32_t b) {
    return (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
}

static inline size_t pair_slot(uint64_t key, size_t mask) {
    return (size_t)(mix64(key, 0x9E3779B97F4A7C15ull)) & mask;
}

static const merge_slot *merge_find(const bpe_model *m, int32_t a, int32_t b) {
    if (!m->mslots) return NULL;
    uint64_t key = pair_key(a, b);
    for (size_t i = pair_slot(key, m->mmask);; i = (i + 1) & m->mmask) {
        const merge_slot *e = &m->mslots[i];
        if (e->rank == UINT32_MAX) return NULL;
        if (e->key == key) return e;
    }
}

/* ------------------------------------------------------------------ loading */

/* The vocabulary and merge tables are probed at random and outgrow the TLB's reach
 * for Gemma-size models: big ones are 2 MiB aligned and marked for transparent huge
 * pages (a hint; about 10 % faster merging when the kernel grants it). */
/* Zeroed: the tables go byte for byte into the tokenizer cache, and the fields of
 * empty slots must not carry stale heap bytes into it (deterministic cache files). */
static void *table_alloc(size_t bytes) {
    const size_t huge = (size_t)2 << 20;
    if (bytes < 4 * huge) return calloc(1, bytes ? bytes : 1);
    size_t rounded = (bytes + huge - 1) & ~(huge - 1);
    void *p = aligned_alloc(huge, rounded);
    if (p) {
        madvise(p, rounded, MADV_HUGEPAGE);
        memset(p, 0, rounded);
    }
    return p;
}

static size_t pow2_at_least(size_t n) {
    size_t p = 16;
    while (p < n) p *= 2;
    return p;
}

static void bpe_free(void *impl) {
    bpe_model *m = impl;
    if (!m) return;
    free(m->arena);
    free(m->vslots);
    free(m->by_id);
    free(m->mslots);
    free(m->prefix);
    free(m->suffix);
    free(m->unk);
    free(m->char_ids);
    free(m->cache);
    free(m->what);
    if (m->locks_ready) {
        for (int i = 0; i < CACHE_LOCKS; i++) pthread_mutex_destroy(&m->locks[i]);
        pthread_mutex_destroy(&m->sep_lock);
    }
    free(m);
}

static int cmp_id_entry(const void *a, const void *b) {
    const id_entry *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off; /* first in the file wins */
}

/* Loading does millions of random probes into tables larger than the caches, so
 * entries are handled in batches: hash and prefetch the whole batch, then probe. */
#define LOAD_BATCH 32

static void vocab_insert(bpe_model *m, uint64_t h, uint32_t len, uint32_t off, int32_t id) {
    size_t i = (size_t)h & m->vmask;
    while (m->vslots[i].hash) i = (i + 1) & m->vmask; /* keys of a JSON object are unique */
    m->vslots[i] = (vocab_slot){hash32(h), len, off, id};
}

/* id -> string table: indexed by id when the ids are dense (the usual case), else
 * sorted by id for a binary search. When several tokens share an id, the first wins. */
static xl_status build_id_table(bpe_model *m, int32_t max_id, const char *what) {
    size_t n = m->n_by_id;
    if (n == 0) return XL_OK;
    if ((size_t)max_id <= 2 * n + 1024) {
        size_t cap = (size_t)max_id + 1;
        id_entry *d = malloc(cap * sizeof *d);
        if (!d) return xl_err(XL_ERR_NOMEM, "%s: out of memory for the BPE vocabulary", what);
        for (size_t i = 0; i < cap; i++) d[i] = (id_entry){-1, 0};
        for (size_t i = 0; i < n; i++)
            if (d[m->by_id[i].id].id < 0) d[m->by_id[i].id] = m->by_id[i];
        free(m->by_id);
        m->by_id = d;
        m->n_by_id = cap;
        m->ids_dense = 1;
        return XL_OK;
    }
    qsort(m->by_id, n, sizeof *m->by_id, cmp_id_entry);
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (w == 0 || m->by_id[w - 1].id != m->by_id[i].id) m->by_id[w++] = m->by_id[i];
    m->n_by_id = w;
    return XL_OK;
}

static xl_status load_vocab(bpe_model *m, const json_t *vocab_obj, const char *what) {
    json_t *vocab = (json_t *)vocab_obj; /* jansson's iterators take non-const */
    size_t n = json_object_size(vocab), bytes = 0;
    for (void *it = json_object_iter(vocab); it; it = json_object_iter_next(vocab, it))
        bytes += json_object_iter_key_len(it) + 1;
    if (bytes > UINT32_MAX) return xl_err(XL_ERR_UNSUPPORTED, "%s: model.vocab is too large (%zu bytes of tokens)", what, bytes);
    m->arena = malloc(bytes ? bytes : 1);
    size_t cap = pow2_at_least(n * 2 + 1);
    m->vslots = table_alloc(cap * sizeof *m->vslots);
    if (m->vslots) memset(m->vslots, 0, cap * sizeof *m->vslots);
    m->by_id = malloc((n ? n : 1) * sizeof *m->by_id);
    if (!m->arena || !m->vslots || !m->by_id) return xl_err(XL_ERR_NOMEM, "%s: out of memory for the BPE vocabulary (%zu tokens)", what, n);
    m->vmask = cap - 1;
    struct vocab_item { uint64_t h; uint32_t len, off; int32_t id; } batch[LOAD_BATCH];
    size_t nb = 0, off = 0;
    int32_t max_id = -1;
    for (void *it = json_object_iter(vocab);; it = json_object_iter_next(vocab, it)) {
        if (it) {
            const char *key = json_object_iter_key(it);
            size_t klen = json_object_iter_key_len(it);
            const json_t *val = json_object_iter_value(it);
            if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) > INT32_MAX)
                return xl_err(XL_ERR_FORMAT, "%s: model.vocab[\"%.*s\"] must be an integer id in 0..%d", what,
                              (int)(klen > 80 ? 80 : klen), key, INT32_MAX);
            int32_t id = (int32_t)json_integer_value(val);
            if (id > max_id) max_id = id;
            memcpy(m->arena + off, key, klen);
            m->arena[off + klen] = '\0';
            uint64_t h = str_hash(key, klen);
            __builtin_prefetch(&m->vslots[(size_t)h & m->vmask], 1);
            batch[nb++] = (struct vocab_item){h, (uint32_t)klen, (uint32_t)off, id};
            m->by_id[m->n_by_id++] = (id_entry){id, (uint32_t)off};
            off += klen + 1;
        }
        if (nb == LOAD_BATCH || (!it && nb)) {
            for (size_t j = 0; j < nb; j++) vocab_insert(m, batch[j].h, batch[j].len, batch[j].off, batch[j].id);
            nb = 0;
        }
        if (!it) break;
    }
    m->arena_len = off;
    m->n_vocab = n;
    return build_id_table(m, max_id, what);
}

/* Prefetches the string of the first slot whose hash matches (the probe's likely end). */
static void vocab_prefetch_string(const bpe_model *m, uint64_t h) {
    uint32_t h32 = hash32(h);
    for (size_t i = (size_t)h & m->vmask;; i = (i + 1) & m->vmask) {
        const vocab_slot *e = &m->vslots[i];
        if (e->hash == 0) return;
        if (e->hash == h32) {
            __builtin_prefetch(m->arena + e->off);
            return;
        }
    }
}

/* One merge entry being loaded: its two tokens and the merged token (a + b less
 * the continuing_subword_prefix's length of leading bytes of b, as the crate builds it). */
typedef struct {
    const char *a, *b;
    size_t alen, blen, k, rank;
    size_t cat_off, cat_len;  /* merged token in the batch's text buffer */
    uint64_t ha, hb, hc;
    const char *bad;          /* a format problem found while parsing, or NULL */
    int32_t ia, ib, ic;
} merge_entry;

/* Names a merge entry in error messages: `model.merges[k] "a b"`. */
static xl_status merge_error(const char *what, const merge_entry *e, const char *problem, const char *tok, size_t toklen) {
    int al = (int)(e->alen > 80 ? 80 : e->alen), bl = (int)(e->blen > 80 ? 80 : e->blen);
    int tl = (int)(toklen > 80 ? 80 : toklen);
    return xl_err(XL_ERR_FORMAT, "%s: model.merges[%zu] \"%.*s %.*s\": %s \"%.*s\" is not in the vocabulary",
                  what, e->k, al, e->a, bl, e->b, problem, tl, tok);
}

/* Resolves and inserts a batch of merges, in order (a repeated pair takes its last
 * rank, as the crate's collect into a map does). */
static xl_status merge_batch(bpe_model *m, merge_entry *es, size_t ne, const char *text, const char *what) {
    for (size_t j = 0; j < ne; j++) {
        merge_entry *e = &es[j];
        if (e->bad) continue;
        vocab_prefetch_string(m, e->ha);
        vocab_prefetch_string(m, e->hb);
        vocab_prefetch_string(m, e->hc);
    }
    for (size_t j = 0; j < ne; j++) {
        merge_entry *e = &es[j];
        if (e->bad) {
            int l = (int)(e->alen > 80 ? 80 : e->alen);
            return xl_err(XL_ERR_FORMAT, "%s: model.merges[%zu] \"%.*s\": %s", what, e->k, l, e->a, e->bad);
        }
        e->ia = vocab_find_h(m, e->a, e->alen, e->ha);
        if (e->ia < 0) return merge_error(what, e, "token", e->a, e->alen);
        e->ib = vocab_find_h(m, e->b, e->blen, e->hb);
        if (e->ib < 0) return merge_error(what, e, "token", e->b, e->blen);
        if (e->blen < m->prefix_len)
            return xl_err(XL_ERR_FORMAT, "%s: model.merges[%zu]: the right token is shorter than continuing_subword_prefix \"%s\"",
                          what, e->k, m->prefix);
        e->ic = vocab_find_h(m, text + e->cat_off, e->cat_len, e->hc);
        if (e->ic < 0) return merge_error(what, e, "merged token", text + e->cat_off, e->cat_len);
        __builtin_prefetch(&m->mslots[pair_slot(pair_key(e->ia, e->ib), m->mmask)], 1);
    }
    for (size_t j = 0; j < ne; j++) {
        const merge_entry *e = &es[j];
        uint64_t key = pair_key(e->ia, e->ib);
        size_t i = pair_slot(key, m->mmask);
        while (m->mslots[i].rank != UINT32_MAX && m->mslots[i].key != key) i = (i + 1) & m->mmask;
        m->mslots[i] = (merge_slot){key, (uint32_t)e->rank, e->ic};
    }
    return XL_OK;
}

/* Reads entry k into e (format only); returns 0 for a legacy "#version" line, which is
 * skipped and takes no rank. */
static int parse_merge(const json_t *item, int legacy, size_t k, merge_entry *e) {
    memset(e, 0, sizeof *e);
    e->k = k;
    if (legacy) {
        if (!json_is_string(item)) {
            e->a = "";
            e->bad = "must be a string \"a b\" like the first entry";
            return 1;
        }
        const char *s = json_string_value(item);
        size_t len = json_string_length(item);
        if (len >= 8 && memcmp(s, "#version", 8) == 0) return 0;
        const char *sp = memchr(s, ' ', len);
        if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp + 1 - s))) {
            e->a = s;
            e->alen = len;
            e->bad = "must be two tokens separated by one space";
            return 1;
        }
        e->a = s;
        e->alen = (size_t)(sp - s);
        e->b = sp + 1;
        e->blen = len - e->alen - 1;
        return 1;
    }
    const json_t *a = json_array_get(item, 0), *b = json_array_get(item, 1);
    if (!json_is_array(item) || json_array_size(item) != 2 || !json_is_string(a) || !json_is_string(b)) {
        e->a = "";
        e->bad = "must be a pair of strings [\"a\", \"b\"] like the first entry";
        return 1;
    }
    e->a = json_string_value(a);
    e->alen = json_string_length(a);
    e->b = json_string_value(b);
    e->blen = json_string_length(b);
    return 1;
}

static xl_status load_merges(bpe_model *m, const json_t *merges, const char *what) {
    size_t n = json_array_size(merges);
    if (n >= UINT32_MAX) return xl_err(XL_ERR_UNSUPPORTED, "%s: model.merges has too many entries (%zu)", what, n);
    size_t cap = pow2_at_least(n + n / 2 + 1); /* load factor <= 2/3 */
    m->mslots = table_alloc(cap * sizeof *m->mslots);
    if (!m->mslots) return xl_err(XL_ERR_NOMEM, "%s: out of memory for %zu BPE merges", what, n);
    for (size_t i = 0; i < cap; i++) m->mslots[i].rank = UINT32_MAX;
    m->mmask = cap - 1;
    /* The crate accepts either every entry as "a b" (legacy) or every entry as ["a", "b"]. */
    int legacy = n > 0 && json_is_string(json_array_get(merges, 0));
    merge_entry batch[LOAD_BATCH];
    xl_buf text = {0};
    size_t nb = 0, rank = 0;
    xl_status st = XL_OK;
    for (size_t k = 0; k <= n && !st; k++) {
        if (k < n) {
            merge_entry *e = &batch[nb];
            if (!parse_merge(json_array_get(merges, k), legacy, k, e)) continue;
            e->rank = rank++;
            if (!e->bad) {
                size_t tail = e->blen >= m->prefix_len ? e->blen - m->prefix_len : 0;
                e->cat_off = text.n;
                e->cat_len = e->alen + tail;
                if ((st = xl_buf_append(&text, e->a, e->alen))) break;
                if ((st = xl_buf_append(&text, e->b + (e->blen - tail), tail))) break;
                e->ha = str_hash(e->a, e->alen);
                e->hb = str_hash(e->b, e->blen);
                __builtin_prefetch(&m->vslots[(size_t)e->ha & m->vmask]);
                __builtin_prefetch(&m->vslots[(size_t)e->hb & m->vmask]);
            }
            nb++;
        }
        if (nb == LOAD_BATCH || (k == n && nb)) {
            for (size_t j = 0; j < nb; j++) { /* the text buffer may have moved while growing */
                merge_entry *e = &batch[j];
                if (e->bad) continue;
                e->hc = str_hash(text.s + e->cat_off, e->cat_len);
                __builtin_prefetch(&m->vslots[(size_t)e->hc & m->vmask]);
            }
            st = merge_batch(m, batch, nb, text.s, what);
            nb = 0;
            text.n = 0;
        }
    }
    xl_buf_free(&text);
    m->n_merges = rank;
    return st;
}

/* An optional string option: absent, null and "" all mean "none". */
static xl_status opt_str(const json_t *model, const char *key, char **out, size_t *len, const char *what) {
    const json_t *v = json_object_get(model, key);
    *out = NULL;
    *len = 0;
    if (!v || json_is_null(v)) return XL_OK;
    if (!json_is_string(v)) return xl_err(XL_ERR_FORMAT, "%s: model.%s must be a string or null", what, key);
    size_t n = json_string_length(v);
    if (n == 0) return XL_OK;
    *out = malloc(n + 1);
    if (!*out) return xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
    memcpy(*out, json_string_value(v), n + 1);
    *len = n;
    return XL_OK;
}

static xl_status opt_bool(const json_t *model, const char *key, int *out, const char *what) {
    const json_t *v = json_object_get(model, key);
    *out = 0;
    if (!v || json_is_null(v)) return XL_OK;
    if (!json_is_boolean(v)) return xl_err(XL_ERR_FORMAT, "%s: model.%s must be true, false or null", what, key);
    *out = json_is_true(v);
    return XL_OK;
}

static xl_status load_options(bpe_model *m, const json_t *model, const char *what) {
    const json_t *type = json_object_get(model, "type");
    if (type && !(json_is_string(type) && strcmp(json_string_value(type), "BPE") == 0))
        return xl_err(XL_ERR_FORMAT, "%s: model.type must be \"BPE\" for the BPE model", what);
    const json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout)) {
        if (!json_is_number(dropout)) return xl_err(XL_ERR_FORMAT, "%s: model.dropout must be a number or null", what);
        double p = json_number_value(dropout);
        if (!(p >= 0.0 && p <= 1.0)) return xl_err(XL_ERR_FORMAT, "%s: model.dropout %g must be between 0 and 1", what, p);
        /* Dropout skips merges at random; xling's tokenization is deterministic. */
        if (p > 0.0)
            return xl_err(XL_ERR_UNSUPPORTED, "%s: model.dropout %g is not supported (BPE dropout is random; xling only tokenizes deterministically, use null or 0)", what, p);
    }
    xl_status st;
    if ((st = opt_str(model, "continuing_subword_prefix", &m->prefix, &m->prefix_len, what))) return st;
    if ((st = opt_str(model, "end_of_word_suffix", &m->suffix, &m->suffix_len, what))) return st;
    const json_t *unk = json_object_get(model, "unk_token");
    if (unk && !json_is_null(unk)) {
        if (!json_is_string(unk)) return xl_err(XL_ERR_FORMAT, "%s: model.unk_token must be a string or null", what);
        size_t n = json_string_length(unk);
        m->unk = malloc(n + 1);
        if (!m->unk) return xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
        memcpy(m->unk, json_string_value(unk), n + 1);
        m->unk_len = n;
    }
    if ((st = opt_bool(model, "fuse_unk", &m->fuse_unk, what))) return st;
    if ((st = opt_bool(model, "byte_fallback", &m->byte_fallback, what))) return st;
    if ((st = opt_bool(model, "ignore_merges", &m->ignore_merges, what))) return st;
    return XL_OK;
}

static xl_status build_lookup_tables(bpe_model *m, const char *what) {
    m->unk_id = m->unk ? vocab_find(m, m->unk, m->unk_len) : -1;
    for (int b = 0; b < 256; b++) {
        char tok[8];
        snprintf(tok, sizeof tok, "<0x%02X>", b);
        m->byte_ids[b] = vocab_find(m, tok, 6);
    }
    if (!m->prefix && !m->suffix) {
        m->char_ids = malloc(FAST_CHARS * sizeof *m->char_ids);
        if (!m->char_ids) return xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
        for (int32_t cp = 0; cp < FAST_CHARS; cp++) {
            char u[4];
            size_t n = xl_utf8_encode(cp, u);
            m->char_ids[cp] = vocab_find(m, u, n); /* FAST_CHARS < 0xD800: no surrogates */
        }
    }
    m->cache = calloc(CACHE_SLOTS, sizeof *m->cache);
    if (!m->cache) return xl_err(XL_ERR_NOMEM, "%s: out of memory for the BPE cache", what);
    for (int i = 0; i < CACHE_LOCKS; i++) pthread_mutex_init(&m->locks[i], NULL);
    pthread_mutex_init(&m->sep_lock, NULL);
    m->locks_ready = 1;
    m->ids_unique = -1;
    m->sep_id = -1;
    return XL_OK;
}

/* ------------------------------------------------------------ compiled cache */

/* The tables are cached as they are in memory (tok_cache.h): the next load reads them
 * back without rebuilding, then checks every slot before trusting it. */
#define SEC_META TK_TAG('B', 'M', 'E', 'T')
#define SEC_ARENA TK_TAG('B', 'A', 'R', 'N')
#define SEC_VOCAB TK_TAG('B', 'V', 'O', 'C')
#define SEC_BY_ID TK_TAG('B', 'B', 'I', 'D')
#define SEC_MERGES TK_TAG('B', 'M', 'R', 'G')

typedef struct {
    uint64_t layout;   /* bpe_layout() of the build that wrote it */
    uint64_t arena_len, vcap, n_vocab, n_by_id, mcap, n_merges;
    uint32_t ids_dense, pad;
} bpe_cache_meta;

/* Fingerprint of everything the cached tables depend on: slot layouts, the hash
 * functions (by their values on fixed inputs) and the build. */
static uint64_t bpe_layout(void) {
    struct {
        uint64_t sizes[4], str_h, pair_h;
        char build[64];
    } x;
    memset(&x, 0, sizeof x);
    x.sizes[0] = sizeof(vocab_slot);
    x.sizes[1] = sizeof(merge_slot);
    x.sizes[2] = sizeof(id_entry);
    x.sizes[3] = sizeof(bpe_cache_meta);
    x.str_h = str_hash("xling bpe table layout", 22);
    x.pair_h = pair_slot(pair_key(123456, 7890), ~(size_t)0);
    snprintf(x.build, sizeof x.build, "%s", TK_CACHE_BUILD_TAG);
    return tk_checksum(&x, sizeof x);
}

static void bpe_cache_save(const void *impl, tk_cache_writer *w) {
    const bpe_model *m = impl;
    bpe_cache_meta meta = {bpe_layout(), m->arena_len, m->vmask + 1, m->n_vocab, m->n_by_id,
                           m->mslots ? m->mmask + 1 : 0, m->n_merges, (uint32_t)m->ids_dense, 0};
    tk_cache_put_copy(w, SEC_META, &meta, sizeof meta);
    tk_cache_put_ref(w, SEC_ARENA, m->arena, m->arena_len);
    tk_cache_put_ref(w, SEC_VOCAB, m->vslots, (size_t)meta.vcap * sizeof *m->vslots);
    tk_cache_put_ref(w, SEC_BY_ID, m->by_id, m->n_by_id * sizeof *m->by_id);
    tk_cache_put_ref(w, SEC_MERGES, m->mslots, (size_t)meta.mcap * sizeof *m->mslots);
}

static int is_pow2_cap(uint64_t n) { return n >= 16 && n <= ((uint64_t)1 << 31) && (n & (n - 1)) == 0; }

/* 1 when the string at off (len bytes and a NUL) lies inside the arena. Whether a
 * NUL is really there does not matter to the lookups, which compare len bytes; the
 * id -> string table relies on the arena's last byte being one. */
static int arena_string_ok(const bpe_model *m, uint64_t off, uint64_t len) {
    return off < m->arena_len && len < m->arena_len - off;
}

/* Checks every table entry read from a cache: offsets and lengths inside the arena,
 * ids inside the id table, probe sequences that end (an empty slot exists), counts
 * that agree. A table that passes cannot make a lookup read outside memory or loop. */
static int bpe_tables_valid(const bpe_model *m) {
    if (m->arena_len && m->arena[m->arena_len - 1] != '\0') return 0; /* every offset meets a NUL */
    /* id limit: one past the largest id of the id -> string table */
    int64_t id_limit = 0;
    if (m->ids_dense) {
        id_limit = (int64_t)m->n_by_id;
        for (size_t i = 0; i < m->n_by_id; i++) {
            const id_entry *e = &m->by_id[i];
            if (e->id != -1 && (e->id != (int32_t)i || e->off >= m->arena_len)) return 0;
        }
    } else {
        for (size_t i = 0; i < m->n_by_id; i++) {
            const id_entry *e = &m->by_id[i];
            if (e->id < 0 || (i && e->id <= m->by_id[i - 1].id) || e->off >= m->arena_len) return 0;
        }
        if (m->n_by_id) id_limit = (int64_t)m->by_id[m->n_by_id - 1].id + 1;
    }
    size_t filled = 0;
    for (size_t i = 0; i <= m->vmask; i++) {
        const vocab_slot *e = &m->vslots[i];
        if (e->hash == 0) continue;
        if (!arena_string_ok(m, e->off, e->len) || e->id < 0 || e->id >= id_limit) return 0;
        filled++;
    }
    if (filled != m->n_vocab || filled > m->vmask) return 0;
    if (!m->mslots) return 1;
    size_t merges = 0;
    for (size_t i = 0; i <= m->mmask; i++) {
        const merge_slot *e = &m->mslots[i];
        if (e->rank == UINT32_MAX) continue;
        if (e->rank >= m->n_merges || e->new_id < 0 || e->new_id >= id_limit) return 0;
        merges++;
    }
    return merges <= m->n_merges && merges <= m->mmask;
}

static int load_tables_cached(bpe_model *m, tk_cache_reader *r) {
    bpe_cache_meta meta;
    if (!tk_cache_read(r, SEC_META, &meta, sizeof meta) || meta.layout != bpe_layout()) return 0;
    if (!is_pow2_cap(meta.vcap) || (meta.mcap && !is_pow2_cap(meta.mcap)) || meta.arena_len >= UINT32_MAX ||
        meta.n_by_id > INT32_MAX || meta.n_vocab >= meta.vcap || meta.n_merges >= UINT32_MAX || meta.ids_dense > 1)
        return 0;
    /* the sections must have the sizes the counts imply before anything is allocated */
    if (!tk_cache_len_is(r, SEC_ARENA, meta.arena_len) || !tk_cache_len_is(r, SEC_VOCAB, meta.vcap * sizeof(vocab_slot)) ||
        !tk_cache_len_is(r, SEC_BY_ID, meta.n_by_id * sizeof(id_entry)) ||
        !tk_cache_len_is(r, SEC_MERGES, meta.mcap * sizeof(merge_slot)))
        return 0;
    m->arena_len = (size_t)meta.arena_len;
    m->n_vocab = (size_t)meta.n_vocab;
    m->n_by_id = (size_t)meta.n_by_id;
    m->n_merges = (size_t)meta.n_merges;
    m->ids_dense = (int)meta.ids_dense;
    m->vmask = (size_t)meta.vcap - 1;
    m->arena = malloc(m->arena_len ? m->arena_len : 1);
    m->vslots = table_alloc((size_t)meta.vcap * sizeof *m->vslots);
    m->by_id = malloc((m->n_by_id ? m->n_by_id : 1) * sizeof *m->by_id);
    if (!m->arena || !m->vslots || !m->by_id) return 0;
    if (meta.mcap) {
        m->mmask = (size_t)meta.mcap - 1;
        if (!(m->mslots = table_alloc((size_t)meta.mcap * sizeof *m->mslots))) return 0;
    }
    return tk_cache_read(r, SEC_ARENA, m->arena, m->arena_len) &&
           tk_cache_read(r, SEC_VOCAB, m->vslots, (size_t)meta.vcap * sizeof *m->vslots) &&
           tk_cache_read(r, SEC_BY_ID, m->by_id, m->n_by_id * sizeof *m->by_id) &&
           tk_cache_read(r, SEC_MERGES, m->mslots, (size_t)meta.mcap * sizeof *m->mslots) &&
           bpe_tables_valid(m);
}

/* ----------------------------------------------------------------- encoding */

/* A symbol of the word being merged: a doubly linked list over an array. A symbol
 * merged into its left neighbour is unlinked and gets next = -1, so that heap
 * entries at its position are skipped like the crate's zero-length symbols. */
typedef struct {
    int32_t c, prev, next;
} symbol;

/* A candidate merge in the 4-ary min-heap (4-ary: half the depth of a binary heap and
 * adjacent children, which matters when a long pre-token's heap outgrows the caches). */
typedef struct {
    uint64_t key;        /* rank << 32 | position: the smallest pops first */
    int32_t new_id;
    int32_t left, right; /* the pair when pushed */
} heap_item;

/* Scratch space of one encode call: small words live on the stack. */
typedef struct {
    symbol *sym;
    size_t n;
    heap_item *heap;
    size_t nh, heap_cap;
    int heap_owned;
} word;

static xl_status heap_push(word *w, heap_item x) {
    if (w->nh == w->heap_cap) {
        size_t nc = w->heap_cap * 2;
        heap_item *p = w->heap_owned ? realloc(w->heap, nc * sizeof *p) : malloc(nc * sizeof *p);
        if (!p) return xl_err(XL_ERR_NOMEM, "BPE: out of memory merging a pre-token of %zu symbols", w->n);
        if (!w->heap_owned) memcpy(p, w->heap, w->nh * sizeof *p);
        w->heap = p;
        w->heap_cap = nc;
        w->heap_owned = 1;
    }
    heap_item *h = w->heap;
    size_t i = w->nh++;
    while (i > 0) {
        size_t parent = (i - 1) / 4;
        if (h[parent].key <= x.key) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = x;
    return XL_OK;
}

static heap_item heap_pop(word *w) {
    heap_item *h = w->heap;
    heap_item top = h[0], x = h[--w->nh];
    size_t i = 0, len = w->nh;
    for (;;) {
        size_t l = 4 * i + 1, end = l + 4 < len ? l + 4 : len, c = l;
        if (l >= len) break;
        for (size_t k = l + 1; k < end; k++)
            if (h[k].key < h[c].key) c = k;
        if (x.key <= h[c].key) break;
        h[i] = h[c];
        i = c;
    }
    if (len) h[i] = x;
    return top;
}

static inline void word_add(word *w, int32_t id) {
    size_t i = w->n++;
    w->sym[i] = (symbol){id, (int32_t)i - 1, -1};
    if (i) w->sym[i - 1].next = (int32_t)i;
}

/* Adds the symbols of one character s[0..n) (with its prefix/suffix) whose
 * vocabulary id is `id` (-1 if absent), as the crate's merge_word does. */
static xl_status add_char(const bpe_model *m, word *w, const char *s, size_t n, int32_t id, int *unk_pending) {
    if (id >= 0) {
        if (*unk_pending) {
            word_add(w, m->unk_id);
            *unk_pending = 0;
        }
        word_add(w, id);
        return XL_OK;
    }
    if (m->byte_fallback) {
        size_t k = 0;
        while (k < n && m->byte_ids[(unsigned char)s[k]] >= 0) k++;
        if (k == n) {
            /* The crate adds the byte tokens without flushing a pending unk first. */
            for (k = 0; k < n; k++) word_add(w, m->byte_ids[(unsigned char)s[k]]);
            return XL_OK;
        }
    }
    if (!m->unk) return XL_OK; /* no unk_token: the character is dropped */
    if (m->unk_id < 0)
        return xl_err(XL_ERR_FORMAT, "%s: BPE unk_token \"%s\" is not in the vocabulary", m->what, m->unk);
    if (*unk_pending && !m->fuse_unk) word_add(w, m->unk_id);
    *unk_pending = 1;
    return XL_OK;
}

/* Splits s into symbols (the crate's merge_word before merging). */
static xl_status split_chars(const bpe_model *m, const char *s, size_t len, word *w, char *tmp) {
    int unk_pending = 0;
    size_t i = 0;
    while (i < len) {
        const unsigned char *p = (const unsigned char *)s + i;
        size_t cl = xl_utf8_valid_len(p, len - i);
        int32_t cp = -1;
        if (cl == 0) cl = 1; /* callers pass valid UTF-8; a stray byte is its own symbol */
        else if (m->char_ids) cp = xl_utf8_decode(p, &cl);
        int32_t id;
        const char *cs = s + i;
        size_t cn = cl;
        if (m->char_ids) {
            id = (cp >= 0 && cp < FAST_CHARS) ? m->char_ids[cp] : vocab_find(m, cs, cn);
        } else {
            size_t k = 0;
            if (i > 0 && m->prefix) { memcpy(tmp, m->prefix, m->prefix_len); k = m->prefix_len; }
            memcpy(tmp + k, cs, cl);
            k += cl;
            if (i + cl == len && m->suffix) { memcpy(tmp + k, m->suffix, m->suffix_len); k += m->suffix_len; }
            cs = tmp;
            cn = k;
            id = vocab_find(m, cs, cn);
        }
        xl_status st = add_char(m, w, cs, cn, id, &unk_pending);
        if (st) return st;
        i += cl;
    }
    if (unk_pending) word_add(w, m->unk_id);
    return XL_OK;
}

static inline void prefetch_pair(const bpe_model *m, int32_t a, int32_t b) {
    __builtin_prefetch(&m->mslots[pair_slot(pair_key(a, b), m->mmask)]);
}

/* Applies merges lowest rank first, leftmost on ties (the crate's Word::merge_all
 * without dropout): a min-heap of candidate merges; entries made stale by earlier
 * merges are skipped when popped. O(n log n) in the number of symbols. */
static xl_status merge_all(const bpe_model *m, word *w) {
    symbol *sym = w->sym;
    xl_status st;
    if (w->n < 2 || !m->mslots) return XL_OK;
    /* The first probes are independent: prefetch them all, then probe. */
    for (size_t i = 0; i + 1 < w->n; i++) prefetch_pair(m, sym[i].c, sym[i + 1].c);
    for (size_t i = 0; i + 1 < w->n; i++) {
        const merge_slot *e = merge_find(m, sym[i].c, sym[i + 1].c);
        if (e && (st = heap_push(w, (heap_item){(uint64_t)e->rank << 32 | i, e->new_id, sym[i].c, sym[i + 1].c})))
            return st;
    }
    while (w->nh) {
        heap_item top = heap_pop(w);
        size_t pos = (size_t)(top.key & 0xFFFFFFFFu);
        symbol *cur = &sym[pos];
        if (cur->next < 0) continue; /* merged away, or the last symbol */
        symbol *right = &sym[cur->next];
        /* An entry is stale unless the pair now at pos still merges into the same id
         * (the crate's test; the same pair as when pushed passes without a lookup). */
        if (cur->c != top.left || right->c != top.right) {
            const merge_slot *e = merge_find(m, cur->c, right->c);
            if (!e || e->new_id != top.new_id) continue;
        }
        cur->c = top.new_id;
        cur->next = right->next;
        right->next = -1;
        if (cur->next >= 0) sym[cur->next].prev = (int32_t)pos;
        int32_t lc = cur->prev >= 0 ? sym[cur->prev].c : 0, rc = cur->next >= 0 ? sym[cur->next].c : 0;
        if (cur->prev >= 0) prefetch_pair(m, lc, cur->c);
        if (cur->next >= 0) prefetch_pair(m, cur->c, rc);
        if (cur->prev >= 0) {
            const merge_slot *e = merge_find(m, lc, cur->c);
            if (e && (st = heap_push(w, (heap_item){(uint64_t)e->rank << 32 | (uint32_t)cur->prev, e->new_id, lc, cur->c})))
                return st;
        }
        if (cur->next >= 0) {
            const merge_slot *e = merge_find(m, cur->c, rc);
            if (e && (st = heap_push(w, (heap_item){(uint64_t)e->rank << 32 | pos, e->new_id, cur->c, rc})))
                return st;
        }
    }
    return XL_OK;
}

static int cache_get(bpe_model *m, uint64_t h, const char *s, size_t len, xl_ivec *out, xl_status *st) {
    size_t slot = (size_t)h & (CACHE_SLOTS - 1);
    cache_slot *c = &m->cache[slot];
    int32_t ids[CACHE_IDS_MAX];
    int n = -1;
    pthread_mutex_t *lock = &m->locks[slot & (CACHE_LOCKS - 1)];
    pthread_mutex_lock(lock);
    if (c->hash == h && c->klen == len && memcmp(c->key, s, len) == 0) {
        n = c->nids;
        memcpy(ids, c->ids, (size_t)n * sizeof *ids);
    }
    pthread_mutex_unlock(lock);
    if (n < 0) return 0;
    if (n == 0) return 1;
    *st = xl_ivec_reserve(out, out->n + (size_t)n);
    if (*st) return 1;
    memcpy(out->v + out->n, ids, (size_t)n * sizeof *ids);
    out->n += (size_t)n;
    return 1;
}

static void cache_put(bpe_model *m, uint64_t h, const char *s, size_t len, const int32_t *ids, size_t n) {
    size_t slot = (size_t)h & (CACHE_SLOTS - 1);
    cache_slot *c = &m->cache[slot];
    pthread_mutex_t *lock = &m->locks[slot & (CACHE_LOCKS - 1)];
    pthread_mutex_lock(lock);
    c->hash = h;
    c->klen = (uint8_t)len;
    c->nids = (uint8_t)n;
    memcpy(c->key, s, len);
    if (n) memcpy(c->ids, ids, n * sizeof *ids); /* a word of dropped characters has none */
    pthread_mutex_unlock(lock);
}

/* Splits and merges one pre-token, appending its ids. */
static xl_status encode_word(const bpe_model *m, const char *s, size_t len, xl_ivec *out) {
    /* At most one symbol per byte of each character with its prefix/suffix; positions
     * must fit the heap key's 32 bits. */
    size_t max_sym;
    if (!xl_mul_ok(len, 1 + m->prefix_len, &max_sym) || max_sym + m->suffix_len > INT32_MAX / 2)
        return xl_err(XL_ERR_INPUT, "%s: BPE: pre-token of %zu bytes is too long", m->what, len);
    max_sym += m->suffix_len;
    symbol sym_small[SMALL_WORD];
    heap_item heap_small[SMALL_WORD];
    char tmp_small[64];
    word w = {sym_small, 0, heap_small, 0, SMALL_WORD, 0};
    char *tmp = tmp_small;
    xl_status st = XL_OK;
    if (max_sym > SMALL_WORD) {
        w.sym = malloc(max_sym * sizeof *w.sym);
        if (!w.sym) return xl_err(XL_ERR_NOMEM, "BPE: out of memory for a pre-token of %zu bytes", len);
    }
    if (m->prefix_len + m->suffix_len + 4 > sizeof tmp_small) {
        tmp = malloc(m->prefix_len + m->suffix_len + 4);
        if (!tmp) {
            st = xl_err(XL_ERR_NOMEM, "BPE: out of memory");
            goto done;
        }
    }
    if ((st = split_chars(m, s, len, &w, tmp))) goto done;
    if ((st = merge_all(m, &w))) goto done;
    for (int32_t i = w.n ? 0 : -1; i >= 0; i = w.sym[i].next)
        if ((st = xl_ivec_push(out, w.sym[i].c))) goto done;
done:
    if (w.sym != sym_small) free(w.sym);
    if (w.heap_owned) free(w.heap);
    if (tmp != tmp_small) free(tmp);
    return st;
}

/* encode_word behind the cache of short pre-tokens. */
static xl_status encode_cached(bpe_model *m, const char *s, size_t len, xl_ivec *out) {
    int cacheable = len <= CACHE_KEY_MAX;
    if (!cacheable) return encode_word(m, s, len, out);
    uint64_t h = str_hash(s, len) | 1; /* the cache's hash is never 0, the empty mark */
    xl_status st = XL_OK;
    if (cache_get(m, h, s, len, out, &st)) return st;
    size_t first_out = out->n;
    if ((st = encode_word(m, s, len, out))) return st;
    size_t n_ids = out->n - first_out;
    if (n_ids <= CACHE_IDS_MAX) cache_put(m, h, s, len, out->v + first_out, n_ids);
    return XL_OK;
}

/* ------------------------------------------------------ long pre-tokens */

/* A pre-token can be a whole paragraph (Gemma: the normalizer turns spaces into U+2581
 * and the pre-tokenizer splits on spaces, so nothing splits), and merging n symbols
 * with one heap makes every step a cache miss once the heap and the probed merges
 * outgrow the caches (10 MB of text: several seconds). Such a pre-token is cut into
 * pieces that are encoded on their own (through the cache of short pre-tokens), only
 * where no merge can ever join the two sides, so that the ids are the ones merging the
 * whole pre-token gives:
 *
 * Without continuing_subword_prefix / end_of_word_suffix, and when no two tokens share
 * an id, every symbol ever formed is a vocabulary token whose string is the
 * concatenation of the strings of the characters it covers (a merge's result is looked
 * up as the concatenation of its pair). A merge across a cut would thus form a token
 * containing the text across the cut. Cuts are made just before the separator (the
 * most frequent character of the pre-token's start), after a character that is a
 * token itself (no byte fallback, no unk) and whose last byte precedes no inner
 * occurrence of the separator in any token: no token contains the text across such a
 * cut, no pair across it ever has a merge (a stale heap entry only fires when the
 * current pair has one too), the merges on each side are popped in the same order as
 * in the whole pre-token's heap, and the characters split the same way on each side.
 * (ignore_merges looks the whole pre-token up first: such models are not cut.) */
#define SEGMENT_MIN 8192 /* bytes: shorter pre-tokens are merged whole */
#define SEP_SAMPLE 1024  /* characters sampled to pick the separator */

/* Vocabulary id of the character at s[0..n) (n: its valid length), or -1. */
static int32_t char_id(const bpe_model *m, const char *s, size_t n) {
    size_t cl = n;
    int32_t cp = xl_utf8_decode((const unsigned char *)s, &cl);
    if (cp >= 0 && cp < FAST_CHARS && m->char_ids) return m->char_ids[cp];
    return vocab_find(m, s, n);
}

/* The most frequent character of the first SEP_SAMPLE that is a token itself (bytes in
 * sep, *sl of them); its id, or -1. A small open-addressing count by code point. */
static int32_t pick_separator(const bpe_model *m, const char *s, size_t len, char sep[4], size_t *sl) {
    enum { SLOTS = 2048 }; /* power of two, > SEP_SAMPLE */
    uint32_t key[SLOTS], count[SLOTS], at[SLOTS];
    memset(count, 0, sizeof count);
    size_t best = SLOTS;
    for (size_t i = 0, k = 0; i < len && k < SEP_SAMPLE; k++) {
        size_t cl = xl_utf8_valid_len((const unsigned char *)s + i, len - i);
        if (cl == 0) {
            i++;
            continue;
        }
        uint32_t cp = 0;
        for (size_t j = 0; j < cl; j++) cp = cp << 8 | (uint8_t)s[i + j]; /* the bytes, as a key */
        size_t h = (size_t)mix64(cp, 0x9E3779B97F4A7C15ull) & (SLOTS - 1);
        while (count[h] && key[h] != cp) h = (h + 1) & (SLOTS - 1);
        if (!count[h]) at[h] = (uint32_t)i;
        key[h] = cp;
        count[h]++;
        if ((best == SLOTS || count[h] > count[best]) && char_id(m, s + i, cl) >= 0) best = h;
        i += cl;
    }
    if (best == SLOTS) return -1;
    size_t i = at[best], cl = xl_utf8_valid_len((const unsigned char *)s + i, len - i);
    memcpy(sep, s + i, cl);
    *sl = cl;
    return char_id(m, s + i, cl);
}

/* 1 when no two vocabulary entries share an id. */
static int vocab_ids_unique(const bpe_model *m) {
    size_t n_ids = 0;
    for (size_t i = 0; i <= m->vmask; i++)
        if (m->vslots[i].hash && (size_t)m->vslots[i].id + 1 > n_ids) n_ids = (size_t)m->vslots[i].id + 1;
    uint8_t *seen = calloc(n_ids / 8 + 1, 1);
    if (!seen) return 0;
    int unique = 1;
    for (size_t i = 0; i <= m->vmask && unique; i++) {
        if (!m->vslots[i].hash) continue;
        uint32_t id = (uint32_t)m->vslots[i].id;
        unique = !(seen[id >> 3] & (1u << (id & 7)));
        seen[id >> 3] |= (uint8_t)(1u << (id & 7));
    }
    free(seen);
    return unique;
}

/* Fills before[] for the separator sep_id (string sep[0..sl)): the bytes that precede
 * an occurrence of sep anywhere in the token arena (a token's first byte included,
 * which only adds the NUL ending the token before). 0 when pre-tokens cannot be cut.
 * Worked out once per separator and kept in the model (behind sep_lock). */
static int separator_context(bpe_model *m, int32_t sep_id, const char *sep, size_t sl, uint8_t before[32]) {
    pthread_mutex_lock(&m->sep_lock);
    if (m->ids_unique < 0) m->ids_unique = vocab_ids_unique(m);
    int ok = m->ids_unique;
    if (ok && m->sep_id != sep_id) {
        memset(m->sep_before, 0, sizeof m->sep_before);
        const char *a = m->arena, *end = m->arena + m->arena_len;
        for (const char *p = a; p < end && (p = memmem(p, (size_t)(end - p), sep, sl)) != NULL; p++)
            if (p > a) m->sep_before[(uint8_t)p[-1] >> 3] |= (uint8_t)(1u << ((uint8_t)p[-1] & 7));
        m->sep_id = sep_id;
    }
    if (ok) memcpy(before, m->sep_before, 32);
    pthread_mutex_unlock(&m->sep_lock);
    return ok;
}

/* 1 when a cut is allowed at byte b (where the separator starts): the character
 * before is a token itself and its last byte is not in before[]. */
static int cut_allowed(const bpe_model *m, const char *s, size_t b, const uint8_t before[32]) {
    uint8_t last = (uint8_t)s[b - 1];
    if (before[last >> 3] & (1u << (last & 7))) return 0;
    size_t k = b - 1;
    while (k > 0 && b - k < 4 && ((uint8_t)s[k] & 0xC0) == 0x80) k--;
    size_t cl = xl_utf8_valid_len((const unsigned char *)s + k, b - k);
    return cl == b - k && char_id(m, s + k, cl) >= 0;
}

/* Encodes a long pre-token piece by piece (see above); *n_pieces: how many. */
static xl_status encode_in_pieces(bpe_model *m, const char *s, size_t len, xl_ivec *out, size_t *n_pieces) {
    char sep[4];
    size_t sl = 0, start = 0;
    uint8_t before[32];
    *n_pieces = 1;
    int32_t sep_id = pick_separator(m, s, len, sep, &sl);
    if (sep_id < 0 || !separator_context(m, sep_id, sep, sl, before)) return encode_cached(m, s, len, out);
    for (const char *p = s + 1; p < s + len && (p = memmem(p, (size_t)(s + len - p), sep, sl)) != NULL; p += sl) {
        size_t b = (size_t)(p - s);
        if (!cut_allowed(m, s, b, before)) continue;
        xl_status st = encode_cached(m, s + start, b - start, out);
        if (st) return st;
        ++*n_pieces;
        start = b;
    }
    return encode_cached(m, s + start, len - start, out);
}

static int can_cut(const bpe_model *m) { return !m->prefix && !m->suffix && !m->ignore_merges && m->char_ids; }

static xl_status bpe_encode(const void *impl, const char *s, size_t len, xl_ivec *out) {
    bpe_model *m = (bpe_model *)impl; /* only the caches (behind their locks) are written */
    if (len == 0) return XL_OK;
    if (m->ignore_merges) {
        int32_t id = vocab_find(m, s, len);
        if (id >= 0) return xl_ivec_push(out, id);
    }
    size_t n_pieces;
    if (len >= SEGMENT_MIN && can_cut(m)) return encode_in_pieces(m, s, len, out, &n_pieces);
    return encode_cached(m, s, len, out);
}

static int32_t bpe_token_to_id(const void *impl, const char *s, size_t len) {
    return vocab_find(impl, s, len);
}

static const char *bpe_id_to_token(const void *impl, int32_t id) {
    const bpe_model *m = impl;
    if (id < 0) return NULL;
    if (m->ids_dense)
        return (size_t)id < m->n_by_id && m->by_id[id].id == id ? m->arena + m->by_id[id].off : NULL;
    size_t lo = 0, hi = m->n_by_id;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->by_id[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < m->n_by_id && m->by_id[lo].id == id ? m->arena + m->by_id[lo].off : NULL;
}

static size_t bpe_vocab_size(const void *impl) {
    return ((const bpe_model *)impl)->n_vocab;
}

/* 1 when the character s[0..n) (at offset pos of a pre-token of len bytes) has no
 * token of its own, with the prefix / suffix it would carry, and no byte fallback:
 * what makes merge_word put it in the unk run. */
static int char_unknown(const bpe_model *m, const char *s, size_t n, size_t pos, size_t len) {
    char buf[256];
    size_t k = 0;
    if (pos > 0 && m->prefix && m->prefix_len < 100) memcpy(buf, m->prefix, m->prefix_len), k = m->prefix_len;
    memcpy(buf + k, s, n);
    k += n;
    if (pos + n == len && m->suffix && m->suffix_len < 100) memcpy(buf + k, m->suffix, m->suffix_len), k += m->suffix_len;
    if (vocab_find(m, buf, k) >= 0) return 0;
    if (m->byte_fallback) {
        size_t b = 0;
        while (b < n && m->byte_ids[(uint8_t)s[b]] >= 0) b++;
        if (b == n) return 0;
    }
    return 1;
}

/* The crate's BPE offsets are the byte lengths of the word's symbols: a token's text
 * without the continuing-subword prefix (not at the word start) and the end-of-word
 * suffix (at its end); a byte-fallback token is one byte; an unk token one character,
 * or with fuse_unk the whole run of characters that have no token. They are worked
 * out from the ids encode gave, so encoding itself is untouched. */
static xl_status bpe_encode_spans(const void *impl, const char *s, size_t len, xl_ivec *out, xl_ivec *spans) {
    const bpe_model *m = impl;
    size_t mark = out->n, pos = 0;
    xl_status st = bpe_encode(impl, s, len, out);
    for (size_t i = mark; i < out->n && !st; i++) {
        int32_t id = out->v[i];
        const char *t = bpe_id_to_token(m, id);
        size_t tl = t ? strlen(t) : 0, n;
        if (m->byte_fallback && tl == 6 && !memcmp(t, "<0x", 3) && t[5] == '>' && pos < len &&
            m->byte_ids[(uint8_t)s[pos]] == id) {
            n = 1;
        } else if (id == m->unk_id && m->unk) {
            n = pos < len ? tk_cplen((unsigned char)s[pos]) : 0;
            while (m->fuse_unk && pos + n < len) {
                size_t c = tk_cplen((unsigned char)s[pos + n]);
                if (pos + n + c > len || !char_unknown(m, s + pos + n, c, pos + n, len)) break;
                n += c;
            }
        } else {
            if (pos > 0 && m->prefix && tl >= m->prefix_len && !memcmp(t, m->prefix, m->prefix_len)) {
                t += m->prefix_len;
                tl -= m->prefix_len;
            }
            if (m->suffix && tl >= m->suffix_len && pos + tl - m->suffix_len == len &&
                !memcmp(t + tl - m->suffix_len, m->suffix, m->suffix_len))
                tl -= m->suffix_len;
            n = tl;
        }
        if (pos + n > len) n = len - pos; /* cannot happen for ids encode gave */
        if (!(st = xl_ivec_push(spans, (int32_t)pos))) st = xl_ivec_push(spans, (int32_t)(pos + n));
        pos += n;
    }
    return st;
}

static const xl_tok_model_ops bpe_ops = {
    .type = "BPE",
    .free = bpe_free,
    .encode = bpe_encode,
    .token_to_id = bpe_token_to_id,
    .id_to_token = bpe_id_to_token,
    .vocab_size = bpe_vocab_size,
    .cache_save = bpe_cache_save,
    .encode_spans = bpe_encode_spans,
};

xl_status xl_bpe_load(const json_t *model, const char *what, xl_tok_model *out) {
    out->ops = NULL;
    out->impl = NULL;
    if (!json_is_object(model)) return xl_err(XL_ERR_FORMAT, "%s: \"model\" must be an object", what);
    const json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
    if (!json_is_object(vocab)) return xl_err(XL_ERR_FORMAT, "%s: model.vocab must be an object token -> id", what);
    if (!json_is_array(merges)) return xl_err(XL_ERR_FORMAT, "%s: model.merges must be an array", what);
    bpe_model *m = calloc(1, sizeof *m);
    if (m) m->what = strdup(what ? what : "tokenizer.json");
    if (!m || !m->what) {
        free(m);
        return xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
    }
    xl_status st = load_options(m, model, what);
    if (!st) st = load_vocab(m, vocab, what);
    if (!st) st = load_merges(m, merges, what);
    if (!st) st = build_lookup_tables(m, what);
    if (st) {
        bpe_free(m);
        return st;
    }
    out->ops = &bpe_ops;
    out->impl = m;
    return XL_OK;
}

int xl_bpe_load_cached(const json_t *model, tk_cache_reader *r, const char *what, xl_tok_model *out) {
    out->ops = NULL;
    out->impl = NULL;
    if (!json_is_object(model)) return 0;
    bpe_model *m = calloc(1, sizeof *m);
    if (m) m->what = strdup(what ? what : "tokenizer.json");
    if (!m || !m->what || load_options(m, model, what) || !load_tables_cached(m, r) || build_lookup_tables(m, what)) {
        bpe_free(m);
        return 0;
    }
    out->ops = &bpe_ops;
    out->impl = m;
    return 1;
}

xl_status xl_bpe_encode_segmented(const xl_tok_model *model, const char *s, size_t len, size_t segment_min,
                                  xl_ivec *out, size_t *n_pieces) {
    size_t n = 0;
    if (n_pieces) *n_pieces = 0;
    if (!model || model->ops != &bpe_ops) return xl_err(XL_ERR_ARG, "xl_bpe_encode_segmented: not a BPE model");
    bpe_model *m = model->impl;
    if (len == 0) return XL_OK;
    xl_status st;
    if (segment_min && len >= segment_min && can_cut(m)) {
        st = encode_in_pieces(m, s, len, out, &n);
    } else {
        st = encode_word(m, s, len, out);
        n = 1;
    }
    if (n_pieces) *n_pieces = n;
    return st;
}
