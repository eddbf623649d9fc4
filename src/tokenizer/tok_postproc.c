#include "tokenizer/tok_postproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_unicode.h"
#include "util/error.h"
#include "util/json.h"

typedef enum { PP_TEMPLATE, PP_BERT, PP_ROBERTA, PP_BYTELEVEL, PP_SEQUENCE } pp_kind;

/* One piece of a template: a sequence ($A = 0, $B = 1; -1 for special tokens) or
 * special-token ids, each with the token type id the template gives it. */
typedef struct {
    int seq;
    int32_t type_id;
    int32_t *ids;
    size_t n;
} tpl_piece;

typedef struct {
    tpl_piece *v;
    size_t n;
    int present;
} tpl;

struct tk_postproc {
    pp_kind kind;
    tpl single, pair;    /* TemplateProcessing */
    int32_t cls, sep;    /* BertProcessing, RobertaProcessing */
    int trim, prefix_space; /* ByteLevel, RobertaProcessing: trim_offsets, add_prefix_space */
    tk_postproc **items; /* Sequence */
    size_t n_items;
};

void tk_postproc_free(tk_postproc *p) {
    if (!p) return;
    for (size_t i = 0; i < p->single.n; i++) free(p->single.v[i].ids);
    free(p->single.v);
    for (size_t i = 0; i < p->pair.n; i++) free(p->pair.v[i].ids);
    free(p->pair.v);
    for (size_t i = 0; i < p->n_items; i++) tk_postproc_free(p->items[i]);
    free(p->items);
    free(p);
}

/* ["[SEP]", 102] */
static xl_status parse_pair(const json_t *j, const char *key, int32_t *id, const char *what) {
    json_t *v = json_object_get(j, key);
    json_t *n = json_array_get(v, 1);
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_string(json_array_get(v, 0)) || !json_is_integer(n) ||
        json_integer_value(n) < 0 || json_integer_value(n) > INT32_MAX)
        return xl_err(XL_ERR_FORMAT, "%s: \"%s\" must be [token, id]", what, key);
    *id = (int32_t)json_integer_value(n);
    return XL_OK;
}

/* Ids of special token `name` in the template's "special_tokens" map. */
static xl_status special_ids(const json_t *specials, const char *name, tpl_piece *pc, const char *what) {
    json_t *s = json_object_get(specials, name);
    json_t *ids = json_object_get(s, "ids");
    if (!json_is_array(ids))
        return xl_err(XL_ERR_FORMAT, "%s: the template uses special token \"%s\", missing from \"special_tokens\"", what,
                      name);
    pc->n = json_array_size(ids);
    pc->ids = malloc((pc->n ? pc->n : 1) * sizeof *pc->ids);
    if (!pc->ids) return xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
    for (size_t i = 0; i < pc->n; i++) {
        json_t *v = json_array_get(ids, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
            return xl_err(XL_ERR_FORMAT, "%s: special token \"%s\" has an invalid id", what, name);
        pc->ids[i] = (int32_t)json_integer_value(v);
    }
    return XL_OK;
}

/* A ":type_id" suffix, if any: cut from name, value in *type_id. */
static xl_status split_type_id(char *name, int32_t *type_id, const char *s, const char *what) {
    *type_id = 0;
    char *colon = strrchr(name, ':');
    if (!colon || colon == name || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1)) return XL_OK;
    if (strlen(colon + 1) > 9) return xl_err(XL_ERR_FORMAT, "%s: type id too large in template piece \"%s\"", what, s);
    *type_id = (int32_t)atol(colon + 1);
    *colon = '\0';
    return XL_OK;
}

/* The string form of a piece: "$A", "$", "$0", "$B", "$1" (":type_id" allowed),
 * or a special token name ("[CLS]", "[SEP]:1"). */
static xl_status parse_piece_string(const char *s, const json_t *specials, tpl_piece *pc, const char *what) {
    char name[256];
    snprintf(name, sizeof name, "%s", s);
    xl_status st = split_type_id(name, &pc->type_id, s, what);
    if (st) return st;
    pc->seq = -1;
    if (name[0] == '$') {
        const char *id = name + 1;
        if (!strcmp(id, "") || !strcmp(id, "A") || !strcmp(id, "a") || !strcmp(id, "0")) pc->seq = 0;
        else if (!strcmp(id, "B") || !strcmp(id, "b") || !strcmp(id, "1")) pc->seq = 1;
        else return xl_err(XL_ERR_FORMAT, "%s: invalid template piece \"%s\"", what, s);
        return XL_OK;
    }
    return special_ids(specials, name, pc, what);
}

/* A "type_id" member of a piece object (default 0). */
static xl_status piece_type_id(const json_t *o, int32_t *type_id, const char *what) {
    json_t *t = json_object_get(o, "type_id");
    *type_id = 0;
    if (!t) return XL_OK;
    if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) > INT32_MAX)
        return xl_err(XL_ERR_FORMAT, "%s: \"type_id\" must be a non-negative integer", what);
    *type_id = (int32_t)json_integer_value(t);
    return XL_OK;
}

/* One template ("single" or "pair"): a string "[CLS] $A [SEP]" or a list of pieces.
 * A single template may not refer to $B. */
static xl_status parse_one_template(json_t *t, const json_t *specials, const char *key, tpl *out, const char *what) {
    json_t *split = NULL;
    if (json_is_string(t)) {
        /* "[CLS] $A [SEP]": pieces separated by spaces */
        split = json_array();
        const char *s = json_string_value(t);
        while (split && *s) {
            while (*s == ' ') s++;
            size_t k = strcspn(s, " ");
            if (k) json_array_append_new(split, json_stringn(s, k));
            s += k;
        }
        t = split;
    }
    xl_status st = XL_OK;
    if (!json_is_array(t)) {
        st = xl_err(XL_ERR_FORMAT, "%s: \"%s\" must be a template (list of pieces)", what, key);
        goto done;
    }
    out->present = 1;
    out->n = 0;
    out->v = calloc(json_array_size(t) + 1, sizeof *out->v);
    if (!out->v) {
        st = xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
        goto done;
    }
    for (size_t i = 0; i < json_array_size(t) && !st; i++) {
        json_t *e = json_array_get(t, i);
        tpl_piece *pc = &out->v[out->n++];
        pc->seq = -1;
        if (json_is_string(e)) {
            st = parse_piece_string(json_string_value(e), specials, pc, what);
        } else {
            json_t *sp = json_object_get(e, "SpecialToken");
            json_t *sq = json_object_get(e, "Sequence");
            if (json_is_object(sp) && json_is_string(json_object_get(sp, "id"))) {
                if (!(st = piece_type_id(sp, &pc->type_id, what)))
                    st = special_ids(specials, json_string_value(json_object_get(sp, "id")), pc, what);
            } else if (json_is_object(sq) && json_is_string(json_object_get(sq, "id"))) {
                const char *id = json_string_value(json_object_get(sq, "id"));
                st = piece_type_id(sq, &pc->type_id, what);
                if (!strcmp(id, "A")) pc->seq = 0;
                else if (!strcmp(id, "B")) pc->seq = 1;
                else if (!st) st = xl_err(XL_ERR_FORMAT, "%s: unknown template sequence \"%s\"", what, id);
            } else {
                st = xl_err(XL_ERR_FORMAT, "%s: %s[%zu] must be {\"SpecialToken\": ...} or {\"Sequence\": ...}", what, key,
                            i);
            }
        }
        if (!st && pc->seq == 1 && !strcmp(key, "single"))
            st = xl_err(XL_ERR_FORMAT, "%s: the single template refers to the second sequence", what);
    }
done:
    json_decref(split);
    return st;
}

static xl_status parse_template(const json_t *j, tk_postproc *p, const char *what) {
    json_t *specials = json_object_get(j, "special_tokens");
    if (specials && !json_is_null(specials) && !json_is_object(specials))
        return xl_err(XL_ERR_FORMAT, "%s: \"special_tokens\" must be an object", what);
    xl_status st = parse_one_template(json_object_get(j, "single"), specials, "single", &p->single, what);
    json_t *pair = json_object_get(j, "pair");
    if (!st && pair && !json_is_null(pair)) st = parse_one_template(pair, specials, "pair", &p->pair, what);
    return st;
}

xl_status tk_postproc_parse(const json_t *j, const char *what, tk_postproc **out) {
    *out = NULL;
    if (!json_is_object(j)) return xl_err(XL_ERR_FORMAT, "%s: must be an object", what);
    const char *type;
    xl_status st = xl_json_get_str(j, "type", NULL, &type, what);
    if (st) return st;
    if (!type) return xl_err(XL_ERR_FORMAT, "%s: missing \"type\"", what);
    tk_postproc *p = calloc(1, sizeof *p);
    if (!p) return xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
    if (!strcmp(type, "TemplateProcessing")) {
        p->kind = PP_TEMPLATE;
        st = parse_template(j, p, what);
    } else if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
        p->kind = type[0] == 'B' ? PP_BERT : PP_ROBERTA;
        if (!(st = parse_pair(j, "sep", &p->sep, what))) st = parse_pair(j, "cls", &p->cls, what);
    } else if (!strcmp(type, "ByteLevel")) {
        p->kind = PP_BYTELEVEL;
    } else if (!strcmp(type, "Sequence")) {
        p->kind = PP_SEQUENCE;
        json_t *arr = json_object_get(j, "processors");
        if (!json_is_array(arr)) {
            st = xl_err(XL_ERR_FORMAT, "%s: Sequence needs a \"processors\" array", what);
        } else {
            p->items = calloc(json_array_size(arr) + 1, sizeof *p->items);
            if (!p->items) st = xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
            for (size_t i = 0; !st && i < json_array_size(arr); i++) {
                char sub[512];
                snprintf(sub, sizeof sub, "%s.processors[%zu]", what, i);
                st = tk_postproc_parse(json_array_get(arr, i), sub, &p->items[i]);
                if (!st) p->n_items = i + 1;
            }
        }
    } else {
        st = xl_err(XL_ERR_UNSUPPORTED, "%s: unknown post-processor type \"%s\"", what, type);
    }
    if (!st && (p->kind == PP_BYTELEVEL || p->kind == PP_ROBERTA)) {
        if (!(st = xl_json_get_bool(j, "trim_offsets", 1, &p->trim, what)))
            st = xl_json_get_bool(j, "add_prefix_space", 1, &p->prefix_space, what);
    }
    if (st) {
        tk_postproc_free(p);
        return st;
    }
    *out = p;
    return XL_OK;
}

/* The encodings a chain of processors works on: one (a single text) or two (a pair,
 * not yet merged), as the crate's process_encodings passes a Vec<Encoding>. */
typedef struct {
    xl_encoding e[2];
    int n;
} enc_list;

static void list_free(enc_list *l) {
    for (int i = 0; i < 2; i++) xl_encoding_free(&l->e[i]);
    l->n = 0;
}

static xl_status enc_alloc(xl_encoding *e, size_t n) {
    e->n = 0;
    e->ids = malloc((n ? n : 1) * sizeof *e->ids);
    e->special = malloc(n ? n : 1);
    e->type_ids = malloc((n ? n : 1) * sizeof *e->type_ids);
    if (!e->ids || !e->special || !e->type_ids) {
        xl_encoding_free(e);
        return xl_err(XL_ERR_NOMEM, "out of memory (%zu tokens)", n);
    }
    return XL_OK;
}

static void put(xl_encoding *o, int32_t id, uint8_t special, int32_t type_id) {
    o->ids[o->n] = id;
    o->special[o->n] = special;
    o->type_ids[o->n++] = type_id;
}

/* Appends enc; type_id < 0 keeps its type ids, else sets them all to type_id. */
static void put_enc(xl_encoding *o, const xl_encoding *e, int32_t type_id) {
    for (size_t i = 0; i < e->n; i++) put(o, e->ids[i], e->special[i], type_id < 0 ? e->type_ids[i] : type_id);
}

/* Replaces the list by the one encoding out. */
static void list_set(enc_list *l, xl_encoding *out) {
    list_free(l);
    l->e[0] = *out;
    l->n = 1;
}

static xl_status apply_template(const tk_postproc *p, enc_list *l, int add_special) {
    const tpl *t = l->n == 2 ? &p->pair : &p->single;
    if (!t->present) return xl_err(XL_ERR_UNSUPPORTED, "the tokenizer's TemplateProcessing has no \"pair\" template");
    size_t total = 0;
    for (size_t i = 0; i < t->n; i++) {
        const tpl_piece *pc = &t->v[i];
        if (pc->seq >= l->n) return xl_err(XL_ERR_ARG, "the tokenizer's template needs a second text");
        total += pc->seq >= 0 ? l->e[pc->seq].n : add_special ? pc->n : 0;
    }
    xl_encoding out = {0};
    xl_status st = enc_alloc(&out, total);
    if (st) return st;
    for (size_t i = 0; i < t->n; i++) {
        const tpl_piece *pc = &t->v[i];
        if (pc->seq >= 0) put_enc(&out, &l->e[pc->seq], pc->type_id);
        else if (add_special)
            for (size_t k = 0; k < pc->n; k++) put(&out, pc->ids[k], 1, pc->type_id);
    }
    list_set(l, &out);
    return XL_OK;
}

/* BertProcessing: [CLS] A [SEP] (types 0), B [SEP] (types of B, then 1).
 * RobertaProcessing: <s> A </s>, </s> B </s>, every type 0. Without special tokens
 * Bert leaves the encodings as they are and Roberta only zeroes the type ids (as the
 * crate does). */
static xl_status apply_cls_sep(const tk_postproc *p, enc_list *l, int add_special) {
    int roberta = p->kind == PP_ROBERTA;
    if (!add_special) {
        for (int k = 0; roberta && k < l->n; k++) memset(l->e[k].type_ids, 0, l->e[k].n * sizeof *l->e[k].type_ids);
        return XL_OK;
    }
    size_t total = l->e[0].n + 2 + (l->n == 2 ? l->e[1].n + 1 + roberta : 0);
    xl_encoding out = {0};
    xl_status st = enc_alloc(&out, total);
    if (st) return st;
    put(&out, p->cls, 1, 0);
    put_enc(&out, &l->e[0], roberta ? 0 : -1);
    put(&out, p->sep, 1, 0);
    if (l->n == 2) {
        if (roberta) put(&out, p->sep, 1, 0);
        put_enc(&out, &l->e[1], roberta ? 0 : -1);
        put(&out, p->sep, 1, roberta ? 0 : 1);
    }
    list_set(l, &out);
    return XL_OK;
}

static xl_status apply_rec(const tk_postproc *p, enc_list *l, int add_special) {
    switch (p->kind) {
    case PP_TEMPLATE:
        return apply_template(p, l, add_special);
    case PP_BERT:
    case PP_ROBERTA:
        return apply_cls_sep(p, l, add_special);
    case PP_BYTELEVEL:
        return XL_OK;
    case PP_SEQUENCE:
        for (size_t i = 0; i < p->n_items; i++) {
            xl_status st = apply_rec(p->items[i], l, add_special);
            if (st) return st;
        }
        return XL_OK;
    }
    return XL_OK;
}

xl_status tk_postproc_apply(const tk_postproc *p, xl_encoding *a, xl_encoding *b, int add_special,
                            xl_encoding *out) {
    enc_list l = {{*a, {0}}, 1};
    memset(a, 0, sizeof *a);
    if (b) {
        l.e[1] = *b;
        l.n = 2;
        memset(b, 0, sizeof *b);
    }
    xl_status st = p ? apply_rec(p, &l, add_special) : XL_OK;
    if (!st && l.n == 2) {
        /* what is left unmerged is concatenated, A then B (the crate's Encoding::merge) */
        xl_encoding m = {0};
        if (!(st = enc_alloc(&m, l.e[0].n + l.e[1].n))) {
            put_enc(&m, &l.e[0], -1);
            put_enc(&m, &l.e[1], -1);
            list_set(&l, &m);
        }
    }
    if (st) {
        list_free(&l);
        return st;
    }
    *out = l.e[0];
    return XL_OK;
}

size_t tk_postproc_added(const tk_postproc *p, int pair) {
    if (!p) return 0;
    switch (p->kind) {
    case PP_TEMPLATE: {
        const tpl *t = pair ? &p->pair : &p->single;
        size_t n = 0;
        for (size_t i = 0; i < t->n; i++) n += t->v[i].seq < 0 ? t->v[i].n : 0;
        return n;
    }
    case PP_BERT:
        return pair ? 3 : 2;
    case PP_ROBERTA:
        return pair ? 4 : 2;
    case PP_BYTELEVEL:
        return 0;
    case PP_SEQUENCE: {
        size_t n = 0;
        for (size_t i = 0; i < p->n_items; i++) n += tk_postproc_added(p->items[i], pair);
        return n;
    }
    }
    return 0;
}

/* The crate's ByteLevel process_offsets: leading and trailing spaces of a token's
 * string (the byte-level space U+0120 or whitespace) come off its offsets, except
 * the one space add_prefix_space put before the first token. */
static void trim_one(const tk_postproc *p, xl_encoding *e, tk_token_str str, const void *ctx) {
    for (size_t i = 0; i < e->n; i++) {
        const char *t = str(ctx, e->ids[i]);
        if (!t) continue;
        size_t len = strlen(t), lead = 0, trail = 0, j = 0, last_start = 0;
        int in_lead = 1;
        while (j < len) {
            size_t at = j;
            int32_t c = tk_decode(t, &j);
            int sp = c == 0x120 || tk_is_whitespace(c);
            if (in_lead && sp) lead++;
            else in_lead = 0;
            trail = sp ? trail + 1 : 0;
            last_start = at;
        }
        (void)last_start;
        uint32_t *o = e->offsets + 2 * i;
        if (!lead && !trail) continue;
        if (lead) {
            if ((i == 0 || o[0] == 0) && p->prefix_space && lead == 1) lead = 0;
            o[0] = o[0] + lead < o[1] ? o[0] + (uint32_t)lead : o[1];
        }
        if (trail && o[1] >= trail) o[1] = o[1] - trail > o[0] ? o[1] - (uint32_t)trail : o[0];
    }
}

void tk_postproc_trim_offsets(const tk_postproc *p, xl_encoding *e, tk_token_str str, const void *ctx) {
    if (!p || !e->offsets) return;
    if (p->kind == PP_SEQUENCE)
        for (size_t i = 0; i < p->n_items; i++) tk_postproc_trim_offsets(p->items[i], e, str, ctx);
    else if ((p->kind == PP_BYTELEVEL || p->kind == PP_ROBERTA) && p->trim)
        trim_one(p, e, str, ctx);
}
