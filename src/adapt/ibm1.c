/* IBM Model 1 (Brown et al. 1993) trained by EM in both directions, as trans-tokenization
 * (Remy et al. 2024) aligns the tokens of a parallel corpus: t(target | source) with a
 * NULL source word, and t(source | target) with a NULL target word; a link's weight is
 * the mean of its two posteriors, summed over the corpus. Only co-occurring pairs have a
 * probability, so memory follows the corpus, not the vocabularies. */
#include <stdlib.h>
#include <string.h>

#include "adapt/vocab_internal.h"
#include "util/error.h"

#define NULL_ID 0xFFFFFFFFu
#define NO_PAIR 0xFFFFFFFFu

struct ib_model {
    uint64_t *key;          /* (source << 32) | target of each pair; NULL_ID for NULL */
    double *pts, *pst;      /* t(tgt | src), t(src | tgt) */
    size_t n_pairs;
    uint32_t *slot;         /* pair index + 1 */
    size_t nslots;
    uint32_t *idx;          /* per sentence, (ls + 1) x (lt + 1) pair indices, row = source
                               position (ls = NULL), column = target position (lt = NULL) */
    size_t *idx_off;
    const ib_corpus *c;
};

void ib_corpus_free(ib_corpus *c) {
    if (!c) return;
    xl_ivec_free(&c->src);
    xl_ivec_free(&c->tgt);
    free(c->src_off);
    free(c->tgt_off);
    memset(c, 0, sizeof *c);
}

void ib_links_free(ib_links *l) {
    if (!l) return;
    free(l->tgt);
    free(l->src);
    free(l->w);
    free(l->occ);
    memset(l, 0, sizeof *l);
}

void ib_model_free(ib_model *m) {
    if (!m) return;
    free(m->key);
    free(m->pts);
    free(m->pst);
    free(m->slot);
    free(m->idx);
    free(m->idx_off);
    free(m);
}

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static uint32_t pair_find(const ib_model *m, uint64_t key) {
    if (!m->nslots) return NO_PAIR;
    for (size_t j = mix(key) & (m->nslots - 1); m->slot[j]; j = (j + 1) & (m->nslots - 1))
        if (m->key[m->slot[j] - 1] == key) return m->slot[j] - 1;
    return NO_PAIR;
}

static xl_status pair_add(ib_model *m, uint64_t key, size_t *cap, uint32_t *out) {
    uint32_t p = pair_find(m, key);
    if (p != NO_PAIR) {
        *out = p;
        return XL_OK;
    }
    if (m->n_pairs >= 0x7fffffffu) return xl_err(XL_ERR_NOMEM, "parallel corpus: too many token pairs");
    if (m->n_pairs == *cap) {
        size_t nc = *cap ? 2 * *cap : 1 << 16;
        uint64_t *k = realloc(m->key, nc * sizeof *k);
        if (!k) return xl_err(XL_ERR_NOMEM, "out of memory (alignment table)");
        m->key = k;
        *cap = nc;
    }
    if (2 * (m->n_pairs + 1) > m->nslots) {
        size_t ns = m->nslots ? 2 * m->nslots : 1 << 17;
        uint32_t *sl = calloc(ns, sizeof *sl);
        if (!sl) return xl_err(XL_ERR_NOMEM, "out of memory (alignment table)");
        for (size_t q = 0; q < m->n_pairs; q++) {
            size_t j = mix(m->key[q]) & (ns - 1);
            while (sl[j]) j = (j + 1) & (ns - 1);
            sl[j] = (uint32_t)q + 1;
        }
        free(m->slot);
        m->slot = sl;
        m->nslots = ns;
    }
    size_t j = mix(key) & (m->nslots - 1);
    while (m->slot[j]) j = (j + 1) & (m->nslots - 1);
    m->key[m->n_pairs] = key;
    m->slot[j] = (uint32_t)m->n_pairs + 1;
    *out = (uint32_t)m->n_pairs++;
    return XL_OK;
}

static uint64_t make_key(uint32_t s, uint32_t t) { return ((uint64_t)s << 32) | t; }

/* Every co-occurring pair (and each word with NULL) gets an index, cached per sentence. */
static xl_status build_pairs(ib_model *m) {
    const ib_corpus *c = m->c;
    size_t total = 0, cap = 0;
    m->idx_off = malloc((c->n + 1) * sizeof *m->idx_off);
    if (!m->idx_off) return xl_err(XL_ERR_NOMEM, "out of memory (alignment table)");
    for (size_t k = 0; k < c->n; k++) {
        m->idx_off[k] = total;
        size_t ls = c->src_off[k + 1] - c->src_off[k], lt = c->tgt_off[k + 1] - c->tgt_off[k];
        if (ls && lt) total += (ls + 1) * (lt + 1);
    }
    m->idx_off[c->n] = total;
    m->idx = malloc((total ? total : 1) * sizeof *m->idx);
    if (!m->idx) return xl_err(XL_ERR_NOMEM, "out of memory (alignment table of %zu links)", total);
    for (size_t k = 0; k < c->n; k++) {
        const int32_t *s = c->src.v + c->src_off[k], *t = c->tgt.v + c->tgt_off[k];
        size_t ls = c->src_off[k + 1] - c->src_off[k], lt = c->tgt_off[k + 1] - c->tgt_off[k];
        if (!ls || !lt) continue;
        uint32_t *ix = m->idx + m->idx_off[k];
        for (size_t i = 0; i <= ls; i++) {
            for (size_t j = 0; j <= lt; j++) {
                if (i == ls && j == lt) {
                    ix[i * (lt + 1) + j] = NO_PAIR;
                    continue;
                }
                uint32_t si = i < ls ? (uint32_t)s[i] : NULL_ID, tj = j < lt ? (uint32_t)t[j] : NULL_ID;
                xl_status st = pair_add(m, make_key(si, tj), &cap, &ix[i * (lt + 1) + j]);
                if (st) return st;
            }
        }
    }
    return XL_OK;
}

/* Largest id on one side + 2 (room for NULL as the last slot). */
static size_t side_slots(const xl_ivec *v) {
    int32_t mx = -1;
    for (size_t i = 0; i < v->n; i++)
        if (v->v[i] > mx) mx = v->v[i];
    return (size_t)mx + 2;
}

/* One EM iteration of one direction. fwd = 1: t(tgt | src), target words generated by
 * the source words and NULL; fwd = 0: t(src | tgt). */
static void em_step(ib_model *m, int fwd, double *cnt, double *tot, size_t n_tot) {
    const ib_corpus *c = m->c;
    double *p = fwd ? m->pts : m->pst;
    memset(cnt, 0, m->n_pairs * sizeof *cnt);
    memset(tot, 0, n_tot * sizeof *tot);
    for (size_t k = 0; k < c->n; k++) {
        size_t ls = c->src_off[k + 1] - c->src_off[k], lt = c->tgt_off[k + 1] - c->tgt_off[k];
        if (!ls || !lt) continue;
        const uint32_t *ix = m->idx + m->idx_off[k];
        const int32_t *gen = fwd ? c->src.v + c->src_off[k] : c->tgt.v + c->tgt_off[k]; /* conditioning side */
        size_t ng = fwd ? ls : lt, no = fwd ? lt : ls; /* generating words, generated words */
        for (size_t o = 0; o < no; o++) {
            double den = 0;
            for (size_t g = 0; g <= ng; g++) den += p[fwd ? ix[g * (lt + 1) + o] : ix[o * (lt + 1) + g]];
            if (!(den > 0)) continue;
            for (size_t g = 0; g <= ng; g++) {
                uint32_t q = fwd ? ix[g * (lt + 1) + o] : ix[o * (lt + 1) + g];
                double post = p[q] / den;
                cnt[q] += post;
                tot[g < ng ? (size_t)gen[g] : n_tot - 1] += post;
            }
        }
    }
    for (size_t q = 0; q < m->n_pairs; q++) {
        uint32_t g = fwd ? (uint32_t)(m->key[q] >> 32) : (uint32_t)m->key[q];
        double t = tot[g == NULL_ID ? n_tot - 1 : g];
        p[q] = t > 0 ? cnt[q] / t : 0;
    }
}

xl_status ib_train(const ib_corpus *c, int iters, ib_model **out) {
    *out = NULL;
    ib_model *m = calloc(1, sizeof *m);
    if (!m) return xl_err(XL_ERR_NOMEM, "out of memory");
    m->c = c;
    xl_status st = build_pairs(m);
    size_t ns = side_slots(&c->src), nt = side_slots(&c->tgt);
    double *cnt = NULL, *tot = NULL;
    if (!st) {
        m->pts = malloc((m->n_pairs ? m->n_pairs : 1) * sizeof *m->pts);
        m->pst = malloc((m->n_pairs ? m->n_pairs : 1) * sizeof *m->pst);
        cnt = malloc((m->n_pairs ? m->n_pairs : 1) * sizeof *cnt);
        tot = malloc((ns > nt ? ns : nt) * sizeof *tot);
        if (!m->pts || !m->pst || !cnt || !tot) st = xl_err(XL_ERR_NOMEM, "out of memory (alignment table)");
    }
    if (!st) {
        /* uniform start: the first E step then spreads each word evenly */
        for (size_t q = 0; q < m->n_pairs; q++) m->pts[q] = m->pst[q] = 1.0;
        for (int it = 0; it < iters; it++) {
            em_step(m, 1, cnt, tot, ns);
            em_step(m, 0, cnt, tot, nt);
        }
    }
    free(cnt);
    free(tot);
    if (st) {
        ib_model_free(m);
        return st;
    }
    *out = m;
    return XL_OK;
}

double ib_prob_t_given_s(const ib_model *m, int32_t t, int32_t s) {
    uint32_t q = pair_find(m, make_key(s < 0 ? NULL_ID : (uint32_t)s, (uint32_t)t));
    return q == NO_PAIR ? 0 : m->pts[q];
}

double ib_prob_s_given_t(const ib_model *m, int32_t s, int32_t t) {
    uint32_t q = pair_find(m, make_key((uint32_t)s, t < 0 ? NULL_ID : (uint32_t)t));
    return q == NO_PAIR ? 0 : m->pst[q];
}

static int cmp_link(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

xl_status ib_align(const ib_corpus *c, size_t n_tgt, int iters, ib_links *out) {
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < c->tgt.n; i++)
        if (c->tgt.v[i] < 0 || (size_t)c->tgt.v[i] >= n_tgt) return xl_err(XL_ERR_ARG, "ib_align: target id %d out of range", c->tgt.v[i]);
    for (size_t i = 0; i < c->src.n; i++)
        if (c->src.v[i] < 0) return xl_err(XL_ERR_ARG, "ib_align: negative source id");
    ib_model *m;
    xl_status st = ib_train(c, iters, &m);
    if (st) return st;
    double *acc = calloc(m->n_pairs ? m->n_pairs : 1, sizeof *acc), *dbw = NULL;
    size_t n_dbw = 0;
    out->occ = calloc(n_tgt ? n_tgt : 1, sizeof *out->occ);
    out->n_tgt = n_tgt;
    if (!acc || !out->occ) st = xl_err(XL_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < c->n && !st; k++) {
        size_t ls = c->src_off[k + 1] - c->src_off[k], lt = c->tgt_off[k + 1] - c->tgt_off[k];
        const int32_t *t = c->tgt.v + c->tgt_off[k];
        for (size_t j = 0; j < lt; j++) out->occ[t[j]]++;
        if (!ls || !lt) continue;
        const uint32_t *ix = m->idx + m->idx_off[k];
        if (ls > n_dbw) {
            double *d = realloc(dbw, ls * sizeof *d);
            if (!d) {
                st = xl_err(XL_ERR_NOMEM, "out of memory");
                break;
            }
            dbw = d;
            n_dbw = ls;
        }
        for (size_t i = 0; i < ls; i++) { /* normaliser of source word i's posterior over the targets */
            dbw[i] = 0;
            for (size_t j = 0; j <= lt; j++) dbw[i] += m->pst[ix[i * (lt + 1) + j]];
        }
        for (size_t j = 0; j < lt; j++) {
            double den = 0;
            for (size_t i = 0; i <= ls; i++) den += m->pts[ix[i * (lt + 1) + j]];
            for (size_t i = 0; i < ls; i++) {
                uint32_t q = ix[i * (lt + 1) + j];
                double pf = den > 0 ? m->pts[q] / den : 0, pb = dbw[i] > 0 ? m->pst[q] / dbw[i] : 0;
                acc[q] += 0.5 * (pf + pb);
            }
        }
    }
    /* the links, target-major */
    uint64_t *order = NULL;
    size_t nl = 0;
    if (!st) {
        order = malloc((m->n_pairs ? m->n_pairs : 1) * sizeof *order);
        if (!order) st = xl_err(XL_ERR_NOMEM, "out of memory");
    }
    for (size_t q = 0; q < m->n_pairs && !st; q++) {
        uint32_t s = (uint32_t)(m->key[q] >> 32), tt = (uint32_t)m->key[q];
        if (s == NULL_ID || tt == NULL_ID || !(acc[q] > 0)) continue;
        order[nl++] = ((uint64_t)tt << 32) | s;
    }
    if (!st) {
        qsort(order, nl, sizeof *order, cmp_link);
        out->tgt = malloc((nl ? nl : 1) * sizeof *out->tgt);
        out->src = malloc((nl ? nl : 1) * sizeof *out->src);
        out->w = malloc((nl ? nl : 1) * sizeof *out->w);
        if (!out->tgt || !out->src || !out->w) st = xl_err(XL_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < nl && !st; i++) {
        out->tgt[i] = (int32_t)(order[i] >> 32);
        out->src[i] = (int32_t)(uint32_t)order[i];
        out->w[i] = acc[pair_find(m, make_key((uint32_t)out->src[i], (uint32_t)out->tgt[i]))];
    }
    out->n = nl;
    free(order);
    free(acc);
    free(dbw);
    ib_model_free(m);
    if (st) ib_links_free(out);
    return st;
}
