/* Inputs → sequences: the prompt (prefix / instruction / named prompt), lowercasing,
 * tokenizing (single texts or pairs with token types), truncation and the prompt
 * length pooling leaves out; or token ids as given, cut to the limit. Problems of one
 * input are that input's status; only call-level problems fail the call. */
#include "embed/model_internal.h"
#include "util/error.h"
#include "util/utf8.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

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

/* Records why item s cannot run (the thread's last error). */
static void item_failed(xl_sequence *s, xl_status st) {
    s->status = st;
    s->error = strdup(xl_last_error());
}

void xl_sequences_free(xl_sequence *seqs, size_t n) {
    for (size_t i = 0; seqs && i < n; i++) {
        free(seqs[i].ids);
        free(seqs[i].type_ids);
        free(seqs[i].error);
    }
    free(seqs);
}

/* prefix + text (lowercased when the folder says so) in *buf; NULL on out of memory. */
static const char *compose(const xl_model *m, const char *prefix, size_t plen, const char *text, size_t tlen,
                           char **buf, size_t *cap, size_t *out_len) {
    if (plen) {
        if (plen + tlen + 1 > *cap) {
            size_t want = (plen + tlen + 1) * 2;
            char *p = realloc(*buf, want);
            if (!p) return NULL;
            *buf = p;
            *cap = want;
        }
        memcpy(*buf, prefix, plen);
        memcpy(*buf + plen, text, tlen);
        (*buf)[plen + tlen] = '\0';
        text = *buf;
        tlen += plen;
    }
    *out_len = tlen;
    if (!m->st.do_lower_case) return text;
    char *lower = lowercase_copy(text, tlen, out_len);
    if (!lower) return NULL;
    free(*buf);
    *buf = lower;
    *cap = *out_len + 1;
    return lower;
}

xl_status xl_prepare_texts(const xl_model *m, const char *const *texts, const size_t *lens, const char *const *pairs,
                           const size_t *pair_lens, size_t n, const xl_embed_options *o, xl_sequence **out) {
    *out = NULL;
    if (!m->tok)
        return xl_err(XL_ERR_ARG, "%s: the folder has no tokenizer.json; give token ids instead (JSONL \"input_ids\")", m->dir);
    if (n && !texts) return xl_err(XL_ERR_ARG, "xl_prepare_texts: texts is NULL");
    const char *prefix;
    char *owned_prefix;
    size_t max_len = 0;
    xl_status st = resolve_prefix(m, o, &prefix, &owned_prefix);
    if (!st && (st = max_length_for(m, o, &max_len))) free(owned_prefix);
    if (st) return st;
    size_t plen = prefix ? strlen(prefix) : 0, prompt_tokens = 0;
    if (plen && !m->st.include_prompt) {
        /* sentence-transformers: prompt_length = len(tokenize(prompt)) - 1, i.e. the prompt's
         * tokens with the special tokens, minus the one it assumes trails the sequence. */
        xl_encoding pe;
        st = xl_tokenize(m->tok, prefix, plen, 1, &pe);
        if (st) { free(owned_prefix); return st; }
        prompt_tokens = pe.n ? pe.n - 1 : 0;
        xl_encoding_free(&pe);
    }
    xl_sequence *seqs = calloc(n ? n : 1, sizeof *seqs);
    char *abuf = NULL, *bbuf = NULL;
    size_t acap = 0, bcap = 0;
    if (!seqs) { free(owned_prefix); return xl_err(XL_ERR_NOMEM, "out of memory for %zu inputs", n); }
    for (size_t i = 0; i < n; i++) {
        xl_sequence *s = &seqs[i];
        if (!texts[i]) { item_failed(s, xl_err(XL_ERR_ARG, "text is NULL")); continue; }
        size_t alen, blen = 0;
        const char *a = compose(m, prefix, plen, texts[i], lens ? lens[i] : strlen(texts[i]), &abuf, &acap, &alen);
        const char *b = NULL;
        if (a && pairs && pairs[i])
            b = compose(m, NULL, 0, pairs[i], pair_lens ? pair_lens[i] : strlen(pairs[i]), &bbuf, &bcap, &blen);
        if (!a || (pairs && pairs[i] && !b)) { st = xl_err(XL_ERR_NOMEM, "out of memory"); break; }
        xl_encoding enc;
        xl_status ist;
        if (b) {
            /* Pairs are cut by the tokenizer (longest_first, as HF); encoding in full first
             * tells whether it had to. */
            ist = xl_tokenize_pair(m->tok, a, alen, b, blen, 1, 0, &enc);
            if (!ist && max_len && enc.n > max_len) {
                xl_encoding_free(&enc);
                ist = xl_tokenize_pair(m->tok, a, alen, b, blen, 1, max_len, &enc);
                s->truncated = 1;
            }
        } else {
            ist = xl_tokenize(m->tok, a, alen, 1, &enc);
            if (!ist) s->truncated = max_len && xl_encoding_truncate(&enc, max_len);
        }
        if (ist) {
            if (ist == XL_ERR_NOMEM) { st = ist; break; }
            item_failed(s, ist);
            continue;
        }
        s->ids = enc.ids;
        s->n = enc.n;
        s->type_ids = enc.type_ids; /* may be NULL (all 0) */
        free(enc.special);
        s->prompt_len = prompt_tokens;
    }
    free(abuf); free(bbuf); free(owned_prefix);
    if (st) { xl_sequences_free(seqs, n); return st; }
    *out = seqs;
    return XL_OK;
}

xl_status xl_prepare_ids(const xl_model *m, const int32_t *const *ids, const size_t *lens,
                         const int32_t *const *type_ids, size_t n, const xl_embed_options *o, xl_sequence **out) {
    *out = NULL;
    size_t max_len = 0;
    xl_status st = max_length_for(m, o, &max_len);
    if (st) return st;
    if (n && (!ids || !lens)) return xl_err(XL_ERR_ARG, "xl_prepare_ids: ids or lens is NULL");
    xl_sequence *seqs = calloc(n ? n : 1, sizeof *seqs);
    if (!seqs) return xl_err(XL_ERR_NOMEM, "out of memory for %zu inputs", n);
    for (size_t i = 0; i < n; i++) {
        xl_sequence *s = &seqs[i];
        if (!ids[i] && lens[i]) { item_failed(s, xl_err(XL_ERR_ARG, "ids are NULL")); continue; }
        s->n = lens[i];
        if (max_len && s->n > max_len) { s->n = max_len; s->truncated = 1; }
        s->ids = malloc((s->n ? s->n : 1) * sizeof *s->ids);
        int typed = type_ids && type_ids[i];
        if (typed) s->type_ids = malloc((s->n ? s->n : 1) * sizeof *s->type_ids);
        if (!s->ids || (typed && !s->type_ids)) { xl_sequences_free(seqs, n); return xl_err(XL_ERR_NOMEM, "out of memory"); }
        if (s->n) memcpy(s->ids, ids[i], s->n * sizeof *s->ids);
        if (typed && s->n) memcpy(s->type_ids, type_ids[i], s->n * sizeof *s->type_ids);
    }
    *out = seqs;
    return XL_OK;
}

/* What long-document chunking (chunk.c) shares with the preparation above. */
xl_status xl_prompt_prefix(const xl_model *m, const xl_embed_options *o, const char **prefix, char **owned) {
    return resolve_prefix(m, o, prefix, owned);
}

xl_status xl_length_limit(const xl_model *m, const xl_embed_options *o, size_t *max_len) {
    return max_length_for(m, o, max_len);
}

char *xl_lowercase(const char *s, size_t len, size_t *out_len) { return lowercase_copy(s, len, out_len); }
