/* Checkpoint merging without training: weighted averaging of n models and layer
 * swapping between two. Both stream tensor by tensor, in pieces of CHUNK values, over
 * the read-only mappings of the inputs; pages already read are handed back
 * (MADV_DONTNEED: they are re-read from the file if touched again), so resident memory
 * stays at the buffers plus one piece per input, however large the model. Everything
 * is checked (architectures, names, shapes, layer ranges) before the first byte is
 * written; the output folder is built by hf_folder.c and appears in one rename. */
#include "io/safetensors.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK ((size_t)1 << 22) /* values per window of pages prefetched / released */
#define BLOCK ((size_t)1 << 15) /* values per arithmetic block: 128 KB of float32, in L2 */
#define DEFAULT_SHARD 5000000000ull

/* One checkpoint of a model folder: the model's own (rel "") or a module's ("2_Dense"). */
typedef struct {
    char *rel;
    xl_weights *w;
} part;

typedef struct {
    const char *dir;
    json_t *config; /* NULL without config.json */
    part *parts;
    int nparts;
} model_in;

typedef struct {
    const xl_merge_options *o;
    uint64_t done, total;
} run_state;

/* ------------------------------------------------------------------ helpers */

static void note(const xl_merge_options *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const xl_merge_options *o, const char *fmt, ...) {
    if (!o->on_note) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    o->on_note(o->user, msg);
}

static void shape_str(const xl_tensor *t, char *buf, size_t len) {
    size_t k = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < t->ndim && k < len; d++) k += (size_t)snprintf(buf + k, len - k, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (k < len) snprintf(buf + k, len - k, "]");
}

static int same_shape(const xl_tensor *a, const xl_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return 1;
}

/* "2_Dense/linear.weight" for modules, the name itself for the model. */
static const char *full_name(const part *p, const char *name, char *buf, size_t len) {
    if (!*p->rel) return name;
    snprintf(buf, len, "%s/%s", p->rel, name);
    return buf;
}

static void model_close(model_in *m) {
    for (int i = 0; i < m->nparts; i++) {
        free(m->parts[i].rel);
        xl_weights_close(m->parts[i].w);
    }
    free(m->parts);
    json_decref(m->config);
    memset(m, 0, sizeof *m);
}

static xl_status add_part(model_in *m, const char *rel) {
    part *p = realloc(m->parts, (size_t)(m->nparts + 1) * sizeof *p);
    if (!p) return xl_err(XL_ERR_NOMEM, "out of memory");
    m->parts = p;
    part *q = &m->parts[m->nparts];
    q->w = NULL;
    if (!(q->rel = strdup(rel))) return xl_err(XL_ERR_NOMEM, "out of memory");
    m->nparts++;
    char *dir = *rel ? xl_path_join(m->dir, rel) : strdup(m->dir);
    if (!dir) return xl_err(XL_ERR_NOMEM, "out of memory");
    xl_status st = xl_weights_open_dir(dir, &q->w);
    free(dir);
    return st;
}

/* Opens the model checkpoint and those of the modules modules.json lists whose folders hold one. */
static xl_status model_open(const char *dir, model_in *m) {
    memset(m, 0, sizeof *m);
    m->dir = dir;
    if (!xl_is_dir(dir)) return xl_err(XL_ERR_IO, "%s: not a folder", dir);
    char *cfg = xl_path_join(dir, "config.json");
    xl_status st = XL_OK;
    if (!cfg) return xl_err(XL_ERR_NOMEM, "out of memory");
    if (xl_file_exists(cfg)) st = xl_json_load_file(cfg, &m->config);
    free(cfg);
    if (!st) st = add_part(m, "");
    char *mods = st ? NULL : xl_path_join(dir, "modules.json");
    if (!st && mods && xl_file_exists(mods)) {
        json_t *arr = NULL;
        st = xl_json_load_file(mods, &arr);
        if (!st && !json_is_array(arr)) st = xl_err(XL_ERR_FORMAT, "%s: not a JSON array", mods);
        for (size_t i = 0; !st && i < json_array_size(arr); i++) {
            const char *rel = json_string_value(json_object_get(json_array_get(arr, i), "path"));
            if (!rel || !*rel) continue;
            if (!xl_shard_name_ok(rel)) {
                st = xl_err(XL_ERR_FORMAT, "%s: module path \"%s\" leaves the folder", mods, rel);
                break;
            }
            char *md = xl_path_join(dir, rel);
            char *f1 = md ? xl_path_join(md, "model.safetensors") : NULL;
            char *f2 = md ? xl_path_join(md, "model.safetensors.index.json") : NULL;
            char *f3 = md ? xl_path_join(md, "pytorch_model.bin") : NULL;
            if (!f1 || !f2 || !f3)
                st = xl_err(XL_ERR_NOMEM, "out of memory");
            else if (xl_file_exists(f1) || xl_file_exists(f2))
                st = add_part(m, rel);
            else if (xl_file_exists(f3))
                st = xl_err(XL_ERR_UNSUPPORTED,
                            "%s: module weights only in pytorch_model.bin; convert them to model.safetensors first", md);
            free(md);
            free(f1);
            free(f2);
            free(f3);
        }
        json_decref(arr);
    }
    free(mods);
    if (st) model_close(m);
    return st;
}

static const char *cfg_str(const json_t *cfg, const char *key) {
    return cfg ? json_string_value(json_object_get(cfg, key)) : NULL;
}

/* Same architectures list and model_type in config.json (or neither has a config). */
static xl_status same_architecture(const model_in *a, const model_in *b) {
    const json_t *aa = a->config ? json_object_get(a->config, "architectures") : NULL;
    const json_t *ba = b->config ? json_object_get(b->config, "architectures") : NULL;
    const char *at = cfg_str(a->config, "model_type"), *bt = cfg_str(b->config, "model_type");
    int same = (!aa && !ba) || (aa && ba && json_equal((json_t *)aa, (json_t *)ba));
    same = same && ((!at && !bt) || (at && bt && strcmp(at, bt) == 0));
    if (same) return XL_OK;
    const char *an = aa ? json_string_value(json_array_get(aa, 0)) : NULL;
    const char *bn = ba ? json_string_value(json_array_get(ba, 0)) : NULL;
    return xl_err(XL_ERR_INPUT, "%s has architecture %s (%s), %s has %s (%s): not the same model", a->dir,
                  an ? an : "?", at ? at : "?", b->dir, bn ? bn : "?", bt ? bt : "?");
}

static xl_status same_parts(const model_in *a, const model_in *b) {
    for (int i = 0; i < a->nparts || i < b->nparts; i++) {
        if (i >= a->nparts || i >= b->nparts || strcmp(a->parts[i].rel, b->parts[i].rel) != 0) {
            const model_in *has = i < a->nparts ? a : b, *lacks = has == a ? b : a;
            return xl_err(XL_ERR_INPUT, "%s has the module checkpoint %s/, %s does not", has->dir, has->parts[i].rel,
                          lacks->dir);
        }
    }
    return XL_OK;
}

/* Index of the transformer block a tensor belongs to ("...layers.N." / "...layer.N."), or -1. */
static long layer_of(const char *name) {
    static const char *const keys[] = {"layers.", "layer."};
    for (size_t k = 0; k < 2; k++) {
        size_t kl = strlen(keys[k]);
        for (const char *p = name; (p = strstr(p, keys[k])) != NULL; p++) {
            if (p != name && p[-1] != '.') continue;
            const char *q = p + kl;
            if (*q < '0' || *q > '9') continue;
            long v = 0;
            while (*q >= '0' && *q <= '9' && v < 1000000) v = v * 10 + (*q++ - '0');
            if (*q == '.') return v;
        }
    }
    return -1;
}

/* Embeddings in the sense of --swap-embeddings: encoders' embeddings.* (word, position,
 * token type, LayerNorm); decoders' embed_tokens, the final norm and lm_head. */
static int is_embedding(const char *name) {
    static const char *const prefixes[] = {"bert.", "roberta.", "xlm_roberta.", "model.", "transformer.", "language_model."};
    const char *s = name;
    for (int again = 1; again;) {
        again = 0;
        for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
            if (strncmp(s, prefixes[i], strlen(prefixes[i])) == 0) {
                s += strlen(prefixes[i]);
                again = 1;
            }
    }
    return strncmp(s, "embeddings.", 11) == 0 || strncmp(s, "embed_tokens.", 13) == 0 || strcmp(s, "norm.weight") == 0 ||
           strcmp(s, "norm.bias") == 0 || strncmp(s, "lm_head.", 8) == 0;
}

/* The dtype a tensor is written in. */
static const char *out_dtype(const xl_tensor *t, const xl_merge_options *o) {
    if (xl_dtype_is_float(t->dtype) && o->dtype) return o->dtype;
    return xl_dtype_name(t->dtype);
}

/* After each piece: reports progress, and stops when the caller asked to. */
static xl_status progress(run_state *r, uint64_t bytes) {
    r->done += bytes;
    if (r->o->on_progress) r->o->on_progress(r->o->user, r->done, r->total);
    if (r->o->cancel && *r->o->cancel) return xl_err(XL_ERR_CANCELLED, "merge cancelled: nothing written");
    return XL_OK;
}

/* Writes tensor t into the writer's current tensor, raw or converted to dtype. */
static xl_status copy_tensor(xl_st_writer *wr, const xl_tensor *t, const char *dtype, float *buf, run_state *r) {
    size_t es = xl_dtype_size(t->dtype);
    int raw = strcmp(dtype, xl_dtype_name(t->dtype)) == 0;
    size_t oes = raw ? es : (strcmp(dtype, "F32") == 0 ? 4 : strcmp(dtype, "F64") == 0 ? 8 : 2);
    if (t->numel == 0) return xl_st_writer_append_raw(wr, NULL, 0);
    for (size_t off = 0; off < t->numel; off += CHUNK) {
        size_t m = t->numel - off < CHUNK ? t->numel - off : CHUNK;
        const char *p = (const char *)t->data + off * es;
        if (off + m < t->numel) xl_pages_prefetch(p + m * es, (t->numel - off - m < CHUNK ? t->numel - off - m : CHUNK) * es);
        xl_status st;
        if (raw) {
            st = xl_st_writer_append_raw(wr, p, m * es);
        } else {
            xl_convert_to_f32(t->dtype, p, buf, m);
            st = xl_st_writer_append_f32(wr, buf, m);
        }
        xl_pages_release(p, m * es);
        if (st || (st = progress(r, m * oes))) return st;
    }
    return XL_OK;
}

/* Ends one checkpoint file's writer: finished (synced, renamed into the temporary
 * folder) when everything before went well, else abandoned. *wr is NULL afterwards. */
static xl_status end_part(xl_st_writer **wr, xl_status st) {
    xl_st_writer *w = *wr;
    *wr = NULL;
    if (st) {
        xl_st_writer_free(w);
        return st;
    }
    return xl_st_writer_finish(w);
}

/* Writer for part p in the temporary folder, every tensor declared with the dtype and
 * shape of ref (the first / base model's part). */
static xl_status part_writer(const char *tmp, const part *p, const xl_merge_options *o, xl_st_writer **out) {
    xl_status st;
    if (!*p->rel) {
        st = xl_st_writer_new(tmp, o->max_shard_bytes ? o->max_shard_bytes : DEFAULT_SHARD, out);
    } else {
        char *d = xl_path_join(tmp, p->rel);
        if (!d) return xl_err(XL_ERR_NOMEM, "out of memory");
        /* module folders may be nested ("modules/dense"): make each level */
        for (char *q = d + strlen(tmp) + 1; *q; q++)
            if (*q == '/') {
                *q = '\0';
                mkdir(d, 0755);
                *q = '/';
            }
        if (mkdir(d, 0755) != 0 && errno != EEXIST) {
            st = xl_err(XL_ERR_IO, "%s: %s", d, strerror(errno));
            free(d);
            return st;
        }
        st = xl_st_writer_new_file(d, "model.safetensors", out);
        free(d);
    }
    if (st) return st;
    const xl_weights *w = p->w;
    for (size_t i = 0; !st && i < xl_weights_count(w); i++) {
        const xl_tensor *t = xl_weights_at(w, i);
        st = xl_st_writer_declare(*out, t->name, out_dtype(t, o), t->shape, t->ndim);
    }
    if (!st) st = xl_st_writer_metadata(*out, "merged_by", "xling " XLING_VERSION);
    if (st) {
        xl_st_writer_free(*out);
        *out = NULL;
    }
    return st;
}

/* Copy filter: non-weight files; a weight file that is not one of the checkpoints
 * merged (a pickle next to the safetensors, bge-m3's colbert_linear.pt) gets a note. */
typedef struct {
    const model_in *m;
    const xl_merge_options *o;
} copy_ctx;

static int copy_filter(const char *rel, int is_weight, void *user) {
    const copy_ctx *c = user;
    if (!is_weight) return 1;
    size_t rl = strlen(rel);
    for (int i = 0; i < c->m->nparts; i++) {
        const char *pr = c->m->parts[i].rel;
        size_t pl = strlen(pr);
        const char *base = rel;
        if (pl) {
            if (rl <= pl || strncmp(rel, pr, pl) != 0 || rel[pl] != '/') continue;
            base = rel + pl + 1;
        }
        if (strchr(base, '/')) continue;
        size_t bl = strlen(base);
        if (strcmp(base, "model.safetensors") == 0 || strcmp(base, "model.safetensors.index.json") == 0 ||
            (strncmp(base, "model-", 6) == 0 && bl > 12 && strcmp(base + bl - 12, ".safetensors") == 0))
            return 0; /* written anew */
    }
    note(c->o, "%s: not a safetensors checkpoint xling merges: left out of the output", rel);
    return 0;
}

/* config.json with torch_dtype (and dtype, when present) set to the output dtype. */
static xl_status write_config(xl_hf_folder *f, const model_in *m, const char *dtype) {
    if (!m->config || !dtype) return XL_OK;
    const char *name = strcmp(dtype, "F32") == 0 ? "float32" : strcmp(dtype, "F16") == 0 ? "float16" : "bfloat16";
    json_t *c = json_deep_copy(m->config);
    if (!c) return xl_err(XL_ERR_NOMEM, "out of memory");
    json_object_set_new(c, "torch_dtype", json_string(name));
    if (json_object_get(c, "dtype")) json_object_set_new(c, "dtype", json_string(name));
    char *s = json_dumps(c, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(c);
    if (!s) return xl_err(XL_ERR_NOMEM, "out of memory");
    size_t n = strlen(s);
    s[n] = '\0';
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        return xl_err(XL_ERR_NOMEM, "out of memory");
    }
    t[n] = '\n';
    xl_status st = xl_hf_folder_write(f, "config.json", t, n + 1);
    free(t);
    return st;
}

static xl_status check_options(const char *out_dir, const char *const *dirs, int n, const xl_merge_options *o) {
    if (o->dtype && strcmp(o->dtype, "F32") && strcmp(o->dtype, "F16") && strcmp(o->dtype, "BF16"))
        return xl_err(XL_ERR_ARG, "dtype \"%s\": F32, F16 or BF16", o->dtype);
    if (o->dry_run) return XL_OK;
    if (!out_dir || !*out_dir) return xl_err(XL_ERR_ARG, "no output folder");
    struct stat so;
    if (stat(out_dir, &so) != 0) return XL_OK;
    for (int i = 0; i < n; i++) {
        struct stat si;
        if (stat(dirs[i], &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino)
            return xl_err(XL_ERR_ARG, "%s: the output folder is the input %s", out_dir, dirs[i]);
    }
    return XL_OK;
}

/* ------------------------------------------------------------------ average */

/* Checks that model k has part p's tensors, same names (no more, no fewer) and shapes. */
static xl_status check_same_tensors(const model_in *m0, const model_in *mk, int p) {
    const xl_weights *w0 = m0->parts[p].w, *wk = mk->parts[p].w;
    char nb[512];
    for (size_t i = 0; i < xl_weights_count(w0); i++) {
        const xl_tensor *a = xl_weights_at(w0, i), *b = xl_weights_find(wk, a->name);
        const char *fn = full_name(&m0->parts[p], a->name, nb, sizeof nb);
        if (!b) return xl_err(XL_ERR_INPUT, "tensor '%s' of %s is not in %s", fn, m0->dir, mk->dir);
        if (!same_shape(a, b)) {
            char sa[160], sb[160];
            shape_str(a, sa, sizeof sa);
            shape_str(b, sb, sizeof sb);
            return xl_err(XL_ERR_INPUT, "tensor '%s': shape %s in %s, %s in %s", fn, sa, m0->dir, sb, mk->dir);
        }
        if (xl_dtype_is_float(a->dtype) != xl_dtype_is_float(b->dtype) ||
            (!xl_dtype_is_float(a->dtype) && a->dtype != b->dtype))
            return xl_err(XL_ERR_INPUT, "tensor '%s': dtype %s in %s, %s in %s", fn, xl_dtype_name(a->dtype), m0->dir,
                          xl_dtype_name(b->dtype), mk->dir);
    }
    if (xl_weights_count(wk) != xl_weights_count(w0)) {
        /* a tensor of model k that model 0 lacks: name the first */
        for (size_t i = 0; i < xl_weights_count(wk); i++) {
            const xl_tensor *b = xl_weights_at(wk, i);
            if (!xl_weights_find(w0, b->name))
                return xl_err(XL_ERR_INPUT, "tensor '%s' of %s is not in %s", full_name(&mk->parts[p], b->name, nb, sizeof nb),
                              mk->dir, m0->dir);
        }
        return xl_err(XL_ERR_INPUT, "%s and %s hold different tensor counts", m0->dir, mk->dir);
    }
    return XL_OK;
}

static xl_status average_tensor(xl_st_writer *wr, const xl_tensor *const *src, const float *wt, int n, float *acc,
                                float *tmp, const char *dtype, run_state *r) {
    size_t numel = src[0]->numel, oes = strcmp(dtype, "F32") == 0 ? 4 : strcmp(dtype, "F64") == 0 ? 8 : 2;
    if (numel == 0) return xl_st_writer_append_raw(wr, NULL, 0);
    /* Pages are prefetched and released per window of CHUNK values; the arithmetic runs
     * on blocks of BLOCK values that stay in the L2 cache (one pass over memory). */
    for (size_t off = 0; off < numel; off += CHUNK) {
        size_t m = numel - off < CHUNK ? numel - off : CHUNK;
        size_t next = off + m < numel ? (numel - off - m < CHUNK ? numel - off - m : CHUNK) : 0;
        for (int k = 0; k < n; k++) {
            size_t es = xl_dtype_size(src[k]->dtype);
            if (next) xl_pages_prefetch((const char *)src[k]->data + (off + m) * es, next * es);
        }
        for (size_t b = 0; b < m; b += BLOCK) {
            size_t nb = m - b < BLOCK ? m - b : BLOCK;
            for (int k = 0; k < n; k++) {
                size_t es = xl_dtype_size(src[k]->dtype);
                xl_convert_to_f32(src[k]->dtype, (const char *)src[k]->data + (off + b) * es, k ? tmp : acc, nb);
                const float w = wt[k];
                if (k == 0) {
#pragma omp simd
                    for (size_t i = 0; i < nb; i++) acc[i] *= w;
                } else {
#pragma omp simd
                    for (size_t i = 0; i < nb; i++) acc[i] += w * tmp[i];
                }
            }
            xl_status st = xl_st_writer_append_f32(wr, acc, nb);
            if (st) return st;
        }
        for (int k = 0; k < n; k++) {
            size_t es = xl_dtype_size(src[k]->dtype);
            xl_pages_release((const char *)src[k]->data + off * es, m * es);
        }
        xl_status st = progress(r, m * oes);
        if (st) return st;
    }
    return XL_OK;
}

/* Non-float tensors: copied from the first model; a note when another differs. */
static xl_status copy_nonfloat(xl_st_writer *wr, const xl_tensor *const *src, int n, const model_in *ms, const char *fn,
                               const xl_merge_options *o, run_state *r) {
    for (int k = 1; k < n; k++)
        if (memcmp(src[0]->data, src[k]->data, src[0]->nbytes) != 0) {
            note(o, "tensor '%s' (%s) differs between %s and %s: copied from %s", fn, xl_dtype_name(src[0]->dtype),
                 ms[0].dir, ms[k].dir, ms[0].dir);
            break;
        }
    for (int k = 1; k < n; k++) xl_pages_release(src[k]->data, src[k]->nbytes);
    return copy_tensor(wr, src[0], xl_dtype_name(src[0]->dtype), NULL, r);
}

xl_status xl_merge_average(const char *out_dir, const char *const *dirs, int n, const xl_merge_options *opts) {
    xl_merge_options none = {0};
    const xl_merge_options *o = opts ? opts : &none;
    if (n < 2) return xl_err(XL_ERR_ARG, "averaging needs at least two model folders (%d given)", n);
    xl_status st = check_options(out_dir, dirs, n, o);
    if (st) return st;
    float *wt = malloc((size_t)n * sizeof *wt);
    model_in *ms = calloc((size_t)n, sizeof *ms);
    const xl_tensor **src = malloc((size_t)n * sizeof *src);
    float *acc = NULL, *tmp = NULL;
    xl_hf_folder *f = NULL;
    xl_st_writer *wr = NULL;
    if (!wt || !ms || !src) {
        st = xl_err(XL_ERR_NOMEM, "out of memory");
        goto done;
    }
    double sum = 0;
    for (int k = 0; k < n; k++) {
        double v = o->weights ? o->weights[k] : 1.0;
        if (!(v >= 0) || v > 1e30) {
            st = xl_err(XL_ERR_ARG, "weight %d (%g) must be a non-negative number", k + 1, v);
            goto done;
        }
        sum += v;
    }
    if (!(sum > 0)) {
        st = xl_err(XL_ERR_ARG, "the weights sum to 0");
        goto done;
    }
    for (int k = 0; k < n; k++) wt[k] = (float)((o->weights ? o->weights[k] : 1.0) / sum);

    for (int k = 0; k < n && !st; k++) {
        st = model_open(dirs[k], &ms[k]);
        if (!st && k > 0) st = same_architecture(&ms[0], &ms[k]);
        if (!st && k > 0) st = same_parts(&ms[0], &ms[k]);
        for (int p = 0; !st && k > 0 && p < ms[0].nparts; p++) st = check_same_tensors(&ms[0], &ms[k], p);
    }
    if (st) goto done;

    run_state r = {o, 0, 0};
    for (int p = 0; p < ms[0].nparts; p++)
        for (size_t i = 0; i < xl_weights_count(ms[0].parts[p].w); i++) {
            const xl_tensor *t = xl_weights_at(ms[0].parts[p].w, i);
            const char *dt = out_dtype(t, o);
            r.total += t->numel * (strcmp(dt, xl_dtype_name(t->dtype)) == 0 ? xl_dtype_size(t->dtype)
                                   : strcmp(dt, "F32") == 0                   ? 4
                                                                              : 2);
        }
    if (o->dry_run) {
        char nb[512];
        for (int p = 0; p < ms[0].nparts; p++)
            for (size_t i = 0; i < xl_weights_count(ms[0].parts[p].w); i++) {
                const xl_tensor *t = xl_weights_at(ms[0].parts[p].w, i);
                if (o->on_tensor)
                    o->on_tensor(o->user, full_name(&ms[0].parts[p], t->name, nb, sizeof nb),
                                 xl_dtype_is_float(t->dtype) ? "average" : ms[0].dir);
            }
        goto done;
    }
    if (!(acc = malloc(BLOCK * sizeof *acc)) || !(tmp = malloc(BLOCK * sizeof *tmp))) {
        st = xl_err(XL_ERR_NOMEM, "out of memory for the merge buffers");
        goto done;
    }
    if ((st = xl_hf_folder_begin(out_dir, o->force, &f))) goto done;
    copy_ctx cc = {&ms[0], o};
    if ((st = xl_hf_folder_copy(f, dirs[0], copy_filter, &cc))) goto done;
    if ((st = write_config(f, &ms[0], o->dtype))) goto done;
    for (int p = 0; p < ms[0].nparts && !st; p++) {
        if ((st = part_writer(xl_hf_folder_path(f), &ms[0].parts[p], o, &wr))) break;
        char nb[512];
        for (size_t i = 0; i < xl_weights_count(ms[0].parts[p].w) && !st; i++) {
            src[0] = xl_weights_at(ms[0].parts[p].w, i);
            for (int k = 1; k < n; k++) src[k] = xl_weights_find(ms[k].parts[p].w, src[0]->name);
            const char *fn = full_name(&ms[0].parts[p], src[0]->name, nb, sizeof nb);
            if (o->on_tensor) o->on_tensor(o->user, fn, xl_dtype_is_float(src[0]->dtype) ? "average" : ms[0].dir);
            if (xl_dtype_is_float(src[0]->dtype))
                st = average_tensor(wr, src, wt, n, acc, tmp, out_dtype(src[0], o), &r);
            else
                st = copy_nonfloat(wr, src, n, ms, fn, o, &r);
        }
        st = end_part(&wr, st);
    }
    if (!st) {
        st = xl_hf_folder_commit(f);
        f = NULL;
    }
done:
    xl_st_writer_free(wr);
    xl_hf_folder_abort(f);
    if (ms)
        for (int k = 0; k < n; k++) model_close(&ms[k]);
    free(ms);
    free(src);
    free(wt);
    free(acc);
    free(tmp);
    return st;
}

/* ------------------------------------------------------------------ swap */

static long num_layers(const model_in *m) {
    const json_t *c = m->config;
    for (int depth = 0; c && depth < 2; depth++) {
        const json_t *v = json_object_get(c, "num_hidden_layers");
        if (json_is_integer(v)) return (long)json_integer_value(v);
        c = json_object_get(c, "text_config");
    }
    long max = -1;
    for (size_t i = 0; i < xl_weights_count(m->parts[0].w); i++) {
        long l = layer_of(xl_weights_at(m->parts[0].w, i)->name);
        if (l > max) max = l;
    }
    return max + 1;
}

xl_status xl_merge_swap(const char *out_dir, const char *base_dir, const char *donor_dir, const int *layers,
                        int n_layers, int swap_embeddings, const xl_merge_options *opts) {
    xl_merge_options none = {0};
    const xl_merge_options *o = opts ? opts : &none;
    const char *dirs[2] = {base_dir, donor_dir};
    xl_status st = check_options(out_dir, dirs, 2, o);
    if (st) return st;
    if (n_layers <= 0 && !swap_embeddings) return xl_err(XL_ERR_ARG, "nothing to swap: no layers given");
    model_in a = {0}, b = {0};
    unsigned char *sel = NULL;
    long *count = NULL;
    float *buf = NULL;
    xl_hf_folder *f = NULL;
    xl_st_writer *wr = NULL;
    if ((st = model_open(base_dir, &a)) || (st = model_open(donor_dir, &b)) || (st = same_architecture(&a, &b)))
        goto done;
    long L = num_layers(&a);
    sel = calloc((size_t)(L > 0 ? L : 1), 1);
    count = calloc((size_t)(L > 0 ? L : 1), sizeof *count);
    if (!sel || !count) {
        st = xl_err(XL_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n_layers; i++) {
        if (layers[i] < 0 || layers[i] >= L) {
            st = L > 0 ? xl_err(XL_ERR_ARG, "layer %d is outside the model: %s has %ld layers (0-%ld)", layers[i],
                                base_dir, L, L - 1)
                       : xl_err(XL_ERR_ARG, "layer %d: %s has no numbered layers", layers[i], base_dir);
            goto done;
        }
        sel[layers[i]] = 1;
    }
    /* Plan and check: the source of every tensor, before writing anything. */
    const xl_weights *wa = a.parts[0].w;
    size_t nt = xl_weights_count(wa);
    const xl_tensor **from = calloc(nt ? nt : 1, sizeof *from);
    if (!from) {
        st = xl_err(XL_ERR_NOMEM, "out of memory");
        goto done;
    }
    run_state r = {o, 0, 0};
    for (size_t i = 0; i < nt && !st; i++) {
        const xl_tensor *t = xl_weights_at(wa, i);
        long l = layer_of(t->name);
        if (l >= L) {
            st = xl_err(XL_ERR_FORMAT, "%s: tensor '%s' is in layer %ld, but config.json says %ld layers", base_dir,
                        t->name, l, L);
            break;
        }
        from[i] = t;
        if ((l >= 0 && sel[l]) || (swap_embeddings && l < 0 && is_embedding(t->name))) {
            if (l >= 0) count[l]++;
            const xl_tensor *d = xl_weights_find(b.parts[0].w, t->name);
            if (!d) {
                st = xl_err(XL_ERR_INPUT, "tensor '%s' of %s is not in %s", t->name, base_dir, donor_dir);
                break;
            }
            if (!same_shape(t, d)) {
                char sa[160], sb[160];
                shape_str(t, sa, sizeof sa);
                shape_str(d, sb, sizeof sb);
                st = xl_err(XL_ERR_INPUT, "tensor '%s': shape %s in %s, %s in %s", t->name, sa, base_dir, sb, donor_dir);
                break;
            }
            if (xl_dtype_is_float(t->dtype) != xl_dtype_is_float(d->dtype) ||
                (!xl_dtype_is_float(t->dtype) && t->dtype != d->dtype)) {
                st = xl_err(XL_ERR_INPUT, "tensor '%s': dtype %s in %s, %s in %s", t->name, xl_dtype_name(t->dtype),
                            base_dir, xl_dtype_name(d->dtype), donor_dir);
                break;
            }
            from[i] = d;
        }
    }
    for (int i = 0; i < n_layers && !st; i++)
        if (!count[layers[i]]) st = xl_err(XL_ERR_INPUT, "layer %d: no tensor of %s is named as a layer of it", layers[i], base_dir);
    if (st) {
        free(from);
        goto done;
    }
    for (int p = 0; p < a.nparts; p++)
        for (size_t i = 0; i < xl_weights_count(a.parts[p].w); i++) {
            const xl_tensor *t = xl_weights_at(a.parts[p].w, i);
            const char *dt = out_dtype(t, o);
            r.total += t->numel * (strcmp(dt, xl_dtype_name(t->dtype)) == 0 ? xl_dtype_size(t->dtype)
                                   : strcmp(dt, "F32") == 0                   ? 4
                                                                              : 2);
        }
    char nb[512];
    if (o->dry_run) {
        for (int p = 0; p < a.nparts; p++)
            for (size_t i = 0; i < xl_weights_count(a.parts[p].w); i++) {
                const xl_tensor *t = xl_weights_at(a.parts[p].w, i);
                if (o->on_tensor)
                    o->on_tensor(o->user, full_name(&a.parts[p], t->name, nb, sizeof nb),
                                 p == 0 && from[i] != t ? donor_dir : base_dir);
            }
        free(from);
        goto done;
    }
    if (!(buf = malloc(CHUNK * sizeof *buf))) st = xl_err(XL_ERR_NOMEM, "out of memory for the merge buffer");
    if (!st) st = xl_hf_folder_begin(out_dir, o->force, &f);
    copy_ctx cc = {&a, o};
    if (!st) st = xl_hf_folder_copy(f, base_dir, copy_filter, &cc);
    if (!st) st = write_config(f, &a, o->dtype);
    for (int p = 0; p < a.nparts && !st; p++) {
        if ((st = part_writer(xl_hf_folder_path(f), &a.parts[p], o, &wr))) break;
        for (size_t i = 0; i < xl_weights_count(a.parts[p].w) && !st; i++) {
            const xl_tensor *t = xl_weights_at(a.parts[p].w, i), *s = p == 0 ? from[i] : t;
            if (o->on_tensor) o->on_tensor(o->user, full_name(&a.parts[p], t->name, nb, sizeof nb), s != t ? donor_dir : base_dir);
            st = copy_tensor(wr, s, out_dtype(t, o), buf, &r);
        }
        st = end_part(&wr, st);
    }
    free(from);
    if (!st) {
        st = xl_hf_folder_commit(f);
        f = NULL;
    }
done:
    xl_st_writer_free(wr);
    xl_hf_folder_abort(f);
    model_close(&a);
    model_close(&b);
    free(sel);
    free(count);
    free(buf);
    return st;
}
