/* torch.save zips (torch_pt.h): libzip for the archive, pickle.c for data.pkl. */
#include "io/torch_pt.h"
#include "io/pickle.h"
#include "util/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

static size_t elem_size(xl_dtype dt) { return dt == XL_DT_F32 ? 4 : 2; }

static float elem(xl_dtype dt, const uint8_t *p) {
    if (dt == XL_DT_F32) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    uint16_t h = (uint16_t)(p[0] | p[1] << 8);
    return dt == XL_DT_F16 ? xl_f16_to_f32(h) : xl_bf16_to_f32(h);
}

/* Reads entry idx whole into *buf, which must be exactly `expect` bytes (the size the
 * archive's directory gives is checked first, before allocating). */
static xl_status read_entry(zip_t *z, zip_uint64_t idx, const char *what, const char *entry, uint64_t expect,
                            uint8_t **buf) {
    *buf = NULL;
    zip_stat_t sb;
    zip_stat_init(&sb);
    if (zip_stat_index(z, idx, 0, &sb) || !(sb.valid & ZIP_STAT_SIZE))
        return xl_err(XL_ERR_FORMAT, "%s: cannot read the size of %s in the archive", what, entry);
    if (sb.size != expect)
        return xl_err(XL_ERR_FORMAT, "%s: %s holds %llu bytes, the pickle declares %llu", what, entry,
                      (unsigned long long)sb.size, (unsigned long long)expect);
    /* A declared size far beyond what deflate can give from the stored bytes is a lie
     * (or a bomb): refused before allocating it. */
    if ((sb.valid & ZIP_STAT_COMP_SIZE) && sb.size / 1100 > sb.comp_size)
        return xl_err(XL_ERR_FORMAT, "%s: %s declares %llu bytes from %llu compressed ones", what, entry,
                      (unsigned long long)sb.size, (unsigned long long)sb.comp_size);
    if (expect > SIZE_MAX - 1) return xl_err(XL_ERR_NOMEM, "%s: %s is too large", what, entry);
    uint8_t *b = malloc(expect ? (size_t)expect : 1);
    if (!b) return xl_err(XL_ERR_NOMEM, "%s: out of memory reading %s (%llu bytes)", what, entry, (unsigned long long)expect);
    zip_file_t *f = zip_fopen_index(z, idx, 0);
    if (!f) {
        free(b);
        return xl_err(XL_ERR_FORMAT, "%s: cannot open %s in the archive: %s", what, entry, zip_strerror(z));
    }
    uint64_t got = 0;
    while (got < expect) {
        zip_int64_t r = zip_fread(f, b + got, expect - got);
        if (r <= 0) break;
        got += (uint64_t)r;
    }
    uint8_t extra;
    /* Reading past the declared end also makes libzip check the CRC. */
    zip_int64_t more = got == expect ? zip_fread(f, &extra, 1) : -1;
    const char *zerr = zip_file_strerror(f);
    char msg[128];
    snprintf(msg, sizeof msg, "%s", zerr ? zerr : "");
    zip_fclose(f);
    if (got != expect || more != 0) {
        free(b);
        return xl_err(XL_ERR_FORMAT, "%s: %s is truncated or damaged (%llu of %llu bytes read%s%s)", what, entry,
                      (unsigned long long)got, (unsigned long long)expect, *msg ? ": " : "", msg);
    }
    *buf = b;
    return XL_OK;
}

/* One tensor: its storage entry read and checked, the view gathered in C order. */
static xl_status load_tensor(zip_t *z, const char *what, const char *root, const xl_pk_tensor *pt, xl_pt_tensor *out) {
    size_t klen = strlen(root) + strlen(pt->storage) + 8;
    char *entry = malloc(klen);
    if (!entry) return xl_err(XL_ERR_NOMEM, "out of memory");
    snprintf(entry, klen, "%s/data/%s", root, pt->storage);
    xl_status st = XL_OK;
    uint8_t *buf = NULL;
    zip_int64_t idx = zip_name_locate(z, entry, 0);
    size_t es = elem_size(pt->dtype);
    if (idx < 0) st = xl_err(XL_ERR_FORMAT, "%s: tensor \"%s\": storage %s is missing from the archive", what, pt->name, entry);
    else if (pt->storage_numel > UINT64_MAX / es)
        st = xl_err(XL_ERR_FORMAT, "%s: tensor \"%s\": storage size overflows", what, pt->name);
    else st = read_entry(z, (zip_uint64_t)idx, what, entry, pt->storage_numel * es, &buf);
    free(entry);
    if (st) return st;
    out->name = strdup(pt->name);
    out->dtype = pt->dtype;
    out->ndim = pt->ndim;
    memcpy(out->shape, pt->shape, sizeof out->shape);
    out->numel = (size_t)pt->numel; /* <= storage_numel, which was allocated */
    out->data = malloc((out->numel ? out->numel : 1) * sizeof *out->data);
    if (!out->name || !out->data) {
        free(buf);
        return xl_err(XL_ERR_NOMEM, "out of memory");
    }
    /* Odometer over the shape: the storage index follows the strides. */
    int64_t ix[XL_MAX_DIMS] = {0};
    uint64_t at = pt->offset;
    for (size_t i = 0; i < out->numel; i++) {
        out->data[i] = elem(pt->dtype, buf + at * es);
        for (int d = pt->ndim - 1; d >= 0; d--) {
            if (++ix[d] < pt->shape[d]) {
                at += (uint64_t)pt->stride[d];
                break;
            }
            at -= (uint64_t)pt->stride[d] * (uint64_t)(pt->shape[d] - 1);
            ix[d] = 0;
        }
    }
    free(buf);
    return XL_OK;
}

static xl_status load_zip(zip_t *z, const char *what, xl_pt_file *out) {
    zip_int64_t n = zip_get_num_entries(z, 0);
    zip_int64_t pkl = -1;
    const char *pkl_name = NULL;
    for (zip_int64_t i = 0; i < n; i++) {
        const char *name = zip_get_name(z, (zip_uint64_t)i, 0);
        if (!name) continue;
        const char *slash = strchr(name, '/');
        /* <root>/data.pkl, the root one folder deep */
        if (slash && slash != name && !strcmp(slash, "/data.pkl")) {
            if (pkl >= 0) return xl_err(XL_ERR_FORMAT, "%s: two data.pkl entries (%s, %s)", what, pkl_name, name);
            pkl = i;
            pkl_name = name;
        }
    }
    if (pkl < 0) return xl_err(XL_ERR_FORMAT, "%s: no <root>/data.pkl in the archive (not a torch.save file)", what);
    size_t root_len = (size_t)(strchr(pkl_name, '/') - pkl_name);
    char *root = strndup(pkl_name, root_len);
    if (!root) return xl_err(XL_ERR_NOMEM, "out of memory");
    zip_stat_t sb;
    zip_stat_init(&sb);
    xl_status st = XL_OK;
    uint8_t *pk = NULL;
    if (zip_stat_index(z, (zip_uint64_t)pkl, 0, &sb) || !(sb.valid & ZIP_STAT_SIZE))
        st = xl_err(XL_ERR_FORMAT, "%s: cannot read the size of %s", what, pkl_name);
    else if (sb.size > XL_PT_MAX_PICKLE)
        st = xl_err(XL_ERR_FORMAT, "%s: %s is %llu bytes (more than %u: not a state_dict)", what, pkl_name,
                    (unsigned long long)sb.size, XL_PT_MAX_PICKLE);
    else st = read_entry(z, (zip_uint64_t)pkl, what, pkl_name, sb.size, &pk);
    xl_pk_state_dict sd = {0};
    if (!st) st = xl_pickle_state_dict(pk, (size_t)sb.size, what, &sd);
    free(pk);
    if (!st) {
        out->t = calloc(sd.n ? sd.n : 1, sizeof *out->t);
        if (!out->t) st = xl_err(XL_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; !st && i < sd.n; i++) {
        st = load_tensor(z, what, root, &sd.t[i], &out->t[i]);
        out->n = i + 1;
    }
    xl_pk_state_dict_free(&sd);
    free(root);
    return st;
}

static xl_status zip_failed(const char *what, int code) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, code);
    xl_status st;
    if (code == ZIP_ER_NOENT || code == ZIP_ER_OPEN || code == ZIP_ER_READ)
        st = xl_err(XL_ERR_IO, "%s: %s", what, zip_error_strerror(&ze));
    else if (code == ZIP_ER_NOZIP)
        st = xl_err(XL_ERR_FORMAT, "%s: not a zip archive (torch.save files of PyTorch >= 1.6 are; the legacy format is not read)", what);
    else st = xl_err(XL_ERR_FORMAT, "%s: damaged zip archive: %s", what, zip_error_strerror(&ze));
    zip_error_fini(&ze);
    return st;
}

xl_status xl_pt_load(const char *path, xl_pt_file *out) {
    memset(out, 0, sizeof *out);
    int code = 0;
    zip_t *z = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &code);
    if (!z) return zip_failed(path, code);
    xl_status st = load_zip(z, path, out);
    zip_discard(z);
    if (st) xl_pt_free(out);
    return st;
}

xl_status xl_pt_load_memory(const void *data, size_t len, const char *what, xl_pt_file *out) {
    memset(out, 0, sizeof *out);
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, len, 0, &ze);
    if (!src) {
        zip_error_fini(&ze);
        return xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
    }
    zip_t *z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!z) {
        int code = zip_error_code_zip(&ze);
        zip_source_free(src);
        zip_error_fini(&ze);
        return zip_failed(what, code);
    }
    zip_error_fini(&ze);
    xl_status st = load_zip(z, what, out);
    zip_discard(z);
    if (st) xl_pt_free(out);
    return st;
}

const xl_pt_tensor *xl_pt_find(const xl_pt_file *f, const char *name) {
    for (size_t i = 0; i < f->n; i++)
        if (f->t[i].name && !strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

void xl_pt_free(xl_pt_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->t[i].name);
        free(f->t[i].data);
    }
    free(f->t);
    memset(f, 0, sizeof *f);
}
