/* Reading the CLI's inputs: one text per line, or JSONL lines holding "text" or
 * "input_ids". Inputs are read in chunks so that memory stays bounded on big files. */
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
    size_t line;        /* 1-based line number in the input */
} in_record;

typedef struct {
    FILE *f;
    int owned;
    in_format fmt;
    const char *name;   /* file name for messages ("stdin") */
    size_t line;
    char *buf;
    size_t cap;
} in_reader;

/* Opens path (NULL or "-" = stdin); fmt IN_AUTO picks JSONL for *.jsonl / *.json names. */
int in_open(in_reader *r, const char *path, in_format fmt);
/* Reads up to max records. *got = 0 at end of input. On a malformed line prints
 * nothing, frees what it read of the chunk (*got = 0) and returns an error whose
 * message names the file and line. */
xl_status in_read_chunk(in_reader *r, in_record *recs, size_t max, size_t *got);
void in_records_clear(in_record *recs, size_t n);
void in_close(in_reader *r);
/* Parses "text" / "jsonl". */
int in_parse_format(const char *s, in_format *out);

#endif
