/* Post-processors of tokenizer.json ("post_processor"): TemplateProcessing ("single"
 * and "pair" templates with their type ids), BertProcessing, RobertaProcessing,
 * ByteLevel (offsets only: ids unchanged) and Sequence, applied to one text or a pair
 * as the Hugging Face crate applies them. Special tokens are added only with
 * add_special_tokens; the template's type ids apply either way. */
#ifndef XL_TOK_POSTPROC_H
#define XL_TOK_POSTPROC_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "xling.h"

typedef struct tk_postproc tk_postproc;

xl_status tk_postproc_parse(const json_t *j, const char *what, tk_postproc **out);
void tk_postproc_free(tk_postproc *p);

/* Builds the final encoding of a (and b, the pair's second text, or NULL): takes
 * ownership of a's and b's arrays (they are left empty) and writes out. Each input's
 * type_ids hold its default type (0 for a, 1 for b). p may be NULL (no processor). */
xl_status tk_postproc_apply(const tk_postproc *p, xl_encoding *a, xl_encoding *b, int add_special,
                            xl_encoding *out);
/* Number of special tokens the processor adds to one text (pair = 0) or a pair. */
size_t tk_postproc_added(const tk_postproc *p, int pair);

/* Token string of an id (NULL if none), for tk_postproc_trim_offsets. */
typedef const char *(*tk_token_str)(const void *ctx, int32_t id);
/* The offset trimming of the ByteLevel and RobertaProcessing processors with
 * trim_offsets (on content tokens, before special tokens are added, as in the crate). */
void tk_postproc_trim_offsets(const tk_postproc *p, xl_encoding *e, tk_token_str str, const void *ctx);

#endif
