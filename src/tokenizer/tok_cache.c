/* The compiled tokenizer cache file (see tok_cache.h): location, identity of the
 * sources, checksums, strict reading and atomic writing. Nothing here reports an
 * error: every failure is a cache miss or a cache not written. */
#include "tokenizer/tok_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/fileio.h"

#define SECTION_ALIGN 64
/* Sections are read and checksummed in pieces that stay in the L2 cache (a multiple
 * of the checksum's 32-byte block). */
#define READ_CHUNK ((size_t)256 << 10)
#define ENDIAN_MARK 0x01020304u

static _Thread_local tk_cache_report g_report;

const tk_cache_report *tk_cache_last(void) { return &g_report; }

void tk_cache_note(tk_cache_outcome outcome, const char *file) {
    g_report.outcome = outcome;
    g_report.written = 0;
    snprintf(g_report.file, sizeof g_report.file, "%s", file ? file : "");
}

void tk_cache_note_invalid(void) { g_report.outcome = TK_CACHE_INVALID; }

/* ----------------------------------------------------------------- checksum */

#define SUM_P1 0x9E3779B97F4A7C15ull
#define SUM_P2 0xC2B2AE3D27D4EB4Full

typedef struct {
    uint64_t lane[4];
    uint64_t n;
} sum_state;

static inline uint64_t rotl64(uint64_t x, int r) { return x << r | x >> (64 - r); }

/* Bijective in h for a fixed w and in w for a fixed h (odd multiplier, rotation). */
static inline uint64_t sum_step(uint64_t h, uint64_t w) { return rotl64((h ^ w) * SUM_P1, 29); }

static void sum_init(sum_state *s) {
    s->lane[0] = 0x243F6A8885A308D3ull;
    s->lane[1] = 0x13198A2E03707344ull;
    s->lane[2] = 0xA4093822299F31D0ull;
    s->lane[3] = 0x082EFA98EC4E6C89ull;
    s->n = 0;
}

/* n must be a multiple of 32. */
static void sum_blocks(sum_state *s, const unsigned char *p, size_t n) {
    uint64_t a = s->lane[0], b = s->lane[1], c = s->lane[2], d = s->lane[3];
    for (size_t i = 0; i < n; i += 32) {
        uint64_t w[4];
        memcpy(w, p + i, 32);
        a = sum_step(a, w[0]);
        b = sum_step(b, w[1]);
        c = sum_step(c, w[2]);
        d = sum_step(d, w[3]);
    }
    s->lane[0] = a;
    s->lane[1] = b;
    s->lane[2] = c;
    s->lane[3] = d;
    s->n += n;
}

/* The last n < 32 bytes, then the result. */
static uint64_t sum_final(sum_state *s, const unsigned char *p, size_t n) {
    for (int k = 0; n > 0; k++) {
        uint64_t w = 0;
        size_t take = n < 8 ? n : 8;
        memcpy(&w, p, take);
        s->lane[k] = sum_step(s->lane[k], w);
        p += take;
        n -= take;
        s->n += take;
    }
    uint64_t h = s->n * SUM_P2;
    for (int k = 0; k < 4; k++) h = sum_step(h, s->lane[k]);
    h ^= h >> 33;
    h *= SUM_P2;
    h ^= h >> 29;
    return h;
}

uint64_t tk_checksum(const void *data, size_t n) {
    sum_state s;
    sum_init(&s);
    size_t whole = n & ~(size_t)31;
    sum_blocks(&s, data, whole);
    return sum_final(&s, (const unsigned char *)data + whole, n - whole);
}

/* ------------------------------------------------------------ source files */

static void id_from_stat(const struct stat *st, tk_file_id *id) {
    memset(id, 0, sizeof *id);
    id->present = 1;
    id->size = (uint64_t)st->st_size;
    id->ino = (uint64_t)st->st_ino;
    id->dev = (uint64_t)st->st_dev;
    id->mtime_s = (int64_t)st->st_mtim.tv_sec;
    id->mtime_ns = (int64_t)st->st_mtim.tv_nsec;
    id->ctime_s = (int64_t)st->st_ctim.tv_sec;
    id->ctime_ns = (int64_t)st->st_ctim.tv_nsec;
}

/* Identity of a file that must be readable (opened, so that an unreadable file is
 * never served from the cache). optional: an absent file is present = 0. */
static int file_id(const char *path, int optional, tk_file_id *id) {
    memset(id, 0, sizeof *id);
    if (optional && !xl_file_exists(path)) return 1; /* what load_config tests */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    struct stat st;
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    if (ok) id_from_stat(&st, id);
    return ok;
}

static int same_id(const tk_file_id *a, const tk_file_id *b) {
    return a->present == b->present && a->size == b->size && a->ino == b->ino && a->dev == b->dev &&
           a->mtime_s == b->mtime_s && a->mtime_ns == b->mtime_ns && a->ctime_s == b->ctime_s &&
           a->ctime_ns == b->ctime_ns;
}

/* A file whose mtime is within TK_CACHE_SETTLE_S seconds of now may change again
 * within the same timestamp tick, unseen: it is not cached yet. (An mtime far in the
 * future is safe: any change would set it to now.) */
static int settled(const tk_file_id *id) {
    if (!id->present) return 1;
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0) return 0;
    int64_t age_ns = ((int64_t)now.tv_sec - id->mtime_s) * 1000000000 + ((int64_t)now.tv_nsec - id->mtime_ns);
    const int64_t settle_ns = (int64_t)TK_CACHE_SETTLE_S * 1000000000;
    return age_ns >= settle_ns || age_ns <= -settle_ns;
}

/* ----------------------------------------------------------------- location */

static int cache_disabled(void) {
    const char *e = getenv("XLING_TOKENIZER_CACHE");
    return e && (!strcmp(e, "0") || !strcasecmp(e, "off") || !strcasecmp(e, "false") || !strcasecmp(e, "no"));
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    return strndup(path, slash == path ? 1 : (size_t)(slash - path));
}

/* Writable by access rights, and not read-only by its mode: a folder without any
 * write bit is left alone even by root (shared fixture folders are laid that way). */
static int dir_writable(const char *dir) {
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return 0;
    if (!(st.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH))) return 0;
    return faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0;
}

/* $XDG_CACHE_HOME/xling, or ~/.cache/xling (a relative XDG_CACHE_HOME is ignored, as
 * the XDG specification says). */
static char *fallback_dir(void) {
    const char *xdg = getenv("XDG_CACHE_HOME");
    char buf[4096];
    int n;
    if (xdg && xdg[0] == '/') {
        n = snprintf(buf, sizeof buf, "%s/xling", xdg);
    } else {
        const char *home = getenv("HOME");
        if (!home || home[0] != '/') return NULL;
        n = snprintf(buf, sizeof buf, "%s/.cache/xling", home);
    }
    return n > 0 && (size_t)n < sizeof buf ? strdup(buf) : NULL;
}

/* The cache file for source (whose absolute real path is real_abs) read with config:
 * next to source, or in a shared folder under a name hashed from both real paths (two
 * model folders that link one tokenizer.json with different configs get one each). */
static char *cache_file_for(const char *source, const char *real_abs, const char *config) {
    const char *env = getenv("XLING_TOKENIZER_CACHE");
    int forced = env && env[0] == '/'; /* one folder for every cache */
    char *dir = dir_of(source);
    if (!dir) return NULL;
    char *out = NULL;
    /* a snapshot of the Hugging Face cache (files linked into blobs/) is shared with other
     * tools: the cache goes to the shared folder, not beside the link */
    int hf_snapshot = strstr(source, "/snapshots/") && strstr(real_abs, "/blobs/");
    if (!forced && !hf_snapshot && dir_writable(dir)) {
        size_t n = strlen(source) + sizeof ".xlcache";
        out = malloc(n);
        if (out) snprintf(out, n, "%s.xlcache", source);
    } else {
        char *fb = forced ? strdup(env) : fallback_dir();
        char *cfg_real = realpath(config, NULL); /* NULL when absent: the path as given */
        const char *cfg = cfg_real ? cfg_real : config;
        size_t ls = strlen(real_abs), lc = strlen(cfg);
        char *key = malloc(ls + lc + 2);
        if (fb && key) {
            memcpy(key, real_abs, ls + 1); /* the NUL separates the two paths */
            memcpy(key + ls + 1, cfg, lc + 1);
            const char *base = strrchr(real_abs, '/');
            base = base ? base + 1 : real_abs;
            size_t n = strlen(fb) + strlen(base) + 40;
            out = malloc(n);
            if (out)
                snprintf(out, n, "%s/%.100s-%016llx.xlcache", fb, base,
                         (unsigned long long)tk_checksum(key, ls + lc + 1));
        }
        free(key);
        free(cfg_real);
        free(fb);
    }
    free(dir);
    return out;
}

int tk_cache_begin(tk_cache_ctx *c, const char *source, const char *config) {
    memset(c, 0, sizeof *c);
    if (cache_disabled()) {
        tk_cache_note(TK_CACHE_OFF, NULL);
        return 0;
    }
    c->source = realpath(source, NULL);
    c->config = strdup(config);
    if (c->source && c->config && file_id(source, 0, &c->src) && file_id(config, 1, &c->cfg))
        c->file = cache_file_for(source, c->source, config);
    if (!c->file) {
        tk_cache_end(c);
        tk_cache_note(TK_CACHE_OFF, NULL);
        return 0;
    }
    tk_cache_note(TK_CACHE_ABSENT, c->file);
    return 1;
}

void tk_cache_end(tk_cache_ctx *c) {
    free(c->file);
    free(c->source);
    free(c->config);
    memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------------ reading */

struct tk_cache_reader {
    int fd;
    tk_cache_header h;
    tk_cache_dirent dir[TK_CACHE_MAX_SECTIONS];
};

static int pread_all(int fd, void *dst, size_t len, uint64_t off) {
    unsigned char *p = dst;
    while (len) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 1;
}

static void build_tag(char out[64]) {
    memset(out, 0, 64);
    snprintf(out, 64, "%s", TK_CACHE_BUILD_TAG);
}

static uint64_t header_check(const tk_cache_header *h, const tk_cache_dirent *dir) {
    /* one contiguous buffer, the check field zeroed */
    unsigned char buf[sizeof *h + TK_CACHE_MAX_SECTIONS * sizeof *dir];
    tk_cache_header z = *h;
    z.check = 0;
    memcpy(buf, &z, sizeof z);
    memcpy(buf + sizeof z, dir, h->n_sections * sizeof *dir);
    return tk_checksum(buf, sizeof z + h->n_sections * sizeof *dir);
}

static tk_cache_reader *open_fail(tk_cache_reader *r, tk_cache_outcome why) {
    if (r->fd >= 0) close(r->fd);
    free(r);
    g_report.outcome = why;
    return NULL;
}

static const tk_cache_dirent *find_section(const tk_cache_reader *r, uint32_t tag) {
    for (uint32_t i = 0; i < r->h.n_sections; i++)
        if (r->dir[i].tag == tag) return &r->dir[i];
    return NULL;
}

tk_cache_reader *tk_cache_open(const tk_cache_ctx *c) {
    tk_cache_reader *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->fd = open(c->file, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) return open_fail(r, TK_CACHE_ABSENT);
    struct stat st;
    if (fstat(r->fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < sizeof r->h ||
        !pread_all(r->fd, &r->h, sizeof r->h, 0))
        return open_fail(r, TK_CACHE_INVALID);
    tk_cache_header *h = &r->h;
    if (memcmp(h->magic, TK_CACHE_MAGIC, sizeof h->magic) != 0) return open_fail(r, TK_CACHE_INVALID);
    char tag[64];
    build_tag(tag);
    if (h->endian != ENDIAN_MARK || h->format != TK_CACHE_FORMAT || memcmp(h->build, tag, sizeof tag) != 0)
        return open_fail(r, TK_CACHE_STALE);
    if (h->n_sections > TK_CACHE_MAX_SECTIONS || h->file_size != (uint64_t)st.st_size) return open_fail(r, TK_CACHE_INVALID);
    uint64_t head = sizeof *h + (uint64_t)h->n_sections * sizeof *r->dir;
    if (head > h->file_size || !pread_all(r->fd, r->dir, h->n_sections * sizeof *r->dir, sizeof *h) ||
        header_check(h, r->dir) != h->check)
        return open_fail(r, TK_CACHE_INVALID);
    for (uint32_t i = 0; i < h->n_sections; i++) {
        const tk_cache_dirent *d = &r->dir[i];
        if (d->off % SECTION_ALIGN || d->off < head || d->off > h->file_size || d->len > h->file_size - d->off)
            return open_fail(r, TK_CACHE_INVALID);
        for (uint32_t j = 0; j < i; j++)
            if (r->dir[j].tag == d->tag) return open_fail(r, TK_CACHE_INVALID);
    }
    if (!same_id(&h->source, &c->src) || !same_id(&h->config, &c->cfg)) return open_fail(r, TK_CACHE_STALE);
    /* the file named by the hash (or next to the source) must be this source's */
    size_t plen;
    char *path = tk_cache_read_alloc(r, TK_SEC_PATH, &plen);
    if (!path) return open_fail(r, TK_CACHE_INVALID);
    int same = plen == strlen(c->source) && memcmp(path, c->source, plen) == 0;
    free(path);
    if (!same) return open_fail(r, TK_CACHE_STALE);
    return r;
}

void tk_cache_close(tk_cache_reader *r) {
    if (!r) return;
    close(r->fd);
    free(r);
}

int tk_cache_has(const tk_cache_reader *r, uint32_t tag, size_t *len) {
    const tk_cache_dirent *d = find_section(r, tag);
    *len = d ? (size_t)d->len : 0;
    return d != NULL;
}

int tk_cache_len_is(const tk_cache_reader *r, uint32_t tag, uint64_t len) {
    const tk_cache_dirent *d = find_section(r, tag);
    return d && d->len == len;
}

int tk_cache_read(tk_cache_reader *r, uint32_t tag, void *dst, size_t len) {
    const tk_cache_dirent *d = find_section(r, tag);
    if (!d || d->len != len) return 0;
    if (len == 0) return tk_checksum("", 0) == d->check;
    sum_state s;
    sum_init(&s);
    unsigned char *p = dst;
    size_t at = 0;
    for (;;) {
        size_t n = len - at < READ_CHUNK ? len - at : READ_CHUNK;
        if (n && !pread_all(r->fd, p + at, n, d->off + at)) return 0;
        if (at + n == len) { /* the last piece */
            size_t whole = n & ~(size_t)31;
            sum_blocks(&s, p + at, whole);
            return sum_final(&s, p + at + whole, n - whole) == d->check;
        }
        sum_blocks(&s, p + at, n); /* READ_CHUNK is a multiple of 32 */
        at += n;
    }
}

void *tk_cache_read_alloc(tk_cache_reader *r, uint32_t tag, size_t *len) {
    *len = 0;
    const tk_cache_dirent *d = find_section(r, tag);
    if (!d || d->len >= SIZE_MAX) return NULL;
    char *p = malloc((size_t)d->len + 1);
    if (!p) return NULL;
    if (!tk_cache_read(r, tag, p, (size_t)d->len)) {
        free(p);
        return NULL;
    }
    p[d->len] = '\0';
    *len = (size_t)d->len;
    return p;
}

/* ------------------------------------------------------------------ writing */

typedef struct {
    uint32_t tag;
    const void *data;
    size_t len;
    void *owned;
} out_section;

struct tk_cache_writer {
    out_section s[TK_CACHE_MAX_SECTIONS];
    uint32_t n;
    int failed;
};

tk_cache_writer *tk_cache_writer_new(void) { return calloc(1, sizeof(tk_cache_writer)); }

void tk_cache_writer_free(tk_cache_writer *w) {
    if (!w) return;
    for (uint32_t i = 0; i < w->n; i++) free(w->s[i].owned);
    free(w);
}

void tk_cache_fail(tk_cache_writer *w) {
    if (w) w->failed = 1;
}

void tk_cache_put_ref(tk_cache_writer *w, uint32_t tag, const void *data, size_t len) {
    if (!w || w->failed) return;
    if (w->n == TK_CACHE_MAX_SECTIONS || (!data && len)) {
        w->failed = 1;
        return;
    }
    for (uint32_t i = 0; i < w->n; i++)
        if (w->s[i].tag == tag) {
            w->failed = 1;
            return;
        }
    w->s[w->n++] = (out_section){tag, data ? data : "", len, NULL};
}

void tk_cache_put_copy(tk_cache_writer *w, uint32_t tag, const void *data, size_t len) {
    if (!w || w->failed) return;
    void *copy = malloc(len ? len : 1);
    if (!copy) {
        w->failed = 1;
        return;
    }
    if (len) memcpy(copy, data, len);
    tk_cache_put_ref(w, tag, copy, len);
    if (w->failed) free(copy);
    else w->s[w->n - 1].owned = copy;
}

static int write_all(int fd, const void *data, size_t len) {
    const unsigned char *p = data;
    while (len) {
        ssize_t r = write(fd, p, len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        p += r;
        len -= (size_t)r;
    }
    return 1;
}

static int write_contents(int fd, const tk_cache_header *h, const tk_cache_dirent *dir, const tk_cache_writer *w) {
    static const unsigned char zeros[SECTION_ALIGN];
    if (!write_all(fd, h, sizeof *h) || !write_all(fd, dir, w->n * sizeof *dir)) return 0;
    uint64_t at = sizeof *h + (uint64_t)w->n * sizeof *dir;
    for (uint32_t i = 0; i < w->n; i++) {
        if (!write_all(fd, zeros, (size_t)(dir[i].off - at)) || !write_all(fd, w->s[i].data, w->s[i].len)) return 0;
        at = dir[i].off + w->s[i].len;
    }
    return 1;
}

/* Creates the cache folder and its parent when missing (failures show later). */
static void make_dirs(const char *dir) {
    char *parent = dir_of(dir);
    if (parent) mkdir(parent, 0700);
    free(parent);
    mkdir(dir, 0700);
}

/* Gives the anonymous O_TMPFILE file fd a temporary name in dir; NULL on failure. */
static char *name_tmpfile(int fd, const char *file) {
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    size_t n = strlen(file) + 64;
    char *name = malloc(n);
    if (!name) return NULL;
    static _Atomic unsigned counter;
    for (int tries = 0; tries < 8; tries++) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        snprintf(name, n, "%s.tmp-%ld-%u-%ld", file, (long)getpid(), counter++, (long)ts.tv_nsec);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, name, AT_SYMLINK_FOLLOW) == 0) return name;
        if (errno != EEXIST) break;
    }
    free(name);
    return NULL;
}

/* Writes the file atomically: an anonymous O_TMPFILE file given a temporary name once
 * complete (nothing is left behind if the process dies while writing), else a
 * mkstemp file; then renamed over `file`. 1 on success; nothing is left on failure. */
static int write_new_file(const char *dir, const char *file, const tk_cache_header *h, const tk_cache_dirent *d,
                          const tk_cache_writer *w) {
#ifdef O_TMPFILE
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
#else
    int fd = -1;
    (void)dir;
#endif
    if (fd >= 0) {
        if (!write_contents(fd, h, d, w)) { /* a full disk: no second try */
            close(fd);
            return 0;
        }
        char *tmp = name_tmpfile(fd, file);
        int ok = close(fd) == 0 && tmp && rename(tmp, file) == 0;
        if (tmp && !ok) unlink(tmp);
        free(tmp);
        if (ok || tmp) return ok;
        /* the file could not be named (no /proc): a named temporary file instead */
    }
    size_t n = strlen(file) + 16;
    char *tmp = malloc(n);
    if (!tmp) return 0;
    snprintf(tmp, n, "%s.tmp-XXXXXX", file);
    fd = mkostemp(tmp, O_CLOEXEC);
    int ok = 0;
    if (fd >= 0) {
        fchmod(fd, 0644); /* else mkstemp's 0600: still fine for its owner */
        ok = write_contents(fd, h, d, w);
        ok = close(fd) == 0 && ok && rename(tmp, file) == 0;
        if (!ok) unlink(tmp);
    }
    free(tmp);
    return ok;
}

void tk_cache_commit(const tk_cache_ctx *c, tk_cache_writer *w) {
    if (!w) return;
    tk_file_id src, cfg;
    /* the sources must be what they were when the load began, and settled */
    if (w->failed || !c->file || !file_id(c->source, 0, &src) || !file_id(c->config, 1, &cfg) ||
        !same_id(&src, &c->src) || !same_id(&cfg, &c->cfg) || !settled(&src) || !settled(&cfg)) {
        tk_cache_writer_free(w);
        return;
    }
    tk_cache_header h;
    tk_cache_dirent dir[TK_CACHE_MAX_SECTIONS];
    memset(&h, 0, sizeof h);
    memset(dir, 0, sizeof dir);
    memcpy(h.magic, TK_CACHE_MAGIC, sizeof h.magic);
    h.format = TK_CACHE_FORMAT;
    h.endian = ENDIAN_MARK;
    build_tag(h.build);
    h.source = c->src;
    h.config = c->cfg;
    h.n_sections = w->n;
    uint64_t at = sizeof h + (uint64_t)w->n * sizeof *dir;
    for (uint32_t i = 0; i < w->n; i++) {
        at = (at + SECTION_ALIGN - 1) / SECTION_ALIGN * SECTION_ALIGN;
        dir[i] = (tk_cache_dirent){w->s[i].tag, 0, at, w->s[i].len, tk_checksum(w->s[i].data, w->s[i].len)};
        at += w->s[i].len;
    }
    h.file_size = at;
    h.check = header_check(&h, dir);

    char *dir_path = dir_of(c->file);
    int ok = 0;
    if (dir_path) {
        make_dirs(dir_path);
        if (dir_writable(dir_path)) ok = write_new_file(dir_path, c->file, &h, dir, w);
    }
    g_report.written = ok;
    free(dir_path);
    tk_cache_writer_free(w);
}
