/* `xling embed` on long documents: --chunk-size / --chunk-overlap / --chunk-pooling
 * (one combined vector per input), --chunks (one line per window, with its spans) and
 * --late-chunking, on top of the library's xl_embed_chunked. cmd_embed parses the
 * options through chunk_cli_parse and hands each chunk of records to chunk_cli_embed. */
#ifndef XL_CLI_EMBED_CHUNKS_H
#define XL_CLI_EMBED_CHUNKS_H
#include <getopt.h>
#include "input.h"
#include "output.h"
#include "xling.h"

/* Option codes far above the commands' own (they add theirs after MO_LAST). */
enum { CK_SIZE = 0x1000, CK_OVERLAP, CK_POOLING, CK_CHUNKS, CK_LATE };

#define CHUNK_LONG_OPTIONS                                                                              \
    {"chunk-size", required_argument, 0, CK_SIZE}, {"chunk-overlap", required_argument, 0, CK_OVERLAP}, \
    {"chunk-pooling", required_argument, 0, CK_POOLING}, {"chunks", no_argument, 0, CK_CHUNKS},         \
    {"late-chunking", no_argument, 0, CK_LATE}

#define CHUNK_OPTIONS_HELP                                                                              \
    "      --chunk-size N       long documents: cut each text's tokens (special tokens and the\n"     \
    "                           prompt not counted) into windows of at most N tokens, embed each\n"   \
    "                           window (prompt and special tokens added), combine them; a text\n"    \
    "                           that fits one window gets its plain embedding\n"                      \
    "      --chunk-overlap M    tokens consecutive windows share (default 0; below N)\n"              \
    "      --chunk-pooling P    mean (default: weighted by each window's tokens, renormalised\n"     \
    "                           when the model normalises) | max (element-wise) | first\n"           \
    "      --chunks             one JSONL line per window instead: {\"input\", \"chunk\", \"start\",\n" \
    "                           \"end\" (byte offsets into the text), \"token_start\", \"token_end\",\n" \
    "                           \"embedding\"}\n"                                                         \
    "      --late-chunking      Jina's late chunking: one forward over the whole text (it must\n"   \
    "                           fit the model's window), each window of N tokens (no overlap)\n"     \
    "                           the mean of its tokens' final hidden states; output as --chunks\n"

typedef struct {
    int on;                 /* --chunk-size given */
    xl_chunk_options co;
    int per_chunk;          /* --chunks or --late-chunking */
    int overlap_set, pooling_set, chunks_set;
    xl_context *ctx;
    float *rows;            /* the rows of the last chunk_cli_embed */
    char **extras;
    size_t n_rows, cap;
} chunk_cli;

void chunk_cli_init(chunk_cli *c);
void chunk_cli_free(chunk_cli *c);
/* getopt's c: 1 handled, 0 not a chunking option, -1 usage error (printed). */
int chunk_cli_parse(chunk_cli *c, const char *cmd, int opt, const char *arg);
/* The options against each other and the output: 0, or 2 after a usage error. */
int chunk_cli_check(const chunk_cli *c, const char *cmd, int layers, out_format fmt);
/* Output keys a kept JSONL field must not take (NULL-terminated). */
const char *const *chunk_cli_keys(const chunk_cli *c);
/* Embeds n records (inputs first_input...) into c->rows[c->n_rows][dim] with their
 * JSONL members in c->extras: one row per input, or per window. -1 with cli_error(). */
int chunk_cli_embed(chunk_cli *c, xl_model *m, const xl_embed_options *eo, const in_reader *in, const in_record *recs,
                    size_t n, size_t first_input, size_t dim);

#endif
