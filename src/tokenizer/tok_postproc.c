#include "tokenizer/tok_postproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/json.h"

typedef enum { PP_TEMPLATE, PP_BERT, PP_ROBERTA, PP_BYTELEVEL, PP_SEQUENCE } pp_kind;

/* One piece of the single template: the sequence ($A) or special-token ids. */
typedef struct {
    int is_sequence;
    int32_t *ids;
    size_t n;
} tpl_piece;

struct tk_postproc {
    pp_kind kind;
    tpl_piece *pieces;   /* TemplateProcessing */
    size_t n_pieces;
    int32_t cls, sep;    /* BertProcessing, RobertaProcessing */
    tk_postproc **items; /* Sequence */
    size_t n_items;
};

void tk_postproc_free(tk_postproc *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n_pieces; i++) free(p->pieces[i].ids);
    free(p->pieces);
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

/* The string form of a piece: "$A", "$", "$0", "$B", "$1" (":type_id" allowed),
 * or a special token name ("[CLS]", "[SEP]:1"). */
static xl_status parse_piece_string(const char *s, const json_t *specials, tpl_piece *pc, const char *what) {
    char name[256];
    snprintf(name, sizeof name, "%s", s);
    char *colon = strrchr(name, ':');
    if (colon && colon != name && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1)) *colon = '\0';
    if (name[0] == '$') {
        const char *id = name + 1;
        if (!strcmp(id, "") || !strcmp(id, "A") || !strcmp(id, "a") || !strcmp(id, "0")) {
            pc->is_sequence = 1;
            return XL_OK;
        }
        if (!strcmp(id, "B") || !strcmp(id, "b") || !strcmp(id, "1"))
            return xl_err(XL_ERR_FORMAT, "%s: the single template refers to the second sequence (%s)", what, s);
        return xl_err(XL_ERR_FORMAT, "%s: invalid template piece \"%s\"", what, s);
    }
    return special_ids(specials, name, pc, what);
}

static xl_status parse_template(const json_t *j, tk_postproc *p, const char *what) {
    json_t *single = json_object_get(j, "single");
    json_t *specials = json_object_get(j, "special_tokens");
    if (specials && !json_is_null(specials) && !json_is_object(specials))
        return xl_err(XL_ERR_FORMAT, "%s: \"special_tokens\" must be an object", what);
    json_t *split = NULL;
    if (json_is_string(single)) {
        /* "[CLS] $A [SEP]": pieces separated by spaces */
        split = json_array();
        const char *s = json_string_value(single);
        while (split && *s) {
            while (*s == ' ') s++;
            size_t k = strcspn(s, " ");
            if (k) json_array_append_new(split, json_stringn(s, k));
            s += k;
        }
        single = split;
    }
    xl_status st = XL_OK;
    if (!json_is_array(single)) {
        st = xl_err(XL_ERR_FORMAT, "%s: \"single\" must be a template (list of pieces)", what);
        goto done;
    }
    p->n_pieces = 0;
    p->pieces = calloc(json_array_size(single) + 1, sizeof *p->pieces);
    if (!p->pieces) {
        st = xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
        goto done;
    }
    for (size_t i = 0; i < json_array_size(single) && !st; i++) {
        json_t *e = json_array_get(single, i);
        tpl_piece *pc = &p->pieces[p->n_pieces++];
        if (json_is_string(e)) {
            st = parse_piece_string(json_string_value(e), specials, pc, what);
            continue;
        }
        json_t *sp = json_object_get(e, "SpecialToken");
        json_t *sq = json_object_get(e, "Sequence");
        if (json_is_object(sp) && json_is_string(json_object_get(sp, "id"))) {
            st = special_ids(specials, json_string_value(json_object_get(sp, "id")), pc, what);
        } else if (json_is_object(sq) && json_is_string(json_object_get(sq, "id"))) {
            const char *id = json_string_value(json_object_get(sq, "id"));
            if (!strcmp(id, "A")) pc->is_sequence = 1;
            else if (!strcmp(id, "B"))
                st = xl_err(XL_ERR_FORMAT, "%s: the single template refers to sequence B", what);
            else
                st = xl_err(XL_ERR_FORMAT, "%s: unknown template sequence \"%s\"", what, id);
        } else {
            st = xl_err(XL_ERR_FORMAT, "%s: single[%zu] must be {\"SpecialToken\": ...} or {\"Sequence\": ...}", what, i);
        }
    }
done:
    json_decref(split);
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
    if (st) {
        tk_postproc_free(p);
        return st;
    }
    *out = p;
    return XL_OK;
}

/* One processor over (ids, special) -> a new malloc'd encoding. */
static xl_status apply_one(const tk_postproc *p, const int32_t *ids, const uint8_t *special, size_t n,
                           xl_encoding *out) {
    size_t total = n;
    if (p->kind == PP_TEMPLATE) {
        total = 0;
        for (size_t i = 0; i < p->n_pieces; i++) total += p->pieces[i].is_sequence ? n : p->pieces[i].n;
    } else if (p->kind == PP_BERT || p->kind == PP_ROBERTA) {
        total = n + 2;
    }
    out->ids = malloc((total ? total : 1) * sizeof *out->ids);
    out->special = malloc(total ? total : 1);
    out->n = 0;
    if (!out->ids || !out->special) {
        xl_encoding_free(out);
        return xl_err(XL_ERR_NOMEM, "out of memory (%zu tokens)", total);
    }
#define PUT_SPECIAL(x) (out->ids[out->n] = (x), out->special[out->n++] = 1)
#define PUT_CONTENT()                                                 \
    do {                                                              \
        if (n) {                                                      \
            memcpy(out->ids + out->n, ids, n * sizeof *ids);          \
            memcpy(out->special + out->n, special, n);                \
            out->n += n;                                              \
        }                                                             \
    } while (0)
    switch (p->kind) {
    case PP_TEMPLATE:
        for (size_t i = 0; i < p->n_pieces; i++) {
            if (p->pieces[i].is_sequence) {
                PUT_CONTENT();
            } else {
                for (size_t k = 0; k < p->pieces[i].n; k++) PUT_SPECIAL(p->pieces[i].ids[k]);
            }
        }
        break;
    case PP_BERT:
    case PP_ROBERTA:
        PUT_SPECIAL(p->cls);
        PUT_CONTENT();
        PUT_SPECIAL(p->sep);
        break;
    case PP_BYTELEVEL:
    case PP_SEQUENCE:
        PUT_CONTENT();
        break;
    }
#undef PUT_SPECIAL
#undef PUT_CONTENT
    return XL_OK;
}

static xl_status apply_rec(const tk_postproc *p, const int32_t *ids, const uint8_t *special, size_t n,
                           xl_encoding *out) {
    if (p->kind != PP_SEQUENCE || p->n_items == 0) return apply_one(p, ids, special, n, out);
    xl_encoding cur = {0};
    xl_status st = apply_rec(p->items[0], ids, special, n, &cur);
    for (size_t i = 1; i < p->n_items && !st; i++) {
        xl_encoding next = {0};
        st = apply_rec(p->items[i], cur.ids, cur.special, cur.n, &next);
        xl_encoding_free(&cur);
        cur = next;
    }
    if (st) {
        xl_encoding_free(&cur);
        return st;
    }
    *out = cur;
    return XL_OK;
}

xl_status tk_postproc_apply(const tk_postproc *p, const int32_t *ids, size_t n, xl_encoding *out) {
    uint8_t *zero = calloc(n ? n : 1, 1);
    if (!zero) return xl_err(XL_ERR_NOMEM, "out of memory (%zu tokens)", n);
    xl_status st = apply_rec(p, ids, zero, n, out);
    free(zero);
    return st;
}
