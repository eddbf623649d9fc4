/* The Precompiled normalizer: SentencePiece's `precompiled_charsmap`, a base64 blob
 * holding [u32 trie size][darts-clone double-array trie][NUL-separated replacement
 * strings]. Applied as the Hugging Face `tokenizers` crate applies it (the reference):
 * grapheme by grapheme; a grapheme under 6 bytes is replaced whole by the string of
 * its shortest key prefix, longer ones (and ones without a key) character by
 * character. This differs from sentencepiece's longest match on NFD Hangul (L V T
 * jamo: one 9-byte grapheme), stacked combining marks and halfwidth kana with voiced
 * marks; xling follows the crate, what transformers and sentence-transformers run. */
#ifndef XL_TOK_CHARSMAP_H
#define XL_TOK_CHARSMAP_H
#include <stddef.h>
#include "tokenizer/tok_align.h"
#include "util/vec.h"
#include "xling.h"

typedef struct tk_charsmap tk_charsmap;

/* Decodes and validates the base64 charsmap. `what` names the component for errors. */
xl_status tk_charsmap_load(const char *b64, size_t len, const char *what, tk_charsmap **out);
void tk_charsmap_free(tk_charsmap *m);
/* Appends the normalization of s[0..len) (valid UTF-8) to out. */
xl_status tk_charsmap_normalize(const tk_charsmap *m, const char *s, size_t len, xl_buf *out);
/* The same walk as the crate's (char, change) stream (tok_align.h), appended to out;
 * *modified is set when any replacement applied (the crate leaves the text and its
 * alignments untouched otherwise). */
xl_status tk_charsmap_changes(const tk_charsmap *m, const char *s, size_t len, tk_changes *out, int *modified);

#endif
