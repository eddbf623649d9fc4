/* The embedding pipeline: texts → (prompt) → tokens → truncation → length-sorted,
 * token-budgeted batches → transformer → pooling → Dense → Normalize → vectors in
 * input order. */
#include "embed/model_internal.h"
#include "embed/pooling.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "util/utf8.h"

#define DEFAULT_BATCH_TOKENS 8192
#define DEFAULT_BATCH_SIZE 32

void xl_embed_options_init(xl_embed_options *o) {
    memset(o, 0, sizeof *o);
    o->normalize = -1;
}

/* Longest first, then input order: stable and deterministic. */
static int by_length_desc(const void *a, const void *b, void *ctx) {
    const size_t *sort_lens = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (sort_lens[i] != sort_lens[j]) return sort_lens[i] > sort_lens[j] ? -1 : 1;
    return i < j ? -1 : (i > j);
}

static xl_pooling effective_pooling(const xl_model *m, const xl_embed_options *o) {
    return o && o->pooling != XL_POOL_DEFAULT ? o->pooling : m->st.pooling;
}

/* Pools, applies the head and normalizes one sequence's hidden states into dst. */
static void finish_one(const xl_model *m, const xl_embed_options *o, const float *hidden, int len,
                       int skip, float *pooled, float *scratch, float *dst) {
    int H = m->ainfo.hidden_size;
    xl_pool(effective_pooling(m, o), hidden, len, H, m->st.include_prompt ? 0 : skip, pooled);
    if (m->st.n_dense) xl_dense_apply(m->st.dense, m->st.n_dense, pooled, dst, scratch);
    else memcpy(dst, pooled, (size_t)H * sizeof *dst);
    int normalize = o && o->normalize >= 0 ? o->normalize : m->st.normalize;
    if (normalize) xl_l2_normalize(dst, m->dim);
}

xl_status xl_model_embed_sequences(xl_model *m, const int32_t *const *ids, const size_t *lens,
                                   const size_t *prompt_lens, size_t n, const xl_embed_options *o,
                                   float *out) {
    if (n == 0) return XL_OK;
    int H = m->ainfo.hidden_size;
    int threads = o && o->threads > 0 ? o->threads : m->threads;
    size_t budget = o && o->batch_tokens > 0 ? (size_t)o->batch_tokens : DEFAULT_BATCH_TOKENS;
    size_t batch_size = o && o->batch_size > 0 ? (size_t)o->batch_size : DEFAULT_BATCH_SIZE;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] == 0)
            return xl_err(XL_ERR_INPUT, "input %zu has no tokens (the tokenizer adds no special tokens to an empty text)", i + 1);
        if (lens[i] > (size_t)1 << 30) return xl_err(XL_ERR_INPUT, "input %zu is too long (%zu tokens)", i + 1, lens[i]);
    }
    size_t *order = malloc(n * sizeof *order);
    if (!order) return xl_err(XL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) order[i] = i;
    qsort_r(order, n, sizeof *order, by_length_desc, (void *)lens);

    int max_dense = H;
    for (int k = 0; k < m->st.n_dense; k++)
        if (m->st.dense[k].out_features > max_dense) max_dense = m->st.dense[k].out_features;
    size_t longest = lens[order[0]];
    size_t max_b = batch_size < n ? batch_size : n;
    /* Every batch holds B <= max_b sequences of T <= longest tokens with B*T within the
     * budget (a single sequence longer than the budget runs alone). */
    size_t cap = max_b * longest < budget ? max_b * longest : budget;
    if (cap < longest) cap = longest;
    int32_t *bids = malloc(cap * sizeof *bids);
    uint8_t *bmask = malloc(cap);
    int *blens = malloc(max_b * sizeof *blens);
    float *hidden = malloc(cap * (size_t)H * sizeof *hidden);
    float *pooled = malloc((size_t)H * sizeof *pooled);
    float *scratch = malloc(2 * (size_t)max_dense * sizeof *scratch);
    xl_status st = XL_OK;
    if (!bids || !bmask || !blens || !hidden || !pooled || !scratch) {
        st = xl_err(XL_ERR_NOMEM, "out of memory for a batch of %zu tokens", cap);
        goto done;
    }
    for (size_t start = 0; start < n;) {
        /* Sequences are sorted longest first, so the first one fixes the padded width. */
        size_t T = lens[order[start]];
        size_t B = budget / T ? budget / T : 1;
        if (B > max_b) B = max_b;
        if (B > n - start) B = n - start;
        memset(bmask, 0, B * T);
        for (size_t b = 0; b < B; b++) {
            size_t i = order[start + b];
            memcpy(bids + b * T, ids[i], lens[i] * sizeof *bids);
            for (size_t t = lens[i]; t < T; t++) bids[b * T + t] = 0;
            memset(bmask + b * T, 1, lens[i]);
            blens[b] = (int)lens[i];
        }
        xl_batch batch = {.B = (int)B, .T = (int)T, .ids = bids, .mask = bmask, .lens = blens};
        st = m->arch->forward(m->impl, &batch, hidden, NULL, NULL, threads);
        if (st) goto done;
        for (size_t b = 0; b < B; b++) {
            size_t i = order[start + b];
            int skip = prompt_lens ? (int)prompt_lens[i] : 0;
            finish_one(m, o, hidden + b * T * H, blens[b], skip, pooled, scratch, out + i * (size_t)m->dim);
        }
        start += B;
        if (o && o->progress) o->progress(o->progress_ctx, start, n);
    }
done:
    free(order); free(bids); free(bmask); free(blens); free(hidden); free(pooled); free(scratch);
    return st;
}

static xl_status resolve_prefix(const xl_model *m, const xl_embed_options *o, const char **prefix) {
    *prefix = NULL;
    if (o && o->prefix) { *prefix = o->prefix; return XL_OK; }
    const char *name = o && o->prompt_name ? o->prompt_name : m->st.default_prompt_name;
    if (!name) return XL_OK;
    const char *p = xl_st_prompt(&m->st, name);
    if (!p) {
        char known[512] = "";
        for (int k = 0; k < m->st.n_prompts; k++) {
            if (k) strncat(known, ", ", sizeof known - strlen(known) - 1);
            strncat(known, m->st.prompt_names[k], sizeof known - strlen(known) - 1);
        }
        return xl_err(XL_ERR_ARG, "%s: no prompt named \"%s\" in config_sentence_transformers.json (known: %s)",
                      m->dir, name, m->st.n_prompts ? known : "none");
    }
    *prefix = p;
    return XL_OK;
}

static xl_status max_length_for(const xl_model *m, const xl_embed_options *o, size_t *max_len) {
    size_t limit = m->max_seq_length > 0 ? (size_t)m->max_seq_length : 0;
    if (o && o->max_length > 0) {
        if (m->ainfo.max_tokens > 0 && o->max_length > m->ainfo.max_tokens)
            return xl_err(XL_ERR_ARG, "max length %d exceeds what the model's position table allows (%d)",
                          o->max_length, m->ainfo.max_tokens);
        limit = (size_t)o->max_length;
    }
    *max_len = limit;
    return XL_OK;
}

/* sentence-transformers' do_lower_case: str.lower() on the text before tokenizing
 * (per code point simple lowercase mapping; invalid bytes are left to the tokenizer's
 * repair). Returns a malloc'd copy. */
static char *lowercase_copy(const char *s, size_t len, size_t *out_len) {
    /* A simple lowercase mapping at most grows a character from 2 to 3 bytes. */
    char *o = malloc(len * 2 + 4);
    if (!o) return NULL;
    size_t k = 0, i = 0;
    const unsigned char *u = (const unsigned char *)s;
    while (i < len) {
        size_t n = xl_utf8_valid_len(u + i, len - i);
        if (!n) { o[k++] = s[i++]; continue; }
        size_t cl;
        int32_t cp = xl_utf8_decode(u + i, &cl);
        int32_t lc = utf8proc_tolower(cp);
        char tmp[4];
        size_t m = xl_utf8_encode(lc, tmp);
        if (m > 2 * n) m = xl_utf8_encode(cp, tmp); /* keep the bound: never grow past 2x */
        memcpy(o + k, tmp, m);
        k += m;
        i += n;
    }
    o[k] = '\0';
    *out_len = k;
    return o;
}

static void free_encodings(xl_encoding *enc, size_t n) {
    for (size_t i = 0; i < n; i++) xl_encoding_free(&enc[i]);
    free(enc);
}

xl_status xl_embed_texts(xl_model *m, const char *const *texts, const size_t *lens, size_t n,
                         const xl_embed_options *o, float *out, size_t *n_truncated) {
    if (n_truncated) *n_truncated = 0;
    if (!m->tok)
        return xl_err(XL_ERR_ARG, "%s: the folder has no tokenizer.json; give token ids instead (JSONL \"input_ids\")", m->dir);
    const char *prefix;
    size_t max_len = 0;
    xl_status st = resolve_prefix(m, o, &prefix);
    if (!st) st = max_length_for(m, o, &max_len);
    if (st) return st;
    size_t plen = prefix ? strlen(prefix) : 0;
    size_t prompt_tokens = 0;
    if (prefix && plen && !m->st.include_prompt) {
        /* sentence-transformers: prompt_length = len(tokenize(prompt)) - 1, i.e. the prompt's
         * tokens with the special tokens, minus the one it assumes trails the sequence. */
        xl_encoding pe;
        st = xl_tokenize(m->tok, prefix, plen, 1, &pe);
        if (st) return st;
        prompt_tokens = pe.n ? pe.n - 1 : 0;
        xl_encoding_free(&pe);
    }
    xl_encoding *enc = calloc(n ? n : 1, sizeof *enc);
    const int32_t **ids = malloc((n ? n : 1) * sizeof *ids);
    size_t *ilens = malloc((n ? n : 1) * sizeof *ilens);
    size_t *plens = malloc((n ? n : 1) * sizeof *plens);
    char *joined = NULL;
    size_t joined_cap = 0;
    if (!enc || !ids || !ilens || !plens) { st = xl_err(XL_ERR_NOMEM, "out of memory"); goto done; }
    size_t cut = 0;
    for (size_t i = 0; i < n; i++) {
        const char *text = texts[i];
        size_t tlen = lens ? lens[i] : strlen(texts[i]);
        if (plen) {
            if (plen + tlen + 1 > joined_cap) {
                joined_cap = (plen + tlen + 1) * 2;
                char *p = realloc(joined, joined_cap);
                if (!p) { st = xl_err(XL_ERR_NOMEM, "out of memory"); goto done; }
                joined = p;
            }
            memcpy(joined, prefix, plen);
            memcpy(joined + plen, text, tlen);
            joined[plen + tlen] = '\0';
            text = joined;
            tlen += plen;
        }
        char *lower = NULL;
        if (m->st.do_lower_case) {
            lower = lowercase_copy(text, tlen, &tlen);
            if (!lower) { st = xl_err(XL_ERR_NOMEM, "out of memory"); goto done; }
            text = lower;
        }
        st = xl_tokenize(m->tok, text, tlen, 1, &enc[i]);
        free(lower);
        if (st) { xl_err_prefix("input %zu", i + 1); goto done; }
        if (max_len && xl_encoding_truncate(&enc[i], max_len)) cut++;
        ids[i] = enc[i].ids;
        ilens[i] = enc[i].n;
        plens[i] = prompt_tokens;
    }
    st = xl_model_embed_sequences(m, ids, ilens, prompt_tokens ? plens : NULL, n, o, out);
    if (!st && n_truncated) *n_truncated = cut;
done:
    if (enc) free_encodings(enc, n);
    free(ids); free(ilens); free(plens); free(joined);
    return st;
}

xl_status xl_embed_ids(xl_model *m, const int32_t *const *ids, const size_t *lens, size_t n,
                       const xl_embed_options *o, float *out, size_t *n_truncated) {
    if (n_truncated) *n_truncated = 0;
    size_t max_len = 0;
    xl_status st = max_length_for(m, o, &max_len);
    if (st) return st;
    size_t *cl = malloc((n ? n : 1) * sizeof *cl);
    if (!cl) return xl_err(XL_ERR_NOMEM, "out of memory");
    size_t cut = 0;
    for (size_t i = 0; i < n; i++) {
        cl[i] = lens[i];
        if (max_len && cl[i] > max_len) { cl[i] = max_len; cut++; }
        for (size_t t = 0; t < cl[i]; t++) {
            if (ids[i][t] < 0 || ids[i][t] >= m->ainfo.vocab_size) {
                free(cl);
                return xl_err(XL_ERR_INPUT, "input %zu: token id %d at position %zu is outside the vocabulary [0, %d)",
                              i + 1, ids[i][t], t, m->ainfo.vocab_size);
            }
        }
    }
    st = xl_model_embed_sequences(m, ids, cl, NULL, n, o, out);
    if (!st && n_truncated) *n_truncated = cut;
    free(cl);
    return st;
}
