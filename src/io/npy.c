/* NumPy .npy arrays read into float32 (xl_npy_load, xling.h): the vectors mining and
 * classification take. Writing .npy is the CLI's (cli/npy.c). */
#include <stdio.h>
#include <string.h>

#include "util/error.h"
#include "xling.h"

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
