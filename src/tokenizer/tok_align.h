/* Alignment tracking for token offsets (xl_tokenize_offsets): the Hugging Face
 * crate's NormalizedString::transform and the (char, change) streams its normalizers
 * feed it. A change of 0 replaces the next input character (the output takes its
 * alignment), a positive change inserts (the output takes the alignment of the last
 * input byte consumed, or (shift, shift) at the very start), a negative change -k
 * replaces the next character and removes the k after it. The rules are positional:
 * what matters is how many input characters were consumed, not which one an output
 * character "came from", and that is what makes offsets match the crate's exactly. */
#ifndef XL_TOK_ALIGN_H
#define XL_TOK_ALIGN_H
#include <stddef.h>
#include <stdint.h>
#include "tokenizer/tok_pieces.h"
#include "util/vec.h"
#include "xling.h"

/* A transform in progress: input text (valid UTF-8) with its alignments, output text
 * and alignments (appended to). */
typedef struct {
    const char *in;
    size_t in_len, off; /* bytes of input consumed */
    const tk_align *in_al;
    uint32_t shift;
    xl_buf *out;
    tk_alvec *out_al;
} tk_xf;

/* Starts a transform that first skips `initial_removed` input characters. */
void tk_xf_init(tk_xf *x, const char *in, size_t in_len, const tk_align *in_al, uint32_t shift, xl_buf *out,
                tk_alvec *out_al, size_t initial_removed);
/* Applies one (char, change) of the stream. */
xl_status tk_xf_push(tk_xf *x, int32_t cp, int change);

/* Appends cp with alignment a (all of its bytes). */
xl_status tk_al_put(xl_buf *out, tk_alvec *out_al, int32_t cp, tk_align a);
/* Appends s[0..len) with its alignments al. */
xl_status tk_al_append(xl_buf *out, tk_alvec *out_al, const char *s, size_t len, const tk_align *al);

/* One (char, change) item of a stream. */
typedef struct {
    int32_t cp;
    int32_t change;
} tk_change;

typedef struct {
    tk_change *v;
    size_t n, cap;
} tk_changes;

xl_status tk_changes_push(tk_changes *c, int32_t cp, int32_t change);
void tk_changes_free(tk_changes *c);

/* The stream of the unicode-normalization-alignments crate for s[0..len) (valid UTF-8)
 * in normalization form `form` (tk_form of tok_unicode.h), appended to out. */
xl_status tk_unicode_form_changes(const char *s, size_t len, int form, tk_changes *out);

/* Runs a whole stream through a transform of s (cleared outputs first). */
xl_status tk_xf_apply(const char *s, size_t len, const tk_align *al, uint32_t shift, const tk_changes *c,
                      size_t initial_removed, xl_buf *out, tk_alvec *out_al);

#endif
