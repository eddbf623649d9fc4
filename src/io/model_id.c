/* A model folder's fingerprint: which weights and configuration produced a vector.
 * FNV-1a 64 over config.json and every .safetensors header (the folder's own and its
 * modules' one level down, e.g. 2_Dense/), by relative path in sorted order. Headers
 * name every tensor's dtype, shape and byte offsets, so another checkpoint, a Dense
 * head or a requantised copy changes it; reading headers only keeps it instant. The
 * folder's location does not enter it (a moved folder keeps its fingerprint). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub.h"
#include "util/error.h"
#include "util/fileio.h"
#include "xling.h"

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * FNV_PRIME;
    return h;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* Appends the .safetensors files of dir (relative names prefixed by sub) to *v. */
static xl_status list_weights(const char *root, const char *sub, char ***v, size_t *n, size_t *cap, int depth) {
    char *dir = sub[0] ? xl_path_join(root, sub) : strdup(root);
    if (!dir) return xl_err(XL_ERR_NOMEM, "out of memory");
    DIR *d = opendir(dir);
    if (!d) {
        free(dir);
        return depth ? XL_OK : xl_err(XL_ERR_IO, "%s: cannot read the model folder", root);
    }
    xl_status st = XL_OK;
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *rel = sub[0] ? xl_path_join(sub, e->d_name) : strdup(e->d_name);
        if (!rel) { st = xl_err(XL_ERR_NOMEM, "out of memory"); break; }
        char *full = xl_path_join(root, rel);
        if (full && ends_with(e->d_name, ".safetensors") && !xl_is_dir(full)) {
            if (*n == *cap) {
                size_t nc = *cap ? 2 * *cap : 8;
                char **nv = realloc(*v, nc * sizeof *nv);
                if (!nv) { st = xl_err(XL_ERR_NOMEM, "out of memory"); free(rel); free(full); break; }
                *v = nv;
                *cap = nc;
            }
            (*v)[(*n)++] = rel;
            rel = NULL;
        } else if (full && depth == 0 && xl_is_dir(full)) {
            st = list_weights(root, rel, v, n, cap, 1);
        }
        free(rel);
        free(full);
    }
    closedir(d);
    free(dir);
    return st;
}

/* Hashes the 8-byte length and the JSON header of one safetensors file. */
static xl_status hash_header(const char *path, uint64_t *h) {
    char *real = xl_resolve_text_link(path);
    FILE *f = fopen(real ? real : path, "rb");
    free(real);
    if (!f) return xl_err(XL_ERR_IO, "%s: cannot read", path);
    unsigned char len8[8];
    xl_status st = XL_OK;
    if (fread(len8, 1, 8, f) != 8) st = xl_err(XL_ERR_FORMAT, "%s: too short for a safetensors file", path);
    uint64_t len = 0;
    for (int i = 7; !st && i >= 0; i--) len = len << 8 | len8[i];
    if (!st && len > (100u << 20)) st = xl_err(XL_ERR_FORMAT, "%s: safetensors header of %llu bytes", path, (unsigned long long)len);
    char *buf = st ? NULL : malloc(len ? len : 1);
    if (!st && !buf) st = xl_err(XL_ERR_NOMEM, "out of memory");
    if (!st && fread(buf, 1, len, f) != len) st = xl_err(XL_ERR_FORMAT, "%s: truncated safetensors header", path);
    if (!st) {
        *h = fnv(*h, len8, 8);
        *h = fnv(*h, buf, len);
    }
    free(buf);
    fclose(f);
    return st;
}

static xl_status fingerprint(const char *dir, char out[17]) {
    out[0] = '\0';
    uint64_t h = FNV_OFFSET;
    char *cfg_path = xl_path_join(dir, "config.json");
    char *real = cfg_path ? xl_resolve_text_link(cfg_path) : NULL;
    char *cfg = NULL;
    size_t cfg_len = 0;
    xl_status st = real ? xl_read_file(real, &cfg, &cfg_len) : xl_err(XL_ERR_NOMEM, "out of memory");
    free(cfg_path);
    free(real);
    if (st) return st;
    h = fnv(h, "config.json", 12);
    h = fnv(h, cfg, cfg_len);
    free(cfg);
    char **files = NULL;
    size_t n = 0, cap = 0;
    st = list_weights(dir, "", &files, &n, &cap, 0);
    if (!st && n == 0) st = xl_err(XL_ERR_IO, "%s: no .safetensors weights", dir);
    if (!st) qsort(files, n, sizeof *files, cmp_str);
    for (size_t i = 0; !st && i < n; i++) {
        char *p = xl_path_join(dir, files[i]);
        if (!p) { st = xl_err(XL_ERR_NOMEM, "out of memory"); break; }
        h = fnv(h, files[i], strlen(files[i]) + 1);
        st = hash_header(p, &h);
        free(p);
    }
    for (size_t i = 0; i < n; i++) free(files[i]);
    free(files);
    if (!st) snprintf(out, 17, "%016llx", (unsigned long long)h);
    return st;
}

xl_status xl_model_fingerprint(const char *dir, char out[17]) {
    char *hub = NULL; /* a Hub id (ORG/NAME[@REV]) names its snapshot in the HF cache */
    out[0] = '\0';
    xl_status st = xl_hub_local(dir, &hub);
    if (!st) st = fingerprint(hub ? hub : dir, out);
    free(hub);
    return st;
}
