/* Writing embeddings: JSONL ({"embedding":[...]} per input, %.9g round-trip floats,
 * integers for the integer precisions), .npy ([n, dim] of the precision's dtype) or
 * headerless little-endian rows (f32 / raw). Rows arrive in chunks, in input order, as
 * float32 and are converted to the output precision here. Layer outputs
 * (embed --layers) are rows of shape [2][L+1][H]: JSONL {"mean":[[...]],"last":[[...]]},
 * .npy [n, 2, L+1, H]. Files go through outfile (temporary file, renamed on success). */
#ifndef XL_CLI_OUTPUT_H
#define XL_CLI_OUTPUT_H
#include <stdio.h>
#include "outfile.h"
#include "precision.h"

typedef enum { OUT_AUTO = 0, OUT_JSONL, OUT_NPY, OUT_F32 } out_format;

typedef struct {
    outfile file;
    out_format fmt;
    precision prec;
    size_t dim;         /* floats per input row */
    size_t inner[3];    /* output shape after the row count */
    int inner_ndim;     /* 1: embeddings; 3: layers [2][L+1][H] */
    size_t rows;        /* rows handed to the file */
    size_t rows_out;    /* rows known to have reached stdout (flushed) */
    int seekable;       /* npy: header patched in place at the end */
    unsigned char *held;/* npy to a pipe: rows kept until the count is known */
    size_t held_len, held_cap;
    unsigned char *conv;/* one converted row */
    const float *start, *step; /* int8 / uint8 ranges */
    size_t wrapped;     /* int8 / uint8 values outside the range (wrapped as numpy does) */
} out_writer;

int out_parse_format(const char *s, out_format *out);
/* The format an output name implies by its extension (case-insensitive): .npy, .f32 /
 * .bin / .raw, .jsonl / .json; OUT_AUTO for anything else. */
out_format out_format_of_name(const char *path);
/* Opens path (NULL or "-" = stdout); fmt OUT_AUTO = from the name, else JSONL.
 * -1 with cli_error() on failure. */
int out_open(out_writer *w, const char *path, out_format fmt, precision prec, const size_t *inner, int inner_ndim);
/* Sets the int8 / uint8 ranges (kept by pointer) before the first row. */
void out_set_ranges(out_writer *w, const float *start, const float *step);
/* n rows of w->dim floats; extras[i] (NULL or JSON members with a trailing comma)
 * start JSONL output lines. -1 with cli_error(). */
int out_write_rows(out_writer *w, const float *rows, char *const *extras, size_t n);
/* Finishes the file (npy header), syncs and renames it into place. */
int out_close(out_writer *w);
/* Drops the output: no file is left behind. */
void out_abort(out_writer *w);

#endif
