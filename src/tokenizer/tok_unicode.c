#include "tokenizer/tok_unicode.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "util/error.h"

size_t tk_encode(int32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = (unsigned char)(0xC0 | (cp >> 6)); o[1] = (unsigned char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

xl_status tk_buf_put_cp(xl_buf *b, int32_t cp) {
    char tmp[4];
    return xl_buf_append(b, tmp, tk_encode(cp, tmp));
}

size_t tk_count_chars(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

int tk_is_whitespace(int32_t c) {
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
    switch (c) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
        return 1;
    default:
        return c >= 0x2000 && c <= 0x200A;
    }
}

static inline int cat(int32_t c) { return (int)utf8proc_category(c); }

int tk_is_punctuation(int32_t c) {
    if (c < 0x80)
        return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
               (c >= 0x7B && c <= 0x7E);
    int k = cat(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

int tk_is_other(int32_t c) {
    if (c < 0x80) return c < 0x20 || c == 0x7F;
    int k = cat(c);
    return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CO ||
           k == UTF8PROC_CATEGORY_CS;
}

int tk_is_mark_nonspacing(int32_t c) {
    return c >= 0x300 && cat(c) == UTF8PROC_CATEGORY_MN;
}

int tk_is_mark(int32_t c) {
    if (c < 0x300) return 0;
    int k = cat(c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_ME;
}

int tk_is_numeric(int32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    int k = cat(c);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

int tk_is_word_char(int32_t c) {
    if (c < 0x80)
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (c == 0x200C || c == 0x200D) return 1; /* Join_Control */
    /* Alphabetic symbols outside L* / Nl (Other_Alphabetic: circled and squared letters) */
    if ((c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) ||
        (c >= 0x1F170 && c <= 0x1F189))
        return 1;
    switch (cat(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_PC:
        return 1;
    default:
        return 0;
    }
}

int tk_is_chinese_char(int32_t c) {
    /* The ranges of the Rust BertNormalizer, including its 0x2B920 start (BERT's
     * Python uses 0x2B820): parity with the crate, not with the original BERT. */
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

int tk_to_lower(int32_t c, int32_t out[2]) {
    if (c < 0x80) {
        out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        return 1;
    }
    /* The one unconditional multi-character lowercase mapping of SpecialCasing.txt. */
    if (c == 0x130) {
        out[0] = 'i';
        out[1] = 0x307;
        return 2;
    }
    out[0] = utf8proc_tolower(c);
    return 1;
}

static xl_status form_segment(const char *s, size_t len, utf8proc_option_t opt, xl_buf *out) {
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &dst, opt);
    if (n < 0) {
        free(dst);
        return xl_err(XL_ERR_INPUT, "unicode normalization failed: %s", utf8proc_errmsg(n));
    }
    xl_status st = xl_buf_append(out, dst, (size_t)n);
    free(dst);
    return st;
}

xl_status tk_unicode_form(const char *s, size_t len, tk_form form, xl_buf *out) {
    utf8proc_option_t opt = UTF8PROC_STABLE;
    switch (form) {
    case TK_NFC: opt |= UTF8PROC_COMPOSE; break;
    case TK_NFD: opt |= UTF8PROC_DECOMPOSE; break;
    case TK_NFKC: opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case TK_NFKD: opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    }
    /* ASCII is invariant under every form, and no composition pairs an ASCII
     * character with a preceding one: only runs of non-ASCII text, together with the
     * ASCII character before them (a starter a mark may attach to), go through
     * utf8proc. */
    xl_status st = xl_buf_reserve(out, out->n + len);
    if (st) return st;
    size_t i = 0;
    while (i < len) {
        size_t p = i;
        while (p < len && (unsigned char)s[p] < 0x80) p++;
        if (p == len) return xl_buf_append(out, s + i, len - i);
        size_t seg = p > i ? p - 1 : p;
        if (seg > i && (st = xl_buf_append(out, s + i, seg - i))) return st;
        size_t q = p;
        while (q < len && (unsigned char)s[q] >= 0x80) q++;
        if ((st = form_segment(s + seg, q - seg, opt, out))) return st;
        i = q;
    }
    return XL_OK;
}
