#include "npy.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int npy_write_header(FILE *f, const char *descr, size_t rows, const size_t *inner, int inner_ndim) {
    char h[NPY_HEADER_BYTES], dict[NPY_HEADER_BYTES], shape[96];
    memset(h, ' ', sizeof h);
    memcpy(h, "\x93NUMPY\x01\x00", 8);
    unsigned hlen = NPY_HEADER_BYTES - 10;
    h[8] = (char)(hlen & 0xFF);
    h[9] = (char)(hlen >> 8);
    int k = snprintf(shape, sizeof shape, "%zu", rows);
    for (int d = 0; d < inner_ndim && k > 0 && k < (int)sizeof shape; d++)
        k += snprintf(shape + k, sizeof shape - (size_t)k, ", %zu", inner[d]);
    k = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape);
    if (k < 0 || k >= (int)hlen) {
        cli_set_error("npy: shape (%s) does not fit the header", shape);
        return -1;
    }
    memcpy(h + 10, dict, (size_t)k);
    h[NPY_HEADER_BYTES - 1] = '\n';
    if (fwrite(h, 1, sizeof h, f) != sizeof h) {
        cli_set_error("write failed: %s", strerror(errno));
        return -1;
    }
    return 0;
}
