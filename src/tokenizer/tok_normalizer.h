/* Normalizers of tokenizer.json ("normalizer"): BertNormalizer, NFC, NFD, NFKC,
 * NFKD, Lowercase, StripAccents, Strip, Replace, Prepend, Nmt, ByteLevel,
 * Precompiled and Sequence, with the Hugging Face crate's semantics. */
#ifndef XL_TOK_NORMALIZER_H
#define XL_TOK_NORMALIZER_H
#include <jansson.h>
#include <stddef.h>
#include "tokenizer/tok_pieces.h"
#include "util/vec.h"
#include "xling.h"

typedef struct tk_normalizer tk_normalizer;

/* Parses a normalizer object; `what` names it in errors (e.g. "x/tokenizer.json: normalizer"). */
xl_status tk_normalizer_parse(const json_t *j, const char *what, tk_normalizer **out);
void tk_normalizer_free(tk_normalizer *n);

/* Normalizes s[0..len) (valid UTF-8) into out (cleared first). *lead_dropped is set
 * to 1 when characters at the start were removed, so that the result no longer
 * begins at the input's first character (what Metaspace's "first" scheme checks);
 * it is never cleared. */
xl_status tk_normalizer_apply(const tk_normalizer *n, const char *s, size_t len, xl_buf *out, int *lead_dropped);

/* The same normalization with alignments (xl_tokenize_offsets): s[0..len) with its
 * alignments al and original_shift `shift` into out and out_al (cleared first),
 * each output byte aligned as the crate's NormalizedString aligns it. */
xl_status tk_normalizer_align(const tk_normalizer *n, const char *s, size_t len, const tk_align *al, uint32_t shift,
                              xl_buf *out, tk_alvec *out_al);

#endif
