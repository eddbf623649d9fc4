/* The Precompiled normalizer: SentencePiece's `precompiled_charsmap`, a base64 blob
 * holding [u32 trie size][darts-clone double-array trie][NUL-separated replacement
 * strings]. Applied as sentencepiece's normalizer does: at each position the longest
 * key that is a prefix of the rest of the text is replaced by its string; without a
 * key one character is copied.
 *
 * The Hugging Face crate walks graphemes instead (a grapheme under 6 bytes is
 * replaced by the string of its shortest key prefix, longer ones character by
 * character). That differs from sentencepiece on inputs such as NFD Hangul (L V T
 * jamo: one 9-byte grapheme), NFD Vietnamese (e + U+0302 + U+0301) and halfwidth
 * kana with voiced marks, where the reference fixtures (sentencepiece and the
 * tokenizers.js port alike) keep the composed forms; xling follows the fixtures. */
#ifndef XL_TOK_CHARSMAP_H
#define XL_TOK_CHARSMAP_H
#include <stddef.h>
#include "util/vec.h"
#include "xling.h"

typedef struct tk_charsmap tk_charsmap;

/* Decodes and validates the base64 charsmap. `what` names the component for errors. */
xl_status tk_charsmap_load(const char *b64, size_t len, const char *what, tk_charsmap **out);
void tk_charsmap_free(tk_charsmap *m);
/* Appends the normalization of s[0..len) (valid UTF-8) to out. */
xl_status tk_charsmap_normalize(const tk_charsmap *m, const char *s, size_t len, xl_buf *out);

#endif
