#include "tokenizer/tok_pieces.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"

static xl_status grow(tk_pieces *p) {
    if (p->n < p->cap) return XL_OK;
    size_t nc = p->cap ? p->cap * 2 : 32;
    tk_piece *v = realloc(p->v, nc * sizeof *v);
    if (!v) return xl_err(XL_ERR_NOMEM, "out of memory (%zu pieces)", nc);
    p->v = v;
    p->cap = nc;
    return XL_OK;
}

xl_status tk_alvec_reserve(tk_alvec *a, size_t cap) {
    if (cap <= a->cap) return XL_OK;
    size_t nc = a->cap ? a->cap : 64;
    while (nc < cap) nc *= 2;
    tk_align *v = realloc(a->v, nc * sizeof *v);
    if (!v) return xl_err(XL_ERR_NOMEM, "out of memory (%zu alignments)", nc);
    a->v = v;
    a->cap = nc;
    return XL_OK;
}

void tk_alvec_free(tk_alvec *a) {
    free(a->v);
    memset(a, 0, sizeof *a);
}

/* Offset of s[0..len) in the source buffer; an internal error when it is not there
 * (a tracking caller forgot to point the source at what it splits). */
static xl_status source_offset(const tk_pieces *p, const char *s, size_t len, size_t *off) {
    if (!p->src || s < p->src || (size_t)(s - p->src) > p->src_len || len > p->src_len - (size_t)(s - p->src))
        return xl_err(XL_ERR_UNSUPPORTED, "tokenizer offsets: internal error: a piece outside its source text");
    *off = (size_t)(s - p->src);
    return XL_OK;
}

xl_status tk_pieces_add(tk_pieces *p, const char *s, size_t len, int first) {
    if (!len) return XL_OK;
    size_t mark = p->text.n, off = 0;
    xl_status st = XL_OK;
    if (p->track) {
        if ((st = source_offset(p, s, len, &off)) || (st = tk_alvec_reserve(&p->al, mark + len))) return st;
        memcpy(p->al.v + mark, p->src_al + off, len * sizeof *p->al.v);
        p->al.n = mark + len;
    }
    if ((st = xl_buf_append(&p->text, s, len)) || (st = grow(p))) return st;
    /* the crate's slice: original_shift moves to the input offset of the first byte */
    p->v[p->n++] = (tk_piece){mark, len, -1, (uint8_t)(first != 0), p->track ? p->src_al[off].s : 0, 0};
    return XL_OK;
}

xl_status tk_pieces_close(tk_pieces *p, size_t mark, int first) {
    if (p->text.n == mark) return XL_OK;
    xl_status st = grow(p);
    if (st) return st;
    p->v[p->n++] = (tk_piece){mark, p->text.n - mark, -1, (uint8_t)(first != 0), 0, 0};
    return XL_OK;
}

xl_status tk_pieces_add_token(tk_pieces *p, int32_t id) {
    xl_status st = grow(p);
    if (st) return st;
    p->v[p->n++] = (tk_piece){p->text.n, 0, id, 0, 0, 0};
    return XL_OK;
}

xl_status tk_pieces_add_token_at(tk_pieces *p, int32_t id, const char *s, size_t len) {
    xl_status st = tk_pieces_add_token(p, id);
    size_t off = 0;
    if (st || !p->track || !len) return st;
    if ((st = source_offset(p, s, len, &off))) return st;
    p->v[p->n - 1].shift = p->src_al[off].s;
    p->v[p->n - 1].end = p->src_al[off + len - 1].e;
    return XL_OK;
}

xl_status tk_pieces_copy_token(tk_pieces *p, const tk_piece *pc) {
    xl_status st = tk_pieces_add_token(p, pc->token);
    if (!st) {
        p->v[p->n - 1].shift = pc->shift;
        p->v[p->n - 1].end = pc->end;
    }
    return st;
}

void tk_pieces_clear(tk_pieces *p) {
    p->n = 0;
    p->text.n = 0;
    p->al.n = 0;
}

void tk_pieces_free(tk_pieces *p) {
    xl_buf_free(&p->text);
    tk_alvec_free(&p->al);
    free(p->v);
    memset(p, 0, sizeof *p);
}

int tk_behavior_parse(const char *name) {
    static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    for (int i = 0; i < 5; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

xl_status tk_matches_push(tk_matches *m, size_t start, size_t end, int is_match) {
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        tk_match *v = realloc(m->v, nc * sizeof *v);
        if (!v) return xl_err(XL_ERR_NOMEM, "out of memory (%zu matches)", nc);
        m->v = v;
        m->cap = nc;
    }
    m->v[m->n++] = (tk_match){start, end, is_match};
    return XL_OK;
}

void tk_matches_free(tk_matches *m) {
    free(m->v);
    memset(m, 0, sizeof *m);
}

xl_status tk_matches_from_spans(const tk_spans *sp, size_t len, int invert, tk_matches *out) {
    out->n = 0;
    size_t prev = 0;
    xl_status st = XL_OK;
    int yes = !invert, no = invert;
    for (size_t i = 0; i < sp->n && !st; i++) {
        if (prev != sp->v[i].start) st = tk_matches_push(out, prev, sp->v[i].start, no);
        if (!st) st = tk_matches_push(out, sp->v[i].start, sp->v[i].end, yes);
        prev = sp->v[i].end;
    }
    if (!st && prev != len) st = tk_matches_push(out, prev, len, no);
    return st;
}

xl_status tk_split_emit(const char *s, size_t len, const tk_matches *m, tk_behavior behavior, int first,
                        tk_pieces *out) {
    (void)len;
    const tk_match *v = m->v;
    size_t n = m->n;
    xl_status st = XL_OK;
    /* Each rule below is the crate's fold over (offsets, is_match), written forward. */
    for (size_t k = 0; k < n && !st;) {
        size_t a = v[k].start, b = v[k].end, step = 1;
        switch (behavior) {
        case TK_REMOVED:
            if (v[k].is_match) { k++; continue; }
            break;
        case TK_ISOLATED:
            break;
        case TK_CONTIGUOUS:
            while (k + step < n && v[k + step].is_match == v[k].is_match) b = v[k + step++].end;
            break;
        case TK_MERGED_WITH_PREVIOUS:
            /* a match directly after a non-match joins it */
            if (!v[k].is_match && k + 1 < n && v[k + 1].is_match) b = v[k + 1].end, step = 2;
            break;
        case TK_MERGED_WITH_NEXT:
            /* a match directly before a non-match joins it */
            if (v[k].is_match && k + 1 < n && !v[k + 1].is_match) b = v[k + 1].end, step = 2;
            break;
        }
        st = tk_pieces_add(out, s + a, b - a, first && a == 0);
        k += step;
    }
    return st;
}
