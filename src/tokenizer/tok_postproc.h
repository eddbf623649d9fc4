/* Post-processors of tokenizer.json ("post_processor") for a single sequence:
 * TemplateProcessing (the "single" template), BertProcessing, RobertaProcessing,
 * ByteLevel (offsets only: ids unchanged) and Sequence. They add the special tokens
 * when add_special_tokens is on; without it no post-processor changes the ids. */
#ifndef XL_TOK_POSTPROC_H
#define XL_TOK_POSTPROC_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "xling.h"

typedef struct tk_postproc tk_postproc;

xl_status tk_postproc_parse(const json_t *j, const char *what, tk_postproc **out);
void tk_postproc_free(tk_postproc *p);

/* Builds the encoding of content ids[0..n) with the special tokens added:
 * out->ids / out->special are malloc'd (special[i] = 1 for the added tokens). */
xl_status tk_postproc_apply(const tk_postproc *p, const int32_t *ids, size_t n, xl_encoding *out);

#endif
