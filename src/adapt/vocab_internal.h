/* Vocabulary transfer and extension (xling.h, "vocabulary transfer"): the parts shared
 * by vocab_transfer.c and vocab_extend.c.
 *
 * - Piece conventions (vocab_match.c): what a token string means as text. WordPiece
 *   marks continuation pieces with "##"; SentencePiece (Unigram, Gemma's BPE) marks
 *   word-initial pieces with "▁"; byte-level BPE (GPT-2, Llama 3, Qwen) spells bytes
 *   with the GPT-2 byte<->unicode table, a word-initial piece starting with "Ġ" (space).
 *   Every piece decodes to its text and a word-initial flag, so pieces of different
 *   conventions can be compared.
 * - Recipes: each new row is a weighted mean of source rows (a copy is one row of
 *   weight 1), so one recipe per new token initialises every vocabulary-sized tensor
 *   (input embeddings, an untied output embedding, an MLM decoder and its bias).
 * - FVT (fvt.c): the mean of the source rows of the source tokenizer's pieces of the
 *   new token's text.
 * - IBM Model 1 (ibm1.c): alignment-probability-weighted means from a parallel corpus. */
#ifndef XL_VOCAB_INTERNAL_H
#define XL_VOCAB_INTERNAL_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "util/vec.h"
#include "xling.h"

/* ------------------------------------------------------ piece conventions */

typedef enum { VC_WORDPIECE, VC_METASPACE, VC_BYTELEVEL } vc_kind;

/* Special-token roles, as tokenizer_config.json names them. */
typedef enum { VR_BOS, VR_CLS, VR_EOS, VR_SEP, VR_PAD, VR_UNK, VR_MASK, VR_N } vc_role;
extern const char *const vc_role_names[VR_N]; /* "bos_token", ... */

/* What kind of token an id is. */
enum { VT_MODEL = 0, VT_ADDED = 1, VT_SPECIAL = 2, VT_HOLE = 3 /* no token has this id */ };

typedef struct {
    vc_kind kind;
    char prefix[64];      /* WordPiece continuing_subword_prefix */
    char repl[8];         /* Metaspace replacement character (UTF-8) */
    int byte_fallback;    /* SentencePiece <0xHH> pieces */
    char desc[96];        /* "WordPiece (##)", "SentencePiece (▁)", "byte-level BPE" */
    int32_t unk_id;       /* -1 if none */
    size_t n_ids;         /* largest id + 1 */
    uint8_t *type;        /* [n_ids] VT_* */
    int32_t role[VR_N];   /* id per role, -1 if none */
} vc_info;

/* Reads the convention, the added / special tokens and the unknown token of a parsed
 * tokenizer.json (tok: the same file loaded by xl_tokenizer_load), and the special
 * roles from tokenizer_config.json at cfg_path (may be absent: then the usual names
 * [CLS] <s> ... are looked up). Conventions xling cannot read (BPE with an
 * end-of-word suffix, WordLevel...) are XL_ERR_UNSUPPORTED naming `what`. */
xl_status vc_load(const json_t *root, const xl_tokenizer *tok, const char *cfg_path, const char *what, vc_info *out);
void vc_free(vc_info *c);
/* A JSON file such as tokenizer_config.json, whose 31-digit model_max_length (1e30)
 * jansson's integers cannot hold: such integers are read as reals. */
xl_status vc_json_load(const char *path, json_t **out);

/* Decodes a model piece to its text bytes (appended to *text, which is cleared first)
 * and *initial = 1 for a word-initial piece (the leading space or "▁" removed from the
 * text), 0 for a continuation piece. Byte-level pieces decode to their bytes (maybe
 * not valid UTF-8), SentencePiece byte pieces <0xHH> to that byte. */
xl_status vc_decode(const vc_info *c, const char *piece, xl_buf *text, int *initial);

/* The text a piece stands for inside running text: " " + text for a word-initial
 * piece, the text for a continuation piece; added tokens stand for their content. */
xl_status vc_piece_text(const vc_info *c, const char *piece, int type, xl_buf *out);

/* Source pieces by meaning: (text, word-initial flag) -> source id, for copy matching
 * and for the greedy longest-match of byte strings that are not UTF-8. */
typedef struct vc_keys vc_keys;
xl_status vc_keys_build(const vc_info *c, const xl_tokenizer *tok, size_t limit, vc_keys **out);
void vc_keys_free(vc_keys *k);
/* Source id of a piece meaning text[0..len) with this flag, or -1. */
int32_t vc_keys_find(const vc_keys *k, const char *text, size_t len, int initial);
/* Source id of an added token with this exact content, or -1. */
int32_t vc_keys_find_added(const vc_keys *k, const char *content, size_t len);
/* Length of the longest piece text among the keys. */
size_t vc_keys_max_len(const vc_keys *k);

/* ---------------------------------------------------------------- recipes */

enum { VH_COPY = 0, VH_ALIGN, VH_FVT, VH_FALLBACK, VH_N };
extern const char *const vh_names[VH_N]; /* "copy", "align", "fvt", "fallback" */

/* Row = sum(w[k] * source[src[k]]) / sum(w); w NULL: equal weights; n = 0 (VH_FALLBACK):
 * the mean of all source rows. */
typedef struct {
    uint8_t how;     /* VH_* */
    uint32_t n;
    int32_t *src;
    float *w;
} vr_row;

void vr_rows_free(vr_row *r, size_t n);

/* The source side FVT reads: the source tokenizer, its convention and keys, and the
 * number of source rows (ids at or above it are left out). */
typedef struct {
    const xl_tokenizer *tok;
    const vc_info *conv;
    const vc_keys *keys;
    size_t rows;
} fvt_source;

/* The FVT recipe of one text (text[0..len)): the source tokenizer's pieces of it,
 * tokenized without special tokens, unknown pieces left out; text that is not UTF-8
 * (a byte-level piece of part of a character) is cut greedily into the longest source
 * pieces of those bytes. No piece: VH_FALLBACK. */
xl_status fvt_recipe(const fvt_source *s, const char *text, size_t len, vr_row *out);

/* ----------------------------------------------------------- IBM Model 1 */

/* A tokenized parallel corpus: sentence k is src[src_off[k] .. src_off[k+1]) and
 * tgt[tgt_off[k] .. tgt_off[k+1]). */
typedef struct {
    xl_ivec src, tgt;
    size_t *src_off, *tgt_off;
    size_t n;
} ib_corpus;
void ib_corpus_free(ib_corpus *c);

/* Soft alignment of every target token: links (tgt, src, weight), sorted by target id
 * then source id; occ[t] = occurrences of target token t in the corpus. */
typedef struct {
    int32_t *tgt, *src;
    double *w;
    size_t n;
    uint32_t *occ;   /* [n_tgt] */
    size_t n_tgt;
} ib_links;
void ib_links_free(ib_links *l);

/* Trains IBM Model 1 both ways (target from source and source from target, each with a
 * NULL word) with `iters` EM iterations, then gives each target token the sum over the
 * corpus of the mean of the two directions' link posteriors with each source token.
 * Target ids must be below n_tgt. */
xl_status ib_align(const ib_corpus *c, size_t n_tgt, int iters, ib_links *out);

/* Translation probability of direction "target from source" after training, for
 * tests: t(tgt | src) (src = -1: NULL). */
typedef struct ib_model ib_model;
xl_status ib_train(const ib_corpus *c, int iters, ib_model **out);
double ib_prob_t_given_s(const ib_model *m, int32_t t, int32_t s);
double ib_prob_s_given_t(const ib_model *m, int32_t s, int32_t t);
void ib_model_free(ib_model *m);

#endif
