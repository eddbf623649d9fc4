/* Pre-tokenizers of tokenizer.json ("pre_tokenizer"): BertPreTokenizer, Whitespace,
 * WhitespaceSplit, Metaspace, ByteLevel, Split, Digits, Punctuation,
 * CharDelimiterSplit, FixedLength and Sequence, with the Hugging Face crate's
 * semantics. Each one maps a list of pieces to a finer list; added-token pieces pass
 * through untouched. */
#ifndef XL_TOK_PRETOKENIZER_H
#define XL_TOK_PRETOKENIZER_H
#include <jansson.h>
#include "tokenizer/tok_pieces.h"
#include "xling.h"

typedef struct tk_pretok tk_pretok;

xl_status tk_pretok_parse(const json_t *j, const char *what, tk_pretok **out);
void tk_pretok_free(tk_pretok *p);

/* Pre-tokenizes every text piece of in into out (cleared first). */
xl_status tk_pretok_apply(const tk_pretok *p, const tk_pieces *in, tk_pieces *out);

#endif
