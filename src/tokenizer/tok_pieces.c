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

xl_status tk_pieces_add(tk_pieces *p, const char *s, size_t len, int first) {
    if (!len) return XL_OK;
    size_t mark = p->text.n;
    xl_status st = xl_buf_append(&p->text, s, len);
    if (st) return st;
    return tk_pieces_close(p, mark, first);
}

xl_status tk_pieces_close(tk_pieces *p, size_t mark, int first) {
    if (p->text.n == mark) return XL_OK;
    xl_status st = grow(p);
    if (st) return st;
    p->v[p->n++] = (tk_piece){mark, p->text.n - mark, -1, (uint8_t)(first != 0)};
    return XL_OK;
}

xl_status tk_pieces_add_token(tk_pieces *p, int32_t id) {
    xl_status st = grow(p);
    if (st) return st;
    p->v[p->n++] = (tk_piece){p->text.n, 0, id, 0};
    return XL_OK;
}

void tk_pieces_clear(tk_pieces *p) {
    p->n = 0;
    p->text.n = 0;
}

void tk_pieces_free(tk_pieces *p) {
    xl_buf_free(&p->text);
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
