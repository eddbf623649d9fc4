/* `xling pull`: downloads a Hub model into the cache with libcurl, speaking the Hub's
 * HTTP protocol as huggingface_hub does:
 *   GET  {endpoint}/api/models/{repo}/revision/{rev}  -> "sha" (the commit), "siblings"
 *   HEAD {endpoint}/{repo}/resolve/{commit}/{path}    -> ETag / X-Linked-Etag (LFS: the
 *        sha256), X-Linked-Size, and for LFS files a redirect to the storage host
 *        (relative redirects, a renamed repository, are followed; absolute ones are where
 *        the bytes come from, fetched without the token when the host differs)
 *   GET  the file into blobs/<etag>.incomplete, resumed with Range after an interruption,
 *        checked (size; sha256 for LFS files), renamed to blobs/<etag>, and linked from
 *        snapshots/<commit>/<path> by a relative symlink; refs/<revision> last.
 * Two phases, each on --jobs threads with one curl handle each: the HEADs of the files
 * not yet in the snapshot (so that sizes, the disk space check and the progress total are
 * known first), then the downloads. Locks: .locks/models--ORG--NAME/<etag>.lock (flock),
 * the file huggingface_hub locks, so two tools never write one blob at the same time. */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "hub/hub.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/vec.h"

#define DEFAULT_ENDPOINT "https://huggingface.co"
#define MAX_API_BYTES (64u << 20)

typedef struct {
    char *path;        /* in the repository */
    char *etag;        /* normalized: no W/, no quotes */
    char *url;         /* where the bytes come from */
    long long size;    /* -1 unknown */
    int lfs;           /* etag is the content's sha256 */
    int cached;        /* snapshots/<commit>/<path> already there */
    long long have;    /* bytes already in blobs/<etag>.incomplete (or the whole blob) */
    int blob_done;     /* blobs/<etag> exists */
} hub_file;

typedef struct {
    const xl_hub_pull_options *o;
    const char *id;
    char *endpoint, *auth, *cache, *repo_dir, *commit;
    hub_id hid;
    hub_file *files;
    size_t n, next;
    int phase;             /* 1: metadata, 2: download */
    int retries;
    pthread_mutex_t mu;
    int failed;
    xl_status st;
    char err[1024];
    xl_hub_progress prog;
} pull_ctx;

/* ------------------------------------------------------------------ HTTP */

typedef struct {
    long code;
    char *etag, *linked_etag, *linked_size, *content_length, *location, *error_code, *error_message,
        *content_range;
} http_meta;

static void meta_clear(http_meta *m) {
    free(m->etag); free(m->linked_etag); free(m->linked_size); free(m->content_length);
    free(m->location); free(m->error_code); free(m->error_message); free(m->content_range);
    memset(m, 0, sizeof *m);
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *ud) {
    http_meta *m = ud;
    size_t n = size * nitems;
    if (n >= 5 && !strncmp(buf, "HTTP/", 5)) { meta_clear(m); return n; } /* a new response (redirect) */
    const char *colon = memchr(buf, ':', n);
    if (!colon) return n;
    size_t klen = (size_t)(colon - buf);
    const char *v = colon + 1, *end = buf + n;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
    static const struct { const char *name; size_t off; } keys[] = {
        {"etag", offsetof(http_meta, etag)}, {"x-linked-etag", offsetof(http_meta, linked_etag)},
        {"x-linked-size", offsetof(http_meta, linked_size)}, {"content-length", offsetof(http_meta, content_length)},
        {"location", offsetof(http_meta, location)}, {"x-error-code", offsetof(http_meta, error_code)},
        {"x-error-message", offsetof(http_meta, error_message)}, {"content-range", offsetof(http_meta, content_range)}};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        if (strlen(keys[k].name) == klen && !strncasecmp(buf, keys[k].name, klen)) {
            char **slot = (char **)((char *)m + keys[k].off);
            free(*slot);
            *slot = strndup(v, (size_t)(end - v));
        }
    }
    return n;
}

static size_t body_cb(char *p, size_t size, size_t n, void *ud) {
    xl_buf *b = ud;
    size_t len = size * n;
    if (b->n + len > MAX_API_BYTES || xl_buf_append(b, p, len)) return 0;
    return len;
}

/* Options every request starts from (set again after each curl_easy_reset). */
static void base_opts(CURL *h) {
    curl_easy_setopt(h, CURLOPT_USERAGENT, "xling/" XLING_VERSION " (libcurl)");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 20L);
    /* a stalled transfer (under 1 byte/s for 60 s) fails, and is retried */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
}

/* scheme://host:port of a URL, to compare two (malloc'd; NULL if it does not parse). */
static char *origin(const char *url) {
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;
    if (u && !curl_url_set(u, CURLUPART_URL, url, 0) && !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) &&
        !curl_url_get(u, CURLUPART_HOST, &host, 0) && !curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)) {
        size_t n = strlen(scheme) + strlen(host) + strlen(port) + 8;
        out = malloc(n);
        if (out) {
            snprintf(out, n, "%s://%s:%s", scheme, host, port);
            for (char *c = out; *c; c++) *c = (char)tolower((unsigned char)*c);
        }
    }
    curl_free(scheme); curl_free(host); curl_free(port);
    curl_url_cleanup(u);
    return out;
}

static int same_origin(const char *a, const char *b) {
    char *x = origin(a), *y = origin(b);
    int same = x && y && !strcmp(x, y);
    free(x); free(y);
    return same;
}

/* Percent-encodes s; '/' kept when keep_slash. */
static char *url_quote(const char *s, int keep_slash) {
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *o = out;
    if (!out) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' || (keep_slash && *p == '/')) *o++ = (char)*p;
        else o += sprintf(o, "%%%02X", *p);
    }
    *o = '\0';
    return out;
}

static int retryable_curl(CURLcode cc) {
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_CONNECT: case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE: case CURLE_RECV_ERROR: case CURLE_SEND_ERROR: case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR: case CURLE_HTTP2: case CURLE_HTTP2_STREAM: case CURLE_COULDNT_RESOLVE_PROXY:
        return 1;
    default:
        return 0;
    }
}

static int retryable_code(long code) { return code == 429 || code == 408 || (code >= 500 && code <= 599); }

static void backoff(int attempt) {
    double s = 1.0;
    for (int i = 0; i < attempt && s < 30; i++) s *= 2;
    if (s > 30) s = 30;
    struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* The error of an HTTP answer from the Hub, worded for the user. */
static xl_status http_error(pull_ctx *c, const http_meta *m, const char *what) {
    const char *code = m->error_code ? m->error_code : "";
    char extra[400] = "";
    if (m->error_message && *m->error_message) snprintf(extra, sizeof extra, " (%s)", m->error_message);
    const char *id = c->id;
    if (!strcmp(code, "GatedRepo"))
        return xl_err(XL_ERR_IO, "%s is a gated model (HTTP %ld)%s: accept its conditions on its Hub page, then set HF_TOKEN "
                      "(or --token) to a token of that account%s", id, m->code, extra,
                      c->auth ? " (the token given has no access yet)" : "");
    if (!strcmp(code, "RevisionNotFound"))
        return xl_err(XL_ERR_IO, "%s: revision \"%s\" not found (HTTP %ld)%s", c->hid.repo, c->hid.revision, m->code, extra);
    if (!strcmp(code, "EntryNotFound"))
        return xl_err(XL_ERR_IO, "%s: %s not found (HTTP %ld)%s", c->hid.repo, what, m->code, extra);
    if (!strcmp(code, "RepoNotFound") || m->code == 404)
        return xl_err(XL_ERR_IO, "%s: repository not found, or private (HTTP %ld)%s: %s", c->hid.repo, m->code, extra,
                      c->auth ? "check the id, and that the token (HF_TOKEN / --token) has access"
                              : "check the id; for a private model set HF_TOKEN (or --token)");
    if (m->code == 401)
        return xl_err(XL_ERR_IO, "%s: unauthorized (HTTP 401)%s: %s", id, extra,
                      c->auth ? "the token (HF_TOKEN / --token) was refused" : "set HF_TOKEN (or --token)");
    if (m->code == 403)
        return xl_err(XL_ERR_IO, "%s: access denied (HTTP 403)%s: the token (HF_TOKEN / --token) lacks permission for it", id, extra);
    return xl_err(XL_ERR_IO, "%s: HTTP %ld for %s%s", id, m->code, what, extra);
}

static xl_status curl_failure(pull_ctx *c, CURLcode cc, const char *url, const char *errbuf, int tries) {
    return xl_err(XL_ERR_IO, "%s: cannot reach %s: %s%s", c->id, url, errbuf && *errbuf ? errbuf : curl_easy_strerror(cc),
                  tries > 1 ? " (after retries)" : "");
}

/* One request with retries: HEAD (body NULL) or GET into body. Relative redirects are
 * followed (HEAD), absolute ones returned in m->location. */
static xl_status request(pull_ctx *c, CURL *h, const char *url, int head, xl_buf *body, http_meta *m) {
    char *cur = strdup(url);
    if (!cur) return xl_err(XL_ERR_NOMEM, "out of memory");
    xl_status st = XL_OK;
    for (int attempt = 0, redirects = 0;;) {
        char errbuf[CURL_ERROR_SIZE] = "";
        struct curl_slist *hdr = NULL;
        int with_auth = c->auth && same_origin(cur, c->endpoint);
        if (with_auth) hdr = curl_slist_append(hdr, c->auth);
        hdr = curl_slist_append(hdr, "Accept-Encoding: identity");
        curl_easy_reset(h);
        base_opts(h);
        curl_easy_setopt(h, CURLOPT_URL, cur);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, m);
        if (head) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        else {
            body->n = 0;
            curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
            curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
        }
        meta_clear(m);
        CURLcode cc = curl_easy_perform(h);
        curl_slist_free_all(hdr);
        if (cc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &m->code);
        if ((cc != CURLE_OK && retryable_curl(cc)) || (cc == CURLE_OK && retryable_code(m->code))) {
            if (attempt < c->retries) { backoff(attempt++); continue; }
            if (cc != CURLE_OK) st = curl_failure(c, cc, cur, errbuf, attempt + 1);
            else st = http_error(c, m, cur);
            break;
        }
        if (cc != CURLE_OK) { st = curl_failure(c, cc, cur, errbuf, 1); break; }
        if (m->code >= 300 && m->code < 400 && m->location && m->location[0] == '/' && m->location[1] != '/') {
            if (++redirects > 5) { st = xl_err(XL_ERR_IO, "%s: too many redirects from %s", c->id, url); break; }
            char *next = origin(cur);
            char *joined = next ? malloc(strlen(next) + strlen(m->location) + 1) : NULL;
            if (joined) sprintf(joined, "%s%s", next, m->location);
            free(next);
            free(cur);
            cur = joined;
            if (!cur) return xl_err(XL_ERR_NOMEM, "out of memory");
            continue;
        }
        break;
    }
    free(cur);
    return st;
}

/* ------------------------------------------------------------- the pull */

static void fail(pull_ctx *c, xl_status st) {
    pthread_mutex_lock(&c->mu);
    if (!c->failed) {
        c->failed = 1;
        c->st = st;
        snprintf(c->err, sizeof c->err, "%s", xl_last_error());
    }
    pthread_mutex_unlock(&c->mu);
}

static void report(pull_ctx *c, const char *file) {
    if (!c->o || !c->o->progress) return;
    c->prog.file = file;
    c->o->progress(c->o->user, &c->prog);
}

static void add_bytes(pull_ctx *c, long long n) {
    pthread_mutex_lock(&c->mu);
    c->prog.bytes_done += (uint64_t)n;
    report(c, NULL);
    pthread_mutex_unlock(&c->mu);
}

static char *normalize_etag(const char *e) {
    if (!e) return NULL;
    if (!strncmp(e, "W/", 2)) e += 2;
    size_t n = strlen(e);
    if (n >= 2 && e[0] == '"' && e[n - 1] == '"') { e++; n -= 2; }
    if (n == 0 || n > 128) return NULL;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)e[i]) && e[i] != '-' && e[i] != '_') return NULL; /* it becomes a file name */
    return strndup(e, n);
}

static int is_sha256(const char *s) {
    size_t i = 0;
    for (; s[i]; i++)
        if (!isxdigit((unsigned char)s[i])) return 0;
    return i == 64;
}

static long long parse_size(const char *s) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return errno || *end || v < 0 ? -1 : v;
}

static char *repo_path(const pull_ctx *c, const char *a, const char *b, const char *d) {
    size_t n = strlen(c->repo_dir) + strlen(a) + strlen(b) + strlen(d) + 4;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s%s%s", c->repo_dir, a, b, d);
    return s;
}

/* Phase 1: what the Hub says about one file. */
static xl_status file_meta(pull_ctx *c, CURL *h, hub_file *f) {
    char *q = url_quote(f->path, 1);
    size_t n = strlen(c->endpoint) + strlen(c->hid.repo) + strlen(c->commit) + (q ? strlen(q) : 0) + 16;
    char *url = q ? malloc(n) : NULL;
    if (!url) { free(q); return xl_err(XL_ERR_NOMEM, "out of memory"); }
    snprintf(url, n, "%s/%s/resolve/%s/%s", c->endpoint, c->hid.repo, c->commit, q);
    free(q);
    http_meta m = {0};
    xl_status st = request(c, h, url, 1, NULL, &m);
    int redirect = !st && m.code >= 300 && m.code < 400 && m.location;
    if (!st && m.code != 200 && !redirect) {
        char what[600];
        snprintf(what, sizeof what, "file %s", f->path);
        st = http_error(c, &m, what);
    }
    if (!st) {
        f->etag = normalize_etag(m.linked_etag ? m.linked_etag : m.etag);
        if (!f->etag) st = xl_err(XL_ERR_IO, "%s: the Hub gave no usable ETag for %s", c->id, f->path);
    }
    if (!st) {
        f->lfs = m.linked_etag && is_sha256(f->etag);
        for (char *p = f->etag; f->lfs && *p; p++) *p = (char)tolower((unsigned char)*p);
        f->size = parse_size(m.linked_size);
        if (f->size < 0 && !redirect) f->size = parse_size(m.content_length);
        if (redirect) {
            f->url = strdup(m.location);
            free(url);
        } else f->url = url;
        url = NULL;
        if (!f->url) st = xl_err(XL_ERR_NOMEM, "out of memory");
    }
    free(url);
    meta_clear(&m);
    if (!st) {
        char *blob = repo_path(c, "blobs/", f->etag, "");
        char *inc = repo_path(c, "blobs/", f->etag, ".incomplete");
        struct stat sb;
        if (blob && stat(blob, &sb) == 0) { f->blob_done = 1; f->have = sb.st_size; }
        else if (inc && stat(inc, &sb) == 0) f->have = sb.st_size;
        free(blob);
        free(inc);
    }
    return st;
}

/* snapshots/<commit>/<path> -> ../../(..)/blobs/<etag>, replaced atomically. */
static xl_status link_pointer(pull_ctx *c, const hub_file *f) {
    char *ptr = repo_path(c, "snapshots/", c->commit, "/");
    char *full = ptr ? malloc(strlen(ptr) + strlen(f->path) + 1) : NULL;
    if (!full) { free(ptr); return xl_err(XL_ERR_NOMEM, "out of memory"); }
    sprintf(full, "%s%s", ptr, f->path);
    free(ptr);
    size_t depth = 2;
    for (const char *p = f->path; *p; p++) depth += *p == '/';
    char *target = malloc(3 * depth + strlen(f->etag) + 8);
    char *tmp = malloc(strlen(full) + 16);
    xl_status st = XL_OK;
    if (!target || !tmp) st = xl_err(XL_ERR_NOMEM, "out of memory");
    if (!st) {
        target[0] = '\0';
        for (size_t i = 0; i < depth; i++) strcat(target, "../");
        strcat(target, "blobs/");
        strcat(target, f->etag);
        char *dir = strdup(full);
        if (!dir) st = xl_err(XL_ERR_NOMEM, "out of memory");
        else {
            *strrchr(dir, '/') = '\0';
            st = hub_mkdirs(dir);
            free(dir);
        }
    }
    if (!st) {
        sprintf(tmp, "%s.tmp%ld", full, (long)getpid());
        unlink(tmp);
        if (symlink(target, tmp) != 0 || rename(tmp, full) != 0) {
            st = xl_err(XL_ERR_IO, "%s: cannot create the link: %s", full, strerror(errno));
            unlink(tmp);
        }
    }
    free(target);
    free(tmp);
    free(full);
    return st;
}

/* State of one GET into an .incomplete file. */
typedef struct {
    pull_ctx *c;
    CURL *h;
    http_meta *m;
    int fd;
    long long have;      /* bytes in the file */
    EVP_MD_CTX *md;
    int checked, bad_status, write_errno;
    xl_buf errbody;
} dl_state;

static size_t file_cb(char *p, size_t size, size_t n, void *ud) {
    dl_state *d = ud;
    size_t len = size * n;
    if (!d->checked) {
        d->checked = 1;
        long code = 0;
        curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &code);
        if (code == 200 && d->have > 0) {
            /* the server ignored the Range: start over */
            if (ftruncate(d->fd, 0) != 0 || lseek(d->fd, 0, SEEK_SET) != 0) { d->write_errno = errno; return 0; }
            add_bytes(d->c, -d->have);
            d->have = 0;
            EVP_DigestInit_ex(d->md, EVP_sha256(), NULL);
        } else if (code == 206) {
            long long start = -1;
            if (d->m->content_range) sscanf(d->m->content_range, "bytes %lld-", &start);
            if (start != d->have) { d->bad_status = 1; return 0; }
        } else if (code != 200) d->bad_status = 1;
    }
    if (d->bad_status) {
        if (d->errbody.n < 4096) xl_buf_append(&d->errbody, p, len);
        return len;
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(d->fd, p + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { d->write_errno = w < 0 ? errno : EIO; return 0; }
        off += (size_t)w;
    }
    EVP_DigestUpdate(d->md, p, len);
    d->have += (long long)len;
    add_bytes(d->c, (long long)len);
    return len;
}

static int xfer_cb(void *ud, curl_off_t a, curl_off_t b, curl_off_t cc, curl_off_t d) {
    (void)a; (void)b; (void)cc; (void)d;
    pull_ctx *c = ud;
    return c->failed; /* another file failed: stop (what arrived stays, for a later resume) */
}

/* Feeds the first `have` bytes of the file to the hash (a resumed download). */
static int hash_prefix(int fd, long long have, EVP_MD_CTX *md) {
    char buf[1 << 16];
    if (lseek(fd, 0, SEEK_SET) != 0) return -1;
    long long left = have;
    while (left > 0) {
        ssize_t r = read(fd, buf, left < (long long)sizeof buf ? (size_t)left : sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        EVP_DigestUpdate(md, buf, (size_t)r);
        left -= r;
    }
    return 0;
}

/* Downloads f into blobs/<etag>.incomplete (resuming), verifies it and renames it. */
static xl_status fetch_blob(pull_ctx *c, CURL *h, hub_file *f, const char *blob, const char *inc) {
    dl_state d = {.c = c, .h = h, .fd = -1};
    http_meta m = {0};
    d.m = &m;
    d.md = EVP_MD_CTX_new();
    if (!d.md) return xl_err(XL_ERR_NOMEM, "out of memory");
    xl_status st = XL_OK;
    char *disp = f->path;
    for (int attempt = 0;;) {
        d.fd = open(inc, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (d.fd < 0) { st = xl_err(XL_ERR_IO, "%s: cannot write: %s", inc, strerror(errno)); break; }
        struct stat sb;
        fstat(d.fd, &sb);
        d.have = sb.st_size;
        if (f->size >= 0 && d.have > f->size) { /* not this content: start over */
            if (ftruncate(d.fd, 0) != 0) { st = xl_err(XL_ERR_IO, "%s: %s", inc, strerror(errno)); break; }
            d.have = 0;
        }
        EVP_DigestInit_ex(d.md, EVP_sha256(), NULL);
        if (hash_prefix(d.fd, d.have, d.md) != 0 || lseek(d.fd, d.have, SEEK_SET) != d.have) {
            st = xl_err(XL_ERR_IO, "%s: cannot read back: %s", inc, strerror(errno));
            break;
        }
        CURLcode cc = CURLE_OK;
        char errbuf[CURL_ERROR_SIZE] = "";
        long code = 200;
        if (f->size < 0 || d.have < f->size) {
            struct curl_slist *hdr = NULL;
            char range[64];
            if (c->auth && same_origin(f->url, c->endpoint)) hdr = curl_slist_append(hdr, c->auth);
            hdr = curl_slist_append(hdr, "Accept-Encoding: identity");
            if (d.have > 0) {
                snprintf(range, sizeof range, "Range: bytes=%lld-", d.have);
                hdr = curl_slist_append(hdr, range);
            }
            curl_easy_reset(h);
            base_opts(h);
            /* storage hosts may redirect again; curl sends our Authorization header to
             * the same host and port only */
            curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
            curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
            curl_easy_setopt(h, CURLOPT_URL, f->url);
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
            curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
            curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
            curl_easy_setopt(h, CURLOPT_HEADERDATA, &m);
            curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, file_cb);
            curl_easy_setopt(h, CURLOPT_WRITEDATA, &d);
            curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
            curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xfer_cb);
            curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
            d.checked = d.bad_status = d.write_errno = 0;
            d.errbody.n = 0;
            meta_clear(&m);
            cc = curl_easy_perform(h);
            curl_slist_free_all(hdr);
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
            if (cc == CURLE_OK && !d.checked && code != 200 && code != 206) d.bad_status = 1; /* an empty error body */
        }
        if (d.write_errno) {
            st = xl_err(XL_ERR_IO, "%s: cannot write %s: %s%s", c->id, inc, strerror(d.write_errno),
                        d.write_errno == ENOSPC ? " (the disk is full; run the pull again to resume once there is room)" : "");
            break;
        }
        if (c->failed) { st = XL_ERR_CANCELLED; break; }
        if (cc == CURLE_OK && code == 416 && d.have > 0) {
            /* what we have is not a prefix the server knows: start over */
            if (ftruncate(d.fd, 0) != 0) { st = xl_err(XL_ERR_IO, "%s: %s", inc, strerror(errno)); break; }
            close(d.fd);
            d.fd = -1;
            if (attempt++ < c->retries + 1) continue;
            d.bad_status = 1;
        }
        if (d.bad_status && code == 206) {
            st = xl_err(XL_ERR_IO, "%s: %s: the server resumed at another offset than asked (Content-Range: %s)", c->id,
                        disp, m.content_range ? m.content_range : "none");
            break;
        }
        int retry = (cc != CURLE_OK && retryable_curl(cc)) || (cc == CURLE_OK && retryable_code(code));
        int short_read = cc == CURLE_OK && !d.bad_status && f->size >= 0 && d.have < f->size;
        if (retry || short_read) {
            close(d.fd);
            d.fd = -1;
            if (attempt < c->retries) { backoff(attempt++); continue; }
            if (cc != CURLE_OK) st = curl_failure(c, cc, f->url, errbuf, attempt + 1);
            else if (short_read)
                st = xl_err(XL_ERR_IO, "%s: %s: the connection ended after %lld of %lld bytes (run the pull again to resume)",
                            c->id, disp, d.have, f->size);
            else st = http_error(c, &m, f->path);
            break;
        }
        if (cc != CURLE_OK) { st = curl_failure(c, cc, f->url, errbuf, 1); break; }
        if (d.bad_status) {
            char what[600];
            snprintf(what, sizeof what, "file %s", f->path);
            st = http_error(c, &m, what);
            break;
        }
        /* complete: check it, then move it into place */
        if (f->size >= 0 && d.have != f->size) {
            st = xl_err(XL_ERR_IO, "%s: %s: got %lld bytes, the Hub announced %lld; the download was removed", c->id,
                        disp, d.have, f->size);
            unlink(inc);
            break;
        }
        if (f->lfs) {
            unsigned char dig[EVP_MAX_MD_SIZE];
            unsigned int dn = 0;
            char hex[2 * EVP_MAX_MD_SIZE + 1];
            EVP_DigestFinal_ex(d.md, dig, &dn);
            for (unsigned i = 0; i < dn; i++) sprintf(hex + 2 * i, "%02x", dig[i]);
            if (strcmp(hex, f->etag)) {
                unlink(inc);
                st = xl_err(XL_ERR_IO, "%s: %s: checksum mismatch (sha256 %s, the Hub says %s); the download was removed",
                            c->id, disp, hex, f->etag);
                break;
            }
        }
        if (fsync(d.fd) != 0 || rename(inc, blob) != 0) {
            st = xl_err(XL_ERR_IO, "%s: cannot store %s: %s", c->id, blob, strerror(errno));
            break;
        }
        break;
    }
    if (d.fd >= 0) close(d.fd);
    EVP_MD_CTX_free(d.md);
    xl_buf_free(&d.errbody);
    meta_clear(&m);
    return st;
}

/* Phase 2 for one file: the blob (under its lock), then the snapshot link. */
static xl_status file_get(pull_ctx *c, CURL *h, hub_file *f) {
    char *blob = repo_path(c, "blobs/", f->etag, "");
    char *inc = repo_path(c, "blobs/", f->etag, ".incomplete");
    char *locks = NULL;
    size_t ln = strlen(c->cache) + strlen(c->repo_dir) + strlen(f->etag) + 32;
    const char *rname = strrchr(c->repo_dir, '/');
    locks = malloc(ln);
    xl_status st = blob && inc && locks ? XL_OK : xl_err(XL_ERR_NOMEM, "out of memory");
    int lock_fd = -1;
    if (!st) {
        snprintf(locks, ln, "%s/.locks%s", c->cache, rname);
        st = hub_mkdirs(locks);
        char *blobs_dir = repo_path(c, "blobs", "", "");
        if (!st) st = blobs_dir ? hub_mkdirs(blobs_dir) : xl_err(XL_ERR_NOMEM, "out of memory");
        free(blobs_dir);
    }
    if (!st) {
        snprintf(locks + strlen(locks), ln - strlen(locks), "/%s.lock", f->etag);
        lock_fd = open(locks, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lock_fd < 0) st = xl_err(XL_ERR_IO, "%s: cannot open the lock: %s", locks, strerror(errno));
        else while (flock(lock_fd, LOCK_EX) != 0 && errno == EINTR) {}
    }
    struct stat sb;
    if (!st && stat(blob, &sb) != 0) st = fetch_blob(c, h, f, blob, inc);
    if (lock_fd >= 0) close(lock_fd); /* releases the lock */
    if (!st) st = link_pointer(c, f);
    if (!st) {
        pthread_mutex_lock(&c->mu);
        c->prog.files_done++;
        report(c, f->path);
        pthread_mutex_unlock(&c->mu);
    }
    free(blob);
    free(inc);
    free(locks);
    return st;
}

static void *worker(void *ud) {
    pull_ctx *c = ud;
    CURL *h = curl_easy_init();
    if (!h) { fail(c, xl_err(XL_ERR_NOMEM, "cannot create a curl handle")); return NULL; }
    for (;;) {
        pthread_mutex_lock(&c->mu);
        size_t i = c->next;
        while (i < c->n && (c->files[i].cached || (c->phase == 2 && !c->files[i].etag))) i++;
        c->next = i < c->n ? i + 1 : c->n;
        int stop = c->failed;
        pthread_mutex_unlock(&c->mu);
        if (stop || i >= c->n) break;
        xl_status st = c->phase == 1 ? file_meta(c, h, &c->files[i]) : file_get(c, h, &c->files[i]);
        if (st && st != XL_ERR_CANCELLED) fail(c, st);
    }
    curl_easy_cleanup(h);
    return NULL;
}

static xl_status run_phase(pull_ctx *c, int phase) {
    c->phase = phase;
    c->next = 0;
    int jobs = c->o && c->o->jobs > 0 ? c->o->jobs : 4;
    if ((size_t)jobs > c->n) jobs = (int)(c->n ? c->n : 1);
    pthread_t th[64];
    if (jobs > 64) jobs = 64;
    int started = 0;
    for (int i = 1; i < jobs; i++)
        if (pthread_create(&th[started], NULL, worker, c) == 0) started++;
    worker(c);
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    if (c->failed) return xl_err(c->st ? c->st : XL_ERR_IO, "%s", c->err);
    return XL_OK;
}

/* GET /api/models/{repo}/revision/{rev}: the commit and the file list. */
static xl_status repo_info(pull_ctx *c, json_t **out) {
    char *rev = url_quote(c->hid.revision, 0);
    size_t n = strlen(c->endpoint) + strlen(c->hid.repo) + (rev ? strlen(rev) : 0) + 32;
    char *url = rev ? malloc(n) : NULL;
    if (!url) { free(rev); return xl_err(XL_ERR_NOMEM, "out of memory"); }
    snprintf(url, n, "%s/api/models/%s/revision/%s", c->endpoint, c->hid.repo, rev);
    free(rev);
    CURL *h = curl_easy_init();
    xl_buf body = {0};
    http_meta m = {0};
    xl_status st = h ? request(c, h, url, 0, &body, &m) : xl_err(XL_ERR_NOMEM, "cannot create a curl handle");
    if (!st && m.code != 200) st = http_error(c, &m, url);
    if (!st) {
        json_error_t je;
        *out = xl_json_loadb(body.s ? body.s : "", body.n, &je);
        if (!*out || !json_is_object(*out)) st = xl_err(XL_ERR_IO, "%s: the answer of %s is not a JSON object", c->id, url);
    }
    if (h) curl_easy_cleanup(h);
    xl_buf_free(&body);
    meta_clear(&m);
    free(url);
    return st;
}

static char *read_token(void) {
    const char *v = getenv("HF_TOKEN");
    if (v && *v) return strdup(v);
    v = getenv("HUGGING_FACE_HUB_TOKEN"); /* the older name */
    if (v && *v) return strdup(v);
    char *path = NULL;
    v = getenv("HF_TOKEN_PATH");
    if (v && *v) path = strdup(v);
    else if ((v = getenv("HF_HOME")) && *v) path = xl_path_join(v, "token");
    else {
        const char *home = getenv("XDG_CACHE_HOME");
        char *base = home && *home ? xl_path_join(home, "huggingface") : NULL;
        if (!base && (home = getenv("HOME")) && *home) base = xl_path_join(home, ".cache/huggingface");
        path = base ? xl_path_join(base, "token") : NULL;
        free(base);
    }
    char *tok = NULL;
    size_t len = 0;
    if (path && xl_file_exists(path) && !xl_read_file(path, &tok, &len)) {
        while (len && isspace((unsigned char)tok[len - 1])) tok[--len] = '\0';
        if (!len) { free(tok); tok = NULL; }
    }
    xl_err_clear();
    free(path);
    return tok;
}

static xl_status check_space(pull_ctx *c) {
    unsigned long long need = 0;
    for (size_t i = 0; i < c->n; i++) {
        const hub_file *f = &c->files[i];
        if (f->cached || f->blob_done || f->size < 0) continue;
        need += (unsigned long long)(f->size - (f->have < f->size ? f->have : f->size));
    }
    char *blobs = repo_path(c, "blobs", "", "");
    xl_status st = blobs ? hub_mkdirs(blobs) : xl_err(XL_ERR_NOMEM, "out of memory");
    struct statvfs vs;
    if (!st && statvfs(blobs, &vs) == 0) {
        unsigned long long avail = (unsigned long long)vs.f_bavail * vs.f_frsize;
        if (need > avail)
            st = xl_err(XL_ERR_IO, "%s: not enough disk space in %s: the download needs %.1f MB, %.1f MB are free", c->id,
                        c->cache, need / 1e6, avail / 1e6);
    }
    free(blobs);
    return st;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void init_curl(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static xl_status pull(pull_ctx *c, char **dir) {
    const xl_hub_pull_options *o = c->o;
    xl_status st = hub_parse_id(c->id, &c->hid);
    if (st) return st;
    c->cache = o && o->cache_dir ? strdup(o->cache_dir) : xl_hub_cache_dir();
    if (!c->cache) return xl_err(XL_ERR_NOMEM, "out of memory");
    if (xl_hub_offline()) {
        char *found = NULL;
        if (!xl_hub_resolve(c->cache, c->id, &found)) {
            if (dir) *dir = found;
            else free(found);
            return XL_OK;
        }
        return xl_err(XL_ERR_IO, "%s: HF_HUB_OFFLINE is set and the model is not in the cache (%s); unset it to pull", c->id, c->cache);
    }
    const char *ep = o && o->endpoint ? o->endpoint : getenv("HF_ENDPOINT");
    c->endpoint = strdup(ep && *ep ? ep : DEFAULT_ENDPOINT);
    if (!c->endpoint) return xl_err(XL_ERR_NOMEM, "out of memory");
    size_t el = strlen(c->endpoint);
    while (el && c->endpoint[el - 1] == '/') c->endpoint[--el] = '\0';
    char *tok = o && o->token ? strdup(o->token) : read_token();
    if (tok && *tok) {
        c->auth = malloc(strlen(tok) + 32);
        if (c->auth) sprintf(c->auth, "Authorization: Bearer %s", tok);
    }
    free(tok);
    c->retries = !o || o->retries == 0 ? 5 : o->retries < 0 ? 0 : o->retries;
    c->repo_dir = hub_repo_dir(c->cache, c->hid.repo);
    if (!c->repo_dir) return xl_err(XL_ERR_NOMEM, "out of memory");
    pthread_once(&curl_once, init_curl);
    if (curl_init_rc) return xl_err(XL_ERR_IO, "cannot initialise libcurl: %s", curl_easy_strerror(curl_init_rc));

    json_t *info = NULL;
    st = repo_info(c, &info);
    const char *sha = NULL;
    if (!st && (xl_json_get_str(info, "sha", NULL, &sha, "the Hub's answer") || !sha || !hub_is_commit(sha)))
        st = xl_err(XL_ERR_IO, "%s: the Hub's answer has no commit (\"sha\")", c->id);
    json_t *sib = st ? NULL : json_object_get(info, "siblings");
    if (!st && !json_is_array(sib)) st = xl_err(XL_ERR_IO, "%s: the Hub's answer has no file list (\"siblings\")", c->id);
    if (!st) {
        c->commit = strdup(sha);
        c->files = calloc(json_array_size(sib) + 1, sizeof *c->files);
        if (!c->commit || !c->files) st = xl_err(XL_ERR_NOMEM, "out of memory");
    }
    int weights = 0;
    for (size_t i = 0; !st && i < json_array_size(sib); i++) {
        const char *p = json_string_value(json_object_get(json_array_get(sib, i), "rfilename"));
        if (!p || !hub_rel_path_ok(p)) {
            st = xl_err(XL_ERR_IO, "%s: the Hub lists a file with an unsafe path \"%s\"", c->id, p ? p : "(none)");
            break;
        }
        if (!hub_select(p, o)) continue;
        size_t pl = strlen(p);
        weights |= pl > 12 && !strcmp(p + pl - 12, ".safetensors");
        hub_file *f = &c->files[c->n++];
        f->size = -1;
        f->path = strdup(p);
        if (!f->path) st = xl_err(XL_ERR_NOMEM, "out of memory");
    }
    json_decref(info);
    if (!st && !weights && !(o && o->n_include))
        st = xl_err(XL_ERR_UNSUPPORTED, "%s: revision %s has no .safetensors weights, which xling needs "
                    "(--include GLOB downloads other files anyway)", c->id, c->hid.revision);
    /* files the snapshot already has are left alone */
    for (size_t i = 0; !st && i < c->n; i++) {
        char *p = repo_path(c, "snapshots/", c->commit, "/");
        char *full = p ? malloc(strlen(p) + strlen(c->files[i].path) + 1) : NULL;
        if (!full) { free(p); st = xl_err(XL_ERR_NOMEM, "out of memory"); break; }
        sprintf(full, "%s%s", p, c->files[i].path);
        c->files[i].cached = xl_file_exists(full);
        free(p);
        free(full);
        c->prog.files_done += c->files[i].cached;
    }
    c->prog.files_total = (int)c->n;
    if (!st) st = run_phase(c, 1);
    if (!st) st = check_space(c);
    if (!st) {
        for (size_t i = 0; i < c->n; i++) {
            const hub_file *f = &c->files[i];
            if (f->cached || f->blob_done || f->size < 0) continue;
            c->prog.bytes_total += (uint64_t)f->size;
            c->prog.bytes_done += (uint64_t)(f->have < f->size ? f->have : f->size);
        }
        report(c, NULL);
        st = run_phase(c, 2);
    }
    if (!st && strcmp(c->hid.revision, c->commit)) {
        char *ref = repo_path(c, "refs/", c->hid.revision, "");
        st = ref ? hub_write_atomic(ref, c->commit, strlen(c->commit)) : xl_err(XL_ERR_NOMEM, "out of memory");
        free(ref);
    }
    if (!st) {
        char *snap = repo_path(c, "snapshots/", c->commit, "");
        if (!snap) st = xl_err(XL_ERR_NOMEM, "out of memory");
        else if ((st = hub_mkdirs(snap))) free(snap);
        else if (dir) *dir = snap;
        else free(snap);
    }
    return st;
}

xl_status xl_hub_pull(const char *id, const xl_hub_pull_options *opts, char **dir) {
    if (dir) *dir = NULL;
    pull_ctx c;
    memset(&c, 0, sizeof c);
    c.o = opts;
    c.id = id;
    pthread_mutex_init(&c.mu, NULL);
    xl_status st = id ? pull(&c, dir) : xl_err(XL_ERR_ARG, "xl_hub_pull: no id");
    for (size_t i = 0; i < c.n; i++) {
        free(c.files[i].path);
        free(c.files[i].etag);
        free(c.files[i].url);
    }
    free(c.files);
    free(c.endpoint);
    free(c.auth);
    free(c.cache);
    free(c.repo_dir);
    free(c.commit);
    hub_id_free(&c.hid);
    pthread_mutex_destroy(&c.mu);
    return st;
}
