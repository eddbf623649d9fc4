#include "util/fileio.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

xl_status xl_read_file(const char *path, char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return xl_err(XL_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return xl_err(XL_ERR_IO, "%s: not a regular file", path);
    }
    size_t cap = (size_t)st.st_size;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return xl_err(XL_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, cap);
    }
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            free(buf);
            close(fd);
            return xl_err(XL_ERR_IO, "%s: %s", path, strerror(errno));
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return XL_OK;
}

xl_status xl_mmap_open(const char *path, xl_mmap *m) {
    m->data = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return xl_err(XL_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return xl_err(XL_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return XL_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return xl_err(XL_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
    m->data = p;
    m->len = (size_t)st.st_size;
    return XL_OK;
}

void xl_mmap_close(xl_mmap *m) {
    if (m->data) munmap(m->data, m->len);
    m->data = NULL;
    m->len = 0;
}

/* madvise over the whole pages around [p, p + n). */
static void advise_pages(const void *p, size_t n, int advice) {
    static long pg;
    if (!pg) pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0 || !n) return;
    uintptr_t a = (uintptr_t)p & ~((uintptr_t)pg - 1);
    uintptr_t e = ((uintptr_t)p + n + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
    madvise((void *)a, e - a, advice);
}

void xl_pages_release(const void *p, size_t n) { advise_pages(p, n, MADV_DONTNEED); }

void xl_pages_prefetch(const void *p, size_t n) { advise_pages(p, n, MADV_WILLNEED); }

char *xl_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

int xl_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int xl_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *xl_resolve_text_link(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0 || st.st_size >= 512)
        return strdup(path);
    char *text;
    size_t len;
    if (xl_read_file(path, &text, &len) != XL_OK) {
        xl_err_clear();
        return strdup(path);
    }
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ')) text[--len] = '\0';
    int plausible = len > 0 && text[0] != '{' && text[0] != '/' && memchr(text, '\n', len) == NULL &&
                    strlen(text) == len;
    char *out = NULL;
    if (plausible) {
        const char *slash = strrchr(path, '/');
        size_t dl = slash ? (size_t)(slash - path) : 0;
        char *dir = slash ? strndup(path, dl) : strdup(".");
        char *target = dir ? xl_path_join(dir, text) : NULL;
        free(dir);
        if (target && xl_file_exists(target)) out = target;
        else free(target);
    }
    free(text);
    return out ? out : strdup(path);
}
