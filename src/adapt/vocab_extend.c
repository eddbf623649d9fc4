/* xl_vocab_extend: transformers' add_tokens + resize_token_embeddings, with FVT rows
 * instead of random ones. The tokens become regular added tokens of tokenizer.json
 * (and of tokenizer_config.json's added_tokens_decoder when it has one), with ids after
 * the largest id; the model keeps every row it had. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt/vocab_model.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/utf8.h"

/* An added token as the tokenizers crate serialises AddedToken, with the flags
 * transformers' add_tokens gives a plain string: not special, normalized. */
static json_t *added_token(json_int_t id, const char *content, int with_id) {
    json_t *o = json_object();
    if (!o) return NULL;
    int bad = (with_id && json_object_set_new(o, "id", json_integer(id))) ||
              json_object_set_new(o, "content", json_string(content)) ||
              json_object_set_new(o, "single_word", json_false()) || json_object_set_new(o, "lstrip", json_false()) ||
              json_object_set_new(o, "rstrip", json_false()) || json_object_set_new(o, "normalized", json_true()) ||
              json_object_set_new(o, "special", json_false());
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The tokens to add: non-blank lines, in order, repeats and known tokens skipped. */
static xl_status read_tokens(const char *path, const xl_tokenizer *tok, xl_lines *keep, size_t *skipped) {
    memset(keep, 0, sizeof *keep);
    *skipped = 0;
    xl_lines l;
    xl_status st = xl_lines_read(path, 0, &l);
    if (st) return st;
    size_t nonblank = 0;
    keep->v = malloc((l.n ? l.n : 1) * sizeof *keep->v);
    keep->len = malloc((l.n ? l.n : 1) * sizeof *keep->len);
    if (!keep->v || !keep->len) st = xl_err(XL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < l.n && !st; i++) {
        if (!l.len[i]) continue;
        nonblank++;
        if (memchr(l.v[i], 0, l.len[i]) || !xl_utf8_is_valid(l.v[i], l.len[i])) {
            st = xl_err(XL_ERR_INPUT, "%s line %zu: %s", path, i + 1,
                        memchr(l.v[i], 0, l.len[i]) ? "NUL byte in a token" : "invalid UTF-8");
            break;
        }
        int seen = xl_tokenizer_token_to_id(tok, l.v[i]) >= 0;
        for (size_t k = 0; k < keep->n && !seen; k++) seen = keep->len[k] == l.len[i] && !memcmp(keep->v[k], l.v[i], l.len[i]);
        if (seen) {
            (*skipped)++;
            continue;
        }
        keep->v[keep->n] = l.v[i];
        keep->len[keep->n++] = l.len[i];
        l.v[i] = NULL;
    }
    xl_lines_free(&l);
    if (!st && !nonblank) st = xl_err(XL_ERR_INPUT, "%s: no tokens (one token a line)", path);
    if (!st && !keep->n)
        st = xl_err(XL_ERR_INPUT, "%s: every token is already in the vocabulary: nothing to add", path);
    if (st) xl_lines_free(keep);
    return st;
}

/* tokenizer.json and tokenizer_config.json with the new tokens. */
static xl_status add_to_tokenizer(va_model *src, const xl_lines *toks, size_t first_id, va_plan *p) {
    json_t *arr = json_object_get(src->tokjson, "added_tokens");
    if (!arr) {
        arr = json_array();
        if (!arr || json_object_set_new(src->tokjson, "added_tokens", arr)) return xl_err(XL_ERR_NOMEM, "out of memory");
    }
    if (!json_is_array(arr)) return xl_err(XL_ERR_FORMAT, "%s: \"added_tokens\" is not an array", src->tokjson_path);
    for (size_t k = 0; k < toks->n; k++) {
        json_t *o = added_token((json_int_t)(first_id + k), toks->v[k], 1);
        if (!o || json_array_append_new(arr, o)) return xl_err(XL_ERR_NOMEM, "out of memory");
    }
    p->tokenizer_json = src->tokjson;
    if (!xl_file_exists(src->tokcfg_path)) return XL_OK;
    json_t *cfg;
    xl_status st = vc_json_load(src->tokcfg_path, &cfg);
    if (st) return st;
    p->tokenizer_config = cfg;
    json_t *dec = json_object_get(cfg, "added_tokens_decoder");
    if (!json_is_object(dec)) return XL_OK;
    for (size_t k = 0; k < toks->n; k++) {
        char key[32];
        snprintf(key, sizeof key, "%zu", first_id + k);
        json_t *o = added_token(0, toks->v[k], 0);
        if (!o || json_object_set_new(dec, key, o)) return xl_err(XL_ERR_NOMEM, "out of memory");
    }
    return XL_OK;
}

xl_status xl_vocab_extend(const char *model_dir, const char *tokens_file, const char *out_dir, const xl_vocab_options *opts,
                          xl_vocab_report *rep) {
    xl_vocab_options o;
    if (opts) o = *opts;
    else xl_vocab_options_init(&o);
    if (!model_dir || !tokens_file || !out_dir) return xl_err(XL_ERR_ARG, "xl_vocab_extend: a path is NULL");
    xl_vocab_report r;
    memset(&r, 0, sizeof r);
    va_model src;
    xl_status st = va_model_open(model_dir, &src);
    if (st) return st;
    snprintf(r.source_kind, sizeof r.source_kind, "%s", src.conv.desc);
    snprintf(r.new_kind, sizeof r.new_kind, "%s", src.conv.desc);
    xl_lines toks;
    if ((st = read_tokens(tokens_file, src.tok, &toks, &r.n_skipped))) {
        va_model_close(&src);
        return st;
    }
    size_t first = src.conv.n_ids, n_add = toks.n;
    /* rows past the tokenizer's ids (a matrix padded to a round size) are reused */
    size_t n_rows = first + n_add > src.rows ? first + n_add : src.rows;
    vr_row *rec = calloc(n_rows, sizeof *rec);
    va_plan p;
    memset(&p, 0, sizeof p);
    if (!rec) st = xl_err(XL_ERR_NOMEM, "out of memory");
    fvt_source fs = {src.tok, &src.conv, src.keys, src.rows};
    for (size_t i = 0; i < n_rows && !st; i++) {
        if (i >= first && i < first + n_add) {
            st = fvt_recipe(&fs, toks.v[i - first], toks.len[i - first], &rec[i]);
        } else if (i < src.rows) { /* every row the model had stays */
            rec[i].src = malloc(sizeof *rec[i].src);
            if (!rec[i].src) st = xl_err(XL_ERR_NOMEM, "out of memory");
            else {
                rec[i].src[0] = (int32_t)i;
                rec[i].n = 1;
                rec[i].how = VH_COPY;
            }
        } else {
            rec[i].how = VH_FALLBACK; /* ids between the matrix and the tokenizer's end */
        }
    }
    if (!st) st = add_to_tokenizer(&src, &toks, first, &p);
    if (!st) {
        p.config = json_deep_copy(src.config);
        if (!p.config || json_object_set_new(p.config, "vocab_size", json_integer((json_int_t)n_rows)))
            st = xl_err(XL_ERR_NOMEM, "out of memory");
    }
    if (!st) {
        p.rec = rec;
        p.n_new = n_rows;
        p.old_pad = p.new_pad = -1;
        if (!p.tokenizer_config && xl_file_exists(src.tokcfg_path)) p.tok_config_file = src.tokcfg_path;
        va_plan_options(&p, &o);
        st = va_write(&src, &p, out_dir, o.force);
    }
    if (!st) {
        r.n_tokens = n_rows;
        r.n_added = n_add;
        for (size_t i = first; i < first + n_add; i++) {
            if (rec[i].how == VH_FVT) r.n_fvt++;
            else r.n_fallback++;
        }
        r.n_copy = n_rows - r.n_fvt - r.n_fallback;
        r.old_pad = r.new_pad = -1;
        r.n_tensors_changed = p.n_changed;
        if (rep) *rep = r;
    }
    p.tokenizer_json = NULL; /* src's */
    json_decref(p.config);
    json_decref(p.tokenizer_config);
    vr_rows_free(rec, n_rows);
    xl_lines_free(&toks);
    va_model_close(&src);
    return st;
}
