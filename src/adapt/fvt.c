/* Fast Vocabulary Transfer (Gee et al. 2022; the baseline of zero-shot tokenizer
 * transfer): a new token's row is the mean of the source rows of the source
 * tokenizer's pieces of the token's text. */
#include <stdlib.h>
#include <string.h>

#include "adapt/vocab_internal.h"
#include "util/error.h"
#include "util/utf8.h"

const char *const vh_names[VH_N] = {"copy", "align", "fvt", "fallback"};

void vr_rows_free(vr_row *r, size_t n) {
    if (!r) return;
    for (size_t i = 0; i < n; i++) {
        free(r[i].src);
        free(r[i].w);
    }
    free(r);
}

/* Bytes that are not UTF-8 (a byte-level piece holding part of a character) cannot go
 * through the tokenizer (it would repair them to U+FFFD): they are cut greedily into
 * the longest source pieces spelling them, the first one word-initial when the text
 * starts with a space. */
static xl_status greedy_pieces(const fvt_source *s, const char *text, size_t len, xl_ivec *ids) {
    size_t maxl = vc_keys_max_len(s->keys);
    size_t i = 0;
    int initial = 0;
    if (len && text[0] == ' ') {
        initial = 1;
        i = 1;
    }
    while (i < len) {
        size_t best = 0;
        int32_t id = -1;
        for (size_t l = len - i < maxl ? len - i : maxl; l > 0 && id < 0; l--) {
            id = vc_keys_find(s->keys, text + i, l, initial);
            if (id < 0 && initial) id = vc_keys_find(s->keys, text + i, l, 0);
            if (id >= 0) best = l;
        }
        if (id >= 0) {
            xl_status st = xl_ivec_push(ids, id);
            if (st) return st;
            i += best;
        } else {
            i++; /* a byte no source piece spells: left out, as an unknown piece */
        }
        initial = 0;
    }
    return XL_OK;
}

xl_status fvt_recipe(const fvt_source *s, const char *text, size_t len, vr_row *out) {
    memset(out, 0, sizeof *out);
    out->how = VH_FALLBACK;
    xl_ivec ids = {0};
    xl_status st = XL_OK;
    if (xl_utf8_is_valid(text, len)) {
        xl_encoding enc;
        if ((st = xl_tokenize(s->tok, text, len, 0, &enc))) return st;
        for (size_t i = 0; i < enc.n && !st; i++)
            if (enc.ids[i] >= 0 && enc.ids[i] != s->conv->unk_id && (size_t)enc.ids[i] < s->rows) st = xl_ivec_push(&ids, enc.ids[i]);
        xl_encoding_free(&enc);
    } else {
        st = greedy_pieces(s, text, len, &ids);
    }
    if (!st && ids.n) {
        out->how = VH_FVT;
        out->n = (uint32_t)ids.n;
        out->src = ids.v;
        ids.v = NULL;
    }
    xl_ivec_free(&ids);
    return st;
}
