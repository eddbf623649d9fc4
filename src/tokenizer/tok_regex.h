/* Regular expressions of tokenizer.json (Split and Replace patterns, the ByteLevel
 * GPT-2 pattern) on PCRE2, with the match semantics of the Oniguruma engine the
 * Hugging Face crate uses. */
#ifndef XL_TOK_REGEX_H
#define XL_TOK_REGEX_H
#include <jansson.h>
#include <stddef.h>
#include "xling.h"

typedef struct tk_regex tk_regex;

typedef struct {
    size_t start, end;
} tk_span;

typedef struct {
    tk_span *v;
    size_t n, cap;
} tk_spans;

xl_status tk_spans_push(tk_spans *a, size_t start, size_t end);
void tk_spans_free(tk_spans *a);

/* Compiles an Oniguruma-syntax pattern (UTF-8, UCP). \s, \w and \h are rewritten to
 * Oniguruma's Unicode classes (\s includes U+0085; \w covers letters, marks, decimal
 * digits and connector punctuation; \h is a hex digit). `what` names the component
 * for errors. */
xl_status tk_regex_compile(const char *pattern, size_t len, const char *what, tk_regex **out);
/* A pattern that matches `lit` literally (the String patterns of Split and Replace). */
xl_status tk_regex_literal(const char *lit, size_t len, const char *what, tk_regex **out);
void tk_regex_free(tk_regex *re);
/* Compiles the "pattern" member of j: {"String": literal} or {"Regex": pattern}
 * (Replace normalizer, Split pre-tokenizer). */
xl_status tk_parse_pattern(const json_t *j, const char *what, tk_regex **out);

/* Appends the successive matches in s[0..len) to out (cleared first), as Oniguruma's
 * find_iter yields them: leftmost-first, non-overlapping, an empty match right after
 * the previous match is skipped by one character. s must be valid UTF-8. */
xl_status tk_regex_find_all(const tk_regex *re, const char *s, size_t len, tk_spans *out);

#endif
