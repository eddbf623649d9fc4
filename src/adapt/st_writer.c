/* safetensors writer: tensors are declared first, so the whole layout (shards, headers,
 * offsets) is planned at the first write; data then streams into each shard's
 * temporary file in declaration order, and finish renames the files into place.
 *
 * File layout (the format's): 8-byte little-endian header length N, N bytes of JSON
 * {"__metadata__": {...}, "name": {"dtype", "shape", "data_offsets": [b, e]}, ...}
 * padded with spaces so that data starts 8-byte aligned, then the tensors' bytes back
 * to back (no holes), offsets relative to the data start. */
#include "util/error.h"
#include "util/fileio.h"
#include "xling.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DIMS 8
/* float32 values converted per write() call when streaming through the buffer */
#define CONV_CHUNK (1u << 15)

typedef struct {
    char *name;
    const char *dtype; /* one of the static names below */
    size_t esize;
    int is_float;
    int ndim;
    int64_t shape[MAX_DIMS];
    uint64_t nbytes;
    int shard;
    uint64_t offset; /* inside its shard's data region */
} wtensor;

typedef struct {
    char *final_path;
    char *tmp_path;
    char *file_name;
    int fd;
    int done; /* renamed into place */
} wshard;

struct xl_st_writer {
    char *dir;
    char *single_name; /* file name when not sharded */
    uint64_t max_shard;
    wtensor *t;
    size_t n, cap;
    json_t *meta;
    int planned, failed;
    size_t cur;          /* tensor being written */
    uint64_t cur_done;   /* its bytes written so far */
    wshard *s;
    int ns;
    char *index_tmp, *index_path;
    unsigned char *buf; /* conversion buffer, CONV_CHUNK values of up to 8 bytes */
};

static const struct {
    const char *name;
    size_t size;
    int is_float;
} dtypes[] = {{"F32", 4, 1}, {"F16", 2, 1}, {"BF16", 2, 1}, {"F64", 8, 1}, {"I64", 8, 0},
              {"I32", 4, 0}, {"I8", 1, 0},  {"U8", 1, 0},    {"BOOL", 1, 0}};

/* ------------------------------------------------------------------ conversions */

static uint32_t f32_bits(float x) {
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

uint16_t xl_f32_to_bf16(float x) {
    uint32_t b = f32_bits(x);
    if ((b & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((b >> 16) | 0x0040u); /* NaN: quiet, sign and top payload kept */
    /* round to nearest even on the dropped 16 bits; overflow carries into Inf */
    return (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

uint16_t xl_f32_to_f16(float x) {
    uint32_t b = f32_bits(x);
    uint16_t sign = (uint16_t)((b >> 16) & 0x8000u);
    uint32_t a = b & 0x7fffffffu;
    if (a >= 0x7f800000u) {
        if (a == 0x7f800000u) return sign | 0x7c00u;
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* NaN: quiet, top payload kept */
    }
    if (a >= 0x477ff000u) return sign | 0x7c00u; /* >= 65520: rounds to Inf (65504 is odd) */
    if (a < 0x38800000u) {                       /* below 2^-14: a half subnormal (or zero) */
        if (a <= 0x33000000u) return sign;       /* <= 2^-25: half the smallest subnormal ties to 0 */
        uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e; /* value = m * 2^(e-150), in units of 2^-24: m >> (126 - e) */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r); /* r = 0x400 is the smallest normal: still the right bits */
    }
    uint32_t r = a - 0x38000000u; /* rebias the exponent: 127 - 15 = 112 */
    uint32_t h = r >> 13, rem = r & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

static void convert_from_f32(const char *dtype, const float *src, void *dst, size_t n) {
    if (strcmp(dtype, "F32") == 0) {
        memcpy(dst, src, n * sizeof *src);
    } else if (strcmp(dtype, "BF16") == 0) {
        /* xl_f32_to_bf16 without a branch, so the loop vectorizes */
        uint16_t *d = dst;
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            uint32_t b = f32_bits(src[i]);
            uint32_t rounded = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16, quiet = (b >> 16) | 0x0040u;
            d[i] = (uint16_t)((b & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
        }
    } else if (strcmp(dtype, "F16") == 0) {
        uint16_t *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = xl_f32_to_f16(src[i]);
    } else { /* F64: exact */
        for (size_t i = 0; i < n; i++) {
            double v = src[i];
            memcpy((unsigned char *)dst + i * 8, &v, 8);
        }
    }
}

/* ------------------------------------------------------------------ sizes */

xl_status xl_parse_size(const char *s, uint64_t *out) {
    if (!s || !*s) return xl_err(XL_ERR_ARG, "size: empty");
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0) || !isfinite(v)) return xl_err(XL_ERR_ARG, "size \"%s\": not a number with an optional unit", s);
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"", 1},           {"B", 1},          {"KB", 1e3},        {"MB", 1e6},
                 {"GB", 1e9},       {"TB", 1e12},      {"KIB", 1024.0},    {"MIB", 1048576.0},
                 {"GIB", 1073741824.0}, {"TIB", 1099511627776.0}};
    char unit[8] = {0};
    size_t k = 0;
    for (const char *p = end; *p; p++) {
        if (*p == ' ' && k == 0) continue;
        if (k + 1 >= sizeof unit) return xl_err(XL_ERR_ARG, "size \"%s\": unknown unit", s);
        unit[k++] = (char)((*p >= 'a' && *p <= 'z') ? *p - 32 : *p);
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(unit, units[i].unit) == 0) {
            double bytes = floor(v * units[i].mult + 0.5);
            if (bytes < 1) return xl_err(XL_ERR_ARG, "size \"%s\": must be at least one byte", s);
            if (bytes > 1.8e19) return xl_err(XL_ERR_ARG, "size \"%s\": too large", s);
            *out = (uint64_t)bytes;
            return XL_OK;
        }
    return xl_err(XL_ERR_ARG, "size \"%s\": unknown unit (bytes, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", s);
}

/* ------------------------------------------------------------------ writer */

static xl_status writer_alloc(const char *dir, xl_st_writer **out) {
    *out = NULL;
    if (!dir || !*dir) return xl_err(XL_ERR_ARG, "safetensors writer: no folder given");
    if (!xl_is_dir(dir)) return xl_err(XL_ERR_IO, "%s: not a folder", dir);
    xl_st_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->dir = strdup(dir)) || !(w->meta = json_object()) ||
        json_object_set_new(w->meta, "format", json_string("pt"))) {
        xl_st_writer_free(w);
        return xl_err(XL_ERR_NOMEM, "safetensors writer: out of memory");
    }
    *out = w;
    return XL_OK;
}

xl_status xl_st_writer_new(const char *dir, uint64_t max_shard_bytes, xl_st_writer **out) {
    xl_status st = writer_alloc(dir, out);
    if (st) return st;
    (*out)->max_shard = max_shard_bytes;
    return XL_OK;
}

xl_status xl_st_writer_new_file(const char *dir, const char *file_name, xl_st_writer **out) {
    if (!file_name || !*file_name || strchr(file_name, '/'))
        return xl_err(XL_ERR_ARG, "safetensors writer: bad file name \"%s\"", file_name ? file_name : "");
    xl_status st = writer_alloc(dir, out);
    if (st) return st;
    if (!((*out)->single_name = strdup(file_name))) {
        xl_st_writer_free(*out);
        *out = NULL;
        return xl_err(XL_ERR_NOMEM, "safetensors writer: out of memory");
    }
    return XL_OK;
}

xl_status xl_st_writer_declare(xl_st_writer *w, const char *name, const char *dtype, const int64_t *shape, int ndim) {
    if (w->planned) return xl_err(XL_ERR_ARG, "%s: tensor '%s' declared after writing began", w->dir, name);
    if (!name || !*name || strcmp(name, "__metadata__") == 0)
        return xl_err(XL_ERR_ARG, "%s: invalid tensor name \"%s\"", w->dir, name ? name : "");
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return xl_err(XL_ERR_ARG, "%s: tensor name with a control character", w->dir);
    if (ndim < 0 || ndim > MAX_DIMS) return xl_err(XL_ERR_ARG, "%s: tensor '%s': %d dimensions", w->dir, name, ndim);
    size_t k = 0;
    while (k < sizeof dtypes / sizeof dtypes[0] && (!dtype || strcmp(dtypes[k].name, dtype) != 0)) k++;
    if (k == sizeof dtypes / sizeof dtypes[0])
        return xl_err(XL_ERR_ARG, "%s: tensor '%s': dtype \"%s\" not supported (F32, F16, BF16, F64, I64, I32, I8, U8, BOOL)",
                      w->dir, name, dtype ? dtype : "");
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0) return xl_err(XL_ERR_ARG, "%s: tensor '%s' declared twice", w->dir, name);
    uint64_t bytes = dtypes[k].size;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return xl_err(XL_ERR_ARG, "%s: tensor '%s': negative dimension", w->dir, name);
        if (shape[d] && bytes > UINT64_MAX / (uint64_t)shape[d])
            return xl_err(XL_ERR_ARG, "%s: tensor '%s': size overflows", w->dir, name);
        bytes *= (uint64_t)shape[d];
    }
    if (bytes > SIZE_MAX / 2) return xl_err(XL_ERR_NOMEM, "%s: tensor '%s': too large", w->dir, name);
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        wtensor *p = realloc(w->t, cap * sizeof *p);
        if (!p) return xl_err(XL_ERR_NOMEM, "%s: out of memory", w->dir);
        w->t = p;
        w->cap = cap;
    }
    wtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) return xl_err(XL_ERR_NOMEM, "%s: out of memory", w->dir);
    t->dtype = dtypes[k].name;
    t->esize = dtypes[k].size;
    t->is_float = dtypes[k].is_float;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->nbytes = bytes;
    w->n++;
    return XL_OK;
}

xl_status xl_st_writer_metadata(xl_st_writer *w, const char *key, const char *value) {
    if (w->planned) return xl_err(XL_ERR_ARG, "%s: metadata set after writing began", w->dir);
    if (!key || !value || json_object_set_new(w->meta, key, json_string(value)))
        return xl_err(XL_ERR_ARG, "%s: invalid metadata entry (key and value must be UTF-8 strings)", w->dir);
    return XL_OK;
}

int xl_st_writer_shard_count(const xl_st_writer *w) { return w->planned ? w->ns : 0; }

static xl_status write_all(xl_st_writer *w, int fd, const char *path, const void *data, size_t len) {
    const unsigned char *p = data;
    while (len) {
        ssize_t r = write(fd, p, len > (1u << 30) ? (1u << 30) : len);
        if (r < 0) {
            if (errno == EINTR) continue;
            w->failed = 1;
            return xl_err(XL_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        }
        p += r;
        len -= (size_t)r;
    }
    return XL_OK;
}

/* The header of shard si, padded so that 8 + its length is a multiple of 8. */
static char *shard_header(const xl_st_writer *w, int si, size_t *len) {
    json_t *h = json_object();
    if (!h) return NULL;
    json_object_set(h, "__metadata__", w->meta);
    for (size_t i = 0; i < w->n; i++) {
        const wtensor *t = &w->t[i];
        if (t->shard != si) continue;
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_t *e = json_pack("{s:s, s:o, s:[I,I]}", "dtype", t->dtype, "shape", shape, "data_offsets",
                              (json_int_t)t->offset, (json_int_t)(t->offset + t->nbytes));
        if (!e || json_object_set_new(h, t->name, e)) {
            json_decref(h);
            return NULL;
        }
    }
    char *s = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    if (!s) return NULL;
    size_t n = strlen(s), padded = (n + 7) & ~(size_t)7;
    char *p = realloc(s, padded + 1);
    if (!p) {
        free(s);
        return NULL;
    }
    memset(p + n, ' ', padded - n);
    p[padded] = '\0';
    *len = padded;
    return p;
}

/* Assigns shards as transformers' shard_checkpoint does, names the files, creates the
 * temporary files and writes their headers. */
static xl_status plan(xl_st_writer *w) {
    w->planned = 1;
    int ns = 1;
    uint64_t size = 0;
    size_t in_shard = 0;
    for (size_t i = 0; i < w->n; i++) {
        wtensor *t = &w->t[i];
        if (w->max_shard && in_shard > 0 && size + t->nbytes > w->max_shard) {
            ns++;
            size = 0;
            in_shard = 0;
        }
        t->shard = ns - 1;
        t->offset = size;
        size += t->nbytes;
        in_shard++;
    }
    if (ns > 99999) return w->failed = 1, xl_err(XL_ERR_ARG, "%s: %d shards: the shard size is too small", w->dir, ns);
    w->s = calloc((size_t)ns, sizeof *w->s);
    if (!w->s) return w->failed = 1, xl_err(XL_ERR_NOMEM, "%s: out of memory", w->dir);
    w->ns = ns;
    for (int si = 0; si < ns; si++) w->s[si].fd = -1;
    for (int si = 0; si < ns; si++) {
        wshard *s = &w->s[si];
        char name[64], tmp[96];
        if (ns == 1)
            snprintf(name, sizeof name, "%s", w->single_name ? w->single_name : "model.safetensors");
        else
            snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", si + 1, ns);
        snprintf(tmp, sizeof tmp, ".%s.tmp", name);
        if (!(s->file_name = strdup(name)) || !(s->final_path = xl_path_join(w->dir, name)) ||
            !(s->tmp_path = xl_path_join(w->dir, tmp)))
            return w->failed = 1, xl_err(XL_ERR_NOMEM, "%s: out of memory", w->dir);
        s->fd = open(s->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (s->fd < 0) return w->failed = 1, xl_err(XL_ERR_IO, "%s: %s", s->tmp_path, strerror(errno));
        size_t hlen;
        char *h = shard_header(w, si, &hlen);
        if (!h) return w->failed = 1, xl_err(XL_ERR_NOMEM, "%s: out of memory for the header", s->final_path);
        unsigned char len8[8];
        for (int b = 0; b < 8; b++) len8[b] = (unsigned char)((uint64_t)hlen >> (8 * b));
        xl_status st = write_all(w, s->fd, s->final_path, len8, 8);
        if (!st) st = write_all(w, s->fd, s->final_path, h, hlen);
        free(h);
        if (st) return st;
    }
    return XL_OK;
}

/* Skips finished tensors (and zero-sized ones) to the one taking the next bytes. */
static xl_status begin_write(xl_st_writer *w) {
    if (w->failed) return xl_err(XL_ERR_ARG, "%s: writer failed earlier", w->dir);
    if (!w->planned) {
        xl_status st = plan(w);
        if (st) return st;
    }
    while (w->cur < w->n && w->cur_done == w->t[w->cur].nbytes) {
        w->cur++;
        w->cur_done = 0;
    }
    return XL_OK;
}

xl_status xl_st_writer_append_raw(xl_st_writer *w, const void *data, size_t nbytes) {
    xl_status st = begin_write(w);
    if (st) return st;
    if (nbytes == 0) return XL_OK;
    if (w->cur >= w->n) return w->failed = 1, xl_err(XL_ERR_ARG, "%s: more data written than declared", w->dir);
    wtensor *t = &w->t[w->cur];
    if (nbytes > t->nbytes - w->cur_done)
        return w->failed = 1, xl_err(XL_ERR_ARG, "%s: tensor '%s': %zu bytes written past its %llu", w->dir, t->name,
                                     nbytes, (unsigned long long)t->nbytes);
    st = write_all(w, w->s[t->shard].fd, w->s[t->shard].final_path, data, nbytes);
    if (st) return st;
    w->cur_done += nbytes;
    return XL_OK;
}

xl_status xl_st_writer_append_f32(xl_st_writer *w, const float *data, size_t n) {
    xl_status st = begin_write(w);
    if (st) return st;
    if (n == 0) return XL_OK;
    if (w->cur >= w->n) return w->failed = 1, xl_err(XL_ERR_ARG, "%s: more data written than declared", w->dir);
    wtensor *t = &w->t[w->cur];
    if (!t->is_float)
        return w->failed = 1, xl_err(XL_ERR_ARG, "%s: tensor '%s' is %s: float values cannot be written to it", w->dir,
                                     t->name, t->dtype);
    if (n > (t->nbytes - w->cur_done) / t->esize)
        return w->failed = 1, xl_err(XL_ERR_ARG, "%s: tensor '%s': %zu values written past its end", w->dir, t->name, n);
    if (strcmp(t->dtype, "F32") == 0) return xl_st_writer_append_raw(w, data, n * 4);
    if (!w->buf && !(w->buf = malloc((size_t)CONV_CHUNK * 8)))
        return w->failed = 1, xl_err(XL_ERR_NOMEM, "%s: out of memory", w->dir);
    for (size_t i = 0; i < n; i += CONV_CHUNK) {
        size_t m = n - i < CONV_CHUNK ? n - i : CONV_CHUNK;
        convert_from_f32(t->dtype, data + i, w->buf, m);
        st = xl_st_writer_append_raw(w, w->buf, m * t->esize);
        if (st) return st;
    }
    return XL_OK;
}

/* The next tensor must start fresh and be written whole. */
static xl_status whole(xl_st_writer *w, size_t *numel) {
    xl_status st = begin_write(w);
    if (st) return st;
    if (w->cur >= w->n) return w->failed = 1, xl_err(XL_ERR_ARG, "%s: more tensors written than declared", w->dir);
    if (w->cur_done) return w->failed = 1, xl_err(XL_ERR_ARG, "%s: tensor '%s' is partly written", w->dir, w->t[w->cur].name);
    *numel = (size_t)(w->t[w->cur].nbytes / w->t[w->cur].esize);
    return XL_OK;
}

xl_status xl_st_writer_write_f32(xl_st_writer *w, const float *data) {
    size_t n;
    xl_status st = whole(w, &n);
    return st ? st : xl_st_writer_append_f32(w, data, n);
}

xl_status xl_st_writer_write_raw(xl_st_writer *w, const void *data, size_t nbytes) {
    size_t n;
    xl_status st = whole(w, &n);
    if (st) return st;
    const wtensor *t = &w->t[w->cur];
    if (nbytes != t->nbytes)
        return w->failed = 1, xl_err(XL_ERR_ARG, "%s: tensor '%s' needs %llu bytes, %zu given", w->dir, t->name,
                                     (unsigned long long)t->nbytes, nbytes);
    return xl_st_writer_append_raw(w, data, nbytes);
}

static xl_status write_index(xl_st_writer *w) {
    /* transformers: json.dumps(index, indent=2, sort_keys=True) + "\n" */
    uint64_t total = 0;
    json_t *map = json_object();
    for (size_t i = 0; i < w->n; i++) {
        total += w->t[i].nbytes;
        json_object_set_new(map, w->t[i].name, json_string(w->s[w->t[i].shard].file_name));
    }
    json_t *idx = json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)total, "weight_map", map);
    char *s = idx ? json_dumps(idx, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(idx);
    if (!s) return xl_err(XL_ERR_NOMEM, "%s: out of memory for the index", w->dir);
    w->index_path = xl_path_join(w->dir, "model.safetensors.index.json");
    w->index_tmp = xl_path_join(w->dir, ".model.safetensors.index.json.tmp");
    if (!w->index_path || !w->index_tmp) {
        free(s);
        return xl_err(XL_ERR_NOMEM, "%s: out of memory", w->dir);
    }
    int fd = open(w->index_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        free(s);
        return xl_err(XL_ERR_IO, "%s: %s", w->index_tmp, strerror(errno));
    }
    xl_status st = write_all(w, fd, w->index_path, s, strlen(s));
    if (!st) st = write_all(w, fd, w->index_path, "\n", 1);
    free(s);
    if (!st && fsync(fd) != 0) st = xl_err(XL_ERR_IO, "%s: fsync failed: %s", w->index_path, strerror(errno));
    if (close(fd) != 0 && !st) st = xl_err(XL_ERR_IO, "%s: close failed: %s", w->index_path, strerror(errno));
    return st;
}

xl_status xl_st_writer_finish(xl_st_writer *w) {
    xl_status st = begin_write(w); /* plans an empty or unwritten checkpoint too */
    if (!st && w->cur < w->n)
        st = xl_err(XL_ERR_ARG, "%s: tensor '%s' was declared but not (fully) written", w->dir, w->t[w->cur].name);
    for (int si = 0; !st && si < w->ns; si++) {
        wshard *s = &w->s[si];
        if (fsync(s->fd) != 0) st = xl_err(XL_ERR_IO, "%s: fsync failed: %s", s->final_path, strerror(errno));
        if (close(s->fd) != 0 && !st) st = xl_err(XL_ERR_IO, "%s: close failed: %s", s->final_path, strerror(errno));
        s->fd = -1;
    }
    if (!st && w->ns > 1) st = write_index(w);
    /* Renames come last: until here a failure leaves only temporary files. */
    for (int si = 0; !st && si < w->ns; si++) {
        wshard *s = &w->s[si];
        if (rename(s->tmp_path, s->final_path) != 0)
            st = xl_err(XL_ERR_IO, "%s: rename failed: %s", s->final_path, strerror(errno));
        else
            s->done = 1;
    }
    if (!st && w->index_tmp) {
        if (rename(w->index_tmp, w->index_path) != 0)
            st = xl_err(XL_ERR_IO, "%s: rename failed: %s", w->index_path, strerror(errno));
        else {
            free(w->index_tmp);
            w->index_tmp = NULL;
        }
    }
    if (!st) {
        int dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    if (st) {
        /* A partial rename set is removed too: never half a checkpoint. */
        for (int si = 0; si < w->ns; si++)
            if (w->s[si].done) {
                unlink(w->s[si].final_path);
                w->s[si].done = 0;
            }
    }
    xl_st_writer_free(w);
    return st;
}

void xl_st_writer_free(xl_st_writer *w) {
    if (!w) return;
    for (int si = 0; si < w->ns; si++) {
        wshard *s = &w->s[si];
        if (s->fd >= 0) close(s->fd);
        if (!s->done && s->tmp_path) unlink(s->tmp_path);
        free(s->final_path);
        free(s->tmp_path);
        free(s->file_name);
    }
    if (w->index_tmp) unlink(w->index_tmp);
    free(w->index_tmp);
    free(w->index_path);
    free(w->s);
    for (size_t i = 0; i < w->n; i++) free(w->t[i].name);
    free(w->t);
    json_decref(w->meta);
    free(w->buf);
    free(w->dir);
    free(w->single_name);
    free(w);
}
