/* Long documents (xling.h, "long documents (chunking)"): each text's tokens are cut
 * into windows, every window gets the prompt and the special tokens, and the windows of
 * all texts run through one xl_run (length-sorted, token-budgeted batches); the window
 * vectors are combined per text (mean weighted by text tokens, max, first). Late
 * chunking runs one forward per text and pools each window's rows of it. A text that
 * fits one window takes the plain xl_prepare_texts path, so its vector is bit-identical
 * to xl_embed_texts. */
#include "embed/model_internal.h"
#include "embed/pooling.h"
#include "util/error.h"
#include "util/utf8.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

void xl_chunk_options_init(xl_chunk_options *o) {
    memset(o, 0, sizeof *o);
    o->size = 512;
    o->pooling = XL_CHUNK_POOL_MEAN;
}

static int options_valid(const xl_chunk_options *o) {
    return o && o->size >= 1 && o->overlap >= 0 && o->overlap < o->size &&
           (o->pooling == XL_CHUNK_POOL_MEAN || o->pooling == XL_CHUNK_POOL_MAX || o->pooling == XL_CHUNK_POOL_FIRST);
}

size_t xl_chunk_windows(size_t n_tokens, const xl_chunk_options *o, size_t *starts, size_t *ends) {
    if (!options_valid(o)) return 0;
    size_t size = (size_t)o->size, step = size - (size_t)o->overlap, k = 0;
    for (size_t s = 0;; s += step) {
        size_t e = s + size < n_tokens ? s + size : n_tokens;
        if (starts) starts[k] = s;
        if (ends) ends[k] = e;
        k++;
        if (e >= n_tokens) break;
    }
    return k;
}

void xl_chunk_outputs_free(xl_chunk_outputs *o) {
    if (!o) return;
    for (size_t i = 0; o->error && i < o->n; i++) free(o->error[i]);
    free(o->status); free(o->error); free(o->embeddings); free(o->chunks); free(o->chunk_embeddings); free(o->first);
    memset(o, 0, sizeof *o);
}

/* One text's plan: its encoding (special tokens of the post-processor at both ends,
 * the text's own tokens in [a, b)), the prompt tokens that go before every window, and
 * which sequences of the run are its windows. */
typedef struct {
    xl_encoding enc;        /* with byte offsets into the caller's text */
    size_t a, b;
    int32_t *prompt;
    size_t n_prompt;
    int plain;              /* fits one window: prepared as xl_prepare_texts does */
    size_t n_win, seq0, n_seq;
    size_t *ws, *we;        /* window spans among the text's tokens */
} plan;

static void plan_free(plan *p) {
    xl_encoding_free(&p->enc);
    free(p->prompt); free(p->ws); free(p->we);
}

static void text_failed(xl_chunk_outputs *out, size_t i, xl_status st, const char *msg) {
    if (out->status[i]) return;
    out->status[i] = st;
    out->error[i] = strdup(msg && *msg ? msg : xl_status_name(st));
    out->n_failed++;
}

/* The text (lowercased when the folder says so) into *buf; NULL when out of memory. */
static const char *text_for(const xl_model *m, const char *t, size_t len, char **buf, size_t *out_len) {
    *out_len = len;
    if (!m->st.do_lower_case) return t;
    free(*buf);
    *buf = xl_lowercase(t, len, out_len);
    return *buf;
}

/* Token offsets into the lowercased copy (low_len bytes) of s[0..len) moved back to s:
 * xl_lowercase maps code point by code point (a few change their UTF-8 length, as
 * U+0130 -> "i"), invalid bytes stay as they are. */
static xl_status offsets_to_original(const char *s, size_t len, size_t low_len, xl_encoding *enc) {
    if (low_len == len) return XL_OK; /* same lengths: the same boundaries */
    size_t *map = malloc((low_len + 1) * sizeof *map), i = 0, k = 0;
    if (!map) return xl_err(XL_ERR_NOMEM, "out of memory");
    const unsigned char *u = (const unsigned char *)s;
    char tmp[8];
    while (i < len) {
        size_t n = xl_utf8_valid_len(u + i, len - i), out = 1, cl;
        if (n) out = xl_utf8_encode(utf8proc_tolower(xl_utf8_decode(u + i, &cl)), tmp);
        else n = 1;
        for (size_t b = 0; b < out && k < low_len; b++) map[k++] = i;
        i += n;
    }
    while (k <= low_len) map[k++] = len;
    for (size_t t = 0; t < 2 * enc->n; t++)
        if (enc->offsets[t] <= low_len) enc->offsets[t] = (uint32_t)map[enc->offsets[t]];
    free(map);
    return XL_OK;
}

/* The prompt tokens as they come in front of this text: prefix + text tokenized
 * together, less the text's own tokens, when they end the joint tokens; else (the two
 * merged at the boundary) the prompt tokenized alone. */
static xl_status prompt_tokens(const xl_model *m, const char *prefix, size_t plen, const char *text, size_t tlen,
                               const plan *p, const xl_encoding *alone, int32_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    if (!plen) return XL_OK;
    char *joint = malloc(plen + tlen + 1);
    if (!joint) return xl_err(XL_ERR_NOMEM, "out of memory");
    memcpy(joint, prefix, plen);
    memcpy(joint + plen, text, tlen);
    xl_encoding je;
    xl_status st = xl_tokenize(m->tok, joint, plen + tlen, 0, &je);
    free(joint);
    if (st) return st;
    size_t nt = p->b - p->a;
    const int32_t *src = alone->ids;
    size_t count = alone->n;
    if (je.n >= nt && !memcmp(je.ids + (je.n - nt), p->enc.ids + p->a, nt * sizeof *je.ids)) {
        src = je.ids;
        count = je.n - nt;
    }
    *ids = malloc((count ? count : 1) * sizeof **ids);
    if (!*ids) st = xl_err(XL_ERR_NOMEM, "out of memory");
    else if (count) memcpy(*ids, src, count * sizeof **ids);
    *n = count;
    xl_encoding_free(&je);
    return st;
}

/* The sequence of window [s, e) of p: leading specials, prompt, tokens, trailing specials. */
static xl_status window_sequence(const plan *p, size_t s, size_t e, size_t prompt_len, xl_sequence *q) {
    size_t lead = p->a, trail = p->enc.n - p->b, len = lead + p->n_prompt + (e - s) + trail;
    q->ids = malloc((len ? len : 1) * sizeof *q->ids);
    if (!q->ids) return xl_err(XL_ERR_NOMEM, "out of memory");
    int32_t *w = q->ids;
    memcpy(w, p->enc.ids, lead * sizeof *w);
    w += lead;
    if (p->n_prompt) memcpy(w, p->prompt, p->n_prompt * sizeof *w);
    w += p->n_prompt;
    memcpy(w, p->enc.ids + p->a + s, (e - s) * sizeof *w);
    w += e - s;
    memcpy(w, p->enc.ids + p->b, trail * sizeof *w);
    q->n = len;
    q->prompt_len = prompt_len;
    return XL_OK;
}

/* Tokenizes every text and decides its windows and sequences. */
static xl_status plan_texts(const xl_model *m, const char *const *texts, const size_t *lens, size_t n,
                            const xl_chunk_options *co, const char *prefix, size_t plen, const xl_encoding *alone,
                            size_t limit, plan *plans, xl_chunk_outputs *out) {
    char *buf = NULL;
    xl_status st = XL_OK;
    for (size_t i = 0; i < n && !st; i++) {
        plan *p = &plans[i];
        if (!texts[i]) { text_failed(out, i, xl_err(XL_ERR_ARG, "text is NULL"), xl_last_error()); continue; }
        size_t tlen;
        const char *t = text_for(m, texts[i], lens ? lens[i] : strlen(texts[i]), &buf, &tlen);
        if (!t) { st = xl_err(XL_ERR_NOMEM, "out of memory"); break; }
        xl_status ist = xl_tokenize_offsets(m->tok, t, tlen, 1, &p->enc);
        if (!ist && t != texts[i]) ist = offsets_to_original(texts[i], lens ? lens[i] : strlen(texts[i]), tlen, &p->enc);
        if (ist == XL_ERR_NOMEM) { st = ist; break; }
        if (ist) { text_failed(out, i, ist, xl_last_error()); continue; }
        while (p->a < p->enc.n && p->enc.special[p->a]) p->a++;
        p->b = p->enc.n;
        while (p->b > p->a && p->enc.special[p->b - 1]) p->b--;
        size_t nt = p->b - p->a;
        if (!co->late && nt <= (size_t)co->size) {
            p->plain = 1;
            p->n_seq = 1;
        } else if ((st = prompt_tokens(m, prefix, plen, t, tlen, p, alone, &p->prompt, &p->n_prompt))) {
            if (st == XL_ERR_NOMEM) break;
            text_failed(out, i, st, xl_last_error());
            st = XL_OK;
            continue;
        }
        size_t extra = p->enc.n - nt + p->n_prompt;
        if (co->late) {
            if (!nt) {
                text_failed(out, i, XL_ERR_INPUT, "has no tokens to chunk (late chunking pools text tokens)");
                continue;
            }
            if (limit && nt + extra > limit) {
                xl_err(XL_ERR_INPUT,
                       "%zu tokens with the special tokens and the prompt; late chunking needs the whole text in one "
                       "forward and this model takes at most %zu (max_seq_length, --max-length, position table)",
                       nt + extra, limit);
                text_failed(out, i, XL_ERR_INPUT, xl_last_error());
                continue;
            }
            p->n_seq = 1;
        } else if (!p->plain && limit && (size_t)co->size + extra > limit) {
            xl_err(XL_ERR_INPUT, "windows of %d tokens with %zu special and prompt tokens exceed the model's %zu",
                   co->size, extra, limit);
            text_failed(out, i, XL_ERR_INPUT, xl_last_error());
            continue;
        }
        p->n_win = xl_chunk_windows(nt, co, NULL, NULL);
        p->ws = malloc(p->n_win * sizeof *p->ws);
        p->we = malloc(p->n_win * sizeof *p->we);
        if (!p->ws || !p->we) { st = xl_err(XL_ERR_NOMEM, "out of memory"); break; }
        xl_chunk_windows(nt, co, p->ws, p->we);
        if (!p->n_seq) p->n_seq = p->n_win;
    }
    free(buf);
    return st;
}

/* Builds the run's sequences: the plain texts through xl_prepare_texts, the windows
 * (or, late, the whole text) by hand. */
static xl_status build_sequences(const xl_model *m, const char *const *texts, const size_t *lens, size_t n,
                                 const xl_embed_options *eo, const xl_chunk_options *co, size_t prompt_len,
                                 plan *plans, const xl_chunk_outputs *out, xl_sequence *seqs) {
    size_t n_plain = 0;
    for (size_t i = 0; i < n; i++) n_plain += !out->status[i] && plans[i].plain;
    if (n_plain) {
        const char **pt = malloc(n_plain * sizeof *pt);
        size_t *pl = malloc(n_plain * sizeof *pl), k = 0;
        xl_sequence *ps = NULL;
        xl_status st = pt && pl ? XL_OK : xl_err(XL_ERR_NOMEM, "out of memory");
        for (size_t i = 0; !st && i < n; i++)
            if (!out->status[i] && plans[i].plain) {
                pt[k] = texts[i];
                pl[k++] = lens ? lens[i] : strlen(texts[i]);
            }
        if (!st) st = xl_prepare_texts(m, pt, pl, NULL, NULL, n_plain, eo, &ps);
        k = 0;
        for (size_t i = 0; !st && i < n; i++)
            if (!out->status[i] && plans[i].plain) seqs[plans[i].seq0] = ps[k++]; /* arrays move */
        free(ps); free(pt); free(pl);
        if (st) return st;
    }
    for (size_t i = 0; i < n; i++) {
        plan *p = &plans[i];
        if (out->status[i] || p->plain) continue;
        xl_status st = XL_OK;
        if (co->late) st = window_sequence(p, 0, p->b - p->a, prompt_len, &seqs[p->seq0]);
        for (size_t k = 0; !co->late && !st && k < p->n_win; k++)
            st = window_sequence(p, p->ws[k], p->we[k], prompt_len, &seqs[p->seq0 + k]);
        if (st) return st;
    }
    return XL_OK;
}

/* Mean of rows [s, e) of hidden[.][H], then the folder's Dense modules, the dim cut and
 * the normalization: one late chunk's vector. */
static void late_vector(const xl_model *m, const xl_embed_options *eo, const float *hidden, size_t s, size_t e,
                        float *pooled, float *full, float *scratch, float *dst, int dim) {
    int H = m->ainfo.hidden_size;
    memset(pooled, 0, (size_t)H * sizeof *pooled);
    for (size_t t = s; t < e; t++)
        for (int j = 0; j < H; j++) pooled[j] += hidden[t * H + j];
    for (int j = 0; j < H; j++) pooled[j] /= (float)(e - s);
    if (m->st.n_dense) xl_dense_apply(m->st.dense, m->st.n_dense, pooled, full, scratch);
    else memcpy(full, pooled, (size_t)H * sizeof *full);
    memcpy(dst, full, (size_t)dim * sizeof *dst);
    if (eo && eo->normalize >= 0 ? eo->normalize : m->st.normalize) xl_l2_normalize(dst, dim);
}

/* Text i's combined vector from its window vectors e[n_win][dim] (acc: dim doubles). */
static void combine(const plan *p, const xl_chunk_options *co, int normalize, const float *e, int dim, double *acc,
                    float *dst) {
    if (co->pooling == XL_CHUNK_POOL_FIRST || p->n_win == 1) {
        memcpy(dst, e, (size_t)dim * sizeof *dst);
        return;
    }
    if (co->pooling == XL_CHUNK_POOL_MAX) {
        memcpy(dst, e, (size_t)dim * sizeof *dst);
        for (size_t k = 1; k < p->n_win; k++)
            for (int j = 0; j < dim; j++)
                if (e[k * dim + j] > dst[j]) dst[j] = e[k * dim + j];
    } else {
        /* weights: each window's text tokens (double sums: thousands of windows) */
        double total = 0;
        for (int j = 0; j < dim; j++) acc[j] = 0;
        for (size_t k = 0; k < p->n_win; k++) total += (double)(p->we[k] - p->ws[k]);
        for (size_t k = 0; k < p->n_win; k++) {
            double w = (double)(p->we[k] - p->ws[k]) / total;
            for (int j = 0; j < dim; j++) acc[j] += w * e[k * dim + j];
        }
        for (int j = 0; j < dim; j++) dst[j] = (float)acc[j];
    }
    if (normalize) xl_l2_normalize(dst, dim);
}

xl_status xl_embed_chunked(xl_context *ctx, const char *const *texts, const size_t *lens, size_t n,
                           const xl_embed_options *eo, const xl_chunk_options *co, xl_chunk_outputs *out) {
    if (!out) return xl_err(XL_ERR_ARG, "xl_embed_chunked: out is NULL");
    memset(out, 0, sizeof *out);
    if (!ctx) return xl_err(XL_ERR_ARG, "xl_embed_chunked: context is NULL");
    if (n && !texts) return xl_err(XL_ERR_ARG, "xl_embed_chunked: texts is NULL");
    if (!co || co->size < 1) return xl_err(XL_ERR_ARG, "chunk size must be at least 1 token");
    if (co->overlap < 0 || co->overlap >= co->size)
        return xl_err(XL_ERR_ARG, "chunk overlap %d must be at least 0 and below the chunk size %d", co->overlap, co->size);
    if (!options_valid(co)) return xl_err(XL_ERR_ARG, "unknown chunk pooling %d", (int)co->pooling);
    const xl_model *m = ctx->m;
    if (!m->tok) return xl_err(XL_ERR_ARG, "%s: the folder has no tokenizer.json; chunking needs one", m->dir);

    const char *prefix;
    char *owned = NULL, *lower = NULL;
    size_t limit = 0, plen = 0, prompt_len = 0;
    xl_encoding alone = {0};
    xl_status st = xl_prompt_prefix(m, eo, &prefix, &owned);
    if (!st) st = xl_length_limit(m, eo, &limit);
    if (!st && m->ainfo.max_tokens > 0 && (!limit || limit > (size_t)m->ainfo.max_tokens)) limit = (size_t)m->ainfo.max_tokens;
    if (!st && prefix && *prefix) {
        plen = strlen(prefix);
        if (m->st.do_lower_case) {
            if (!(lower = xl_lowercase(prefix, plen, &plen))) st = xl_err(XL_ERR_NOMEM, "out of memory");
            prefix = lower;
        }
        if (!st) st = xl_tokenize(m->tok, prefix, plen, 0, &alone);
        if (!st && !m->st.include_prompt) {
            /* as xl_prepare_texts: sentence-transformers' prompt_length */
            xl_encoding pe;
            if (!(st = xl_tokenize(m->tok, prefix, plen, 1, &pe))) prompt_len = pe.n ? pe.n - 1 : 0;
            xl_encoding_free(&pe);
        }
    }
    size_t n_special = xl_tokenizer_num_special(m->tok, 0);
    if (!st && !co->late && limit && (size_t)co->size + n_special + alone.n > limit)
        st = xl_err(XL_ERR_ARG, "chunk size %d with %zu special and %zu prompt tokens exceeds the %zu tokens the model takes",
                    co->size, n_special, alone.n, limit);
    int dim = xl_embed_dim(m, eo), H = m->ainfo.hidden_size;
    plan *plans = NULL;
    xl_sequence *seqs = NULL;
    size_t n_seq = 0, n1 = n ? n : 1;
    xl_outputs ro = {0};
    if (!st) {
        out->n = n;
        out->dim = dim;
        out->status = calloc(n1, sizeof *out->status);
        out->error = calloc(n1, sizeof *out->error);
        out->first = calloc(n + 1, sizeof *out->first);
        if (!co->late) out->embeddings = calloc(n1 * (size_t)dim, sizeof *out->embeddings);
        plans = calloc(n1, sizeof *plans);
        if (!out->status || !out->error || !out->first || (!co->late && !out->embeddings) || !plans)
            st = xl_err(XL_ERR_NOMEM, "out of memory for %zu texts", n);
    }
    if (!st) st = plan_texts(m, texts, lens, n, co, prefix, plen, &alone, limit, plans, out);
    if (!st) {
        for (size_t i = 0; i < n; i++)
            if (!out->status[i]) { plans[i].seq0 = n_seq; n_seq += plans[i].n_seq; }
        seqs = calloc(n_seq ? n_seq : 1, sizeof *seqs);
        if (!seqs) st = xl_err(XL_ERR_NOMEM, "out of memory for %zu windows", n_seq);
    }
    if (!st) st = build_sequences(m, texts, lens, n, eo, co, prompt_len, plans, out, seqs);
    if (!st) st = xl_run(ctx, seqs, n_seq, co->late ? XL_OUT_TOKENS : XL_OUT_EMBEDDING, eo, &ro);
    xl_status run_st = st;
    if (st == XL_ERR_CANCELLED) st = XL_OK;

    /* Windows of the texts that ran; a failed window fails its text. */
    size_t n_chunks = 0;
    for (size_t i = 0; !st && i < n; i++) {
        plan *p = &plans[i];
        for (size_t k = 0; !out->status[i] && k < p->n_seq; k++) {
            size_t q = p->seq0 + k;
            if (!ro.status[q]) continue;
            if (p->n_seq > 1) {
                xl_err(ro.status[q], "window %zu: %s", k + 1, ro.error[q]);
                text_failed(out, i, ro.status[q], xl_last_error());
            } else text_failed(out, i, ro.status[q], ro.error[q]);
        }
        if (!out->status[i]) n_chunks += p->n_win;
    }
    if (!st) {
        out->chunks = calloc(n_chunks ? n_chunks : 1, sizeof *out->chunks);
        out->chunk_embeddings = calloc((n_chunks ? n_chunks : 1) * (size_t)dim, sizeof *out->chunk_embeddings);
        if (!out->chunks || !out->chunk_embeddings) st = xl_err(XL_ERR_NOMEM, "out of memory for %zu windows", n_chunks);
    }
    int max_dense = H > m->dim ? H : m->dim;
    for (int d = 0; d < m->st.n_dense; d++)
        if (m->st.dense[d].out_features > max_dense) max_dense = m->st.dense[d].out_features;
    float *pooled = malloc((size_t)H * sizeof *pooled), *full = malloc((size_t)max_dense * sizeof *full);
    float *scratch = malloc(2 * (size_t)max_dense * sizeof *scratch);
    double *acc = malloc((size_t)dim * sizeof *acc);
    if (!st && (!pooled || !full || !scratch || !acc)) st = xl_err(XL_ERR_NOMEM, "out of memory");
    int normalize = eo && eo->normalize >= 0 ? eo->normalize : m->st.normalize;
    size_t c = 0;
    for (size_t i = 0; !st && i < n; i++) {
        plan *p = &plans[i];
        out->first[i] = c;
        if (out->status[i]) continue;
        float *e = out->chunk_embeddings + c * (size_t)dim;
        for (size_t k = 0; k < p->n_win; k++) {
            xl_chunk_span *sp = &out->chunks[c + k];
            sp->input = i;
            sp->index = k;
            sp->token_start = p->ws[k];
            sp->token_end = p->we[k];
            if (p->we[k] > p->ws[k]) {
                sp->byte_start = p->enc.offsets[2 * (p->a + p->ws[k])];
                sp->byte_end = p->enc.offsets[2 * (p->a + p->we[k] - 1) + 1];
            }
            if (co->late)
                late_vector(m, eo, ro.tokens[p->seq0], p->a + p->n_prompt + p->ws[k], p->a + p->n_prompt + p->we[k],
                            pooled, full, scratch, e + k * (size_t)dim, dim);
            else memcpy(e + k * (size_t)dim, ro.embeddings + (p->seq0 + k) * (size_t)dim, (size_t)dim * sizeof *e);
        }
        if (!co->late) combine(p, co, normalize, e, dim, acc, out->embeddings + i * (size_t)dim);
        c += p->n_win;
    }
    if (!st) {
        out->first[n] = c;
        out->n_chunks = c;
    }
    free(pooled); free(full); free(scratch); free(acc);
    xl_outputs_free(&ro);
    xl_sequences_free(seqs, n_seq);
    for (size_t i = 0; plans && i < n; i++) plan_free(&plans[i]);
    free(plans); free(owned); free(lower);
    xl_encoding_free(&alone);
    if (st) { xl_chunk_outputs_free(out); return st; }
    if (run_st == XL_ERR_CANCELLED) return xl_err(XL_ERR_CANCELLED, "cancelled");
    return XL_OK;
}
