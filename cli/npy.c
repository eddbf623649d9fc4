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

/* The value text of key in a header dict ("'descr': '<f4'" -> "'<f4'"), or NULL. */
static const char *dict_value(const char *hdr, const char *key) {
    const char *p = strstr(hdr, key);
    if (!p) return NULL;
    p = strchr(p + strlen(key), ':');
    if (!p) return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

int npy_read_f32_matrix(const char *path, float **data, size_t *rows, size_t *cols) {
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) { cli_set_error("%s: %s", path, strerror(errno)); return -1; }
    unsigned char pre[10];
    char *hdr = NULL;
    int rc = -1;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) || (pre[6] != 1 && pre[6] != 2)) {
        cli_set_error("%s: not a .npy file", path);
        goto done;
    }
    size_t hlen = pre[8] | (size_t)pre[9] << 8;
    if (pre[6] == 2) {
        unsigned char more[2];
        if (fread(more, 1, 2, f) != 2) { cli_set_error("%s: truncated .npy header", path); goto done; }
        hlen |= (size_t)more[0] << 16 | (size_t)more[1] << 24;
    }
    if (hlen > 1 << 20 || !(hdr = calloc(1, hlen + 1)) || fread(hdr, 1, hlen, f) != hlen) {
        cli_set_error("%s: truncated .npy header", path);
        goto done;
    }
    const char *descr = dict_value(hdr, "'descr'"), *fo = dict_value(hdr, "'fortran_order'"), *shape = dict_value(hdr, "'shape'");
    if (!descr || strncmp(descr, "'<f4'", 5)) { cli_set_error("%s: expected a float32 ('<f4') array", path); goto done; }
    if (!fo || strncmp(fo, "False", 5)) { cli_set_error("%s: expected a C-order array (fortran_order False)", path); goto done; }
    unsigned long long r, c;
    char close;
    if (!shape || sscanf(shape, "(%llu , %llu %c", &r, &c, &close) != 3 || close != ')' || !r || !c || c > 1u << 24 || r > SIZE_MAX / 4 / c) {
        cli_set_error("%s: expected a 2-D array [rows, dim] with rows, dim > 0", path);
        goto done;
    }
    *data = malloc((size_t)(r * c) * sizeof **data);
    if (!*data) { cli_set_error("%s: out of memory", path); goto done; }
    if (fread(*data, sizeof **data, (size_t)(r * c), f) != (size_t)(r * c)) {
        cli_set_error("%s: truncated data (shape %llu x %llu)", path, r, c);
        free(*data);
        *data = NULL;
        goto done;
    }
    *rows = (size_t)r;
    *cols = (size_t)c;
    rc = 0;
done:
    free(hdr);
    fclose(f);
    return rc;
}
