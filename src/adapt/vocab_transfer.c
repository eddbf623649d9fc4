/* xl_vocab_transfer: a model with a new tokenizer. Each new token gets a recipe (copy,
 * align, fvt, fallback; vocab_internal.h), config.json follows the new tokenizer's
 * special ids, and vocab_write.c writes the folder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt/vocab_model.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"

/* Recipes are built in chunks so that progress is reported from the calling thread. */
#define CHUNK 8192

static int threads_of(const xl_vocab_options *o) { return o->threads > 0 ? o->threads : xl_default_threads(); }

static void progress(const xl_vocab_options *o, const char *stage, size_t done, size_t total) {
    if (o->progress) o->progress(o->progress_ctx, stage, done, total);
}

/* A source special token for the new special token id by role: the same role, then
 * its partner (a BERT [CLS] is XLM-R's <s>, [SEP] its </s>); -1 if none. */
static int32_t role_match(const vc_info *nw, const vc_info *sc, int32_t id, size_t rows) {
    static const int partner[VR_N] = {VR_CLS, VR_BOS, VR_SEP, VR_EOS, -1, -1, -1};
    for (int pass = 0; pass < 2; pass++)
        for (int r = 0; r < VR_N; r++) {
            if (nw->role[r] != id) continue;
            int q = pass ? partner[r] : r;
            if (q < 0) continue;
            int32_t s = sc->role[q];
            if (s >= 0 && (size_t)s < rows) return s;
        }
    return -1;
}

static xl_status copy_recipe(int32_t src, vr_row *out) {
    memset(out, 0, sizeof *out);
    out->src = malloc(sizeof *out->src);
    if (!out->src) return xl_err(XL_ERR_NOMEM, "out of memory");
    out->src[0] = src;
    out->n = 1;
    out->how = VH_COPY;
    return XL_OK;
}

/* Recipe of new token id: copy by meaning (or by role for special tokens), else fvt. */
static xl_status token_recipe(const va_model *src, const va_model *dst, int32_t id, xl_buf *a, xl_buf *b, vr_row *out) {
    memset(out, 0, sizeof *out);
    out->how = VH_FALLBACK;
    int type = dst->conv.type[id];
    if (type == VT_HOLE) return XL_OK;
    const char *piece = xl_tokenizer_id_to_token(dst->tok, id);
    if (!piece) return XL_OK;
    int32_t match = -1;
    xl_status st;
    if (type == VT_MODEL) {
        int initial;
        if ((st = vc_decode(&dst->conv, piece, a, &initial))) return st;
        match = vc_keys_find(src->keys, a->s ? a->s : "", a->n, initial);
    } else {
        match = vc_keys_find_added(src->keys, piece, strlen(piece));
        if (match < 0 && type == VT_SPECIAL) match = role_match(&dst->conv, &src->conv, id, src->rows);
    }
    if (match >= 0) return copy_recipe(match, out);
    if ((st = vc_piece_text(&dst->conv, piece, type, b))) return st;
    fvt_source fs = {src->tok, &src->conv, src->keys, src->rows};
    return fvt_recipe(&fs, b->s ? b->s : "", b->n, out);
}

static xl_status build_recipes(const va_model *src, const va_model *dst, const xl_vocab_options *o, vr_row *rec) {
    size_t n = dst->conv.n_ids;
    xl_status first = XL_OK;
    char msg[512] = "";
    for (size_t c0 = 0; c0 < n && !first; c0 += CHUNK) {
        size_t c1 = c0 + CHUNK < n ? c0 + CHUNK : n;
#pragma omp parallel num_threads(threads_of(o))
        {
            xl_buf a = {0}, b = {0};
#pragma omp for schedule(dynamic, 64)
            for (size_t i = c0; i < c1; i++) {
                xl_status st = token_recipe(src, dst, (int32_t)i, &a, &b, &rec[i]);
                if (st) {
#pragma omp critical(vocab_err)
                    if (!first) {
                        first = st;
                        snprintf(msg, sizeof msg, "%s", xl_last_error());
                    }
                }
            }
            xl_buf_free(&a);
            xl_buf_free(&b);
        }
        progress(o, "tokens", c1, n);
    }
    return first ? xl_err(first, "%s", msg) : XL_OK;
}

/* ------------------------------------------------------------- alignment */

/* Reads the parallel corpus and tokenizes both sides without special tokens (source
 * side: unknown pieces and ids outside the embedding left out). */
static xl_status read_corpus(const char *path, const va_model *src, const va_model *dst, const xl_vocab_options *o,
                             ib_corpus *c, size_t *n_pairs) {
    memset(c, 0, sizeof *c);
    xl_lines lines;
    xl_status st = xl_lines_read(path, 0, &lines);
    if (st) return st;
    size_t n = 0;
    char **sv = malloc((lines.n ? lines.n : 1) * sizeof *sv), **tv = malloc((lines.n ? lines.n : 1) * sizeof *tv);
    size_t *sl = malloc((lines.n ? lines.n : 1) * sizeof *sl), *tl = malloc((lines.n ? lines.n : 1) * sizeof *tl);
    if (!sv || !tv || !sl || !tl) st = xl_err(XL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < lines.n && !st; i++) {
        char *s = lines.v[i];
        size_t len = lines.len[i];
        if (!len) continue; /* blank lines separate nothing */
        char *tab = memchr(s, '\t', len);
        if (!tab) {
            st = xl_err(XL_ERR_INPUT, "%s line %zu: no tab between the source and the target text", path, i + 1);
            break;
        }
        size_t a = (size_t)(tab - s);
        if (memchr(tab + 1, '\t', len - a - 1)) {
            st = xl_err(XL_ERR_INPUT, "%s line %zu: more than one tab (expected source<TAB>target)", path, i + 1);
            break;
        }
        if (!a || a + 1 == len) {
            st = xl_err(XL_ERR_INPUT, "%s line %zu: empty %s text", path, i + 1, !a ? "source" : "target");
            break;
        }
        if (memchr(s, 0, len)) {
            st = xl_err(XL_ERR_INPUT, "%s line %zu: NUL byte", path, i + 1);
            break;
        }
        sv[n] = s;
        sl[n] = a;
        tv[n] = tab + 1;
        tl[n] = len - a - 1;
        n++;
    }
    if (!st && !n) st = xl_err(XL_ERR_INPUT, "%s: no sentence pairs (expected source<TAB>target lines)", path);
    xl_encoding *es = NULL, *et = NULL;
    if (!st) {
        es = calloc(n, sizeof *es);
        et = calloc(n, sizeof *et);
        if (!es || !et) st = xl_err(XL_ERR_NOMEM, "out of memory");
    }
    if (!st) {
        xl_status first = XL_OK;
        char msg[512] = "";
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads_of(o))
        for (size_t k = 0; k < n; k++) {
            xl_status e1 = xl_tokenize(src->tok, sv[k], sl[k], 0, &es[k]);
            xl_status e2 = e1 ? e1 : xl_tokenize(dst->tok, tv[k], tl[k], 0, &et[k]);
            if (e2) {
#pragma omp critical(vocab_err)
                if (!first) {
                    first = e2;
                    snprintf(msg, sizeof msg, "%s", xl_last_error());
                }
            }
        }
        if (first) st = xl_err(first, "%s: %s", path, msg);
    }
    if (!st) {
        c->src_off = malloc((n + 1) * sizeof *c->src_off);
        c->tgt_off = malloc((n + 1) * sizeof *c->tgt_off);
        if (!c->src_off || !c->tgt_off) st = xl_err(XL_ERR_NOMEM, "out of memory");
    }
    for (size_t k = 0; k < n && !st; k++) {
        c->src_off[k] = c->src.n;
        c->tgt_off[k] = c->tgt.n;
        for (size_t i = 0; i < es[k].n && !st; i++) {
            int32_t id = es[k].ids[i];
            if (id >= 0 && id != src->conv.unk_id && (size_t)id < src->rows) st = xl_ivec_push(&c->src, id);
        }
        for (size_t i = 0; i < et[k].n && !st; i++) st = xl_ivec_push(&c->tgt, et[k].ids[i]);
    }
    if (!st) {
        c->src_off[n] = c->src.n;
        c->tgt_off[n] = c->tgt.n;
        c->n = n;
        *n_pairs = n;
    }
    for (size_t k = 0; es && k < n; k++) xl_encoding_free(&es[k]);
    for (size_t k = 0; et && k < n; k++) xl_encoding_free(&et[k]);
    free(es);
    free(et);
    free(sv);
    free(tv);
    free(sl);
    free(tl);
    xl_lines_free(&lines);
    if (st) ib_corpus_free(c);
    return st;
}

/* Tokens seen at least min_count times and not copied take the alignment-weighted mean
 * of the source tokens they align to (links below 1e-3 of the token's total dropped). */
static xl_status align_recipes(const va_model *src, const va_model *dst, const xl_vocab_options *o, vr_row *rec,
                               size_t *n_pairs) {
    ib_corpus c;
    xl_status st = read_corpus(o->parallel, src, dst, o, &c, n_pairs);
    if (st) return st;
    progress(o, "corpus", c.n, c.n);
    ib_links l;
    st = ib_align(&c, dst->conv.n_ids, o->iterations > 0 ? o->iterations : 5, &l);
    ib_corpus_free(&c);
    if (st) return st;
    int min_count = o->min_count > 0 ? o->min_count : 3;
    for (size_t a = 0; a < l.n && !st;) {
        size_t b = a;
        double total = 0;
        while (b < l.n && l.tgt[b] == l.tgt[a]) total += l.w[b++];
        int32_t t = l.tgt[a];
        vr_row *r = &rec[t];
        if (r->how != VH_COPY && l.occ[t] >= (uint32_t)min_count && total > 0) {
            size_t keep = 0;
            for (size_t k = a; k < b; k++) keep += l.w[k] >= 1e-3 * total;
            int32_t *s = malloc(keep * sizeof *s);
            float *w = malloc(keep * sizeof *w);
            if (!s || !w) {
                free(s);
                free(w);
                st = xl_err(XL_ERR_NOMEM, "out of memory");
                break;
            }
            size_t j = 0;
            for (size_t k = a; k < b; k++)
                if (l.w[k] >= 1e-3 * total) {
                    s[j] = l.src[k];
                    w[j++] = (float)l.w[k];
                }
            free(r->src);
            free(r->w);
            r->src = s;
            r->w = w;
            r->n = (uint32_t)keep;
            r->how = VH_ALIGN;
        }
        a = b;
    }
    ib_links_free(&l);
    return st;
}

/* ---------------------------------------------------------------- config */

static xl_status set_id(json_t *cfg, const char *key, int32_t id) {
    return json_object_set_new(cfg, key, id >= 0 ? json_integer(id) : json_null()) ? xl_err(XL_ERR_NOMEM, "out of memory")
                                                                                      : XL_OK;
}

/* config.json for the new tokenizer: vocab_size, the special ids present in the source
 * config, and for XLM-R pad_token_id with the position table's size. */
static xl_status new_config(const va_model *src, const va_model *dst, size_t n_new, va_plan *p) {
    static const struct {
        const char *key;
        int role, partner;
    } keys[] = {{"pad_token_id", VR_PAD, -1}, {"bos_token_id", VR_BOS, VR_CLS}, {"eos_token_id", VR_EOS, VR_SEP},
                {"sep_token_id", VR_SEP, VR_EOS}, {"cls_token_id", VR_CLS, VR_BOS}, {"unk_token_id", VR_UNK, -1},
                {"mask_token_id", VR_MASK, -1}};
    json_t *cfg = json_deep_copy(src->config);
    if (!cfg) return xl_err(XL_ERR_NOMEM, "out of memory");
    p->config = cfg;
    xl_status st = json_object_set_new(cfg, "vocab_size", json_integer((json_int_t)n_new)) ? xl_err(XL_ERR_NOMEM, "out of memory")
                                                                                          : XL_OK;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0] && !st; k++) {
        if (!json_object_get(cfg, keys[k].key)) continue;
        int32_t id = dst->conv.role[keys[k].role];
        if (id < 0 && keys[k].partner >= 0) id = dst->conv.role[keys[k].partner];
        st = set_id(cfg, keys[k].key, id);
    }
    p->old_pad = p->new_pad = -1;
    long long old_pad;
    if (!st && (st = xl_json_get_int(src->config, "pad_token_id", src->roberta ? 1 : -1, &old_pad, "config.json"))) return st;
    p->old_pad = (int)old_pad;
    p->new_pad = dst->conv.role[VR_PAD];
    if (!st && src->roberta) {
        if (p->new_pad < 0)
            return xl_err(XL_ERR_UNSUPPORTED,
                          "%s has no pad token, and %s counts positions from pad_token_id: give a tokenizer with one",
                          dst->tokjson_path, json_string_value(json_object_get(src->config, "model_type")));
        st = set_id(cfg, "pad_token_id", p->new_pad);
        if (!st && p->new_pad != p->old_pad) {
            long long mp;
            if ((st = xl_json_get_int(src->config, "max_position_embeddings", 0, &mp, "config.json"))) return st;
            if (mp <= old_pad + 1)
                return xl_err(XL_ERR_FORMAT, "%s/config.json: max_position_embeddings %lld leaves no position after pad %lld",
                              src->dir, mp, old_pad);
            p->shift = 1;
            st = json_object_set_new(cfg, "max_position_embeddings",
                                     json_integer((json_int_t)va_positions_new_rows((size_t)mp, p->old_pad, p->new_pad)))
                     ? xl_err(XL_ERR_NOMEM, "out of memory")
                     : XL_OK;
        }
    }
    return st;
}

/* The new folder's tokenizer_config.json: the new tokenizer's, with the model's length
 * limit (model_max_length) where the source had one: the limit belongs to the model. */
static xl_status new_tokenizer_config(const va_model *src, const va_model *dst, va_plan *p) {
    if (!xl_file_exists(dst->tokcfg_path)) return XL_OK;
    json_t *cfg;
    xl_status st = vc_json_load(dst->tokcfg_path, &cfg);
    if (st) return st;
    if (!json_is_object(cfg)) {
        json_decref(cfg);
        return xl_err(XL_ERR_FORMAT, "%s: not a JSON object", dst->tokcfg_path);
    }
    p->tokenizer_config = cfg;
    if (!xl_file_exists(src->tokcfg_path)) return XL_OK;
    json_t *scfg;
    if ((st = vc_json_load(src->tokcfg_path, &scfg))) return st;
    json_t *mml = json_object_get(scfg, "model_max_length");
    if (json_is_number(mml) && json_object_set(cfg, "model_max_length", mml)) st = xl_err(XL_ERR_NOMEM, "out of memory");
    json_decref(scfg);
    return st;
}

void va_report_counts(const vr_row *rec, size_t n, xl_vocab_report *rep) {
    rep->n_tokens = n;
    rep->n_copy = rep->n_align = rep->n_fvt = rep->n_fallback = 0;
    for (size_t i = 0; i < n; i++) {
        switch (rec[i].how) {
        case VH_COPY: rep->n_copy++; break;
        case VH_ALIGN: rep->n_align++; break;
        case VH_FVT: rep->n_fvt++; break;
        default: rep->n_fallback++; break;
        }
    }
}

xl_status va_transfer_recipes(const va_model *src, const va_model *dst, const xl_vocab_options *o, vr_row **out,
                              size_t *n_pairs) {
    *out = NULL;
    size_t n = dst->conv.n_ids;
    vr_row *rec = calloc(n ? n : 1, sizeof *rec);
    if (!rec) return xl_err(XL_ERR_NOMEM, "out of memory (%zu tokens)", n);
    xl_status st = build_recipes(src, dst, o, rec);
    if (!st && o->method == XL_VOCAB_ALIGN) st = align_recipes(src, dst, o, rec, n_pairs);
    if (st) {
        vr_rows_free(rec, n);
        return st;
    }
    *out = rec;
    return XL_OK;
}

xl_status xl_vocab_transfer(const char *model_dir, const char *tokenizer, const char *out_dir, const xl_vocab_options *opts,
                            xl_vocab_report *rep) {
    xl_vocab_options o;
    if (opts) o = *opts;
    else xl_vocab_options_init(&o);
    xl_vocab_report r;
    memset(&r, 0, sizeof r);
    if (!model_dir || !tokenizer || !out_dir) return xl_err(XL_ERR_ARG, "xl_vocab_transfer: a path is NULL");
    if (o.method == XL_VOCAB_ALIGN && !o.parallel) return xl_err(XL_ERR_ARG, "align needs a parallel corpus");
    if (o.method != XL_VOCAB_ALIGN && o.method != XL_VOCAB_FVT) return xl_err(XL_ERR_ARG, "unknown method %d", (int)o.method);
    va_model src, dst;
    memset(&dst, 0, sizeof dst);
    xl_status st = va_model_open(model_dir, &src);
    if (st) return st;
    if ((st = va_tokenizer_open(tokenizer, "the new tokenizer", &dst))) {
        if (st == XL_ERR_UNSUPPORTED) xl_err_prefix("unsupported tokenizer pairing (source %s)", src.conv.desc);
        va_model_close(&src);
        va_model_close(&dst);
        return st;
    }
    snprintf(r.source_kind, sizeof r.source_kind, "%s", src.conv.desc);
    snprintf(r.new_kind, sizeof r.new_kind, "%s", dst.conv.desc);
    /* the parsed tokenizer.json files are read (the new one is copied as a file): their
     * trees (hundreds of MB for a 262k vocabulary with its merges) go now */
    json_decref(src.tokjson);
    json_decref(dst.tokjson);
    src.tokjson = dst.tokjson = NULL;
    vr_row *rec = NULL;
    char *special = NULL;
    va_plan p;
    memset(&p, 0, sizeof p);
    /* the config first: a pairing it refuses fails before the long part */
    st = new_config(&src, &dst, dst.conv.n_ids, &p);
    if (!st) st = new_tokenizer_config(&src, &dst, &p);
    if (!st) st = va_transfer_recipes(&src, &dst, &o, &rec, &r.n_pairs);
    if (!st) {
        p.rec = rec;
        p.n_new = dst.conv.n_ids;
        p.tok_json_file = dst.tokjson_path;
        p.tok_config_file = p.tokenizer_config ? NULL : dst.tokcfg_path;
        p.replace_tokenizer = 1;
        va_plan_options(&p, &o);
        special = xl_path_join(dst.tokdir, "special_tokens_map.json");
        if (!special) st = xl_err(XL_ERR_NOMEM, "out of memory");
        else if (xl_file_exists(special)) p.tok_special_file = special;
        if (!st) st = va_write(&src, &p, out_dir, o.force);
    }
    if (!st) {
        va_report_counts(rec, dst.conv.n_ids, &r);
        r.old_pad = p.old_pad;
        r.new_pad = p.new_pad;
        r.positions_shifted = p.shift;
        r.n_tensors_changed = p.n_changed;
        if (rep) *rep = r;
    }
    free(special);
    json_decref(p.config);
    json_decref(p.tokenizer_config);
    vr_rows_free(rec, dst.conv.n_ids);
    va_model_close(&src);
    va_model_close(&dst);
    return st;
}
