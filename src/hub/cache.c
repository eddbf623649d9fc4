/* The Hugging Face cache layout, as huggingface_hub writes it: where the cache is,
 * Hub ids, resolving an id to a snapshot folder without the network, and the hook the
 * loaders call with a path that may be an id. Listing and removal are in manage.c. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub/hub.h"
#include "util/error.h"
#include "util/fileio.h"

static xl_hub_miss_fn g_miss_fn;
static void *g_miss_user;

void xl_hub_set_miss_handler(xl_hub_miss_fn fn, void *user) {
    g_miss_fn = fn;
    g_miss_user = user;
}

static char *join3(const char *a, const char *b, const char *c) {
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

char *xl_hub_cache_dir(void) {
    const char *v = getenv("HF_HUB_CACHE");
    if (!v || !*v) v = getenv("HUGGINGFACE_HUB_CACHE"); /* the older name */
    if (v && *v) return strdup(v);
    v = getenv("HF_HOME");
    if (v && *v) return xl_path_join(v, "hub");
    v = getenv("XDG_CACHE_HOME");
    if (v && *v) return join3(v, "/", "huggingface/hub");
    v = getenv("HOME");
    return join3(v && *v ? v : ".", "/", ".cache/huggingface/hub");
}

int xl_hub_offline(void) {
    const char *v = getenv("HF_HUB_OFFLINE");
    return v && (!strcmp(v, "1") || !strcasecmp(v, "on") || !strcasecmp(v, "yes") || !strcasecmp(v, "true"));
}

int hub_is_commit(const char *s) {
    size_t i = 0;
    for (; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return i == 40;
}

/* One part of a repo id as the Hub allows it: letters, digits, '-', '_', '.', at most
 * 96 characters, no "--" or "..", not starting or ending with '-' or '.'. */
static int name_ok(const char *s, size_t n) {
    if (n == 0 || n > 96) return 0;
    if (s[0] == '-' || s[0] == '.' || s[n - 1] == '-' || s[n - 1] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.')) return 0;
        if (i && (c == '-' || c == '.') && s[i - 1] == c) return 0;
    }
    return 1;
}

int hub_revision_ok(const char *rev) {
    if (!*rev || rev[0] == '/' || strlen(rev) > 255) return 0;
    for (const char *p = rev; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '\\') return 0;
    return hub_rel_path_ok(rev);
}

int hub_rel_path_ok(const char *p) {
    if (!*p || *p == '/') return 0;
    const char *c = p;
    while (*c) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) return 0;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f) return 0;
        if (!e) break;
        c = e + 1;
        if (!*c) return 0; /* trailing '/' */
    }
    return 1;
}

xl_status hub_parse_id(const char *s, hub_id *out) {
    memset(out, 0, sizeof *out);
    if (!s || !*s) return xl_err(XL_ERR_ARG, "empty model id");
    const char *at = strchr(s, '@');
    size_t rlen = at ? (size_t)(at - s) : strlen(s);
    const char *slash = memchr(s, '/', rlen);
    if (!slash || memchr(slash + 1, '/', rlen - (size_t)(slash - s) - 1) || !name_ok(s, (size_t)(slash - s)) ||
        !name_ok(slash + 1, rlen - (size_t)(slash - s) - 1))
        return xl_err(XL_ERR_ARG, "\"%.*s\": not a Hugging Face model id (ORG/NAME[@REVISION])", (int)rlen, s);
    if (at && !hub_revision_ok(at + 1)) return xl_err(XL_ERR_ARG, "%s: bad revision \"%s\"", s, at + 1);
    out->repo = strndup(s, rlen);
    out->revision = strdup(at ? at + 1 : "main");
    out->revision_given = at != NULL;
    if (!out->repo || !out->revision) {
        hub_id_free(out);
        return xl_err(XL_ERR_NOMEM, "out of memory");
    }
    return XL_OK;
}

void hub_id_free(hub_id *id) {
    free(id->repo);
    free(id->revision);
    memset(id, 0, sizeof *id);
}

int xl_hub_is_id(const char *s) {
    hub_id id;
    if (hub_parse_id(s, &id)) {
        xl_err_clear();
        return 0;
    }
    hub_id_free(&id);
    return 1;
}

char *hub_repo_dir(const char *cache, const char *repo) {
    const char *slash = strchr(repo, '/');
    size_t n = strlen(cache) + strlen(repo) + 16;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/models--%.*s--%s", cache, (int)(slash - repo), repo, slash + 1);
    return s;
}

xl_status hub_mkdirs(const char *path) {
    char *p = strdup(path);
    if (!p) return xl_err(XL_ERR_NOMEM, "out of memory");
    for (char *c = p + 1; ; c++) {
        if (*c == '/' || *c == '\0') {
            char keep = *c;
            *c = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                xl_status st = xl_err(XL_ERR_IO, "%s: cannot create the folder: %s", p, strerror(errno));
                free(p);
                return st;
            }
            *c = keep;
            if (!keep) break;
        }
    }
    free(p);
    return XL_OK;
}

xl_status hub_write_atomic(const char *path, const char *data, size_t len) {
    char *dir = strdup(path);
    if (!dir) return xl_err(XL_ERR_NOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    xl_status st = slash ? hub_mkdirs(dir) : XL_OK;
    free(dir);
    if (st) return st;
    char *tmp = join3(path, ".tmp.", "XXXXXX");
    if (!tmp) return xl_err(XL_ERR_NOMEM, "out of memory");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = xl_err(XL_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        free(tmp);
        return st;
    }
    fchmod(fd, 0644);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    int err = off < len ? (errno ? errno : EIO) : 0;
    if (!err && fsync(fd) != 0) err = errno;
    if (close(fd) != 0 && !err) err = errno;
    if (!err && rename(tmp, path) != 0) err = errno;
    if (err) {
        unlink(tmp);
        st = xl_err(XL_ERR_IO, "%s: cannot write: %s", path, strerror(err));
    }
    free(tmp);
    return st;
}

/* Reads refs/<revision>: the commit it names, or NULL. */
static char *read_ref(const char *repo_dir, const char *revision) {
    char *refs = xl_path_join(repo_dir, "refs");
    char *path = refs ? xl_path_join(refs, revision) : NULL;
    free(refs);
    char *data = NULL;
    size_t len = 0;
    if (!path || xl_read_file(path, &data, &len)) {
        free(path);
        xl_err_clear();
        return NULL;
    }
    free(path);
    while (len && isspace((unsigned char)data[len - 1])) data[--len] = '\0';
    if (!hub_is_commit(data)) {
        free(data);
        return NULL;
    }
    return data;
}

/* The snapshot folder of id in *dir, or NULL (and XL_OK) when the cache lacks it. */
static xl_status resolve(const char *cache, const hub_id *id, char **dir) {
    *dir = NULL;
    char *repo_dir = hub_repo_dir(cache, id->repo);
    if (!repo_dir) return xl_err(XL_ERR_NOMEM, "out of memory");
    char *commit = NULL;
    if (hub_is_commit(id->revision)) commit = strdup(id->revision);
    else commit = read_ref(repo_dir, id->revision);
    if (commit) {
        char *snap = join3(repo_dir, "/snapshots/", commit);
        if (snap && xl_is_dir(snap)) *dir = snap;
        else free(snap);
    }
    free(commit);
    free(repo_dir);
    return XL_OK;
}

xl_status xl_hub_resolve(const char *cache_dir, const char *s, char **dir) {
    *dir = NULL;
    hub_id id;
    xl_status st = hub_parse_id(s, &id);
    if (st) return st;
    char *cache = cache_dir ? strdup(cache_dir) : xl_hub_cache_dir();
    if (!cache) st = xl_err(XL_ERR_NOMEM, "out of memory");
    if (!st) st = resolve(cache, &id, dir);
    if (!st && !*dir)
        st = xl_err(XL_ERR_IO, "%s: not in the Hugging Face cache (%s); download it with `xling pull %s`", s, cache, s);
    free(cache);
    hub_id_free(&id);
    return st;
}

/* "tmp/model" where ./tmp exists is much more likely a mistyped path than a Hub id:
 * such a miss is not sent to the network. */
static int org_is_folder(const char *repo) {
    char *org = strndup(repo, (size_t)(strchr(repo, '/') - repo));
    int dir = org && xl_is_dir(org);
    free(org);
    return dir;
}

xl_status xl_hub_locate(const char *path, char **dir) { return xl_hub_local(path, dir); }

xl_status xl_hub_local(const char *path, char **resolved) {
    *resolved = NULL;
    struct stat sb;
    /* an existing path always wins; anything but an id keeps the caller's own error */
    if (!path || stat(path, &sb) == 0 || !xl_hub_is_id(path)) return XL_OK;
    hub_id id;
    xl_status st = hub_parse_id(path, &id);
    if (st) return st;
    char *cache = xl_hub_cache_dir();
    if (!cache) st = xl_err(XL_ERR_NOMEM, "out of memory");
    if (!st) st = resolve(cache, &id, resolved);
    if (!st && !*resolved) {
        if (xl_hub_offline())
            st = xl_err(XL_ERR_IO, "%s: not a folder, and not in the Hugging Face cache (%s) while HF_HUB_OFFLINE is set; "
                        "download it with `xling pull %s` when online", path, cache, path);
        else if (!g_miss_fn || org_is_folder(id.repo))
            st = xl_err(XL_ERR_IO, "%s: not a folder, and not in the Hugging Face cache (%s); download it with `xling pull %s`",
                        path, cache, path);
        else {
            st = g_miss_fn(path, g_miss_user);
            if (!st) st = resolve(cache, &id, resolved);
            if (!st && !*resolved) st = xl_err(XL_ERR_IO, "%s: still not in the Hugging Face cache (%s) after pulling it", path, cache);
        }
    }
    free(cache);
    hub_id_free(&id);
    return st;
}
