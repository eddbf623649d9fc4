/* NumPy .npy (format 1.0) headers, readable by numpy.load (reading: xl_npy_load). */
#ifndef XL_CLI_NPY_H
#define XL_CLI_NPY_H
#include <stdio.h>

/* The header is padded to a fixed 128 bytes so that the row count can be rewritten in
 * place once known (streamed output). */
#define NPY_HEADER_BYTES 128

/* Writes the header of a C-order array of shape [rows, inner...] (inner_ndim 1 to 3) with
 * numpy dtype descr ("<f4", "|i1", ...). -1 with cli_error() on failure. */
int npy_write_header(FILE *f, const char *descr, size_t rows, const size_t *inner, int inner_ndim);

#endif
