#include "output.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "npy.h"

int out_parse_format(const char *s, out_format *out) {
    if (!strcmp(s, "jsonl")) *out = OUT_JSONL;
    else if (!strcmp(s, "npy")) *out = OUT_NPY;
    else if (!strcmp(s, "f32") || !strcmp(s, "raw")) *out = OUT_F32;
    else return -1;
    return 0;
}

out_format out_format_of_name(const char *path) {
    if (!path) return OUT_AUTO;
    if (cli_has_ext(path, ".npy")) return OUT_NPY;
    if (cli_has_ext(path, ".f32") || cli_has_ext(path, ".bin") || cli_has_ext(path, ".raw")) return OUT_F32;
    if (cli_has_ext(path, ".jsonl") || cli_has_ext(path, ".json")) return OUT_JSONL;
    return OUT_AUTO;
}

static size_t row_bytes(const out_writer *w) { return w->inner[0] * (w->inner_ndim == 3 ? w->inner[1] * w->inner[2] : 1) * prec_value_bytes(w->prec); }

int out_open(out_writer *w, const char *path, out_format fmt, precision prec, const size_t *inner, int inner_ndim) {
    memset(w, 0, sizeof *w);
    w->inner_ndim = inner_ndim;
    w->prec = prec;
    w->dim = 1;
    for (int d = 0; d < inner_ndim; d++) {
        w->inner[d] = inner[d];
        w->dim *= inner[d];
    }
    if (inner_ndim == 1) w->inner[0] = prec_row_values(prec, inner[0]);
    if (fmt == OUT_AUTO) fmt = out_format_of_name(path);
    w->fmt = fmt == OUT_AUTO ? OUT_JSONL : fmt;
    w->conv = malloc(row_bytes(w) + 8);
    if (!w->conv) { cli_set_error("out of memory"); return -1; }
    if (outfile_open(&w->file, path)) { free(w->conv); return -1; }
    if (w->fmt == OUT_NPY) {
        w->seekable = !w->file.is_stdout && fseek(w->file.f, 0, SEEK_SET) == 0;
        if (w->seekable && npy_write_header(w->file.f, prec_npy_descr(prec), 0, w->inner, w->inner_ndim)) {
            out_abort(w);
            return -1;
        }
    }
    return 0;
}

void out_set_ranges(out_writer *w, const float *start, const float *step) {
    w->start = start;
    w->step = step;
}

static void write_floats(FILE *f, const float *v, size_t n) {
    fputc('[', f);
    for (size_t j = 0; j < n; j++) fprintf(f, j ? ",%.9g" : "%.9g", (double)v[j]);
    fputc(']', f);
}

/* One converted embedding row as a JSON array. */
static void write_values(FILE *f, precision p, const void *v, size_t n) {
    fputc('[', f);
    for (size_t j = 0; j < n; j++) {
        if (j) fputc(',', f);
        switch (p) {
        case PREC_FLOAT32: fprintf(f, "%.9g", (double)((const float *)v)[j]); break;
        case PREC_FLOAT16: fprintf(f, "%.9g", (double)prec_f16_to_f32(((const uint16_t *)v)[j])); break;
        case PREC_INT8: case PREC_BINARY: fprintf(f, "%d", ((const int8_t *)v)[j]); break;
        default: fprintf(f, "%u", ((const uint8_t *)v)[j]); break;
        }
    }
    fputc(']', f);
}

static void write_jsonl_row(out_writer *w, const float *r, const char *extra) {
    FILE *f = w->file.f;
    fputc('{', f);
    if (extra) fputs(extra, f);
    if (w->inner_ndim == 1) {
        fputs("\"embedding\":", f);
        write_values(f, w->prec, w->conv, w->inner[0]);
    } else {
        size_t layers = w->inner[1], H = w->inner[2];
        for (int kind = 0; kind < 2; kind++) {
            fputs(kind ? "],\"last\":[" : "\"mean\":[", f);
            for (size_t l = 0; l < layers; l++) {
                if (l) fputc(',', f);
                write_floats(f, r + (kind * layers + l) * H, H);
            }
        }
        fputc(']', f);
    }
    fputs("}\n", f);
}

int out_write_rows(out_writer *w, const float *rows, char *const *extras, size_t n) {
    FILE *f = w->file.f;
    size_t rb = row_bytes(w);
    for (size_t i = 0; i < n; i++) {
        const float *r = rows + i * w->dim;
        if (w->inner_ndim == 1) w->wrapped += prec_convert(w->prec, r, w->dim, w->start, w->step, w->conv);
        else memcpy(w->conv, r, rb);
        if (w->fmt == OUT_JSONL) write_jsonl_row(w, r, extras ? extras[i] : NULL);
        else if (w->fmt == OUT_F32 || w->seekable) {
            if (fwrite(w->conv, rb, 1, f) != 1) break;
        } else {
            if (w->held_len + rb > w->held_cap) {
                size_t cap = (w->held_len + rb) * 2;
                unsigned char *p = realloc(w->held, cap);
                if (!p) { cli_set_error("out of memory holding .npy output"); return -1; }
                w->held = p;
                w->held_cap = cap;
            }
            memcpy(w->held + w->held_len, w->conv, rb);
            w->held_len += rb;
        }
    }
    /* On stdout, flush each chunk: a later failure can say how many rows got out. */
    if (ferror(f) || (w->file.is_stdout && fflush(f) != 0)) {
        cli_set_error("%s: write failed: %s", w->file.name, strerror(errno ? errno : EIO));
        return -1;
    }
    w->rows += n;
    if (w->file.is_stdout && !(w->fmt == OUT_NPY)) w->rows_out = w->rows;
    return 0;
}

int out_close(out_writer *w) {
    int rc = 0;
    FILE *f = w->file.f;
    if (w->fmt == OUT_NPY) {
        if (w->seekable) {
            if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0) {
                cli_set_error("%s: write failed: %s", w->file.name, strerror(errno));
                rc = -1;
            } else rc = npy_write_header(f, prec_npy_descr(w->prec), w->rows, w->inner, w->inner_ndim);
        } else {
            rc = npy_write_header(f, prec_npy_descr(w->prec), w->rows, w->inner, w->inner_ndim);
            if (!rc && w->held_len && fwrite(w->held, 1, w->held_len, f) != w->held_len) {
                cli_set_error("%s: write failed: %s", w->file.name, strerror(errno));
                rc = -1;
            }
        }
        if (rc && !strncmp(cli_error(), "write failed", 12)) cli_set_error("%s: write failed", w->file.name);
    }
    if (rc) {
        out_abort(w);
        return -1;
    }
    int is_stdout = w->file.is_stdout, npy = w->fmt == OUT_NPY;
    rc = outfile_commit(&w->file);
    if (!rc && is_stdout && npy) w->rows_out = w->rows;
    free(w->held);
    free(w->conv);
    w->held = w->conv = NULL;
    return rc;
}

void out_abort(out_writer *w) {
    outfile_abort(&w->file);
    free(w->held);
    free(w->conv);
    w->held = w->conv = NULL;
}
