/* The text as it flows through the pipeline: a list of pieces, each either a run of
 * (normalized, pre-tokenized) text stored in one buffer, or an added token already
 * resolved to its id. This is the Hugging Face PreTokenizedString; its offsets are
 * kept only when `track` is set (xl_tokenize_offsets): then every text byte has an
 * alignment, the span of input bytes it came from (the crate's NormalizedString
 * alignments, kept absolute), and every piece its original_shift. */
#ifndef XL_TOK_PIECES_H
#define XL_TOK_PIECES_H
#include <stddef.h>
#include <stdint.h>
#include "tokenizer/tok_regex.h"
#include "util/vec.h"
#include "xling.h"

/* Input bytes [s, e) a normalized byte comes from. */
typedef struct {
    uint32_t s, e;
} tk_align;

typedef struct {
    tk_align *v;
    size_t n, cap;
} tk_alvec;

xl_status tk_alvec_reserve(tk_alvec *a, size_t cap);
void tk_alvec_free(tk_alvec *a);

typedef struct {
    size_t start, len; /* bytes of the piece in the list's text buffer */
    int32_t token;     /* >= 0: an added token's id (no text); -1: text */
    uint8_t first;     /* the piece begins at offset 0 of the original input
                          (Metaspace's prepend_scheme "first") */
    uint32_t shift;    /* tracking: text: the input offset its alignments are relative
                          to in the crate (original_shift); token: its input span */
    uint32_t end;      /* tracking, token pieces: end of that span */
} tk_piece;

typedef struct {
    xl_buf text;
    tk_piece *v;
    size_t n, cap;
    int track;         /* keep alignments (al, parallel to text) */
    tk_alvec al;
    /* Tracking: the buffer the next tk_pieces_add / tk_pieces_add_token_at calls
     * copy from, with its alignments (the caller points it at the piece or scratch
     * text being split). */
    const char *src;
    size_t src_len;
    const tk_align *src_al;
} tk_pieces;

/* Appends a copy of s[0..len) as a text piece; empty text is dropped, as the crate
 * drops empty splits. Tracking: s must lie in the source buffer (tk_pieces_source). */
xl_status tk_pieces_add(tk_pieces *p, const char *s, size_t len, int first);
/* Appends an added-token piece. */
xl_status tk_pieces_add_token(tk_pieces *p, int32_t id);
/* Appends an added-token piece that matched s[0..len) of the source buffer. */
xl_status tk_pieces_add_token_at(tk_pieces *p, int32_t id, const char *s, size_t len);
/* Appends a copy of token piece pc (its span too). */
xl_status tk_pieces_copy_token(tk_pieces *p, const tk_piece *pc);
/* Starts a text piece whose bytes the caller appends to p->text, then closes it
 * (not when tracking: the bytes would have no alignments). */
static inline size_t tk_pieces_mark(const tk_pieces *p) { return p->text.n; }
xl_status tk_pieces_close(tk_pieces *p, size_t mark, int first);
/* Tracking: the buffer s[0..len) with alignments al that the next adds copy from. */
static inline void tk_pieces_source(tk_pieces *p, const char *s, size_t len, const tk_align *al) {
    p->src = s;
    p->src_len = len;
    p->src_al = al;
}
/* Points the source at text piece pc of list in. */
static inline void tk_pieces_source_piece(tk_pieces *p, const tk_pieces *in, const tk_piece *pc) {
    if (p->track) tk_pieces_source(p, in->text.s + pc->start, pc->len, in->al.v + pc->start);
}
void tk_pieces_clear(tk_pieces *p);
void tk_pieces_free(tk_pieces *p);
static inline const char *tk_piece_text(const tk_pieces *p, const tk_piece *pc) { return p->text.s + pc->start; }
static inline const tk_align *tk_piece_al(const tk_pieces *p, const tk_piece *pc) { return p->al.v + pc->start; }

/* How a split treats the delimiters it found (SplitDelimiterBehavior). */
typedef enum {
    TK_REMOVED,
    TK_ISOLATED,
    TK_MERGED_WITH_PREVIOUS,
    TK_MERGED_WITH_NEXT,
    TK_CONTIGUOUS
} tk_behavior;

/* Parses a behavior name ("Removed", "Isolated", ...); -1 if unknown. */
int tk_behavior_parse(const char *name);

/* One match of a split pattern inside a piece. */
typedef struct {
    size_t start, end;
    int is_match;
} tk_match;

typedef struct {
    tk_match *v;
    size_t n, cap;
} tk_matches;

xl_status tk_matches_push(tk_matches *m, size_t start, size_t end, int is_match);
void tk_matches_free(tk_matches *m);

/* Turns the spans a regex found in s[0..len) into the crate's covering list of
 * (offsets, is_match) — gaps included — inverted when `invert`. */
xl_status tk_matches_from_spans(const tk_spans *sp, size_t len, int invert, tk_matches *out);

/* Appends the pieces of s[0..len) that NormalizedString::split(pattern, behavior)
 * produces for the covering match list m. `first` is the flag of the piece being
 * split: its sub-piece at offset 0 inherits it. */
xl_status tk_split_emit(const char *s, size_t len, const tk_matches *m, tk_behavior behavior, int first,
                        tk_pieces *out);

#endif
