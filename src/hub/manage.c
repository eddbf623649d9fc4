/* The cache's contents: listing the models xling can run (`xling list`) and removing
 * one (`xling rm`), sharing blobs between revisions as huggingface_hub does. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub/hub.h"
#include "io/safetensors.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"

typedef struct {
    char **v;
    size_t n, cap;
} strvec;

static int sv_push(strvec *s, char *x) {
    if (!x) return -1;
    if (s->n == s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 16;
        char **nv = realloc(s->v, nc * sizeof *nv);
        if (!nv) { free(x); return -1; }
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = x;
    return 0;
}

static void sv_free(strvec *s) {
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* Every file under dir (relative paths, symlinks included, recursively). */
static void walk(const char *root, const char *sub, strvec *out, int depth) {
    char *dir = *sub ? xl_path_join(root, sub) : strdup(root);
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *rel = *sub ? xl_path_join(sub, e->d_name) : strdup(e->d_name);
        char *full = rel ? xl_path_join(root, rel) : NULL;
        struct stat sb;
        if (full && lstat(full, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            if (depth < 16) walk(root, rel, out, depth + 1);
            free(rel);
        } else if (rel) sv_push(out, rel);
        free(full);
    }
    if (d) closedir(d);
    free(dir);
}

/* refs/<name> files of a repository folder: names in *names, their commits in *commits. */
static void read_refs(const char *repo_dir, strvec *names, strvec *commits) {
    char *refs = xl_path_join(repo_dir, "refs");
    strvec files = {0};
    if (refs) walk(refs, "", &files, 0);
    if (files.n) qsort(files.v, files.n, sizeof *files.v, cmp_str);
    for (size_t i = 0; i < files.n; i++) {
        char *p = xl_path_join(refs, files.v[i]), *data = NULL;
        size_t len = 0;
        if (p && !xl_read_file(p, &data, &len)) {
            while (len && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' ')) data[--len] = '\0';
            if (hub_is_commit(data) && !sv_push(names, strdup(files.v[i]))) {
                if (sv_push(commits, data)) { free(names->v[--names->n]); }
                data = NULL;
            }
        }
        xl_err_clear();
        free(data);
        free(p);
    }
    sv_free(&files);
    free(refs);
}

/* Elements of every tensor in the snapshot's .safetensors files (root and module
 * folders), from the headers only (the mapping is never touched beyond them). */
static uint64_t count_params(const char *snap, const strvec *files) {
    uint64_t total = 0;
    for (size_t i = 0; i < files->n; i++) {
        const char *rel = files->v[i];
        const char *slash = strchr(rel, '/');
        if (!ends_with(rel, ".safetensors") || (slash && strchr(slash + 1, '/'))) continue;
        char *p = xl_path_join(snap, rel);
        xl_weights *w = NULL;
        if (p && !xl_weights_open_file(p, &w)) {
            for (size_t k = 0; k < xl_weights_count(w); k++) total += xl_weights_at(w, k)->numel;
            xl_weights_close(w);
        }
        xl_err_clear();
        free(p);
    }
    return total;
}

/* config.json's architectures[0], from the snapshot or, for old sentence-transformers
 * layouts, a module folder (0_Transformer/). NULL if none; *has_config says if any. */
static char *architecture(const char *snap, const strvec *files, int *has_config) {
    *has_config = 0;
    char *arch = NULL;
    for (int pass = 0; pass < 2 && !arch; pass++) {
        for (size_t i = 0; i < files->n && !arch; i++) {
            const char *rel = files->v[i];
            const char *slash = strchr(rel, '/');
            if (pass == 0 ? strcmp(rel, "config.json") : !(slash && !strcmp(slash + 1, "config.json"))) continue;
            char *p = xl_path_join(snap, rel);
            json_t *j = NULL;
            if (p && !xl_json_load_file(p, &j)) {
                json_t *a = json_object_get(j, "architectures");
                if (pass == 0 || a) *has_config = 1;
                const char *s = json_string_value(json_array_get(a, 0));
                if (s) arch = strdup(s);
                json_decref(j);
            }
            xl_err_clear();
            free(p);
        }
    }
    return arch;
}

/* Bytes of the snapshot's files, each blob once (two paths may share one). */
static uint64_t snapshot_size(const char *snap, const strvec *files) {
    uint64_t total = 0;
    struct { dev_t dev; ino_t ino; } *seen = calloc(files->n + 1, sizeof *seen);
    size_t ns = 0;
    for (size_t i = 0; seen && i < files->n; i++) {
        char *p = xl_path_join(snap, files->v[i]);
        struct stat sb;
        if (p && stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
            size_t k = 0;
            while (k < ns && !(seen[k].dev == sb.st_dev && seen[k].ino == sb.st_ino)) k++;
            if (k == ns) {
                seen[ns].dev = sb.st_dev;
                seen[ns++].ino = sb.st_ino;
                total += (uint64_t)sb.st_size;
            }
        }
        free(p);
    }
    free(seen);
    return total;
}

/* The entry of one snapshot, or 0 when xling cannot run it. */
static int list_snapshot(const char *id, const char *repo_dir, const char *commit, const strvec *ref_names,
                         const strvec *ref_commits, xl_hub_model *m) {
    memset(m, 0, sizeof *m);
    char *snap = xl_path_join(repo_dir, "snapshots");
    char *path = snap ? xl_path_join(snap, commit) : NULL;
    free(snap);
    strvec files = {0};
    if (path) walk(path, "", &files, 0);
    int weights = 0, has_config = 0;
    for (size_t i = 0; i < files.n; i++) weights |= ends_with(files.v[i], ".safetensors");
    char *arch = weights && path ? architecture(path, &files, &has_config) : NULL;
    if (!path || !weights || !has_config) {
        free(arch);
        free(path);
        sv_free(&files);
        return 0;
    }
    size_t rl = 0;
    for (size_t i = 0; i < ref_names->n; i++)
        if (!strcmp(ref_commits->v[i], commit)) rl += strlen(ref_names->v[i]) + 1;
    if (rl) {
        m->revision = calloc(rl, 1);
        for (size_t i = 0; m->revision && i < ref_names->n; i++)
            if (!strcmp(ref_commits->v[i], commit)) {
                if (*m->revision) strcat(m->revision, ",");
                strcat(m->revision, ref_names->v[i]);
            }
    }
    m->id = strdup(id);
    m->commit = strdup(commit);
    m->architecture = arch;
    m->path = path;
    m->parameters = count_params(path, &files);
    m->size_bytes = snapshot_size(path, &files);
    sv_free(&files);
    return 1;
}

static int cmp_model(const void *a, const void *b) {
    const xl_hub_model *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : strcmp(x->commit, y->commit);
}

xl_status xl_hub_list(const char *cache_dir, xl_hub_model **out, size_t *n) {
    *out = NULL;
    *n = 0;
    char *cache = cache_dir ? strdup(cache_dir) : xl_hub_cache_dir();
    if (!cache) return xl_err(XL_ERR_NOMEM, "out of memory");
    DIR *d = opendir(cache);
    if (!d) { free(cache); return XL_OK; } /* no cache yet: nothing cached */
    xl_hub_model *v = NULL;
    size_t nv = 0, cap = 0;
    xl_status st = XL_OK;
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        if (strncmp(e->d_name, "models--", 8)) continue;
        const char *sep = strstr(e->d_name + 8, "--");
        if (!sep) continue;
        char id[512];
        snprintf(id, sizeof id, "%.*s/%s", (int)(sep - e->d_name - 8), e->d_name + 8, sep + 2);
        if (!xl_hub_is_id(id)) continue;
        char *repo_dir = xl_path_join(cache, e->d_name);
        char *snaps = repo_dir ? xl_path_join(repo_dir, "snapshots") : NULL;
        strvec names = {0}, commits = {0};
        if (repo_dir) read_refs(repo_dir, &names, &commits);
        DIR *sd = snaps ? opendir(snaps) : NULL;
        struct dirent *se;
        while (sd && (se = readdir(sd))) {
            if (se->d_name[0] == '.') continue;
            if (nv == cap) {
                size_t nc = cap ? 2 * cap : 8;
                xl_hub_model *nm = realloc(v, nc * sizeof *nm);
                if (!nm) { st = xl_err(XL_ERR_NOMEM, "out of memory"); break; }
                v = nm;
                cap = nc;
            }
            nv += list_snapshot(id, repo_dir, se->d_name, &names, &commits, &v[nv]);
        }
        if (sd) closedir(sd);
        sv_free(&names);
        sv_free(&commits);
        free(snaps);
        free(repo_dir);
    }
    closedir(d);
    free(cache);
    if (st) { xl_hub_list_free(v, nv); return st; }
    if (nv) qsort(v, nv, sizeof *v, cmp_model);
    *out = v;
    *n = nv;
    return XL_OK;
}

void xl_hub_list_free(xl_hub_model *models, size_t n) {
    for (size_t i = 0; models && i < n; i++) {
        free(models[i].id);
        free(models[i].revision);
        free(models[i].commit);
        free(models[i].architecture);
        free(models[i].path);
    }
    free(models);
}

/* ------------------------------------------------------------------ rm */

static uint64_t g_freed; /* nftw has no user pointer; rm runs one removal at a time under g_rm_lock */
static pthread_mutex_t g_rm_lock = PTHREAD_MUTEX_INITIALIZER;

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
    (void)ftw;
    if (type == FTW_F && S_ISREG(sb->st_mode)) g_freed += (uint64_t)sb->st_size;
    return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

/* rm -r without following symlinks; bytes of the regular files removed go to g_freed. */
static xl_status rm_tree(const char *path) {
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        return xl_err(XL_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    return XL_OK;
}

/* The blob names (blobs/<name>) the links of snapshot `commit` point to. */
static void snapshot_blobs(const char *repo_dir, const char *commit, strvec *out) {
    char *snaps = xl_path_join(repo_dir, "snapshots");
    char *snap = snaps ? xl_path_join(snaps, commit) : NULL;
    strvec files = {0};
    if (snap) walk(snap, "", &files, 0);
    for (size_t i = 0; i < files.n; i++) {
        char *p = xl_path_join(snap, files.v[i]);
        char target[PATH_MAX];
        ssize_t n = p ? readlink(p, target, sizeof target - 1) : -1;
        free(p);
        if (n <= 0) continue;
        target[n] = '\0';
        const char *b = strstr(target, "blobs/");
        if (b && !strchr(b + 6, '/') && b[6]) sv_push(out, strdup(b + 6));
    }
    sv_free(&files);
    free(snap);
    free(snaps);
}

static int in_list(const strvec *s, const char *x) {
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], x)) return 1;
    return 0;
}

static xl_status rm_revision(const char *repo_dir, const char *commit) {
    strvec snaps = {0}, mine = {0}, others = {0}, names = {0}, commits = {0};
    char *snap_root = xl_path_join(repo_dir, "snapshots");
    DIR *d = snap_root ? opendir(snap_root) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') sv_push(&snaps, strdup(e->d_name));
    if (d) closedir(d);
    for (size_t i = 0; i < snaps.n; i++) snapshot_blobs(repo_dir, snaps.v[i], strcmp(snaps.v[i], commit) ? &others : &mine);
    xl_status st = XL_OK;
    if (snaps.n == 1 && !strcmp(snaps.v[0], commit)) {
        st = rm_tree(repo_dir); /* its last snapshot: the whole repository folder */
    } else {
        char *snap = snap_root ? xl_path_join(snap_root, commit) : NULL;
        st = snap ? rm_tree(snap) : xl_err(XL_ERR_NOMEM, "out of memory");
        free(snap);
        for (size_t i = 0; !st && i < mine.n; i++) {
            if (in_list(&others, mine.v[i])) continue;
            char *blobs = xl_path_join(repo_dir, "blobs");
            char *b = blobs ? xl_path_join(blobs, mine.v[i]) : NULL;
            struct stat sb;
            if (b && lstat(b, &sb) == 0 && S_ISREG(sb.st_mode) && unlink(b) == 0) g_freed += (uint64_t)sb.st_size;
            free(b);
            free(blobs);
        }
        read_refs(repo_dir, &names, &commits);
        for (size_t i = 0; !st && i < names.n; i++) {
            if (strcmp(commits.v[i], commit)) continue;
            char *refs = xl_path_join(repo_dir, "refs");
            char *r = refs ? xl_path_join(refs, names.v[i]) : NULL;
            if (r) unlink(r);
            free(r);
            free(refs);
        }
    }
    free(snap_root);
    sv_free(&snaps); sv_free(&mine); sv_free(&others); sv_free(&names); sv_free(&commits);
    return st;
}

xl_status xl_hub_rm(const char *cache_dir, const char *s, uint64_t *freed) {
    if (freed) *freed = 0;
    hub_id id;
    xl_status st = hub_parse_id(s, &id);
    if (st) return st;
    char *cache = cache_dir ? strdup(cache_dir) : xl_hub_cache_dir();
    char *repo_dir = cache ? hub_repo_dir(cache, id.repo) : NULL;
    if (!repo_dir) st = xl_err(XL_ERR_NOMEM, "out of memory");
    else if (!xl_is_dir(repo_dir)) st = xl_err(XL_ERR_IO, "%s: not in the Hugging Face cache (%s)", id.repo, cache);
    char *dir = NULL;
    if (!st && id.revision_given) st = xl_hub_resolve(cache, s, &dir);
    pthread_mutex_lock(&g_rm_lock);
    g_freed = 0;
    if (!st && !id.revision_given) {
        st = rm_tree(repo_dir);
        char *locks = malloc(strlen(cache) + strlen(repo_dir) + 16);
        if (locks) {
            uint64_t keep = g_freed;
            sprintf(locks, "%s/.locks%s", cache, strrchr(repo_dir, '/'));
            rm_tree(locks);
            g_freed = keep;
            xl_err_clear();
        }
        free(locks);
    } else if (!st) {
        st = rm_revision(repo_dir, strrchr(dir, '/') + 1);
    }
    if (freed) *freed = g_freed;
    pthread_mutex_unlock(&g_rm_lock);
    free(dir);
    free(repo_dir);
    free(cache);
    hub_id_free(&id);
    return st;
}
