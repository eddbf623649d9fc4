/* Character classes and Unicode normalization with the semantics the Hugging Face
 * `tokenizers` crate gets from Rust (char::is_whitespace, unicode_categories,
 * char::to_lowercase, unicode-normalization, the regex crate's \w). Tables come from
 * utf8proc. Every function takes valid UTF-8 (the pipeline repairs input first). */
#ifndef XL_TOK_UNICODE_H
#define XL_TOK_UNICODE_H
#include <stddef.h>
#include <stdint.h>
#include "util/vec.h"
#include "xling.h"

/* Byte length of the UTF-8 sequence led by byte c (1 for stray bytes). */
static inline size_t tk_cplen(unsigned char c) {
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Decodes the code point at s + *i (valid UTF-8) and advances *i past it. */
static inline int32_t tk_decode(const char *s, size_t *i) {
    const unsigned char *u = (const unsigned char *)s + *i;
    unsigned char c = u[0];
    if (c < 0x80) { *i += 1; return c; }
    if (c < 0xE0) { *i += 2; return ((c & 0x1F) << 6) | (u[1] & 0x3F); }
    if (c < 0xF0) { *i += 3; return ((c & 0x0F) << 12) | ((u[1] & 0x3F) << 6) | (u[2] & 0x3F); }
    *i += 4;
    return ((c & 0x07) << 18) | ((u[1] & 0x3F) << 12) | ((u[2] & 0x3F) << 6) | (u[3] & 0x3F);
}

/* Encodes cp into out (4 bytes room); returns the byte count. */
size_t tk_encode(int32_t cp, char *out);
/* Appends the UTF-8 of cp to b. */
xl_status tk_buf_put_cp(xl_buf *b, int32_t cp);
/* Number of code points in valid UTF-8 s[0..len). */
size_t tk_count_chars(const char *s, size_t len);

/* Unicode White_Space (Rust char::is_whitespace, regex \s, Oniguruma \s). */
int tk_is_whitespace(int32_t c);
/* ASCII punctuation or a P* category (the BERT and Punctuation pre-tokenizers). */
int tk_is_punctuation(int32_t c);
/* Cc, Cf, Co or Cs: unicode_categories' is_other() as BertNormalizer uses it. */
int tk_is_other(int32_t c);
/* Mn (strip accents after NFD). */
int tk_is_mark_nonspacing(int32_t c);
/* Mn, Mc or Me (unicode-normalization is_combining_mark, the StripAccents normalizer). */
int tk_is_mark(int32_t c);
/* Nd, Nl or No (Rust char::is_numeric, the Digits pre-tokenizer). */
int tk_is_numeric(int32_t c);
/* A regex word character: Alphabetic, M*, Nd, Pc, Join_Control (the regex crate's \w). */
int tk_is_word_char(int32_t c);
/* The CJK ideograph blocks BertNormalizer isolates (the Rust crate's ranges). */
int tk_is_chinese_char(int32_t c);
/* Full lowercase mapping of one code point (Rust char::to_lowercase); returns 1 or 2. */
int tk_to_lower(int32_t c, int32_t out[2]);

/* The GPT-2 byte-level alphabet: printable Latin-1 bytes ('!'..'~', 0xA1..0xAC,
 * 0xAE..0xFF) stand for themselves, the others for 256 + their rank among them. */
static inline int32_t tk_bytelevel_cp(uint8_t b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    if (b <= 0x20) return 256 + b;
    if (b <= 0xA0) return 256 + 33 + (b - 0x7F);
    return 256 + 33 + 34; /* 0xAD */
}

typedef enum { TK_NFC, TK_NFD, TK_NFKC, TK_NFKD } tk_form;
/* Appends the normalization form of s[0..len) to out. */
xl_status tk_unicode_form(const char *s, size_t len, tk_form form, xl_buf *out);

#endif
