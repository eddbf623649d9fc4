/* Piece conventions of tokenizer.json (WordPiece "##", SentencePiece "▁", byte-level
 * "Ġ"), special-token roles, and the source pieces by meaning for copy matching. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt/vocab_internal.h"
#include "tokenizer/tok_unicode.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/utf8.h"

const char *const vc_role_names[VR_N] = {"bos_token", "cls_token", "eos_token", "sep_token",
                                         "pad_token", "unk_token", "mask_token"};

/* Names tried when a tokenizer comes without tokenizer_config.json. */
static const char *const fallback_names[VR_N][4] = {
    {"<s>", "<bos>", "<|begin_of_text|>", NULL},
    {"[CLS]", NULL},
    {"</s>", "<eos>", "<|end_of_text|>", NULL},
    {"[SEP]", NULL},
    {"[PAD]", "<pad>", NULL},
    {"[UNK]", "<unk>", NULL},
    {"[MASK]", "<mask>", NULL},
};

void vc_free(vc_info *c) {
    if (!c) return;
    free(c->type);
    memset(c, 0, sizeof *c);
}

/* The first component of type `type` in a component or a Sequence of them (the list
 * under `list_key`), or NULL. */
static const json_t *find_component(const json_t *j, const char *list_key, const char *type) {
    if (!json_is_object(j)) return NULL;
    const char *t = json_string_value(json_object_get(j, "type"));
    if (t && !strcmp(t, type)) return j;
    if (t && !strcmp(t, "Sequence")) {
        const json_t *arr = json_object_get(j, list_key), *e;
        size_t i;
        json_array_foreach(arr, i, e) {
            const json_t *f = find_component(e, list_key, type);
            if (f) return f;
        }
    }
    return NULL;
}

/* A Replace normalizer / decoder that turns " " into a one-character marker (Gemma,
 * Llama 2: SentencePiece without a Metaspace pre-tokenizer); its content, or NULL. */
static const char *space_marker(const json_t *j, const char *list_key, int to_space) {
    if (!json_is_object(j)) return NULL;
    const char *t = json_string_value(json_object_get(j, "type"));
    if (t && !strcmp(t, "Sequence")) {
        const json_t *arr = json_object_get(j, list_key), *e;
        size_t i;
        json_array_foreach(arr, i, e) {
            const char *m = space_marker(e, list_key, to_space);
            if (m) return m;
        }
        return NULL;
    }
    if (!t || strcmp(t, "Replace") != 0) return NULL;
    const char *pat = json_string_value(json_object_get(json_object_get(j, "pattern"), "String"));
    const char *content = json_string_value(json_object_get(j, "content"));
    if (!pat || !content) return NULL;
    const char *from = to_space ? content : pat, *marker = to_space ? pat : content;
    if (strcmp(from, " ") != 0) return NULL;
    size_t n = strlen(marker);
    return n >= 1 && n < 8 && tk_count_chars(marker, n) == 1 ? marker : NULL;
}

/* The convention of the model: WordPiece, SentencePiece marker, or byte-level. */
static xl_status read_convention(const json_t *root, const char *what, vc_info *c) {
    const json_t *model = json_object_get(root, "model");
    if (!json_is_object(model)) return xl_err(XL_ERR_FORMAT, "%s: missing \"model\" object", what);
    const char *type = json_string_value(json_object_get(model, "type"));
    if (!type) type = json_object_get(model, "merges") ? "BPE" : json_is_array(json_object_get(model, "vocab")) ? "Unigram" : "WordPiece";
    const json_t *pre = json_object_get(root, "pre_tokenizer"), *dec = json_object_get(root, "decoder");
    const json_t *norm = json_object_get(root, "normalizer");
    c->byte_fallback = json_is_true(json_object_get(model, "byte_fallback"));
    if (!strcmp(type, "WordPiece")) {
        const char *p = json_string_value(json_object_get(model, "continuing_subword_prefix"));
        if (!p) p = "##";
        if (strlen(p) >= sizeof c->prefix) return xl_err(XL_ERR_UNSUPPORTED, "%s: continuing_subword_prefix is too long", what);
        c->kind = VC_WORDPIECE;
        snprintf(c->prefix, sizeof c->prefix, "%s", p);
        snprintf(c->desc, sizeof c->desc, "WordPiece (%s)", *p ? p : "no prefix");
        return XL_OK;
    }
    if (strcmp(type, "Unigram") != 0 && strcmp(type, "BPE") != 0)
        return xl_err(XL_ERR_UNSUPPORTED, "%s: a %s tokenizer has no piece convention xling reads (WordPiece, Unigram, BPE)",
                      what, type);
    const char *suffix = json_string_value(json_object_get(model, "end_of_word_suffix"));
    const char *cprefix = json_string_value(json_object_get(model, "continuing_subword_prefix"));
    if ((suffix && *suffix) || (cprefix && *cprefix))
        return xl_err(XL_ERR_UNSUPPORTED, "%s: BPE with %s \"%s\" (CLIP-style word marks) is not a convention xling reads", what,
                      suffix && *suffix ? "end_of_word_suffix" : "continuing_subword_prefix",
                      suffix && *suffix ? suffix : cprefix);
    if (find_component(pre, "pretokenizers", "ByteLevel") || find_component(dec, "decoders", "ByteLevel")) {
        c->kind = VC_BYTELEVEL;
        snprintf(c->desc, sizeof c->desc, "byte-level %s", type);
        return XL_OK;
    }
    const json_t *ms = find_component(pre, "pretokenizers", "Metaspace");
    if (!ms) ms = find_component(dec, "decoders", "Metaspace");
    const char *marker = NULL;
    if (ms) {
        marker = json_string_value(json_object_get(ms, "replacement"));
        if (!marker) marker = "\xe2\x96\x81";
    }
    if (!marker) marker = space_marker(norm, "normalizers", 0);
    if (!marker) marker = space_marker(dec, "decoders", 1);
    if (marker && strlen(marker) < sizeof c->repl && *marker) {
        c->kind = VC_METASPACE;
        snprintf(c->repl, sizeof c->repl, "%s", marker);
        snprintf(c->desc, sizeof c->desc, "SentencePiece %s (%s)", type, marker);
        return XL_OK;
    }
    return xl_err(XL_ERR_UNSUPPORTED,
                  "%s: a %s tokenizer without a byte-level or SentencePiece (\xe2\x96\x81) convention is not supported", what,
                  type);
}

/* Token string of a tokenizer_config.json entry: "..." or {"content": "..."}. */
static const char *config_token(const json_t *cfg, const char *key) {
    const json_t *v = json_object_get(cfg, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_string_value(v);
}

/* Integral reals back to integers (after JSON_DECODE_INT_AS_REAL). */
static void ints_back(json_t *j) {
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_object(j)) {
        json_object_foreach(j, k, v) {
            if (json_is_real(v)) {
                double d = json_real_value(v);
                if (d >= -0x1p53 && d <= 0x1p53 && d == (double)(json_int_t)d) json_object_set_new(j, k, json_integer((json_int_t)d));
            } else {
                ints_back(v);
            }
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) {
            if (json_is_real(v)) {
                double d = json_real_value(v);
                if (d >= -0x1p53 && d <= 0x1p53 && d == (double)(json_int_t)d) json_array_set_new(j, i, json_integer((json_int_t)d));
            } else {
                ints_back(v);
            }
        }
    }
}

xl_status vc_json_load(const char *path, json_t **out) {
    xl_status st = xl_json_load_file(path, out);
    if (!st || !strstr(xl_last_error(), "too big integer")) return st;
    /* transformers writes model_max_length = 1e30 as a 31-digit integer: read it as a
     * real, every other integer stays one */
    char *text;
    size_t len;
    if ((st = xl_read_file(path, &text, &len))) return st;
    json_error_t e;
    *out = json_loadb(text, len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &e);
    free(text);
    if (!*out) return xl_err(XL_ERR_FORMAT, "%s: invalid JSON at line %d column %d: %s", path, e.line, e.column, e.text);
    ints_back(*out);
    xl_err_clear();
    return XL_OK;
}

xl_status vc_load(const json_t *root, const xl_tokenizer *tok, const char *cfg_path, const char *what, vc_info *out) {
    memset(out, 0, sizeof *out);
    if (!json_is_object(root)) return xl_err(XL_ERR_FORMAT, "%s: not a JSON object", what);
    xl_status st = read_convention(root, what, out);
    if (st) return st;
    out->n_ids = xl_tokenizer_vocab_size(tok);
    out->type = malloc(out->n_ids ? out->n_ids : 1);
    if (!out->type) return xl_err(XL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < out->n_ids; i++)
        out->type[i] = xl_tokenizer_id_to_token(tok, (int32_t)i) ? VT_MODEL : VT_HOLE;
    const json_t *arr = json_object_get(root, "added_tokens"), *e;
    size_t i;
    json_array_foreach(arr, i, e) {
        const char *content = json_string_value(json_object_get(e, "content"));
        int32_t id = content ? xl_tokenizer_token_to_id(tok, content) : -1;
        if (id >= 0 && (size_t)id < out->n_ids) out->type[id] = json_is_true(json_object_get(e, "special")) ? VT_SPECIAL : VT_ADDED;
    }
    /* the unknown piece, left out of FVT means */
    const json_t *model = json_object_get(root, "model");
    long long unk = -1;
    const char *unk_tok = json_string_value(json_object_get(model, "unk_token"));
    if (unk_tok) unk = xl_tokenizer_token_to_id(tok, unk_tok);
    else if (json_is_integer(json_object_get(model, "unk_id"))) unk = json_integer_value(json_object_get(model, "unk_id"));
    out->unk_id = unk >= 0 && (size_t)unk < out->n_ids ? (int32_t)unk : -1;
    /* roles */
    json_t *cfg = NULL;
    if (cfg_path && xl_file_exists(cfg_path)) {
        if ((st = vc_json_load(cfg_path, &cfg))) {
            vc_free(out);
            return st;
        }
    }
    for (int r = 0; r < VR_N; r++) {
        out->role[r] = -1;
        if (cfg) {
            const char *s = config_token(cfg, vc_role_names[r]);
            if (s) out->role[r] = xl_tokenizer_token_to_id(tok, s);
        } else {
            for (int k = 0; fallback_names[r][k] && out->role[r] < 0; k++) {
                int32_t id = xl_tokenizer_token_to_id(tok, fallback_names[r][k]);
                if (id >= 0 && out->type[id] != VT_MODEL) out->role[r] = id; /* added / special only */
                else if (id >= 0 && fallback_names[r][k][0] == '[') out->role[r] = id; /* BERT's are plain vocab entries */
            }
        }
    }
    if (out->role[VR_UNK] < 0) out->role[VR_UNK] = out->unk_id;
    json_decref(cfg);
    return XL_OK;
}

/* The GPT-2 byte-level alphabet backwards (tk_bytelevel_cp inverted): code point ->
 * byte, -1 if not in it. */
static int bytelevel_byte(int32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) return cp;
    int k = cp - 256;
    if (k >= 0 && k <= 0x20) return k;
    if (k >= 33 && k <= 33 + (0xA0 - 0x7F)) return 0x7F + (k - 33);
    return k == 67 ? 0xAD : -1;
}

static int hexval(char ch) {
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

xl_status vc_decode(const vc_info *c, const char *piece, xl_buf *text, int *initial) {
    text->n = 0;
    if (text->s) text->s[0] = 0;
    size_t len = strlen(piece);
    *initial = 0;
    xl_status st = XL_OK;
    switch (c->kind) {
    case VC_WORDPIECE: {
        size_t pl = strlen(c->prefix);
        if (pl && len > pl && !memcmp(piece, c->prefix, pl)) return xl_buf_append(text, piece + pl, len - pl);
        *initial = 1;
        return xl_buf_append(text, piece, len);
    }
    case VC_METASPACE: {
        if (c->byte_fallback && len == 6 && !memcmp(piece, "<0x", 3) && piece[5] == '>' && hexval(piece[3]) >= 0 &&
            hexval(piece[4]) >= 0) {
            char b = (char)(hexval(piece[3]) * 16 + hexval(piece[4]));
            return xl_buf_append(text, &b, 1);
        }
        size_t rl = strlen(c->repl);
        for (size_t i = 0; i < len && !st;) {
            if (rl && i + rl <= len && !memcmp(piece + i, c->repl, rl)) {
                st = xl_buf_append(text, " ", 1);
                i += rl;
            } else {
                st = xl_buf_append(text, piece + i, 1);
                i++;
            }
        }
        break;
    }
    case VC_BYTELEVEL: {
        int ok = xl_utf8_is_valid(piece, len);
        for (size_t i = 0; i < len && ok && !st;) {
            int b = bytelevel_byte(tk_decode(piece, &i));
            if (b < 0) ok = 0;
            else {
                char ch = (char)b;
                st = xl_buf_append(text, &ch, 1);
            }
        }
        if (!ok) { /* not a byte-level spelling: the string is its own text */
            text->n = 0;
            return xl_buf_append(text, piece, len);
        }
        break;
    }
    }
    if (!st && text->n && text->s[0] == ' ') {
        *initial = 1;
        memmove(text->s, text->s + 1, text->n);
        text->n--;
    }
    return st;
}

xl_status vc_piece_text(const vc_info *c, const char *piece, int type, xl_buf *out) {
    out->n = 0;
    if (type == VT_ADDED || type == VT_SPECIAL) return xl_buf_append(out, piece, strlen(piece));
    xl_buf t = {0};
    int initial;
    xl_status st = vc_decode(c, piece, &t, &initial);
    if (!st && initial) st = xl_buf_append(out, " ", 1);
    if (!st && t.n) st = xl_buf_append(out, t.s, t.n);
    xl_buf_free(&t);
    return st;
}

/* ------------------------------------------------------- pieces by meaning */

/* Keys are a kind byte ('I' word-initial, 'C' continuation, 'A' added content) and the
 * text, in one pool; an open-addressing table maps them to source ids. */
struct vc_keys {
    xl_buf pool;
    size_t *off;      /* key k = pool[off[k] .. off[k+1]) */
    int32_t *id;
    size_t n, cap;
    uint32_t *slot;   /* key index + 1, 0 = empty */
    size_t nslots;
    size_t max_len;   /* longest text of an 'I' / 'C' key */
};

static uint64_t key_hash(char kind, const char *s, size_t len) {
    uint64_t h = 1469598103934665603ULL ^ (unsigned char)kind;
    h *= 1099511628211ULL;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static int32_t keys_lookup(const vc_keys *k, char kind, const char *s, size_t len) {
    if (!k->nslots) return -1;
    size_t j = key_hash(kind, s, len) & (k->nslots - 1);
    for (; k->slot[j]; j = (j + 1) & (k->nslots - 1)) {
        size_t q = k->slot[j] - 1;
        const char *ks = k->pool.s + k->off[q];
        size_t kl = k->off[q + 1] - k->off[q];
        if (kl == len + 1 && ks[0] == kind && !memcmp(ks + 1, s, len)) return k->id[q];
    }
    return -1;
}

/* Adds a key unless it is there (the first id given keeps it). */
static xl_status keys_add(vc_keys *k, char kind, const char *s, size_t len, int32_t id) {
    if (keys_lookup(k, kind, s, len) >= 0) return XL_OK;
    if (k->n + 2 > k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 4096;
        size_t *off = realloc(k->off, (cap + 1) * sizeof *off);
        if (!off) return xl_err(XL_ERR_NOMEM, "out of memory");
        k->off = off;
        int32_t *ids = realloc(k->id, cap * sizeof *ids);
        if (!ids) return xl_err(XL_ERR_NOMEM, "out of memory");
        k->id = ids;
        k->cap = cap;
    }
    if (2 * (k->n + 1) > k->nslots) {
        size_t ns = k->nslots ? 2 * k->nslots : 8192;
        uint32_t *sl = calloc(ns, sizeof *sl);
        if (!sl) return xl_err(XL_ERR_NOMEM, "out of memory");
        for (size_t q = 0; q < k->n; q++) {
            const char *ks = k->pool.s + k->off[q];
            size_t j = key_hash(ks[0], ks + 1, k->off[q + 1] - k->off[q] - 1) & (ns - 1);
            while (sl[j]) j = (j + 1) & (ns - 1);
            sl[j] = (uint32_t)q + 1;
        }
        free(k->slot);
        k->slot = sl;
        k->nslots = ns;
    }
    if (k->n == 0) k->off[0] = 0;
    xl_status st = xl_buf_append(&k->pool, &kind, 1);
    if (!st && len) st = xl_buf_append(&k->pool, s, len);
    if (st) return st;
    k->id[k->n] = id;
    k->off[k->n + 1] = k->pool.n;
    size_t j = key_hash(kind, s, len) & (k->nslots - 1);
    while (k->slot[j]) j = (j + 1) & (k->nslots - 1);
    k->slot[j] = (uint32_t)k->n + 1;
    k->n++;
    if (kind != 'A' && len > k->max_len) k->max_len = len;
    return XL_OK;
}

void vc_keys_free(vc_keys *k) {
    if (!k) return;
    xl_buf_free(&k->pool);
    free(k->off);
    free(k->id);
    free(k->slot);
    free(k);
}

static int is_byte_piece(const vc_info *c, const char *p) {
    return c->kind == VC_METASPACE && c->byte_fallback && strlen(p) == 6 && !memcmp(p, "<0x", 3) && p[5] == '>';
}

xl_status vc_keys_build(const vc_info *c, const xl_tokenizer *tok, size_t limit, vc_keys **out) {
    *out = NULL;
    vc_keys *k = calloc(1, sizeof *k);
    if (!k) return xl_err(XL_ERR_NOMEM, "out of memory");
    size_t n = c->n_ids < limit ? c->n_ids : limit;
    xl_buf t = {0};
    xl_status st = XL_OK;
    /* pass 0: ordinary pieces and added tokens, lowest id first; pass 1: SentencePiece
     * byte pieces, which only stand for a byte no ordinary piece spells */
    for (int pass = 0; pass < 2 && !st; pass++) {
        for (size_t i = 0; i < n && !st; i++) {
            if (c->type[i] == VT_HOLE) continue;
            const char *p = xl_tokenizer_id_to_token(tok, (int32_t)i);
            if (!p) continue;
            if (c->type[i] != VT_MODEL) {
                if (pass == 0) st = keys_add(k, 'A', p, strlen(p), (int32_t)i);
                continue;
            }
            if (is_byte_piece(c, p) != pass) continue;
            int initial;
            if (!(st = vc_decode(c, p, &t, &initial))) st = keys_add(k, initial ? 'I' : 'C', t.s ? t.s : "", t.n, (int32_t)i);
        }
    }
    xl_buf_free(&t);
    if (st) {
        vc_keys_free(k);
        return st;
    }
    *out = k;
    return XL_OK;
}

int32_t vc_keys_find(const vc_keys *k, const char *text, size_t len, int initial) {
    return keys_lookup(k, initial ? 'I' : 'C', text, len);
}

int32_t vc_keys_find_added(const vc_keys *k, const char *content, size_t len) { return keys_lookup(k, 'A', content, len); }

size_t vc_keys_max_len(const vc_keys *k) { return k->max_len; }
