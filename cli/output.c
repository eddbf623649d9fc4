#include "output.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "io/npy.h"
#include "util/error.h"

int out_parse_format(const char *s, out_format *out) {
    if (!strcmp(s, "jsonl")) *out = OUT_JSONL;
    else if (!strcmp(s, "npy")) *out = OUT_NPY;
    else if (!strcmp(s, "f32")) *out = OUT_F32;
    else return -1;
    return 0;
}

xl_status out_open(out_writer *w, const char *path, out_format fmt, const size_t *inner, int inner_ndim) {
    memset(w, 0, sizeof *w);
    w->inner_ndim = inner_ndim;
    w->dim = 1;
    for (int d = 0; d < inner_ndim; d++) {
        w->inner[d] = inner[d];
        w->dim *= inner[d];
    }
    if (!path || !strcmp(path, "-")) {
        w->f = stdout;
        w->name = "stdout";
    } else {
        w->f = fopen(path, "wb");
        if (!w->f) return xl_err(XL_ERR_IO, "%s: %s", path, strerror(errno));
        w->owned = 1;
        w->name = path;
    }
    if (fmt == OUT_AUTO) {
        size_t n = path ? strlen(path) : 0;
        fmt = (n >= 4 && !strcmp(path + n - 4, ".npy")) ? OUT_NPY : OUT_JSONL;
    }
    w->fmt = fmt;
    if (fmt == OUT_NPY) {
        w->seekable = w->owned && fseek(w->f, 0, SEEK_SET) == 0;
        if (w->seekable) return xl_npy_write_header(w->f, 0, w->inner, w->inner_ndim);
    }
    return XL_OK;
}

static void write_floats(FILE *f, const float *v, size_t n) {
    fputc('[', f);
    for (size_t j = 0; j < n; j++) fprintf(f, j ? ",%.9g" : "%.9g", (double)v[j]);
    fputc(']', f);
}

static xl_status write_jsonl(out_writer *w, const float *rows, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const float *r = rows + i * w->dim;
        if (w->inner_ndim == 1) {
            fputs("{\"embedding\":", w->f);
            write_floats(w->f, r, w->dim);
        } else {
            size_t layers = w->inner[1], H = w->inner[2];
            for (int kind = 0; kind < 2; kind++) {
                fputs(kind ? "],\"last\":[" : "{\"mean\":[", w->f);
                for (size_t l = 0; l < layers; l++) {
                    if (l) fputc(',', w->f);
                    write_floats(w->f, r + (kind * layers + l) * H, H);
                }
            }
            fputc(']', w->f);
        }
        fputs("}\n", w->f);
    }
    return XL_OK;
}

xl_status out_write_rows(out_writer *w, const float *rows, size_t n) {
    xl_status st = XL_OK;
    if (w->fmt == OUT_JSONL) st = write_jsonl(w, rows, n);
    else if (w->fmt == OUT_F32 || w->seekable) {
        if (fwrite(rows, sizeof(float) * w->dim, n, w->f) != n) st = xl_err(XL_ERR_IO, "%s: write failed", w->name);
    } else {
        size_t need = (w->rows + n) * w->dim;
        if (need > w->held_cap) {
            size_t cap = need * 2;
            float *p = realloc(w->held, cap * sizeof *p);
            if (!p) return xl_err(XL_ERR_NOMEM, "out of memory holding .npy output");
            w->held = p;
            w->held_cap = cap;
        }
        memcpy(w->held + w->rows * w->dim, rows, n * w->dim * sizeof *rows);
    }
    if (!st && ferror(w->f)) st = xl_err(XL_ERR_IO, "%s: write failed: %s", w->name, strerror(errno));
    if (!st) w->rows += n;
    return st;
}

xl_status out_close(out_writer *w) {
    xl_status st = XL_OK;
    if (w->fmt == OUT_NPY) {
        if (w->seekable) {
            if (fseek(w->f, 0, SEEK_SET) != 0) st = xl_err(XL_ERR_IO, "%s: seek failed", w->name);
            else st = xl_npy_write_header(w->f, w->rows, w->inner, w->inner_ndim);
        } else {
            st = xl_npy_write_header(w->f, w->rows, w->inner, w->inner_ndim);
            if (!st && w->rows && fwrite(w->held, sizeof(float) * w->dim, w->rows, w->f) != w->rows)
                st = xl_err(XL_ERR_IO, "%s: write failed", w->name);
        }
    }
    if (fflush(w->f) != 0 && !st) st = xl_err(XL_ERR_IO, "%s: write failed: %s", w->name, strerror(errno));
    if (w->owned && fclose(w->f) != 0 && !st) st = xl_err(XL_ERR_IO, "%s: close failed", w->name);
    free(w->held);
    memset(w, 0, sizeof *w);
    return st;
}
