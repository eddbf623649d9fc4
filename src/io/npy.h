/* NumPy .npy (format 1.0) writer for float32 matrices, readable by numpy.load. */
#ifndef XL_NPY_H
#define XL_NPY_H
#include <stdio.h>
#include "xling.h"

/* The header is padded to a fixed 128 bytes so that the row count can be rewritten in
 * place once known (streamed output). */
#define XL_NPY_HEADER_BYTES 128

/* Writes the header of a little-endian float32 array of shape [rows, inner...]
 * (inner_ndim 1 to 3 trailing dimensions). */
xl_status xl_npy_write_header(FILE *f, size_t rows, const size_t *inner, int inner_ndim);

#endif
