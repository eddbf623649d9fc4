/* Distinct texts for evaluation: each text is embedded once however many tasks and
 * language pairs use it (Tatoeba's English side repeats across pairs). An open-addressing
 * hash table over the texts' bytes. */
#include <stdlib.h>
#include <string.h>

#include "xling.h"
#include "util/error.h"

struct xl_textset {
    char **texts;
    size_t *lens;
    uint64_t *hashes;
    size_t n, cap;
    size_t *slots;     /* id + 1, 0 = empty */
    size_t nslots;     /* power of two */
};

static uint64_t fnv(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

xl_textset *xl_textset_new(void) { return calloc(1, sizeof(xl_textset)); }

void xl_textset_free(xl_textset *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) free(t->texts[i]);
    free(t->texts); free(t->lens); free(t->hashes); free(t->slots);
    free(t);
}

static xl_status rehash(xl_textset *t, size_t nslots) {
    size_t *s = calloc(nslots, sizeof *s);
    if (!s) return xl_err(XL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < t->n; i++) {
        size_t j = t->hashes[i] & (nslots - 1);
        while (s[j]) j = (j + 1) & (nslots - 1);
        s[j] = i + 1;
    }
    free(t->slots);
    t->slots = s;
    t->nslots = nslots;
    return XL_OK;
}

xl_status xl_textset_add(xl_textset *t, const char *s, size_t len, size_t *id) {
    if (2 * (t->n + 1) > t->nslots) {
        xl_status st = rehash(t, t->nslots ? 2 * t->nslots : 1024);
        if (st) return st;
    }
    uint64_t h = fnv(s, len);
    size_t j = h & (t->nslots - 1);
    for (; t->slots[j]; j = (j + 1) & (t->nslots - 1)) {
        size_t k = t->slots[j] - 1;
        if (t->hashes[k] == h && t->lens[k] == len && !memcmp(t->texts[k], s, len)) { *id = k; return XL_OK; }
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1024;
        char **tx = realloc(t->texts, cap * sizeof *tx);
        if (tx) t->texts = tx;
        size_t *ln = tx ? realloc(t->lens, cap * sizeof *ln) : NULL;
        if (ln) t->lens = ln;
        uint64_t *hs = ln ? realloc(t->hashes, cap * sizeof *hs) : NULL;
        if (hs) t->hashes = hs;
        if (!hs) return xl_err(XL_ERR_NOMEM, "out of memory");
        t->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c) return xl_err(XL_ERR_NOMEM, "out of memory");
    memcpy(c, s, len);
    c[len] = '\0';
    t->texts[t->n] = c;
    t->lens[t->n] = len;
    t->hashes[t->n] = h;
    t->slots[j] = ++t->n;
    *id = t->n - 1;
    return XL_OK;
}

size_t xl_textset_count(const xl_textset *t) { return t->n; }
const char *const *xl_textset_texts(const xl_textset *t) { return (const char *const *)t->texts; }
const size_t *xl_textset_lens(const xl_textset *t) { return t->lens; }
