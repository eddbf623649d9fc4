/* The embedding pipeline: texts → (prompt) → tokens → truncation → length-sorted,
 * token-budgeted batches → transformer → pooling → Dense → Normalize → vectors in
 * input order. The same batches can also yield every layer's pooled hidden states. */
#include "embed/model_internal.h"
#include "embed/pooling.h"
#include "util/error.h"
#include "util/threads.h"
#include "util/utf8.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define DEFAULT_BATCH_TOKENS 8192
#define DEFAULT_BATCH_SIZE 32

void xl_embed_options_init(xl_embed_options *o) {
    memset(o, 0, sizeof *o);
    o->normalize = -1;
}

int xl_embed_dim(const xl_model *m, const xl_embed_options *o) {
    return o && o->dim > 0 && o->dim < m->dim ? o->dim : m->dim;
}

int xl_model_num_layer_outputs(const xl_model *m) { return m->ainfo.num_layers + 1; }

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

/* Pools, applies the head, truncates (Matryoshka) and normalizes one sequence's hidden
 * states into dst[out_dim]. full holds m->dim floats. */
static void finish_one(const xl_model *m, const xl_embed_options *o, const float *hidden, int len, int skip,
                       float *pooled, float *scratch, float *full, float *dst, int out_dim) {
    int H = m->ainfo.hidden_size;
    xl_pool(effective_pooling(m, o), hidden, len, H, m->st.include_prompt ? 0 : skip, pooled);
    if (m->st.n_dense) xl_dense_apply(m->st.dense, m->st.n_dense, pooled, full, scratch);
    else memcpy(full, pooled, (size_t)H * sizeof *full);
    int normalize = o && o->normalize >= 0 ? o->normalize : m->st.normalize;
    /* sentence-transformers' truncate_dim: cut the final vector, then normalize it. */
    memcpy(dst, full, (size_t)out_dim * sizeof *dst);
    if (normalize) xl_l2_normalize(dst, out_dim);
}

/* Where the layer callback writes the pooled hidden states of the current batch. */
typedef struct {
    const xl_model *m;
    const size_t *order;   /* batch row b is input order[b] */
    const int *lens;
    const int *skip;       /* prompt tokens to leave out of the mean, per batch row */
    float *mean, *last;    /* [n][L+1][H] or NULL */
    float *wmean;          /* position-weighted mean, [n][L+1][H] or NULL */
} layer_sink;

static void on_layer(void *ctx, int layer, const float *hidden, int B, int T, int H) {
    layer_sink *s = ctx;
    int L = s->m->ainfo.num_layers;
    /* transformers' convention: the last entry is after the final norm when there is one
     * (that callback comes as layer L + 1 and replaces block L's output). */
    int entry = layer > L ? L : layer;
    for (int b = 0; b < B; b++) {
        const float *h = hidden + (size_t)b * T * H;
        size_t at = (s->order[b] * (size_t)(L + 1) + (size_t)entry) * H;
        if (s->mean) xl_pool(XL_POOL_MEAN, h, s->lens[b], H, s->skip[b], s->mean + at);
        if (s->last) xl_pool(XL_POOL_LAST, h, s->lens[b], H, 0, s->last + at);
        if (s->wmean) xl_pool_weighted_mean(h, s->lens[b], H, s->skip[b], s->wmean + at);
    }
}

/* Runs the transformer over token sequences. out[n][xl_embed_dim] gets the embeddings
 * (may be NULL); mean/last get every layer's pooled states (may be NULL). */
static xl_status embed_sequences(xl_model *m, const int32_t *const *ids, const size_t *lens,
                                 const size_t *prompt_lens, size_t n, const xl_embed_options *o, float *out,
                                 float *mean, float *wmean, float *last) {
    if (n == 0) return XL_OK;
    int H = m->ainfo.hidden_size, out_dim = xl_embed_dim(m, o);
    int threads = o && o->threads > 0 ? xl_threads_for(o->threads) : m->threads;
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

    int max_dense = H > m->dim ? H : m->dim;
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
    int *blens = malloc(max_b * sizeof *blens), *bskip = malloc(max_b * sizeof *bskip);
    float *hidden = malloc(cap * (size_t)H * sizeof *hidden);
    float *pooled = malloc((size_t)H * sizeof *pooled);
    float *scratch = malloc(2 * (size_t)max_dense * sizeof *scratch);
    float *full = malloc((size_t)max_dense * sizeof *full);
    /* One run state for the batches of this call. */
    void *state = NULL;
    xl_status st = m->arch->state_new(m->impl, &state);
    if (st) goto done;
    if (!bids || !bmask || !blens || !bskip || !hidden || !pooled || !scratch || !full) {
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
            int skip = prompt_lens && !m->st.include_prompt ? (int)prompt_lens[i] : 0;
            bskip[b] = skip < blens[b] ? skip : 0;
        }
        xl_batch batch = {.B = (int)B, .T = (int)T, .ids = bids, .mask = bmask, .lens = blens};
        layer_sink sink = {.m = m, .order = order + start, .lens = blens, .skip = bskip, .mean = mean, .last = last, .wmean = wmean};
        /* multiply-adds of the batch's real tokens: ~4H² + 2HI per token and layer */
        double tokens = 0;
        for (size_t b = 0; b < B; b++) tokens += blens[b];
        double per_token = 4.0 * H * H + 2.0 * H * m->ainfo.intermediate_size;
        int bt_threads = xl_threads_for_work(threads, tokens * per_token * m->ainfo.num_layers);
        st = m->arch->forward(m->impl, state, &batch, hidden, (mean || last || wmean) ? on_layer : NULL, &sink, bt_threads);
        if (st) goto done;
        for (size_t b = 0; out && b < B; b++) {
            size_t i = order[start + b];
            finish_one(m, o, hidden + b * T * H, blens[b], bskip[b], pooled, scratch, full, out + i * (size_t)out_dim,
                       out_dim);
        }
        start += B;
        if (o && o->progress) o->progress(o->progress_ctx, start, n);
    }
done:
    if (state) m->arch->state_free(state);
    free(order); free(bids); free(bmask); free(blens); free(bskip); free(hidden); free(pooled); free(scratch); free(full);
    return st;
}

static xl_status unknown_prompt(const xl_model *m, const char *name) {
    char known[512] = "";
    for (int k = 0; k < m->st.n_prompts; k++) {
        if (k) strncat(known, ", ", sizeof known - strlen(known) - 1);
        strncat(known, m->st.prompt_names[k], sizeof known - strlen(known) - 1);
    }
    return xl_err(XL_ERR_ARG, "%s: no prompt named \"%s\" in config_sentence_transformers.json (known: %s)", m->dir,
                  name, m->st.n_prompts ? known : "none");
}

/* An instruction prompt "Instruct:<sp>TASK\nQuery:<rest>" → its parts, or 0. */
static int split_instruct(const char *p, size_t *task_at, size_t *task_end) {
    if (strncmp(p, "Instruct:", 9) != 0) return 0;
    size_t a = 9;
    while (p[a] == ' ') a++;
    const char *q = strstr(p + a, "\nQuery:");
    if (!q) return 0;
    *task_at = a;
    *task_end = (size_t)(q - p);
    return 1;
}

/* The text put before every input: --prefix, else an instruction built from --instruct,
 * else the named (or default) prompt. *owned is set when the result was allocated. */
static xl_status resolve_prefix(const xl_model *m, const xl_embed_options *o, const char **prefix, char **owned) {
    *prefix = NULL;
    *owned = NULL;
    if (o && o->prefix) { *prefix = o->prefix; return XL_OK; }
    if (o && o->instruct) {
        /* The folder's query prompt, when it is an instruction template, keeps its exact
         * spacing (Qwen3-Embedding has no space after "Query:", e5-mistral does). */
        const char *tmpl = NULL;
        if (o->prompt_name) {
            tmpl = xl_st_prompt(&m->st, o->prompt_name);
            if (!tmpl) return unknown_prompt(m, o->prompt_name);
        } else {
            tmpl = xl_st_prompt(&m->st, "query");
            size_t a, b;
            for (int k = 0; (!tmpl || !split_instruct(tmpl, &a, &b)) && k < m->st.n_prompts; k++)
                tmpl = m->st.prompt_texts[k];
        }
        size_t a, b, tl = strlen(o->instruct);
        if (tmpl && split_instruct(tmpl, &a, &b)) {
            size_t rest = strlen(tmpl + b);
            char *s = malloc(a + tl + rest + 1);
            if (!s) return xl_err(XL_ERR_NOMEM, "out of memory");
            memcpy(s, tmpl, a);
            memcpy(s + a, o->instruct, tl);
            memcpy(s + a + tl, tmpl + b, rest + 1);
            *prefix = *owned = s;
        } else {
            char *s = malloc(tl + 32);
            if (!s) return xl_err(XL_ERR_NOMEM, "out of memory");
            sprintf(s, "Instruct: %s\nQuery: ", o->instruct);
            *prefix = *owned = s;
        }
        return XL_OK;
    }
    const char *name = o && o->prompt_name ? o->prompt_name : m->st.default_prompt_name;
    if (!name) return XL_OK;
    const char *p = xl_st_prompt(&m->st, name);
    if (!p) return unknown_prompt(m, name);
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
        k += xl_utf8_encode(utf8proc_tolower(cp), o + k);
        i += n;
    }
    o[k] = '\0';
    *out_len = k;
    return o;
}

/* Texts → prompt + lowercase + tokens + truncation → embed_sequences. */
static xl_status run_texts(xl_model *m, const char *const *texts, const size_t *lens, size_t n,
                           const xl_embed_options *o, float *out, float *mean, float *wmean, float *last, size_t *n_truncated) {
    if (n_truncated) *n_truncated = 0;
    if (!m->tok)
        return xl_err(XL_ERR_ARG, "%s: the folder has no tokenizer.json; give token ids instead (JSONL \"input_ids\")", m->dir);
    const char *prefix;
    char *owned_prefix;
    size_t max_len = 0;
    xl_status st = resolve_prefix(m, o, &prefix, &owned_prefix);
    if (!st) st = max_length_for(m, o, &max_len);
    if (st) return st;
    size_t plen = prefix ? strlen(prefix) : 0;
    size_t prompt_tokens = 0;
    if (plen && !m->st.include_prompt) {
        /* sentence-transformers: prompt_length = len(tokenize(prompt)) - 1, i.e. the prompt's
         * tokens with the special tokens, minus the one it assumes trails the sequence. */
        xl_encoding pe;
        st = xl_tokenize(m->tok, prefix, plen, 1, &pe);
        if (st) { free(owned_prefix); return st; }
        prompt_tokens = pe.n ? pe.n - 1 : 0;
        xl_encoding_free(&pe);
    }
    size_t n1 = n ? n : 1;
    xl_encoding *enc = calloc(n1, sizeof *enc);
    const int32_t **ids = malloc(n1 * sizeof *ids);
    size_t *ilens = malloc(n1 * sizeof *ilens), *plens = malloc(n1 * sizeof *plens);
    char *joined = NULL;
    size_t joined_cap = 0, cut = 0, done_enc = 0;
    if (!enc || !ids || !ilens || !plens) { st = xl_err(XL_ERR_NOMEM, "out of memory"); goto done; }
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
        done_enc = i + 1;
        if (max_len && xl_encoding_truncate(&enc[i], max_len)) cut++;
        ids[i] = enc[i].ids;
        ilens[i] = enc[i].n;
        plens[i] = prompt_tokens;
    }
    st = embed_sequences(m, ids, ilens, prompt_tokens ? plens : NULL, n, o, out, mean, wmean, last);
    if (!st && n_truncated) *n_truncated = cut;
done:
    for (size_t i = 0; enc && i < done_enc; i++) xl_encoding_free(&enc[i]);
    free(enc); free(ids); free(ilens); free(plens); free(joined); free(owned_prefix);
    return st;
}

/* Token ids as given → range check + truncation → embed_sequences. */
static xl_status run_ids(xl_model *m, const int32_t *const *ids, const size_t *lens, size_t n,
                         const xl_embed_options *o, float *out, float *mean, float *wmean, float *last, size_t *n_truncated) {
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
    st = embed_sequences(m, ids, cl, NULL, n, o, out, mean, wmean, last);
    if (!st && n_truncated) *n_truncated = cut;
    free(cl);
    return st;
}

xl_status xl_embed_texts(xl_model *m, const char *const *texts, const size_t *lens, size_t n,
                         const xl_embed_options *o, float *out, size_t *n_truncated) {
    return run_texts(m, texts, lens, n, o, out, NULL, NULL, NULL, n_truncated);
}

xl_status xl_embed_ids(xl_model *m, const int32_t *const *ids, const size_t *lens, size_t n,
                       const xl_embed_options *o, float *out, size_t *n_truncated) {
    return run_ids(m, ids, lens, n, o, out, NULL, NULL, NULL, n_truncated);
}

xl_status xl_embed_texts_layers(xl_model *m, const char *const *texts, const size_t *lens, size_t n,
                                const xl_embed_options *o, float *mean, float *last, size_t *n_truncated) {
    return run_texts(m, texts, lens, n, o, NULL, mean, NULL, last, n_truncated);
}

xl_status xl_embed_texts_layers_weighted(xl_model *m, const char *const *texts, const size_t *lens, size_t n,
                                         const xl_embed_options *o, float *mean, float *wmean, float *last,
                                         size_t *n_truncated) {
    return run_texts(m, texts, lens, n, o, NULL, mean, wmean, last, n_truncated);
}

xl_status xl_embed_ids_layers(xl_model *m, const int32_t *const *ids, const size_t *lens, size_t n,
                              const xl_embed_options *o, float *mean, float *last, size_t *n_truncated) {
    return run_ids(m, ids, lens, n, o, NULL, mean, NULL, last, n_truncated);
}
