/* Reading the CLI's inputs: one text per line, JSONL lines holding "text" or
 * "input_ids", or texts given as command-line arguments. Inputs are read in chunks so
 * that memory stays bounded on big files. Line numbers count every line from the start
 * of the input (blank JSONL lines are skipped but counted); a UTF-8 BOM at the start is
 * dropped. */
#ifndef XL_CLI_INPUT_H
#define XL_CLI_INPUT_H
#include <stdint.h>
#include <stdio.h>
#include "xling.h"

typedef enum { IN_AUTO = 0, IN_TEXT, IN_JSONL } in_format;

typedef struct {
    char *text;         /* UTF-8 text (valid; repaired if it was not), NULL for ids */
    size_t len;
    int32_t *ids;       /* token ids given as is (JSONL "input_ids") */
    size_t n_ids;
    int is_ids;
    size_t line;        /* 1-based line (or argument) number in the input */
    /* JSON members to copy into the output line, each followed by a comma
     * ("\"id\":7,\"lang\":\"de\","), or NULL: "id", and with keep_fields every
     * field but "text" and "input_ids". */
    char *extra;
    char *pair;         /* JSONL "text_pair" (the second text of a pair; readers that set
                           pairs_ok), else NULL */
    size_t pair_len;
} in_record;

typedef struct {
    FILE *f;
    int owned;
    in_format fmt;
    const char *name;   /* file name for messages ("stdin"); NULL for arguments */
    size_t line;
    char *buf;
    size_t cap;
    char **args;        /* texts given as arguments */
    size_t n_args;
    int keep_fields;
    const char *cmd;    /* for warnings: "xling <cmd>: warning: ..." */
    const char *reserved[8]; /* output keys a kept field must not take */
    int pairs_ok;       /* "text_pair" is read (else a line holding one is an error) */
} in_reader;

/* Opens path (NULL or "-" = stdin); fmt IN_AUTO picks JSONL for *.jsonl / *.json names.
 * -1 with cli_error() on failure. */
int in_open(in_reader *r, const char *path, in_format fmt);
/* Reads the n texts of args (command-line arguments), numbered "argument 1..n". */
void in_open_args(in_reader *r, char **args, size_t n);
/* The n_args texts of args when there are any (in_open_args), else in_open(path, fmt). */
int in_open_cli(in_reader *r, char **args, size_t n_args, const char *path, in_format fmt);
/* Reads up to max records. *got = 0 at end of input. On a malformed line frees what it
 * read of the chunk (*got = 0) and returns -1 with cli_error() naming the file and line. */
int in_read_chunk(in_reader *r, in_record *recs, size_t max, size_t *got);
void in_records_clear(in_record *recs, size_t n);
void in_close(in_reader *r);
/* Parses "text" / "jsonl". */
int in_parse_format(const char *s, in_format *out);
/* "stdin line 5", "data.jsonl line 5" or "argument 2" into buf. */
const char *in_where(const in_reader *r, size_t line, char *buf, size_t n);
/* Takes the library's last error into cli_error(); its "input K: ..." (K-th of the n
 * inputs of one call, records recs[where[K-1]]) becomes "<file> line L: ...". */
/* For commands that read texts only: -1 with cli_error() "<where>: <msg>" at the first
 * of the n records that holds "input_ids", else 0. */
int in_refuse_ids(const in_reader *r, const in_record *recs, size_t n, const char *msg);
void in_renumber_error(const in_reader *r, const in_record *recs, const size_t *where, size_t n);

#endif
