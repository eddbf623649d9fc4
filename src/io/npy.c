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

/* ------------------------------------------------------------------ reader */

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>

#include "io/safetensors.h"
#include "util/fileio.h"

/* Value text of key 'name' in the header dict (points into h), or NULL. */
static const char *dict_value(const char *h, const char *name) {
    char key[32];
    snprintf(key, sizeof key, "'%s'", name);
    const char *p = strstr(h, key);
    if (!p) return NULL;
    p += strlen(key);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

xl_status xl_npy_load(const char *path, float **data, size_t *rows, size_t *cols) {
    *data = NULL;
    *rows = *cols = 0;
    char *buf;
    size_t len;
    xl_status st = xl_read_file(path, &buf, &len);
    if (st) return st;
    const unsigned char *u = (const unsigned char *)buf;
    size_t hlen = 0, off = 0;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) {
        st = xl_err(XL_ERR_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", path);
    } else if (u[6] == 1 && len >= 10) {
        hlen = (size_t)u[8] | (size_t)u[9] << 8;
        off = 10;
    } else if ((u[6] == 2 || u[6] == 3) && len >= 12) {
        hlen = (size_t)u[8] | (size_t)u[9] << 8 | (size_t)u[10] << 16 | (size_t)u[11] << 24;
        off = 12;
    } else {
        st = xl_err(XL_ERR_FORMAT, "%s: unsupported .npy version %u.%u", path, u[6], u[7]);
    }
    if (!st && (hlen > len - off || hlen > 1 << 20)) st = xl_err(XL_ERR_FORMAT, "%s: truncated .npy header", path);
    char *h = NULL;
    if (!st && !(h = malloc(hlen + 1))) st = xl_err(XL_ERR_NOMEM, "%s: out of memory", path);
    size_t itemsize = 0, r = 0, c = 1;
    char kind = 0;
    if (!st) {
        memcpy(h, buf + off, hlen);
        h[hlen] = '\0';
        const char *d = dict_value(h, "descr"), *fo = dict_value(h, "fortran_order"), *sh = dict_value(h, "shape");
        if (!d || !fo || !sh) {
            st = xl_err(XL_ERR_FORMAT, "%s: .npy header lacks descr, fortran_order or shape", path);
        } else if (strncmp(fo, "False", 5) != 0) {
            st = xl_err(XL_ERR_FORMAT, "%s: Fortran-ordered arrays are not supported (save with C order)", path);
        } else if (!strncmp(d, "'<f4'", 5) || !strncmp(d, "'<f8'", 5) || !strncmp(d, "'<f2'", 5)) {
            kind = d[3];
            itemsize = kind == '4' ? 4 : kind == '8' ? 8 : 2;
        } else {
            st = xl_err(XL_ERR_FORMAT, "%s: dtype %.8s is not a little-endian float (float16/32/64)", path, d);
        }
        if (!st) {
            /* (rows, cols) or (rows,) */
            const char *p = sh;
            int ndim = 0;
            size_t dims[3] = {0, 0, 0};
            if (*p++ != '(') st = xl_err(XL_ERR_FORMAT, "%s: bad shape in the .npy header", path);
            while (!st && *p && *p != ')') {
                while (*p == ' ' || *p == ',') p++;
                if (*p == ')') break;
                if (!isdigit((unsigned char)*p) || ndim == 3) {
                    st = xl_err(XL_ERR_FORMAT, "%s: bad shape in the .npy header", path);
                    break;
                }
                char *e;
                unsigned long long v = strtoull(p, &e, 10);
                if (v > ((size_t)1 << 40)) st = xl_err(XL_ERR_FORMAT, "%s: dimension %llu too large", path, v);
                dims[ndim++] = (size_t)v;
                p = e;
            }
            if (!st && (ndim < 1 || ndim > 2))
                st = xl_err(XL_ERR_FORMAT, "%s: a %d-dimensional array; want [rows, dim]", path, ndim);
            if (!st) {
                r = dims[0];
                c = ndim == 2 ? dims[1] : 1;
            }
        }
    }
    size_t data_off = off + hlen;
    if (!st && (c == 0 || r > (SIZE_MAX / 8) / c || r * c * itemsize != len - data_off))
        st = xl_err(XL_ERR_FORMAT, "%s: %zu x %zu values of %zu bytes need %zu bytes of data, the file holds %zu", path, r,
                    c, itemsize, r * c * itemsize, len - data_off);
    float *out = NULL;
    if (!st && !(out = malloc((r * c > 0 ? r * c : 1) * sizeof *out))) st = xl_err(XL_ERR_NOMEM, "%s: out of memory", path);
    if (!st) {
        const unsigned char *p = u + data_off;
        for (size_t i = 0; i < r * c; i++) {
            if (kind == '4') {
                memcpy(&out[i], p + 4 * i, 4);
            } else if (kind == '8') {
                double v;
                memcpy(&v, p + 8 * i, 8);
                out[i] = (float)v;
            } else {
                uint16_t v;
                memcpy(&v, p + 2 * i, 2);
                out[i] = xl_f16_to_f32(v);
            }
        }
        *data = out;
        *rows = r;
        *cols = c;
    }
    free(h);
    free(buf);
    return st;
}
