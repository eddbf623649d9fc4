#include "tokenizer/tok_align.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_unicode.h"
#include "util/error.h"

void tk_xf_init(tk_xf *x, const char *in, size_t in_len, const tk_align *in_al, uint32_t shift, xl_buf *out,
                tk_alvec *out_al, size_t initial_removed) {
    x->in = in;
    x->in_len = in_len;
    x->in_al = in_al;
    x->shift = shift;
    x->out = out;
    x->out_al = out_al;
    x->off = 0;
    for (size_t k = 0; k < initial_removed && x->off < in_len; k++) x->off += tk_cplen((unsigned char)in[x->off]);
}

xl_status tk_al_put(xl_buf *out, tk_alvec *out_al, int32_t cp, tk_align a) {
    char u[4];
    size_t n = tk_encode(cp, u);
    xl_status st = tk_alvec_reserve(out_al, out_al->n + n);
    if (!st) st = xl_buf_append(out, u, n);
    for (size_t i = 0; !st && i < n; i++) out_al->v[out_al->n++] = a;
    return st;
}

xl_status tk_al_append(xl_buf *out, tk_alvec *out_al, const char *s, size_t len, const tk_align *al) {
    xl_status st = tk_alvec_reserve(out_al, out_al->n + len);
    if (!st) st = xl_buf_append(out, s, len);
    if (!st && len) {
        memcpy(out_al->v + out_al->n, al, len * sizeof *al);
        out_al->n += len;
    }
    return st;
}

xl_status tk_xf_push(tk_xf *x, int32_t cp, int change) {
    size_t idx = x->off;
    tk_align a;
    /* past the end cannot happen with the crate's streams; the guard keeps a bad one
     * from reading out of bounds */
    if (change > 0) a = idx < 1 ? (tk_align){x->shift, x->shift} : x->in_al[idx - 1 < x->in_len ? idx - 1 : x->in_len - 1];
    else a = idx < x->in_len ? x->in_al[idx] : x->in_len ? x->in_al[x->in_len - 1] : (tk_align){x->shift, x->shift};
    if (change <= 0) {
        for (int k = 0; k <= -change && x->off < x->in_len; k++) x->off += tk_cplen((unsigned char)x->in[x->off]);
    }
    return tk_al_put(x->out, x->out_al, cp, a);
}

xl_status tk_changes_push(tk_changes *c, int32_t cp, int32_t change) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        tk_change *v = realloc(c->v, nc * sizeof *v);
        if (!v) return xl_err(XL_ERR_NOMEM, "out of memory (%zu changes)", nc);
        c->v = v;
        c->cap = nc;
    }
    c->v[c->n++] = (tk_change){cp, change};
    return XL_OK;
}

void tk_changes_free(tk_changes *c) {
    free(c->v);
    memset(c, 0, sizeof *c);
}

xl_status tk_xf_apply(const char *s, size_t len, const tk_align *al, uint32_t shift, const tk_changes *c,
                      size_t initial_removed, xl_buf *out, tk_alvec *out_al) {
    out->n = 0;
    out_al->n = 0;
    tk_xf x;
    tk_xf_init(&x, s, len, al, shift, out, out_al, initial_removed);
    xl_status st = xl_buf_reserve(out, len + 8);
    if (!st) st = tk_alvec_reserve(out_al, len + 8);
    for (size_t i = 0; i < c->n && !st; i++) st = tk_xf_push(&x, c->v[i].cp, c->v[i].change);
    return st;
}

/* ------------------------------------------------ normalization forms with changes */

static inline int ccc(int32_t c) { return c < 0x300 ? 0 : utf8proc_get_property(c)->combining_class; }

/* Decomposition item: character, change, combining class. */
typedef struct {
    int32_t cp, change, cls;
} dec_item;

typedef struct {
    dec_item *v;
    size_t n, cap, ready; /* v[ready..n) await canonical ordering */
} dec_list;

/* Stable sort of v[ready..n) by combining class (short runs: insertion sort). */
static void sort_pending(dec_list *d) {
    for (size_t i = d->ready + 1; i < d->n; i++) {
        dec_item t = d->v[i];
        size_t j = i;
        while (j > d->ready && d->v[j - 1].cls > t.cls) {
            d->v[j] = d->v[j - 1];
            j--;
        }
        d->v[j] = t;
    }
    d->ready = d->n;
}

static xl_status dec_push(dec_list *d, int32_t cp, int first) {
    int cls = ccc(cp);
    if (cls == 0) sort_pending(d);
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 64;
        dec_item *v = realloc(d->v, nc * sizeof *v);
        if (!v) return xl_err(XL_ERR_NOMEM, "out of memory (normalization of %zu characters)", nc);
        d->v = v;
        d->cap = nc;
    }
    d->v[d->n++] = (dec_item){cp, first ? 0 : 1, cls};
    return XL_OK;
}

/* Full canonical (or compatibility) decomposition of s, each character's first part
 * with change 0 and the rest +1, combining marks put in canonical order. */
static xl_status decompose(const char *s, size_t len, int compat, dec_list *d) {
    utf8proc_option_t opt = UTF8PROC_DECOMPOSE | (compat ? UTF8PROC_COMPAT : 0);
    xl_status st = XL_OK;
    for (size_t i = 0; i < len && !st;) {
        int32_t c = tk_decode(s, &i);
        if (c < 0xC0) { /* no decomposition below U+00C0 except compatibility ones */
            if (!compat || c < 0xA0) {
                st = dec_push(d, c, 1);
                continue;
            }
        }
        utf8proc_int32_t buf[32];
        int last = 0;
        utf8proc_ssize_t n = utf8proc_decompose_char(c, buf, 32, opt, &last);
        if (n < 0 || n > 32) {
            st = dec_push(d, c, 1);
            continue;
        }
        for (utf8proc_ssize_t k = 0; k < n && !st; k++) st = dec_push(d, buf[k], k == 0);
    }
    sort_pending(d);
    return st;
}

/* The primary composite of a + b, or -1. */
static int32_t compose_pair(int32_t a, int32_t b) {
    if (b < 0x300) return -1; /* no composition has a second character below U+0300 */
    /* Hangul LV and LVT */
    if (a >= 0x1100 && a < 0x1113 && b >= 0x1161 && b < 0x1176) return 0xAC00 + ((a - 0x1100) * 21 + (b - 0x1161)) * 28;
    if (a >= 0xAC00 && a < 0xD7A4 && (a - 0xAC00) % 28 == 0 && b > 0x11A7 && b < 0x11C3) return a + (b - 0x11A7);
    utf8proc_int32_t buf[2] = {a, b};
    utf8proc_ssize_t n = utf8proc_normalize_utf32(buf, 2, UTF8PROC_COMPOSE);
    return n == 1 ? buf[0] : -1;
}

xl_status tk_unicode_form_changes(const char *s, size_t len, int form, tk_changes *out) {
    dec_list d = {0};
    int compat = form == TK_NFKC || form == TK_NFKD;
    xl_status st = decompose(s, len, compat, &d);
    if (st || form == TK_NFD || form == TK_NFKD) {
        for (size_t i = 0; i < d.n && !st; i++) st = tk_changes_push(out, d.v[i].cp, d.v[i].change);
        free(d.v);
        return st;
    }
    /* canonical composition, as the crate's Recompositions iterator emits it: the
     * starter being composed ("composee") is emitted when a later starter cannot
     * join it, followed by the marks that were blocked */
    tk_changes buffer = {0};
    int has_k = 0, last_ccc = -1;
    tk_change k = {0, 0};
    for (size_t i = 0; i < d.n && !st; i++) {
        int32_t ch = d.v[i].cp, change = d.v[i].change;
        int cls = d.v[i].cls;
        if (!has_k) {
            if (cls != 0) st = tk_changes_push(out, ch, change);
            else k = (tk_change){ch, change}, has_k = 1;
            continue;
        }
        if (last_ccc >= 0 && last_ccc >= cls) {
            if (cls == 0) {
                st = tk_changes_push(out, k.cp, k.change);
                for (size_t b = 0; b < buffer.n && !st; b++) st = tk_changes_push(out, buffer.v[b].cp, buffer.v[b].change);
                buffer.n = 0;
                k = (tk_change){ch, change};
                last_ccc = -1;
            } else {
                st = tk_changes_push(&buffer, ch, change);
                last_ccc = cls;
            }
            continue;
        }
        int32_t r = compose_pair(k.cp, ch);
        if (r >= 0) {
            k = (tk_change){r, k.change + change - 1};
            continue;
        }
        if (last_ccc < 0 && cls == 0) {
            st = tk_changes_push(out, k.cp, k.change);
            k = (tk_change){ch, change};
            continue;
        }
        st = tk_changes_push(&buffer, ch, change);
        last_ccc = cls;
    }
    if (!st && has_k) st = tk_changes_push(out, k.cp, k.change);
    for (size_t b = 0; b < buffer.n && !st; b++) st = tk_changes_push(out, buffer.v[b].cp, buffer.v[b].change);
    tk_changes_free(&buffer);
    free(d.v);
    return st;
}
