/* UTF-8 helpers shared by the tokenizer and the CLI. */
#ifndef XL_UTF8_H
#define XL_UTF8_H
#include <stddef.h>
#include <stdint.h>

/* Length of the valid UTF-8 sequence starting at s (1..4), or 0 if the bytes at s
 * are not a valid sequence (per Unicode's well-formed table: no overlongs,
 * no surrogates, nothing above U+10FFFF). */
size_t xl_utf8_valid_len(const unsigned char *s, size_t avail);
/* Bytes of s[0..avail) (avail > 0) that xl_utf8_repair turns into one character: a
 * valid sequence's length, else the maximal subpart one U+FFFD replaces (>= 1). */
size_t xl_utf8_unit_len(const unsigned char *s, size_t avail);
/* Decodes one code point from valid UTF-8 (call xl_utf8_valid_len first). */
int32_t xl_utf8_decode(const unsigned char *s, size_t *len);
/* Encodes cp into out (4 bytes room); returns the byte count. */
size_t xl_utf8_encode(int32_t cp, char *out);
/* 1 if s[0..len) is entirely valid UTF-8. */
int xl_utf8_is_valid(const char *s, size_t len);

#endif
