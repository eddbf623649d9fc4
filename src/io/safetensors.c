/* safetensors reader: maps each file once, validates its header strictly, and keeps a
 * table of tensor views into the mappings plus a name-sorted index for lookup.
 *
 * File layout: 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
 * then the data region; offsets are relative to the start of the data region. */
#include "io/safetensors.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/vec.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *path;
    xl_mmap map;
    int borrowed;             /* map points at the caller's memory: not unmapped */
} st_file;

struct xl_weights {
    char *where;              /* the file opened (single file, model.safetensors or the index) */
    st_file *files;
    int nfiles;
    xl_tensor *t;             /* file by file, by data offset inside a file */
    size_t n, cap;
    const xl_tensor **by_name; /* sorted by name (strcmp) */
};

static const char *const name_prefixes[] = {"bert.", "roberta.", "model.", "transformer."};
#define N_PREFIXES (sizeof name_prefixes / sizeof name_prefixes[0])

/* ------------------------------------------------------------------ dtypes */

static const struct {
    const char *name;
    xl_dtype dt;
    size_t size;
} dtypes[] = {
    {"F32", XL_DT_F32, 4}, {"F16", XL_DT_F16, 2}, {"BF16", XL_DT_BF16, 2}, {"F64", XL_DT_F64, 8},
    {"I64", XL_DT_I64, 8}, {"I32", XL_DT_I32, 4}, {"I8", XL_DT_I8, 1},     {"U8", XL_DT_U8, 1},
    {"BOOL", XL_DT_BOOL, 1},
};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

const char *xl_dtype_name(xl_dtype dt) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (dtypes[i].dt == dt) return dtypes[i].name;
    return "?";
}

size_t xl_dtype_size(xl_dtype dt) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (dtypes[i].dt == dt) return dtypes[i].size;
    return 0;
}

int xl_dtype_is_float(xl_dtype dt) {
    return dt == XL_DT_F32 || dt == XL_DT_F16 || dt == XL_DT_BF16 || dt == XL_DT_F64;
}

static int dtype_parse(const char *s, xl_dtype *out) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (strcmp(dtypes[i].name, s) == 0) {
            *out = dtypes[i].dt;
            return 1;
        }
    return 0;
}

/* ------------------------------------------------------------------ table */

static xl_status push_tensor(xl_weights *w, const xl_tensor *t) {
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        xl_tensor *p = realloc(w->t, cap * sizeof *p);
        if (!p) return xl_err(XL_ERR_NOMEM, "%s: out of memory for the tensor table", w->where);
        w->t = p;
        w->cap = cap;
    }
    w->t[w->n++] = *t;
    return XL_OK;
}

static int cmp_by_offset(const void *a, const void *b) {
    const xl_tensor *x = a, *y = b;
    const char *px = x->data, *py = y->data;
    if (px != py) return px < py ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_by_name(const void *a, const void *b) {
    const xl_tensor *x = *(const xl_tensor *const *)a, *y = *(const xl_tensor *const *)b;
    return strcmp(x->name, y->name);
}

/* Sorts the name index and rejects a name that occurs twice (across shards: inside
 * one header, the JSON parser already rejects duplicate keys). */
static xl_status build_name_index(xl_weights *w) {
    w->by_name = malloc((w->n ? w->n : 1) * sizeof *w->by_name);
    if (!w->by_name) return xl_err(XL_ERR_NOMEM, "%s: out of memory for the tensor index", w->where);
    for (size_t i = 0; i < w->n; i++) w->by_name[i] = &w->t[i];
    qsort(w->by_name, w->n, sizeof *w->by_name, cmp_by_name);
    for (size_t i = 1; i < w->n; i++)
        if (strcmp(w->by_name[i - 1]->name, w->by_name[i]->name) == 0)
            return xl_err(XL_ERR_FORMAT, "%s: tensor '%s' appears twice (in %s and %s)", w->where,
                          w->by_name[i]->name, w->by_name[i - 1]->file, w->by_name[i]->file);
    return XL_OK;
}

/* ------------------------------------------------------------------ header parsing */

/* Reads a JSON integer in [0, max]; 0 if it is anything else. */
static int get_uint(const json_t *v, uint64_t max, uint64_t *out) {
    if (!json_is_integer(v)) return 0;
    json_int_t x = json_integer_value(v);
    if (x < 0 || (uint64_t)x > max) return 0;
    *out = (uint64_t)x;
    return 1;
}

/* Validates one tensor entry of file f and fills t (except data, set by the caller). */
static xl_status parse_entry(const char *path, const char *name, const json_t *v, size_t data_size,
                             xl_tensor *t, uint64_t *begin_out) {
    if (!json_is_object(v))
        return xl_err(XL_ERR_FORMAT, "%s: tensor '%s': entry is not a JSON object", path, name);
    const json_t *jd = json_object_get(v, "dtype");
    const json_t *js = json_object_get(v, "shape");
    const json_t *jo = json_object_get(v, "data_offsets");
    if (!jd) return xl_err(XL_ERR_FORMAT, "%s: tensor '%s': missing \"dtype\"", path, name);
    if (!js) return xl_err(XL_ERR_FORMAT, "%s: tensor '%s': missing \"shape\"", path, name);
    if (!jo) return xl_err(XL_ERR_FORMAT, "%s: tensor '%s': missing \"data_offsets\"", path, name);

    if (!json_is_string(jd))
        return xl_err(XL_ERR_FORMAT, "%s: tensor '%s': \"dtype\" is not a string", path, name);
    const char *ds = json_string_value(jd);
    if (!dtype_parse(ds, &t->dtype)) {
        /* Valid safetensors dtypes xling does not read (F8_*, I16, U16, U32, U64, ...)
         * and unknown names alike: report the name as found. */
        char shown[40];
        size_t k = 0;
        for (; ds[k] && k + 1 < sizeof shown; k++)
            shown[k] = (ds[k] >= 0x20 && ds[k] < 0x7f) ? ds[k] : '?';
        shown[k] = '\0';
        return xl_err(XL_ERR_UNSUPPORTED,
                      "%s: tensor '%s': dtype \"%s\" is not supported (F32, F16, BF16, F64, I64, I32, I8, U8, BOOL are)",
                      path, name, shown);
    }

    if (!json_is_array(js))
        return xl_err(XL_ERR_FORMAT, "%s: tensor '%s': \"shape\" is not an array", path, name);
    size_t nd = json_array_size(js);
    if (nd > XL_MAX_DIMS)
        return xl_err(XL_ERR_FORMAT, "%s: tensor '%s': %zu dimensions (at most %d supported)", path, name, nd,
                      XL_MAX_DIMS);
    t->ndim = (int)nd;
    size_t numel = 1;
    for (size_t d = 0; d < nd; d++) {
        uint64_t dim;
        if (!get_uint(json_array_get(js, d), INT64_MAX, &dim))
            return xl_err(XL_ERR_FORMAT, "%s: tensor '%s': shape[%zu] is not a non-negative integer", path, name, d);
        t->shape[d] = (int64_t)dim;
        if ((uint64_t)(size_t)dim != dim || !xl_mul_ok(numel, (size_t)dim, &numel))
            return xl_err(XL_ERR_FORMAT, "%s: tensor '%s': element count overflows", path, name);
    }
    for (size_t d = nd; d < XL_MAX_DIMS; d++) t->shape[d] = 0;
    t->numel = numel;
    size_t want;
    if (!xl_mul_ok(numel, xl_dtype_size(t->dtype), &want))
        return xl_err(XL_ERR_FORMAT, "%s: tensor '%s': byte size overflows", path, name);

    uint64_t begin, end;
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !get_uint(json_array_get(jo, 0), INT64_MAX, &begin) ||
        !get_uint(json_array_get(jo, 1), INT64_MAX, &end))
        return xl_err(XL_ERR_FORMAT, "%s: tensor '%s': \"data_offsets\" must be [begin, end] (non-negative integers)",
                      path, name);
    if (begin > end)
        return xl_err(XL_ERR_FORMAT, "%s: tensor '%s': data_offsets begin %llu > end %llu", path, name,
                      (unsigned long long)begin, (unsigned long long)end);
    if (end > data_size)
        return xl_err(XL_ERR_FORMAT, "%s: tensor '%s': data_offsets end %llu beyond the data (%zu bytes; file truncated?)",
                      path, name, (unsigned long long)end, data_size);
    if (end - begin != want)
        return xl_err(XL_ERR_FORMAT, "%s: tensor '%s': %llu bytes stored, but %s x %zu elements need %zu", path, name,
                      (unsigned long long)(end - begin), xl_dtype_name(t->dtype), numel, want);
    t->nbytes = want;
    *begin_out = begin;
    return XL_OK;
}

/* A name must be printable on one line: no NUL or control bytes (JSON allows them). */
static int name_ok(const char *key, size_t len) {
    if (len == 0 || strlen(key) != len) return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f) return 0;
    return 1;
}

static xl_status check_metadata(const char *path, const json_t *m) {
    if (!json_is_object(m)) return xl_err(XL_ERR_FORMAT, "%s: \"__metadata__\" is not a JSON object", path);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)m, k, v) {
        if (!json_is_string(v))
            return xl_err(XL_ERR_FORMAT, "%s: \"__metadata__\" value of \"%s\" is not a string", path, k);
    }
    return XL_OK;
}

/* Validates the header of file index fi and appends its tensors (sorted by offset). */
static xl_status parse_file(xl_weights *w, int fi) {
    const char *path = w->files[fi].path;
    const unsigned char *base = w->files[fi].map.data;
    size_t len = w->files[fi].map.len;
    if (len < 8)
        return xl_err(XL_ERR_FORMAT, "%s: file is %zu bytes, too short for a safetensors header", path, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | base[i];
    if (hlen > XL_ST_MAX_HEADER)
        return xl_err(XL_ERR_FORMAT, "%s: header length %llu exceeds the 100 MB limit (not a safetensors file?)", path,
                      (unsigned long long)hlen);
    if (hlen > len - 8)
        return xl_err(XL_ERR_FORMAT, "%s: header length %llu runs past the end of the file (%zu bytes; truncated?)",
                      path, (unsigned long long)hlen, len);
    if (hlen == 0) return xl_err(XL_ERR_FORMAT, "%s: empty header", path);

    json_error_t e;
    /* Duplicate keys would silently keep one of two tensors: reject them. */
    json_t *h = json_loadb((const char *)base + 8, (size_t)hlen,
                           JSON_ALLOW_NUL | JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
    if (!h) {
        if (json_error_code(&e) == json_error_duplicate_key)
            return xl_err(XL_ERR_FORMAT, "%s: duplicate tensor or key in the header (%s)", path, e.text);
        return xl_err(XL_ERR_FORMAT, "%s: header is not valid JSON (column %d: %s)", path, e.column, e.text);
    }
    xl_status st = XL_OK;
    if (!json_is_object(h)) {
        st = xl_err(XL_ERR_FORMAT, "%s: header is not a JSON object", path);
        goto done;
    }
    const unsigned char *data = base + 8 + hlen;
    size_t data_size = len - 8 - (size_t)hlen;
    size_t first = w->n;
    void *it;
    for (it = json_object_iter(h); it; it = json_object_iter_next(h, it)) {
        const char *key = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        json_t *v = json_object_iter_value(it);
        if (strcmp(key, "__metadata__") == 0 && klen == strlen(key)) {
            if ((st = check_metadata(path, v))) goto done;
            continue;
        }
        if (!name_ok(key, klen)) {
            st = xl_err(XL_ERR_FORMAT, "%s: a tensor name is empty or contains control characters", path);
            goto done;
        }
        xl_tensor t;
        memset(&t, 0, sizeof t);
        uint64_t begin = 0;
        if ((st = parse_entry(path, key, v, data_size, &t, &begin))) goto done;
        t.name = strdup(key);
        if (!t.name) {
            st = xl_err(XL_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        t.file = path;
        t.data = data + begin;
        if ((st = push_tensor(w, &t))) {
            free((char *)t.name);
            goto done;
        }
    }
    /* Overlap check: in offset order, each non-empty tensor must start at or after
     * the end of the previous non-empty one. A header without tensors leaves w->t
     * NULL, and NULL + 0 is undefined: sort only when there is something to sort. */
    if (w->n > first) qsort(w->t + first, w->n - first, sizeof *w->t, cmp_by_offset);
    const xl_tensor *prev = NULL;
    for (size_t i = first; i < w->n; i++) {
        const xl_tensor *t = &w->t[i];
        if (t->nbytes == 0) continue;
        if (prev && (const unsigned char *)prev->data + prev->nbytes > (const unsigned char *)t->data) {
            st = xl_err(XL_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap in the data region", path, prev->name,
                        t->name);
            goto done;
        }
        prev = t;
    }
done:
    json_decref(h);
    return st;
}

/* Adds path as file number w->nfiles: mapped, or (data != NULL) the caller's bytes. */
static xl_status add_file_from(xl_weights *w, const char *path, const void *data, size_t len) {
    st_file *f = realloc(w->files, (size_t)(w->nfiles + 1) * sizeof *f);
    if (!f) return xl_err(XL_ERR_NOMEM, "%s: out of memory", path);
    w->files = f;
    st_file *nf = &w->files[w->nfiles];
    nf->path = strdup(path);
    nf->map.data = data ? (void *)data : NULL;
    nf->map.len = data ? len : 0;
    nf->borrowed = data != NULL;
    if (!nf->path) return xl_err(XL_ERR_NOMEM, "%s: out of memory", path);
    w->nfiles++;
    if (!data) {
        xl_status st = xl_mmap_open(path, &nf->map);
        if (st) return st;
    }
    return parse_file(w, w->nfiles - 1);
}

static xl_status add_file(xl_weights *w, const char *path) { return add_file_from(w, path, NULL, 0); }

static xl_weights *weights_new(const char *where) {
    xl_weights *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->where = strdup(where);
    if (!w->where) {
        free(w);
        return NULL;
    }
    return w;
}

void xl_weights_close(xl_weights *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free((char *)w->t[i].name);
    for (int i = 0; i < w->nfiles; i++) {
        if (!w->files[i].borrowed) xl_mmap_close(&w->files[i].map);
        free(w->files[i].path);
    }
    free(w->files);
    free(w->t);
    free(w->by_name);
    free(w->where);
    free(w);
}

xl_status xl_weights_open_file(const char *path_in, xl_weights **out) {
    *out = NULL;
    char *path = xl_resolve_text_link(path_in);
    if (!path) return xl_err(XL_ERR_NOMEM, "%s: out of memory", path_in);
    xl_weights *w = weights_new(path);
    xl_status st = w ? XL_OK : xl_err(XL_ERR_NOMEM, "%s: out of memory", path);
    if (!st) st = add_file(w, path);
    if (!st) st = build_name_index(w);
    free(path);
    if (st) {
        xl_weights_close(w);
        return st;
    }
    *out = w;
    return XL_OK;
}

xl_status xl_weights_open_memory(const char *name, const void *data, size_t len, xl_weights **out) {
    *out = NULL;
    /* A non-NULL pointer even for 0 bytes, so that the entry counts as borrowed. */
    static const unsigned char empty[1];
    xl_weights *w = weights_new(name);
    xl_status st = w ? add_file_from(w, name, len ? data : empty, len) : xl_err(XL_ERR_NOMEM, "%s: out of memory", name);
    if (!st) st = build_name_index(w);
    if (st) {
        xl_weights_close(w);
        return st;
    }
    *out = w;
    return XL_OK;
}

/* ------------------------------------------------------------------ sharded checkpoints */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int xl_shard_name_ok(const char *s) {
    if (!*s || s[0] == '/') return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20) return 0;
    for (const char *p = s; (p = strstr(p, "..")) != NULL; p += 2)
        if ((p == s || p[-1] == '/') && (p[2] == '\0' || p[2] == '/')) return 0;
    return 1;
}

static xl_status open_sharded(xl_weights *w, const char *dir, const char *index_path) {
    json_t *idx;
    xl_status st = xl_json_load_file(index_path, &idx);
    if (st) return st;
    const char **shards = NULL;
    size_t ns = 0;
    const json_t *map = json_is_object(idx) ? json_object_get(idx, "weight_map") : NULL;
    if (!json_is_object(map)) {
        st = xl_err(XL_ERR_FORMAT, "%s: no \"weight_map\" object", index_path);
        goto done;
    }
    shards = malloc((json_object_size(map) + 1) * sizeof *shards);
    if (!shards) {
        st = xl_err(XL_ERR_NOMEM, "%s: out of memory", index_path);
        goto done;
    }
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)map, name, v) {
        if (!json_is_string(v) || !xl_shard_name_ok(json_string_value(v)) ||
            strlen(json_string_value(v)) != json_string_length(v)) {
            st = xl_err(XL_ERR_FORMAT, "%s: weight_map entry of tensor '%s' is not a file name in the folder",
                        index_path, name);
            goto done;
        }
        shards[ns++] = json_string_value(v);
    }
    if (ns == 0) {
        st = xl_err(XL_ERR_FORMAT, "%s: \"weight_map\" is empty", index_path);
        goto done;
    }
    qsort(shards, ns, sizeof *shards, cmp_str);
    size_t nu = 0;
    for (size_t i = 0; i < ns; i++)
        if (nu == 0 || strcmp(shards[nu - 1], shards[i]) != 0) shards[nu++] = shards[i];
    for (size_t i = 0; i < nu; i++) {
        char *p = xl_path_join(dir, shards[i]);
        char *rp = p ? xl_resolve_text_link(p) : NULL;
        free(p);
        if (!rp) {
            st = xl_err(XL_ERR_NOMEM, "%s: out of memory", index_path);
            goto done;
        }
        if (!xl_file_exists(rp)) {
            const char *first_tensor = "?";
            json_object_foreach((json_t *)map, name, v) {
                if (strcmp(json_string_value(v), shards[i]) == 0) {
                    first_tensor = name;
                    break;
                }
            }
            st = xl_err(XL_ERR_IO, "%s: shard '%s' (holding tensor '%s') is missing", index_path, shards[i],
                        first_tensor);
            free(rp);
            goto done;
        }
        st = add_file(w, rp);
        free(rp);
        if (st) goto done;
    }
    if ((st = build_name_index(w))) goto done;
    /* Every tensor the index lists must be in the shard it names. */
    json_object_foreach((json_t *)map, name, v) {
        const xl_tensor key = {.name = name};
        const xl_tensor *kp = &key;
        const xl_tensor **hit = bsearch(&kp, w->by_name, w->n, sizeof *w->by_name, cmp_by_name);
        char *want = xl_path_join(dir, json_string_value(v));
        char *rwant = want ? xl_resolve_text_link(want) : NULL;
        free(want);
        if (!rwant) {
            st = xl_err(XL_ERR_NOMEM, "%s: out of memory", index_path);
            goto done;
        }
        int ok = hit && strcmp((*hit)->file, rwant) == 0;
        free(rwant);
        if (!ok) {
            st = xl_err(XL_ERR_FORMAT, "%s: tensor '%s' is listed in shard '%s' but absent from it%s%s", index_path,
                        name, json_string_value(v), hit ? "; it is in " : "", hit ? (*hit)->file : "");
            goto done;
        }
    }
done:
    free(shards);
    json_decref(idx);
    return st;
}

xl_status xl_weights_open_dir(const char *dir, xl_weights **out) {
    *out = NULL;
    if (!xl_is_dir(dir)) return xl_err(XL_ERR_IO, "%s: not a folder", dir);
    char *single = xl_path_join(dir, "model.safetensors");
    char *index = xl_path_join(dir, "model.safetensors.index.json");
    char *bin = xl_path_join(dir, "pytorch_model.bin");
    xl_status st;
    if (!single || !index || !bin) {
        st = xl_err(XL_ERR_NOMEM, "%s: out of memory", dir);
    } else if (xl_file_exists(single)) {
        st = xl_weights_open_file(single, out);
    } else if (xl_file_exists(index)) {
        xl_weights *w = weights_new(index);
        st = w ? open_sharded(w, dir, index) : xl_err(XL_ERR_NOMEM, "%s: out of memory", index);
        if (st) xl_weights_close(w);
        else *out = w;
    } else if (xl_file_exists(bin)) {
        st = xl_err(XL_ERR_UNSUPPORTED,
                    "%s: only pytorch_model.bin found; convert the checkpoint to model.safetensors "
                    "(e.g. load it in transformers and save_pretrained(safe_serialization=True))",
                    dir);
    } else {
        st = xl_err(XL_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json", dir);
    }
    free(single);
    free(index);
    free(bin);
    return st;
}

/* ------------------------------------------------------------------ lookup */

const char *xl_weights_path(const xl_weights *w) { return w ? w->where : ""; }

size_t xl_weights_count(const xl_weights *w) { return w ? w->n : 0; }

const xl_tensor *xl_weights_at(const xl_weights *w, size_t i) { return w && i < w->n ? &w->t[i] : NULL; }

/* strcmp(stored, prefix + rest) without building the joined string. */
static int cmp_joined(const char *stored, const char *prefix, const char *rest) {
    const unsigned char *s = (const unsigned char *)stored;
    for (const unsigned char *p = (const unsigned char *)prefix; *p; p++, s++)
        if (*s != *p) return *s < *p ? -1 : 1;
    return strcmp((const char *)s, rest);
}

static const xl_tensor *lookup(const xl_weights *w, const char *prefix, const char *rest) {
    size_t lo = 0, hi = w->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_joined(w->by_name[mid]->name, prefix, rest);
        if (c == 0) return w->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const xl_tensor *xl_weights_find(const xl_weights *w, const char *name) {
    if (!w || !name || !w->by_name) return NULL;
    const xl_tensor *t = lookup(w, "", name);
    if (t) return t;
    /* The name without its known prefix (if it has one), then with each prefix:
     * "encoder.x" finds "roberta.encoder.x", "model.layers.0" finds "layers.0",
     * "bert.pooler" finds "model.pooler". */
    const char *base = name;
    for (size_t i = 0; i < N_PREFIXES; i++) {
        size_t pl = strlen(name_prefixes[i]);
        if (strncmp(name, name_prefixes[i], pl) == 0) {
            base = name + pl;
            break;
        }
    }
    if (base != name && (t = lookup(w, "", base))) return t;
    for (size_t i = 0; i < N_PREFIXES; i++)
        if ((t = lookup(w, name_prefixes[i], base))) return t;
    return NULL;
}

static void format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t k = 0;
    buf[0] = '\0';
    k += (size_t)snprintf(buf + k, cap - k, "[");
    for (int d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

xl_status xl_weights_get(const xl_weights *w, const char *name, int ndim, const int64_t *shape,
                         const xl_tensor **out) {
    *out = NULL;
    if (!w || !name) return xl_err(XL_ERR_ARG, "xl_weights_get: no weights or no name");
    const xl_tensor *t = xl_weights_find(w, name);
    if (!t)
        return xl_err(XL_ERR_FORMAT, "%s: tensor '%s' not found (also tried with/without bert./roberta./model./transformer.)",
                      w->where, name);
    if (!xl_dtype_is_float(t->dtype))
        return xl_err(XL_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s where a floating-point weight is expected",
                      t->file, t->name, xl_dtype_name(t->dtype));
    if (ndim >= 0) {
        int same = ndim == t->ndim;
        for (int d = 0; same && d < ndim; d++) same = shape[d] == t->shape[d];
        if (!same) {
            char want[160], got[160];
            format_shape(want, sizeof want, ndim > XL_MAX_DIMS ? XL_MAX_DIMS : ndim, shape);
            format_shape(got, sizeof got, t->ndim, t->shape);
            return xl_err(XL_ERR_FORMAT, "%s: tensor '%s': shape %s, expected %s from the config", t->file, t->name,
                          got, want);
        }
    }
    *out = t;
    return XL_OK;
}

xl_status xl_tensor_to_f32(const xl_tensor *t, float **out) {
    *out = NULL;
    size_t bytes;
    if (!xl_mul_ok(t->numel, sizeof(float), &bytes))
        return xl_err(XL_ERR_NOMEM, "%s: tensor '%s': too large to convert", t->file, t->name);
    float *p = malloc(bytes ? bytes : 1);
    if (!p) return xl_err(XL_ERR_NOMEM, "%s: tensor '%s': out of memory converting %zu values", t->file, t->name, t->numel);
    xl_convert_to_f32(t->dtype, t->data, p, t->numel);
    *out = p;
    return XL_OK;
}

xl_status xl_weights_get_f32(const xl_weights *w, const char *name, int ndim, const int64_t *shape, float **out) {
    const xl_tensor *t;
    *out = NULL;
    xl_status st = xl_weights_get(w, name, ndim, shape, &t);
    if (st) return st;
    return xl_tensor_to_f32(t, out);
}
