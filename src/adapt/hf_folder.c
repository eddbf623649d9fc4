/* Output model folders, built in a temporary folder beside the target and renamed into
 * place in one step: readers see the old folder or the complete new one, never a
 * mixture, and a failure (a full disk) leaves the target as it was. */
#include "util/error.h"
#include "util/fileio.h"
#include "xling.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct xl_hf_folder {
    char *out;
    char *tmp;
    int force;
    dev_t tmp_dev; /* the temporary folder, never copied into itself (OUT inside a source) */
    ino_t tmp_ino;
};

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

/* Removes a folder tree (symlinks removed, not followed). */
static void rm_tree(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void sync_dir(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static char *parent_of(const char *path) {
    char *c = strdup(path);
    if (!c) return NULL;
    char *d = strdup(dirname(c));
    free(c);
    return d;
}

xl_status xl_hf_folder_begin(const char *out_dir, int force, xl_hf_folder **out) {
    *out = NULL;
    if (!out_dir || !*out_dir) return xl_err(XL_ERR_ARG, "output folder: empty path");
    size_t len = strlen(out_dir);
    while (len > 1 && out_dir[len - 1] == '/') len--;
    struct stat sb;
    if (lstat(out_dir, &sb) == 0 || errno != ENOENT) {
        if (!force) return xl_err(XL_ERR_ARG, "%s: already exists (not replaced unless forced)", out_dir);
        if (stat(out_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return xl_err(XL_ERR_ARG, "%s: exists and is not a folder (not replaced)", out_dir);
    }
    xl_hf_folder *f = calloc(1, sizeof *f);
    if (!f || !(f->out = strndup(out_dir, len))) {
        free(f);
        return xl_err(XL_ERR_NOMEM, "out of memory");
    }
    f->force = force;
    char *parent = parent_of(f->out);
    char *c = strdup(f->out);
    if (!parent || !c) {
        free(parent);
        free(c);
        xl_hf_folder_abort(f);
        return xl_err(XL_ERR_NOMEM, "out of memory");
    }
    if (!xl_is_dir(parent)) {
        xl_status st = xl_err(XL_ERR_IO, "%s: its folder %s does not exist", f->out, parent);
        free(parent);
        free(c);
        xl_hf_folder_abort(f);
        return st;
    }
    size_t n = strlen(parent) + strlen(c) + 32;
    f->tmp = malloc(n);
    if (f->tmp) snprintf(f->tmp, n, "%s/.%s.tmp-XXXXXX", parent, basename(c));
    free(parent);
    free(c);
    if (!f->tmp) {
        xl_hf_folder_abort(f);
        return xl_err(XL_ERR_NOMEM, "out of memory");
    }
    if (!mkdtemp(f->tmp)) {
        xl_status st = xl_err(XL_ERR_IO, "%s: cannot create a temporary folder: %s", f->tmp, strerror(errno));
        free(f->tmp);
        f->tmp = NULL;
        xl_hf_folder_abort(f);
        return st;
    }
    chmod(f->tmp, 0755); /* mkdtemp makes it 0700; a model folder is normally readable */
    if (stat(f->tmp, &sb) == 0) {
        f->tmp_dev = sb.st_dev;
        f->tmp_ino = sb.st_ino;
    }
    *out = f;
    return XL_OK;
}

const char *xl_hf_folder_path(const xl_hf_folder *f) { return f->tmp; }

static int has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

int xl_hf_is_weight_file(const char *relpath) {
    static const char *const suf[] = {".safetensors", ".safetensors.index.json", ".bin", ".bin.index.json",
                                      ".pt", ".pth", ".h5", ".onnx", ".onnx_data", ".gguf", ".msgpack", ".ckpt", ".ot"};
    for (size_t i = 0; i < sizeof suf / sizeof suf[0]; i++)
        if (has_suffix(relpath, suf[i])) return 1;
    return 0;
}

/* Creates the folders of relpath under root. */
static xl_status make_parents(const char *root, const char *relpath) {
    char *p = xl_path_join(root, relpath);
    if (!p) return xl_err(XL_ERR_NOMEM, "out of memory");
    size_t skip = strlen(root) + 1;
    for (char *q = p + skip; *q; q++) {
        if (*q != '/') continue;
        *q = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            xl_status st = xl_err(XL_ERR_IO, "%s: %s", p, strerror(errno));
            free(p);
            return st;
        }
        *q = '/';
    }
    free(p);
    return XL_OK;
}

static xl_status write_file(const char *path, const void *data, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return xl_err(XL_ERR_IO, "%s: %s", path, strerror(errno));
    const unsigned char *p = data;
    while (len) {
        ssize_t r = write(fd, p, len);
        if (r < 0) {
            if (errno == EINTR) continue;
            xl_status st = xl_err(XL_ERR_IO, "%s: write failed: %s", path, strerror(errno));
            close(fd);
            return st;
        }
        p += r;
        len -= (size_t)r;
    }
    if (fsync(fd) != 0) {
        xl_status st = xl_err(XL_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    if (close(fd) != 0) return xl_err(XL_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    return XL_OK;
}

xl_status xl_hf_folder_write(xl_hf_folder *f, const char *relpath, const void *data, size_t len) {
    if (!relpath || !*relpath || relpath[0] == '/' || strstr(relpath, ".."))
        return xl_err(XL_ERR_ARG, "output folder: bad file name \"%s\"", relpath ? relpath : "");
    xl_status st = make_parents(f->tmp, relpath);
    if (st) return st;
    char *p = xl_path_join(f->tmp, relpath);
    if (!p) return xl_err(XL_ERR_NOMEM, "out of memory");
    st = write_file(p, data, len);
    free(p);
    return st;
}

static int skip_always(const char *name) {
    return strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strcmp(name, ".git") == 0 ||
           strcmp(name, ".cache") == 0 || has_suffix(name, ".xlcache") || strstr(name, ".xlcache.") != NULL;
}

static xl_status copy_tree(xl_hf_folder *f, const char *src_root, const char *rel, xl_hf_filter filter, void *user,
                           int depth) {
    if (depth > 8) return XL_OK; /* a symlink loop or an unusually deep tree: model folders are shallow */
    char *dir = *rel ? xl_path_join(src_root, rel) : strdup(src_root);
    if (!dir) return xl_err(XL_ERR_NOMEM, "out of memory");
    DIR *d = opendir(dir);
    if (!d) {
        xl_status st = xl_err(XL_ERR_IO, "%s: %s", dir, strerror(errno));
        free(dir);
        return st;
    }
    /* Sorted, so the copy (and its messages) do not depend on the directory order. */
    char **names = NULL;
    size_t n = 0, cap = 0;
    xl_status st = XL_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (skip_always(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **p = realloc(names, cap * sizeof *p);
            if (!p) {
                st = xl_err(XL_ERR_NOMEM, "out of memory");
                break;
            }
            names = p;
        }
        if (!(names[n] = strdup(e->d_name))) {
            st = xl_err(XL_ERR_NOMEM, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    for (size_t i = 0; !st && i < n; i++) {
        size_t rl = strlen(rel) + strlen(names[i]) + 2;
        char *r = malloc(rl);
        char *src = xl_path_join(dir, names[i]);
        if (!r || !src) {
            free(r);
            free(src);
            st = xl_err(XL_ERR_NOMEM, "out of memory");
            break;
        }
        snprintf(r, rl, "%s%s%s", rel, *rel ? "/" : "", names[i]);
        struct stat sb;
        if (stat(src, &sb) != 0) {
            /* a dangling symlink: nothing to copy */
        } else if (S_ISDIR(sb.st_mode)) {
            if (sb.st_dev != f->tmp_dev || sb.st_ino != f->tmp_ino) st = copy_tree(f, src_root, r, filter, user, depth + 1);
        } else if (S_ISREG(sb.st_mode)) {
            int w = xl_hf_is_weight_file(r);
            int keep = filter ? filter(r, w, user) : !w;
            if (keep) {
                char *data;
                size_t len;
                /* a fixture-style "text symlink" (the file holds a relative path): copy its target */
                char *real = xl_resolve_text_link(src);
                st = real ? xl_read_file(real, &data, &len) : xl_err(XL_ERR_NOMEM, "out of memory");
                free(real);
                if (!st) {
                    st = xl_hf_folder_write(f, r, data, len);
                    free(data);
                }
            }
        }
        free(r);
        free(src);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    free(dir);
    return st;
}

xl_status xl_hf_folder_copy(xl_hf_folder *f, const char *src_dir, xl_hf_filter filter, void *user) {
    if (!xl_is_dir(src_dir)) return xl_err(XL_ERR_IO, "%s: not a folder", src_dir);
    return copy_tree(f, src_dir, "", filter, user, 0);
}

/* Syncs every folder of the tree (the files were synced as they were written). */
static int sync_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb;
    (void)ftw;
    if (type == FTW_D || type == FTW_DP) sync_dir(path);
    return 0;
}

xl_status xl_hf_folder_commit(xl_hf_folder *f) {
    nftw(f->tmp, sync_entry, 16, FTW_PHYS);
    xl_status st = XL_OK;
    if (renameat2(AT_FDCWD, f->tmp, AT_FDCWD, f->out, RENAME_NOREPLACE) == 0) {
        free(f->tmp);
        f->tmp = NULL;
    } else if (errno == EEXIST && !f->force) {
        st = xl_err(XL_ERR_ARG, "%s: already exists (not replaced unless forced)", f->out);
    } else if (errno == EEXIST || errno == ENOTEMPTY) {
        /* Swap the new folder in and the old one out in one step, then delete the old. */
        if (renameat2(AT_FDCWD, f->tmp, AT_FDCWD, f->out, RENAME_EXCHANGE) == 0) {
            rm_tree(f->tmp);
            free(f->tmp);
            f->tmp = NULL;
        } else if (errno == EINVAL || errno == ENOSYS) {
            /* a file system without RENAME_EXCHANGE: move the old folder aside first */
            size_t n = strlen(f->tmp) + 8;
            char *old = malloc(n);
            if (!old) {
                st = xl_err(XL_ERR_NOMEM, "out of memory");
            } else {
                snprintf(old, n, "%s.old", f->tmp);
                if (rename(f->out, old) != 0) {
                    st = xl_err(XL_ERR_IO, "%s: cannot move the old folder aside: %s", f->out, strerror(errno));
                } else if (rename(f->tmp, f->out) != 0) {
                    st = xl_err(XL_ERR_IO, "%s: rename failed: %s", f->out, strerror(errno));
                    rename(old, f->out);
                } else {
                    rm_tree(old);
                    free(f->tmp);
                    f->tmp = NULL;
                }
                free(old);
            }
        } else {
            st = xl_err(XL_ERR_IO, "%s: cannot replace it: %s", f->out, strerror(errno));
        }
    } else {
        st = xl_err(XL_ERR_IO, "%s: rename failed: %s", f->out, strerror(errno));
    }
    if (!st) {
        char *parent = parent_of(f->out);
        if (parent) sync_dir(parent);
        free(parent);
    }
    xl_hf_folder_abort(f);
    return st;
}

void xl_hf_folder_abort(xl_hf_folder *f) {
    if (!f) return;
    if (f->tmp) rm_tree(f->tmp);
    free(f->tmp);
    free(f->out);
    free(f);
}
