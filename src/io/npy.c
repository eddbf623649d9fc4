#include "io/npy.h"
#include "util/error.h"

#include <string.h>

xl_status xl_npy_write_header(FILE *f, size_t rows, const size_t *inner, int inner_ndim) {
    char h[XL_NPY_HEADER_BYTES];
    memset(h, ' ', sizeof h);
    memcpy(h, "\x93NUMPY\x01\x00", 8);
    unsigned hlen = XL_NPY_HEADER_BYTES - 10;
    h[8] = (char)(hlen & 0xFF);
    h[9] = (char)(hlen >> 8);
    char dict[XL_NPY_HEADER_BYTES];
    char shape[96];
    int k = snprintf(shape, sizeof shape, "%zu", rows);
    for (int d = 0; d < inner_ndim && k > 0 && k < (int)sizeof shape; d++)
        k += snprintf(shape + k, sizeof shape - (size_t)k, ", %zu", inner[d]);
    k = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", shape);
    if (k < 0 || k >= (int)hlen) return xl_err(XL_ERR_ARG, "npy: shape (%s) does not fit the header", shape);
    memcpy(h + 10, dict, (size_t)k);
    h[XL_NPY_HEADER_BYTES - 1] = '\n';
    if (fwrite(h, 1, sizeof h, f) != sizeof h) return xl_err(XL_ERR_IO, "npy: write failed");
    return XL_OK;
}
