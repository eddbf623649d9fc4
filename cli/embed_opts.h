/* The options `xling embed` (cmd_embed.c) and `xling embed --head` (embed_heads.c) both
 * read: the second knows all of the first's, to refuse those that do not apply. */
#ifndef XL_CLI_EMBED_OPTS_H
#define XL_CLI_EMBED_OPTS_H
#include "input.h"
#include "model_opts.h"
#include "output.h"

enum { EO_FORMAT = MO_LAST, EO_INPUT_FORMAT, EO_LAYERS, EO_PRECISION, EO_CALIBRATION, EO_KEEP_FIELDS, EO_LAST };

/* getopt_long entries, after MODEL_LONG_OPTIONS. */
#define EMBED_LONG_OPTIONS                                                                                        \
    {"input", required_argument, 0, 'i'}, {"output", required_argument, 0, 'o'},                                 \
    {"format", required_argument, 0, EO_FORMAT}, {"input-format", required_argument, 0, EO_INPUT_FORMAT},        \
    {"layers", no_argument, 0, EO_LAYERS}, {"precision", required_argument, 0, EO_PRECISION},                    \
    {"calibration", required_argument, 0, EO_CALIBRATION}, {"keep-fields", no_argument, 0, EO_KEEP_FIELDS}

typedef struct {
    const char *in_path, *out_path; /* NULL: stdin / stdout */
    in_format ifmt;
    out_format ofmt; /* --format; OUT_AUTO if not given */
    int keep_fields;
} embed_io;

/* Takes -i, -o, --format, --input-format, --keep-fields: 1 if c was one of them, 0 if
 * not, -1 after printing the usage error (exit 2). */
int embed_io_parse(embed_io *io, const char *cmd, int c, const char *arg);
/* The output format: --format, else from the output's name, else JSONL. 0, or 2 after
 * printing the usage error when --format and the name disagree. */
int embed_io_format(const embed_io *io, const char *cmd, out_format *fmt);

#endif
