/* The tokenizer pipeline of a Hugging Face tokenizer.json, in the order the crate
 * runs it (TokenizerImpl::encode_single_sequence + post_process):
 *   1. added tokens with normalized=false are split out of the raw text;
 *   2. every other piece is normalized, then added tokens with normalized=true are
 *      split out of it;
 *   3. the pre-tokenizer splits the text pieces further;
 *   4. the model turns each text piece into ids (added tokens keep their id);
 *   5. the post-processor adds the special tokens (when asked).
 * Invalid UTF-8 input is first repaired as Python's errors="replace" does. The
 * handle is read-only after load, so one tokenizer can serve many threads.
 * Loading goes through the compiled cache (tok_cache.h) when it is valid: the model's
 * tables come from it, everything else from the small rest of the JSON it holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub.h"
#include "tokenizer/tok_added.h"
#include "tokenizer/tok_align.h"
#include "tokenizer/tok_cache.h"
#include "tokenizer/tok_model.h"
#include "tokenizer/tok_normalizer.h"
#include "tokenizer/tok_pieces.h"
#include "tokenizer/tok_postproc.h"
#include "tokenizer/tok_pretokenizer.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/utf8.h"
#include "xling.h"

/* model_max_length values at or above this are "no limit" (transformers writes
 * 1e30 as VERY_LARGE_INTEGER). */
#define MAX_LENGTH_NONE 100000000.0

struct xl_tokenizer {
    xl_tok_model model;
    tk_normalizer *normalizer;  /* NULL: none */
    tk_pretok *pretok;          /* NULL: none */
    tk_postproc *post;          /* NULL: none */
    tk_added added;
    size_t max_length;
    size_t n_ids;
};

/* Frees what the tokenizer holds and empties it. */
static void release(xl_tokenizer *tok) {
    if (tok->model.ops) tok->model.ops->free(tok->model.impl);
    tk_normalizer_free(tok->normalizer);
    tk_pretok_free(tok->pretok);
    tk_postproc_free(tok->post);
    tk_added_free(&tok->added);
    memset(tok, 0, sizeof *tok);
}

void xl_tokenizer_free(xl_tokenizer *tok) {
    if (!tok) return;
    release(tok);
    free(tok);
}

/* The model type: "type", or for files written before it existed, told apart by the fields. */
static xl_status model_type(const json_t *model, const char *file, const char *what, const char **type) {
    if (!json_is_object(model)) return xl_err(XL_ERR_FORMAT, "%s: missing \"model\" object", file);
    xl_status st = xl_json_get_str(model, "type", NULL, type, what);
    if (st) return st;
    if (!*type) {
        json_t *vocab = json_object_get(model, "vocab");
        *type = json_object_get(model, "merges") ? "BPE" : json_is_array(vocab) ? "Unigram" : "WordPiece";
    }
    return XL_OK;
}

/* The model from JSON, or from the cache reader r when r is not NULL (a failure is
 * then a miss: XL_ERR_FORMAT without a message). */
static xl_status load_model(const json_t *model, const char *file, tk_cache_reader *r, xl_tok_model *out) {
    char what[1100];
    snprintf(what, sizeof what, "%s: model", file);
    const char *type;
    xl_status st = model_type(model, file, what, &type);
    if (st) return st;
    if (r) {
        int ok = !strcmp(type, "WordPiece") ? xl_wordpiece_load_cached(model, r, what, out)
                 : !strcmp(type, "Unigram") ? xl_unigram_load_cached(model, r, what, out)
                 : !strcmp(type, "BPE")     ? xl_bpe_load_cached(model, r, what, out)
                                            : 0;
        return ok ? XL_OK : XL_ERR_FORMAT;
    }
    if (!strcmp(type, "WordPiece")) return xl_wordpiece_load(model, what, out);
    if (!strcmp(type, "Unigram")) return xl_unigram_load(model, what, out);
    if (!strcmp(type, "BPE")) return xl_bpe_load(model, what, out);
    return xl_err(XL_ERR_UNSUPPORTED, "%s: unknown model type \"%s\"", what, type);
}

/* tokenizer_config.json of the folder, text links resolved (NULL: out of memory). */
static char *config_path(const char *dir) {
    char *path = xl_path_join(dir, "tokenizer_config.json");
    char *real = path ? xl_resolve_text_link(path) : NULL;
    free(path);
    return real;
}

/* model_max_length from tokenizer_config.json `real` (absent file or key: 0). */
static xl_status load_config(xl_tokenizer *tok, const char *real) {
    if (!real) return xl_err(XL_ERR_NOMEM, "out of memory");
    if (!xl_file_exists(real)) return XL_OK;
    /* transformers writes model_max_length = 1e30 as a 31-digit integer, which
     * only parses as a real */
    char *text;
    size_t len;
    json_t *cfg = NULL;
    xl_status st = xl_read_file(real, &text, &len);
    if (!st) {
        json_error_t e;
        cfg = json_loadb(text, len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &e);
        free(text);
        if (!cfg) st = xl_err(XL_ERR_FORMAT, "%s: invalid JSON at line %d column %d: %s", real, e.line, e.column, e.text);
    }
    if (!st) {
        json_t *v = json_object_get(cfg, "model_max_length");
        if (v && !json_is_null(v)) {
            if (!json_is_number(v)) {
                st = xl_err(XL_ERR_FORMAT, "%s: \"model_max_length\" must be a number", real);
            } else {
                double d = json_number_value(v);
                tok->max_length = d > 0 && d < MAX_LENGTH_NONE ? (size_t)d : 0;
            }
        }
        json_decref(cfg);
    }
    return st;
}

/* Everything tokenizer.json describes; the model from the cache reader r when not NULL. */
static xl_status load_json(xl_tokenizer *tok, const json_t *root, const char *file, tk_cache_reader *r) {
    char what[1100];
    if (!json_is_object(root)) return xl_err(XL_ERR_FORMAT, "%s: not a JSON object", file);
    json_t *ver = json_object_get(root, "version");
    if (json_is_string(ver) && strcmp(json_string_value(ver), "1.0") != 0)
        return xl_err(XL_ERR_UNSUPPORTED, "%s: unknown tokenizer version \"%s\"", file, json_string_value(ver));
    xl_status st = load_model(json_object_get(root, "model"), file, r, &tok->model);
    if (st) return st;
    json_t *j = json_object_get(root, "normalizer");
    if (j && !json_is_null(j)) {
        snprintf(what, sizeof what, "%s: normalizer", file);
        if ((st = tk_normalizer_parse(j, what, &tok->normalizer))) return st;
    }
    j = json_object_get(root, "pre_tokenizer");
    if (j && !json_is_null(j)) {
        snprintf(what, sizeof what, "%s: pre_tokenizer", file);
        if ((st = tk_pretok_parse(j, what, &tok->pretok))) return st;
    }
    j = json_object_get(root, "post_processor");
    if (j && !json_is_null(j)) {
        snprintf(what, sizeof what, "%s: post_processor", file);
        if ((st = tk_postproc_parse(j, what, &tok->post))) return st;
    }
    if ((st = tk_added_load(&tok->added, json_object_get(root, "added_tokens"), tok->normalizer, &tok->model, file)))
        return st;
    size_t n = tok->model.ops->vocab_size(tok->model.impl);
    int32_t amax = tk_added_max_id(&tok->added);
    tok->n_ids = amax >= 0 && (size_t)amax + 1 > n ? (size_t)amax + 1 : n;
    return XL_OK;
}

/* Pipeline scalars kept in the cache next to the JSON. */
typedef struct {
    uint64_t max_length;
} cached_scalars;

/* Loads tok from a valid cache file; 1 on success, else 0 with tok emptied. */
static int load_cached(xl_tokenizer *tok, const tk_cache_ctx *c, const char *file) {
    tk_cache_reader *r = tk_cache_open(c);
    if (!r) return 0;
    size_t len;
    char *text = tk_cache_read_alloc(r, TK_SEC_JSON, &len);
    json_error_t e;
    json_t *root = text ? xl_json_loadb(text, len, &e) : NULL;
    cached_scalars sc;
    int ok = root && tk_cache_read(r, TK_SEC_PIPE, &sc, sizeof sc) && load_json(tok, root, file, r) == XL_OK;
    json_decref(root);
    free(text);
    tk_cache_close(r);
    if (ok) {
        tok->max_length = (size_t)sc.max_length;
        tk_cache_note(TK_CACHE_HIT, c->file);
        return 1;
    }
    release(tok);
    xl_err_clear(); /* a bad cache is a miss, not an error */
    tk_cache_note_invalid();
    return 0;
}

/* Writes the cache of a tokenizer just loaded from root: root without the model's
 * "vocab" / "merges" (and with its "type" spelled out), the model's tables and the
 * scalars. Silent on failure. */
static void save_cached(const xl_tokenizer *tok, const json_t *root, const tk_cache_ctx *c) {
    if (!tok->model.ops->cache_save) return;
    json_t *small = json_copy((json_t *)root); /* shallow: the values are shared */
    json_t *model = json_copy(json_object_get(root, "model"));
    char *text = NULL;
    if (small && model) {
        json_object_del(model, "vocab"); /* absent is fine */
        json_object_del(model, "merges");
        if ((json_object_get(model, "type") || json_object_set_new(model, "type", json_string(tok->model.ops->type)) == 0) &&
            json_object_set(small, "model", model) == 0)
            text = json_dumps(small, JSON_COMPACT);
    }
    json_decref(model);
    json_decref(small);
    if (!text) return;
    tk_cache_writer *w = tk_cache_writer_new();
    cached_scalars sc = {tok->max_length};
    tk_cache_put_ref(w, TK_SEC_PATH, c->source, strlen(c->source));
    tk_cache_put_ref(w, TK_SEC_JSON, text, strlen(text));
    tk_cache_put_copy(w, TK_SEC_PIPE, &sc, sizeof sc);
    tok->model.ops->cache_save(tok->model.impl, w);
    tk_cache_commit(c, w);
    free(text);
}

static xl_status tokenizer_load(const char *path, xl_tokenizer **out) {
    tk_cache_note(TK_CACHE_OFF, NULL);
    if (!out) return xl_err(XL_ERR_ARG, "xl_tokenizer_load: out is NULL");
    *out = NULL;
    if (!path || !*path) return xl_err(XL_ERR_ARG, "xl_tokenizer_load: no path");
    char *file, *dir;
    if (xl_is_dir(path)) {
        dir = strdup(path);
        file = xl_path_join(path, "tokenizer.json");
    } else {
        const char *slash = strrchr(path, '/');
        dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
        file = strdup(path);
    }
    char *real = file ? xl_resolve_text_link(file) : NULL;
    char *cfg = dir ? config_path(dir) : NULL;
    xl_tokenizer *tok = calloc(1, sizeof *tok);
    xl_status st = XL_OK;
    if (!dir || !file || !real || !cfg || !tok) st = xl_err(XL_ERR_NOMEM, "out of memory");
    if (!st && !xl_file_exists(real)) st = xl_err(XL_ERR_IO, "%s: no such tokenizer file", file);
    tk_cache_ctx cache;
    int use_cache = !st && tk_cache_begin(&cache, real, cfg);
    if (!st && !(use_cache && load_cached(tok, &cache, file))) {
        json_t *root = NULL;
        st = xl_json_load_file(real, &root);
        if (!st) st = load_json(tok, root, file, NULL);
        if (!st) st = load_config(tok, cfg);
        if (!st && use_cache) save_cached(tok, root, &cache);
        json_decref(root);
    }
    if (use_cache) tk_cache_end(&cache);
    free(dir);
    free(file);
    free(real);
    free(cfg);
    if (st) {
        xl_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return XL_OK;
}

/* ------------------------------------------------------------------ offsets */

/* The alignments of the input: every byte of a character aligned to the whole
 * character (the crate's NormalizedString::from); for repaired text (fixed, flen) a
 * U+FFFD is aligned to the invalid bytes of text it replaced. */
static xl_status input_alignments(const char *text, size_t len, const char *fixed, size_t flen, tk_alvec *al) {
    if (len > UINT32_MAX - 1) return xl_err(XL_ERR_INPUT, "text of %zu bytes is too long for offsets", len);
    size_t n = fixed ? flen : len;
    xl_status st = tk_alvec_reserve(al, n + 1);
    if (st) return st;
    const unsigned char *u = (const unsigned char *)text;
    size_t i = 0, o = 0;
    while (i < len) {
        size_t k = u[i] < 0x80 ? 1 : xl_utf8_unit_len(u + i, len - i);
        size_t out = fixed && (u[i] >= 0x80 && !xl_utf8_valid_len(u + i, len - i)) ? 3 : k;
        for (size_t b = 0; b < out && o < n; b++) al->v[o++] = (tk_align){(uint32_t)i, (uint32_t)(i + k)};
        i += k;
    }
    al->n = o;
    return o == n ? XL_OK : xl_err(XL_ERR_UNSUPPORTED, "tokenizer offsets: internal error mapping repaired text");
}

xl_status xl_tokenizer_load(const char *path, xl_tokenizer **out) {
    char *hub = NULL; /* a Hub id (ORG/NAME[@REV]) names its snapshot in the HF cache */
    if (out) *out = NULL;
    xl_status st = out ? xl_hub_local(path, &hub) : XL_OK;
    if (!st) st = tokenizer_load(hub ? hub : path, out);
    free(hub);
    return st;
}

/* Steps 1-2: added tokens and normalization, raw text -> pieces. */
static xl_status split_and_normalize(const xl_tokenizer *tok, const char *text, size_t len, tk_pieces *raw,
                                     tk_pieces *out) {
    tk_pieces_clear(out);
    if (!tok->normalizer && !tk_added_has(&tok->added, 1)) return tk_added_split(&tok->added, 0, text, len, 1, out);
    xl_status st = tk_added_split(&tok->added, 0, text, len, 1, raw);
    xl_buf norm = {0};
    for (size_t i = 0; i < raw->n && !st; i++) {
        const tk_piece *pc = &raw->v[i];
        if (pc->token >= 0) {
            st = tk_pieces_add_token(out, pc->token);
            continue;
        }
        const char *s = tk_piece_text(raw, pc);
        size_t n = pc->len;
        int dropped = 0;
        if (tok->normalizer) {
            if ((st = tk_normalizer_apply(tok->normalizer, s, n, &norm, &dropped))) break;
            s = norm.s;
            n = norm.n;
        }
        st = tk_added_split(&tok->added, 1, s, n, pc->first && !dropped, out);
    }
    xl_buf_free(&norm);
    return st;
}

/* Steps 1-2 with alignments (raw and out track): the same pieces as
 * split_and_normalize, which also checks that both normalizations agree. */
static xl_status split_and_normalize_aligned(const xl_tokenizer *tok, const char *text, size_t len,
                                             const tk_alvec *in_al, tk_pieces *raw, tk_pieces *out) {
    tk_pieces_clear(out);
    tk_pieces_clear(raw);
    tk_pieces_source(raw, text, len, in_al->v);
    xl_status st = tk_added_split(&tok->added, 0, text, len, 1, raw);
    xl_buf norm = {0}, check = {0};
    tk_alvec nal = {0};
    for (size_t i = 0; i < raw->n && !st; i++) {
        const tk_piece *pc = &raw->v[i];
        if (pc->token >= 0) {
            st = tk_pieces_copy_token(out, pc);
            continue;
        }
        const char *s = tk_piece_text(raw, pc);
        size_t n = pc->len;
        const tk_align *al = tk_piece_al(raw, pc);
        int dropped = 0;
        if (tok->normalizer) {
            if ((st = tk_normalizer_apply(tok->normalizer, s, n, &check, &dropped))) break;
            if ((st = tk_normalizer_align(tok->normalizer, s, n, al, pc->shift, &norm, &nal))) break;
            if (norm.n != check.n || memcmp(norm.s, check.s, norm.n) != 0) {
                st = xl_err(XL_ERR_UNSUPPORTED, "tokenizer offsets: internal error: the aligned normalizer disagrees");
                break;
            }
            s = norm.s;
            n = norm.n;
            al = nal.v;
        }
        tk_pieces_source(out, s, n, al);
        /* the crate slices even a piece without matches: every piece's original_shift
         * is the input offset of its first byte (tk_pieces_add) */
        st = tk_added_split(&tok->added, 1, s, n, pc->first && !dropped, out);
    }
    xl_buf_free(&norm);
    xl_buf_free(&check);
    tk_alvec_free(&nal);
    return st;
}

/* Token offsets of the content: each text piece through the model's spans. */
static xl_status encode_pieces_offsets(const xl_tokenizer *tok, const tk_pieces *pieces, xl_ivec *ids,
                                       xl_ivec *offs) {
    xl_ivec spans = {0};
    xl_status st = XL_OK;
    for (size_t i = 0; i < pieces->n && !st; i++) {
        const tk_piece *pc = &pieces->v[i];
        if (pc->token >= 0) {
            if (!(st = xl_ivec_push(ids, pc->token)) && !(st = xl_ivec_push(offs, (int32_t)pc->shift)))
                st = xl_ivec_push(offs, (int32_t)pc->end);
            continue;
        }
        spans.n = 0;
        size_t mark = ids->n;
        st = tok->model.ops->encode_spans(tok->model.impl, tk_piece_text(pieces, pc), pc->len, ids, &spans);
        if (!st && spans.n != 2 * (ids->n - mark))
            st = xl_err(XL_ERR_UNSUPPORTED, "tokenizer offsets: internal error: model spans do not match its ids");
        const tk_align *al = tk_piece_al(pieces, pc);
        for (size_t k = 0; k < spans.n && !st; k += 2) {
            uint32_t a = (uint32_t)spans.v[k], b = (uint32_t)spans.v[k + 1], s0, e0;
            if (b > a && b <= pc->len) {
                s0 = al[a].s;
                e0 = al[b - 1].e;
            } else { /* the crate's convert_offsets of an empty range: itself, shifted */
                s0 = e0 = pc->shift + a;
            }
            if (!(st = xl_ivec_push(offs, (int32_t)s0))) st = xl_ivec_push(offs, (int32_t)e0);
        }
    }
    xl_ivec_free(&spans);
    return st;
}

/* The content encoding of one text (no post-processing): every type id = type_id;
 * with offsets (out->offsets) when `offsets`. */
static xl_status encode_content(const xl_tokenizer *tok, const char *text, size_t len, int32_t type_id, int offsets,
                                xl_encoding *out) {
    memset(out, 0, sizeof *out);
    if (!text && len) return xl_err(XL_ERR_ARG, "xl_tokenize: text is NULL");
    if (!text) text = "";
    char *fixed = NULL;
    size_t flen = 0;
    if (!xl_utf8_is_valid(text, len)) {
        fixed = xl_utf8_repair(text, len, &flen, NULL);
        if (!fixed) return xl_err(XL_ERR_NOMEM, "out of memory repairing %zu bytes of text", len);
    }
    const char *s = fixed ? fixed : text;
    size_t slen = fixed ? flen : len;
    tk_pieces a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.track = b.track = offsets != 0;
    xl_ivec ids = {0}, offs = {0};
    tk_alvec in_al = {0};
    xl_status st = XL_OK;
    if (offsets) {
        if (!(st = input_alignments(text, len, fixed, flen, &in_al)))
            st = split_and_normalize_aligned(tok, s, slen, &in_al, &a, &b);
    } else {
        st = split_and_normalize(tok, s, slen, &a, &b);
    }
    tk_pieces *pieces = &b;
    if (!st && tok->pretok) {
        st = tk_pretok_apply(tok->pretok, &b, &a);
        pieces = &a;
    }
    if (!st) st = xl_ivec_reserve(&ids, pieces->n + 16);
    if (offsets) {
        if (!st) st = encode_pieces_offsets(tok, pieces, &ids, &offs);
    } else {
        for (size_t i = 0; i < pieces->n && !st; i++) {
            const tk_piece *pc = &pieces->v[i];
            if (pc->token >= 0) st = xl_ivec_push(&ids, pc->token);
            else st = tok->model.ops->encode(tok->model.impl, tk_piece_text(pieces, pc), pc->len, &ids);
        }
    }
    tk_pieces_free(&a);
    tk_pieces_free(&b);
    tk_alvec_free(&in_al);
    free(fixed);
    if (!st) {
        out->n = ids.n;
        out->ids = ids.v;
        ids.v = NULL;
        if (!out->ids) out->ids = malloc(sizeof *out->ids);
        out->special = calloc(out->n ? out->n : 1, 1);
        out->type_ids = malloc((out->n ? out->n : 1) * sizeof *out->type_ids);
        if (!out->special || !out->ids || !out->type_ids) st = xl_err(XL_ERR_NOMEM, "out of memory");
        for (size_t i = 0; !st && i < out->n; i++) out->type_ids[i] = type_id;
        if (!st && offsets) {
            out->offsets = (uint32_t *)offs.v; /* int32 pairs of offsets below 2^31 */
            offs.v = NULL;
            if (!out->offsets) out->offsets = malloc(sizeof *out->offsets);
            if (!out->offsets) st = xl_err(XL_ERR_NOMEM, "out of memory");
        }
    }
    xl_ivec_free(&ids);
    xl_ivec_free(&offs);
    if (st) xl_encoding_free(out);
    return st;
}

xl_status xl_tokenize(const xl_tokenizer *tok, const char *text, size_t len, int add_special, xl_encoding *out) {
    if (!out) return xl_err(XL_ERR_ARG, "xl_tokenize: out is NULL");
    memset(out, 0, sizeof *out);
    if (!tok) return xl_err(XL_ERR_ARG, "xl_tokenize: tokenizer is NULL");
    xl_encoding a;
    xl_status st = encode_content(tok, text, len, 0, 0, &a);
    if (!st) st = tk_postproc_apply(tok->post, &a, NULL, add_special, out);
    xl_encoding_free(&a);
    return st;
}

static const char *token_str(const void *tok, int32_t id) { return xl_tokenizer_id_to_token(tok, id); }

xl_status xl_tokenize_offsets(const xl_tokenizer *tok, const char *text, size_t len, int add_special,
                              xl_encoding *out) {
    if (!out) return xl_err(XL_ERR_ARG, "xl_tokenize_offsets: out is NULL");
    memset(out, 0, sizeof *out);
    if (!tok) return xl_err(XL_ERR_ARG, "xl_tokenize_offsets: tokenizer is NULL");
    if (len > INT32_MAX) return xl_err(XL_ERR_INPUT, "xl_tokenize_offsets: text of %zu bytes is too long", len);
    xl_encoding a;
    xl_status st = encode_content(tok, text, len, 0, 1, &a);
    if (st) return st;
    tk_postproc_trim_offsets(tok->post, &a, token_str, tok);
    uint32_t *content = a.offsets;
    a.offsets = NULL;
    size_t n_content = a.n;
    st = tk_postproc_apply(tok->post, &a, NULL, add_special, out);
    xl_encoding_free(&a);
    if (!st) {
        /* the post-processor keeps the content tokens in order and adds specials (0,0) */
        out->offsets = calloc(2 * (out->n ? out->n : 1), sizeof *out->offsets);
        if (!out->offsets) st = xl_err(XL_ERR_NOMEM, "out of memory");
        size_t k = 0;
        for (size_t i = 0; !st && i < out->n; i++) {
            if (out->special[i]) continue;
            if (k == n_content) {
                st = xl_err(XL_ERR_UNSUPPORTED, "tokenizer offsets: internal error: post-processing changed the tokens");
                break;
            }
            out->offsets[2 * i] = content[2 * k];
            out->offsets[2 * i + 1] = content[2 * k + 1];
            k++;
        }
    }
    free(content);
    if (st) xl_encoding_free(out);
    return st;
}

/* Cuts an encoding to its first n tokens (content encodings: no specials yet). */
static void keep_first(xl_encoding *e, size_t n) {
    if (e->n > n) e->n = n;
}

size_t xl_tokenizer_num_special(const xl_tokenizer *tok, int pair) { return tok ? tk_postproc_added(tok->post, pair) : 0; }

xl_status xl_tokenize_pair(const xl_tokenizer *tok, const char *a, size_t alen, const char *b, size_t blen,
                           int add_special, size_t max_len, xl_encoding *out) {
    if (!out) return xl_err(XL_ERR_ARG, "xl_tokenize_pair: out is NULL");
    memset(out, 0, sizeof *out);
    if (!tok) return xl_err(XL_ERR_ARG, "xl_tokenize_pair: tokenizer is NULL");
    size_t added = add_special ? tk_postproc_added(tok->post, 1) : 0;
    if (max_len && max_len < added)
        return xl_err(XL_ERR_ARG, "max length %zu is below the %zu special tokens of a pair", max_len, added);
    xl_encoding ea, eb;
    xl_status st = encode_content(tok, a, alen, 0, 0, &ea);
    if (st) return st;
    if ((st = encode_content(tok, b, blen, 1, 0, &eb))) {
        xl_encoding_free(&ea);
        return st;
    }
    if (max_len && ea.n + eb.n + added > max_len) {
        /* longest_first as the crate computes it: the shorter text keeps its length when
         * the longer one can take the rest, else both get half of the room */
        size_t room = max_len - added, n1 = ea.n, n2 = eb.n;
        int swap = n1 > n2;
        if (swap) { size_t t = n1; n1 = n2; n2 = t; }
        n2 = n1 > room ? n1 : (n1 > room - n1 ? n1 : room - n1);
        if (n1 + n2 > room) {
            n1 = room / 2;
            n2 = n1 + room % 2;
        }
        if (swap) { size_t t = n1; n1 = n2; n2 = t; }
        keep_first(&ea, n1);
        keep_first(&eb, n2);
    }
    st = tk_postproc_apply(tok->post, &ea, &eb, add_special, out);
    xl_encoding_free(&ea);
    xl_encoding_free(&eb);
    return st;
}

void xl_encoding_free(xl_encoding *enc) {
    if (!enc) return;
    free(enc->ids);
    free(enc->special);
    free(enc->type_ids);
    free(enc->offsets);
    enc->ids = NULL;
    enc->special = NULL;
    enc->type_ids = NULL;
    enc->offsets = NULL;
    enc->n = 0;
}

int xl_encoding_truncate(xl_encoding *enc, size_t max_len) {
    if (!enc || enc->n <= max_len) return 0;
    size_t n_special = 0;
    for (size_t i = 0; i < enc->n; i++) n_special += enc->special[i] != 0;
    /* keep every special token if they fit, and the first content tokens with the
     * room left; with less room than specials, keep the first specials */
    size_t keep_special = n_special < max_len ? n_special : max_len;
    size_t keep_content = max_len - keep_special;
    size_t w = 0, ks = 0, kc = 0;
    for (size_t i = 0; i < enc->n; i++) {
        int sp = enc->special[i] != 0;
        if (sp ? ks++ < keep_special : kc++ < keep_content) {
            enc->ids[w] = enc->ids[i];
            if (enc->type_ids) enc->type_ids[w] = enc->type_ids[i];
            if (enc->offsets) {
                enc->offsets[2 * w] = enc->offsets[2 * i];
                enc->offsets[2 * w + 1] = enc->offsets[2 * i + 1];
            }
            enc->special[w++] = enc->special[i];
        }
    }
    enc->n = w;
    return 1;
}

size_t xl_tokenizer_vocab_size(const xl_tokenizer *tok) { return tok ? tok->n_ids : 0; }

const char *xl_tokenizer_id_to_token(const xl_tokenizer *tok, int32_t id) {
    if (!tok || id < 0) return NULL;
    const char *s = tk_added_content(&tok->added, id);
    return s ? s : tok->model.ops->id_to_token(tok->model.impl, id);
}

int32_t xl_tokenizer_token_to_id(const xl_tokenizer *tok, const char *token) {
    if (!tok || !token) return -1;
    size_t len = strlen(token);
    int32_t id = tk_added_id(&tok->added, token, len);
    return id >= 0 ? id : tok->model.ops->token_to_id(tok->model.impl, token, len);
}

const char *xl_tokenizer_type(const xl_tokenizer *tok) { return tok ? tok->model.ops->type : NULL; }

size_t xl_tokenizer_model_max_length(const xl_tokenizer *tok) { return tok ? tok->max_length : 0; }
