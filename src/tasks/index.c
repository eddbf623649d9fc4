/* The persistent search index: one SQLite file (WAL journal, synchronous=FULL) holding
 * the settings and the items (id, text, JSON meta, unit vector as a float32 BLOB).
 *
 * Crash safety: every xl_index_add is one transaction, so a killed process leaves the
 * file as of the last committed batch (SQLite's journal guarantees it). Each add bumps
 * a generation counter and stamps its rows with it.
 *
 * The HNSW graph lives beside the file in DB.hnsw, written atomically (temporary file,
 * fsync, rename) by xl_index_flush, which then records the generation and row count it
 * reflects. On load the graph is trusted only when its count equals the recorded one;
 * rows of later generations (adds that ran or crashed after the last flush) are then
 * added to it; a missing, unreadable or mismatched graph is rebuilt from the rows. So
 * the graph always answers for exactly the committed rows. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "tasks/hnsw.h"
#include "util/error.h"
#include "xling.h"

#define APP_ID 0x584C4958 /* "XLIX" in PRAGMA application_id */
#define SCHEMA_VERSION 1

struct xl_index {
    sqlite3 *db;
    char *path, *hnsw_path;
    int writable;
    xl_index_settings s;
    char *str[10];          /* storage for the settings' strings */
    /* exact search: every vector, loaded once */
    float *vec;
    int64_t *rows;
    size_t n_vec;
    int vec_loaded;
    /* HNSW graph in memory and the generation it reflects */
    xl_hnsw *hnsw;
    long long hnsw_gen;
    int hnsw_dirty;
    sqlite3_stmt *row_stmt, *by_id, *by_key; /* prepared once */
};

/* One-line message for a failed SQLite call, naming the file. */
static xl_status sql_fail(const char *path, sqlite3 *db, int rc, const char *what) {
    int ec = rc & 0xff;
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (ec == SQLITE_NOTADB) return xl_err(XL_ERR_FORMAT, "%s is not an SQLite database (so not an xling index)", path);
    if (ec == SQLITE_CORRUPT) return xl_err(XL_ERR_FORMAT, "index %s is corrupt (%s)", path, msg);
    if (ec == SQLITE_BUSY || ec == SQLITE_LOCKED)
        return xl_err(XL_ERR_IO, "index %s is locked by another process (%s)", path, msg);
    if (ec == SQLITE_FULL) return xl_err(XL_ERR_IO, "index %s: disk full while %s", path, what);
    if (ec == SQLITE_READONLY) return xl_err(XL_ERR_IO, "index %s is read-only (%s)", path, msg);
    return xl_err(XL_ERR_IO, "index %s: %s failed: %s", path, what, msg);
}
#define SQLFAIL(ix, rc, what) sql_fail((ix)->path, (ix)->db, (rc), (what))

static int exec(sqlite3 *db, const char *sql) { return sqlite3_exec(db, sql, NULL, NULL, NULL); }

static int set_kv(sqlite3 *db, const char *key, const char *text, long long num, int is_num) {
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", -1, &st, NULL);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (is_num) sqlite3_bind_int64(st, 2, num);
    else if (text) sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, 2);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* value of an integer setting (def when absent); rc on failure */
static int get_num(sqlite3 *db, const char *key, long long def, long long *out) {
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT value FROM settings WHERE key = ?", -1, &st, NULL);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : def;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static const char *schema =
    "CREATE TABLE settings(key TEXT PRIMARY KEY, value);"
    /* id has no declared type, so 7 and '7' stay distinct (JSON number vs string) */
    "CREATE TABLE items(row INTEGER PRIMARY KEY, id NOT NULL UNIQUE, text TEXT NOT NULL,"
    " meta TEXT CHECK (meta IS NULL OR json_type(meta) = 'object'), line_key INTEGER UNIQUE,"
    " gen INTEGER NOT NULL, vec BLOB NOT NULL);"
    "CREATE INDEX items_gen ON items(gen);";

xl_status xl_index_create(const char *path, const xl_index_settings *s) {
    if (!s || s->dim < 1) return xl_err(XL_ERR_ARG, "index %s: dimension must be >= 1", path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        if (errno == EEXIST) return xl_err(XL_ERR_IO, "%s already exists (an index is created once; add to it with `xling index add`)", path);
        return xl_err(XL_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    }
    close(fd);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    char pragmas[128];
    snprintf(pragmas, sizeof pragmas, "PRAGMA application_id = %d; PRAGMA user_version = %d;", APP_ID, SCHEMA_VERSION);
    if (!rc) rc = exec(db, "PRAGMA journal_mode = WAL");
    if (!rc) rc = exec(db, "BEGIN");
    if (!rc) rc = exec(db, pragmas);
    if (!rc) rc = exec(db, schema);
    const struct { const char *k, *v; } str[] = {
        {"model_path", s->model_path},       {"architecture", s->architecture},
        {"fingerprint", s->fingerprint},     {"doc_prompt_name", s->doc_prompt_name},
        {"doc_prompt", s->doc_prompt},       {"query_prompt_name", s->query_prompt_name},
        {"query_prompt", s->query_prompt},   {"instruct", s->instruct},
        {"ann", s->ann == XL_ANN_HNSW ? "hnsw" : "none"}};
    for (size_t i = 0; !rc && i < sizeof str / sizeof *str; i++) rc = set_kv(db, str[i].k, str[i].v, 0, 0);
    const struct { const char *k; long long v; } num[] = {
        {"dim", s->dim},
        {"hnsw_m", s->hnsw_m > 0 ? s->hnsw_m : 16},
        {"hnsw_ef_construction", s->hnsw_ef_construction > 0 ? s->hnsw_ef_construction : 200},
        /* 256: recall@10 0.99 on 200 000 embedding-like vectors (bench/index_bench.c);
         * 64 gave 0.83 there */
        {"hnsw_ef_search", s->hnsw_ef_search > 0 ? s->hnsw_ef_search : 256},
        {"gen", 0}, {"next_id", 0}, {"hnsw_gen", -1}, {"hnsw_count", -1}};
    for (size_t i = 0; !rc && i < sizeof num / sizeof *num; i++) rc = set_kv(db, num[i].k, NULL, num[i].v, 1);
    if (!rc) rc = exec(db, "COMMIT");
    xl_status st = rc ? sql_fail(path, db, rc, "creating the index") : XL_OK;
    sqlite3_close(db);
    if (st) {
        unlink(path);
        char side[4096];
        snprintf(side, sizeof side, "%s-wal", path);
        unlink(side);
        snprintf(side, sizeof side, "%s-shm", path);
        unlink(side);
    }
    return st;
}

static char *dup_col(sqlite3_stmt *st, int col) {
    const unsigned char *t = sqlite3_column_text(st, col);
    return t && sqlite3_column_type(st, col) != SQLITE_NULL ? strdup((const char *)t) : NULL;
}

static xl_status load_settings(xl_index *ix) {
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(ix->db, "SELECT key, value FROM settings", -1, &st, NULL);
    if (rc) return SQLFAIL(ix, rc, "reading the settings");
    static const char *names[] = {"model_path", "architecture", "fingerprint", "doc_prompt_name", "doc_prompt",
                                  "query_prompt_name", "query_prompt", "instruct", "ann"};
    long long dim = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        if (!k) continue;
        for (int i = 0; i < 9; i++)
            if (!strcmp(k, names[i])) { free(ix->str[i]); ix->str[i] = dup_col(st, 1); }
        if (!strcmp(k, "dim")) dim = sqlite3_column_int64(st, 1);
        if (!strcmp(k, "hnsw_m")) ix->s.hnsw_m = sqlite3_column_int(st, 1);
        if (!strcmp(k, "hnsw_ef_construction")) ix->s.hnsw_ef_construction = sqlite3_column_int(st, 1);
        if (!strcmp(k, "hnsw_ef_search")) ix->s.hnsw_ef_search = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return SQLFAIL(ix, rc, "reading the settings");
    if (dim < 1 || dim > (1 << 20) || ix->s.hnsw_m < 2 || ix->s.hnsw_ef_construction < 1 || ix->s.hnsw_ef_search < 1)
        return xl_err(XL_ERR_FORMAT, "index %s: damaged settings (dim %lld)", ix->path, dim);
    ix->s.dim = (int)dim;
    ix->s.model_path = ix->str[0];
    ix->s.architecture = ix->str[1];
    ix->s.fingerprint = ix->str[2];
    ix->s.doc_prompt_name = ix->str[3];
    ix->s.doc_prompt = ix->str[4];
    ix->s.query_prompt_name = ix->str[5];
    ix->s.query_prompt = ix->str[6];
    ix->s.instruct = ix->str[7];
    ix->s.ann = ix->str[8] && !strcmp(ix->str[8], "hnsw") ? XL_ANN_HNSW : XL_ANN_NONE;
    return XL_OK;
}

xl_status xl_index_open(const char *path, int writable, xl_index **out) {
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return xl_err(XL_ERR_IO, "index %s does not exist (make one with `xling index create`)", path);
    if (!S_ISREG(sb.st_mode)) return xl_err(XL_ERR_IO, "index %s is not a regular file", path);
    xl_index *ix = calloc(1, sizeof *ix);
    if (!ix) return xl_err(XL_ERR_NOMEM, "out of memory");
    ix->path = strdup(path);
    size_t pl = strlen(path);
    ix->hnsw_path = malloc(pl + 6);
    if (!ix->path || !ix->hnsw_path) { xl_index_close(ix); return xl_err(XL_ERR_NOMEM, "out of memory"); }
    snprintf(ix->hnsw_path, pl + 6, "%s.hnsw", path);
    ix->writable = writable;
    int rc = sqlite3_open_v2(path, &ix->db, writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY, NULL);
    xl_status st = XL_OK;
    if (rc) st = SQLFAIL(ix, rc, "opening");
    if (!st) sqlite3_busy_timeout(ix->db, 10000);
    long long app = 0, ver = 0;
    if (!st) {
        sqlite3_stmt *q;
        rc = sqlite3_prepare_v2(ix->db, "PRAGMA application_id", -1, &q, NULL);
        if (!rc && (rc = sqlite3_step(q)) == SQLITE_ROW) { app = sqlite3_column_int64(q, 0); rc = SQLITE_OK; }
        sqlite3_finalize(q);
        if (!rc) rc = sqlite3_prepare_v2(ix->db, "PRAGMA user_version", -1, &q, NULL);
        if (!rc && (rc = sqlite3_step(q)) == SQLITE_ROW) { ver = sqlite3_column_int64(q, 0); rc = SQLITE_OK; }
        if (!rc) sqlite3_finalize(q);
        if (rc) st = SQLFAIL(ix, rc, "opening");
    }
    if (!st && app != APP_ID)
        st = xl_err(XL_ERR_FORMAT, "%s is an SQLite database but not an xling index", path);
    if (!st && ver != SCHEMA_VERSION)
        st = xl_err(XL_ERR_UNSUPPORTED, "index %s has format version %lld; this xling reads version %d", path, ver,
                    SCHEMA_VERSION);
    /* synchronous=FULL: a committed batch survives a power loss too, not only a kill */
    if (!st && writable && (rc = exec(ix->db, "PRAGMA synchronous = FULL"))) st = SQLFAIL(ix, rc, "opening");
    if (!st) st = load_settings(ix);
    if (st) { xl_index_close(ix); return st; }
    *out = ix;
    return XL_OK;
}

void xl_index_close(xl_index *ix) {
    if (!ix) return;
    sqlite3_finalize(ix->row_stmt);
    sqlite3_finalize(ix->by_id);
    sqlite3_finalize(ix->by_key);
    if (ix->db) sqlite3_close(ix->db);
    for (int i = 0; i < 10; i++) free(ix->str[i]);
    free(ix->vec);
    free(ix->rows);
    xl_hnsw_free(ix->hnsw);
    free(ix->path);
    free(ix->hnsw_path);
    free(ix);
}

const xl_index_settings *xl_index_get_settings(const xl_index *ix) { return &ix->s; }

xl_status xl_index_check_model(const xl_index *ix, const char *dir, const char *architecture, int dim,
                               const char *fingerprint) {
    const xl_index_settings *s = &ix->s;
    int same = dim == s->dim && (!s->architecture || (architecture && !strcmp(architecture, s->architecture))) &&
               (!s->fingerprint || (fingerprint && !strcmp(fingerprint, s->fingerprint)));
    if (same) return XL_OK;
    return xl_err(XL_ERR_INPUT,
                  "model %s (%s, dim %d, fingerprint %s) is not the model of index %s (%s, dim %d, fingerprint %s, "
                  "from %s)",
                  dir, architecture ? architecture : "?", dim, fingerprint ? fingerprint : "?", ix->path,
                  s->architecture ? s->architecture : "?", s->dim, s->fingerprint ? s->fingerprint : "?",
                  s->model_path ? s->model_path : "?");
}

static void bind_id(sqlite3_stmt *st, int col, const xl_index_item *it) {
    if (it->id_is_int) sqlite3_bind_int64(st, col, strtoll(it->id, NULL, 10));
    else sqlite3_bind_text(st, col, it->id, -1, SQLITE_STATIC);
}

/* rowid of a stored item (0 if none, -1 on error) */
static int64_t find_item(xl_index *ix, sqlite3_stmt *by_id, sqlite3_stmt *by_key, const xl_index_item *it) {
    sqlite3_stmt *st = it->id ? by_id : by_key;
    sqlite3_reset(st);
    if (it->id) bind_id(st, 1, it);
    else if (it->line_key) sqlite3_bind_int64(st, 1, (sqlite3_int64)it->line_key);
    else return 0;
    int rc = sqlite3_step(st);
    int64_t row = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) { SQLFAIL(ix, rc, "looking up an id"); row = -1; }
    sqlite3_reset(st);
    return row;
}

static int prepare_lookups(xl_index *ix) {
    int rc = SQLITE_OK;
    if (!ix->by_id) rc = sqlite3_prepare_v2(ix->db, "SELECT row FROM items WHERE id = ?", -1, &ix->by_id, NULL);
    if (!rc && !ix->by_key)
        rc = sqlite3_prepare_v2(ix->db, "SELECT row FROM items WHERE line_key = ?", -1, &ix->by_key, NULL);
    return rc;
}

int xl_index_contains(xl_index *ix, const xl_index_item *item) {
    int rc = prepare_lookups(ix);
    int64_t row = rc ? (SQLFAIL(ix, rc, "looking up an id"), -1) : find_item(ix, ix->by_id, ix->by_key, item);
    return row < 0 ? -1 : row > 0;
}

static void drop_vectors(xl_index *ix) {
    free(ix->vec);
    free(ix->rows);
    ix->vec = NULL;
    ix->rows = NULL;
    ix->n_vec = 0;
    ix->vec_loaded = 0;
}

static xl_status hnsw_sync(xl_index *ix, int in_txn);

xl_status xl_index_add(xl_index *ix, const xl_index_item *items, size_t n, const float *v, int replace,
                       size_t *added, size_t *replaced, size_t *skipped) {
    size_t na = 0, nr = 0, ns = 0, dim = (size_t)ix->s.dim;
    if (added) *added = 0;
    if (replaced) *replaced = 0;
    if (skipped) *skipped = 0;
    if (!ix->writable) return xl_err(XL_ERR_ARG, "index %s is open read-only", ix->path);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < dim; j++)
            if (!isfinite(v[i * dim + j]))
                return xl_err(XL_ERR_INPUT, "item %zu%s%s%s: its vector holds NaN or inf", i, items[i].id ? " (id " : "",
                              items[i].id ? items[i].id : "", items[i].id ? ")" : "");
        if (!items[i].text) return xl_err(XL_ERR_ARG, "item %zu has no text", i);
    }
    float *unit = malloc((dim ? dim : 1) * sizeof *unit);
    if (!unit) return xl_err(XL_ERR_NOMEM, "out of memory");
    sqlite3_stmt *by_id = NULL, *by_key = NULL, *ins = NULL, *upd = NULL;
    int rc0 = prepare_lookups(ix);
    by_id = ix->by_id;
    by_key = ix->by_key;
    long long gen = 0, next_id = 0;
    int rc = rc0 ? rc0 : exec(ix->db, "BEGIN IMMEDIATE");
    if (!rc) rc = get_num(ix->db, "gen", 0, &gen);
    if (!rc) rc = get_num(ix->db, "next_id", 0, &next_id);
    gen++;
    if (!rc)
        rc = sqlite3_prepare_v2(ix->db, "INSERT INTO items(id, text, meta, line_key, gen, vec) VALUES (?, ?, ?, ?, ?, ?)",
                                -1, &ins, NULL);
    if (!rc)
        rc = sqlite3_prepare_v2(ix->db, "UPDATE items SET text = ?, meta = ?, gen = ?, vec = ? WHERE row = ?", -1, &upd,
                                NULL);
    xl_status st = rc ? SQLFAIL(ix, rc, "adding") : XL_OK;
    for (size_t i = 0; !st && i < n; i++) {
        const xl_index_item *it = &items[i];
        memcpy(unit, v + i * dim, dim * sizeof *unit);
        xl_l2_normalize_rows(unit, 1, dim);
        int64_t row = find_item(ix, by_id, by_key, it);
        if (row < 0) { st = XL_ERR_IO; break; }
        if (row > 0 && !replace) { ns++; continue; }
        sqlite3_stmt *w = row > 0 ? upd : ins;
        sqlite3_reset(w);
        sqlite3_clear_bindings(w);
        int c = 1;
        if (row == 0) {
            if (it->id) bind_id(w, c++, it);
            else {
                /* a new integer id: the next one not taken by an id given as a number */
                xl_index_item probe = {.id_is_int = 1};
                char num[32];
                for (;;) {
                    snprintf(num, sizeof num, "%lld", next_id);
                    probe.id = num;
                    int64_t r = find_item(ix, by_id, by_key, &probe);
                    if (r < 0) { st = XL_ERR_IO; break; }
                    if (r == 0) break;
                    next_id++;
                }
                if (st) break;
                sqlite3_bind_int64(w, c++, next_id++);
            }
        }
        sqlite3_bind_text(w, c++, it->text, -1, SQLITE_STATIC);
        if (it->meta) sqlite3_bind_text(w, c++, it->meta, -1, SQLITE_STATIC);
        else sqlite3_bind_null(w, c++);
        if (row == 0) {
            if (!it->id && it->line_key) sqlite3_bind_int64(w, c++, (sqlite3_int64)it->line_key);
            else sqlite3_bind_null(w, c++);
        }
        sqlite3_bind_int64(w, c++, gen);
        sqlite3_bind_blob(w, c++, unit, (int)(dim * sizeof *unit), SQLITE_TRANSIENT);
        if (row > 0) sqlite3_bind_int64(w, c++, row);
        rc = sqlite3_step(w);
        if (rc != SQLITE_DONE) {
            if ((rc & 0xff) == SQLITE_CONSTRAINT && it->meta)
                st = xl_err(XL_ERR_INPUT, "item %zu: \"meta\" must be a JSON object", i);
            else st = SQLFAIL(ix, rc, "adding");
            break;
        }
        if (row > 0) nr++;
        else na++;
    }
    if (!st && (rc = set_kv(ix->db, "gen", NULL, gen, 1))) st = SQLFAIL(ix, rc, "adding");
    if (!st && (rc = set_kv(ix->db, "next_id", NULL, next_id, 1))) st = SQLFAIL(ix, rc, "adding");
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    free(unit);
    if (!st && (rc = exec(ix->db, "COMMIT"))) st = SQLFAIL(ix, rc, "committing");
    if (st) {
        char keep[1024];
        snprintf(keep, sizeof keep, "%s", xl_last_error());
        exec(ix->db, "ROLLBACK");
        return xl_err(st, "%s", keep);
    }
    if (added) *added = na;
    if (replaced) *replaced = nr;
    if (skipped) *skipped = ns;
    if (na + nr) {
        drop_vectors(ix);
        if (ix->s.ann == XL_ANN_HNSW) return hnsw_sync(ix, 0);
    }
    return XL_OK;
}

xl_status xl_index_count(xl_index *ix, size_t *n) {
    sqlite3_stmt *st;
    *n = 0;
    int rc = sqlite3_prepare_v2(ix->db, "SELECT count(*) FROM items", -1, &st, NULL);
    if (!rc) rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *n = (size_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? XL_OK : SQLFAIL(ix, rc, "counting");
}

/* Reads vectors of rows with gen > after (every row, in row order: after = -1). */
static xl_status read_vectors(xl_index *ix, long long after, float **v, int64_t **rows, size_t *n, long long *gen_now,
                               int in_txn) {
    *v = NULL;
    *rows = NULL;
    *n = 0;
    size_t dim = (size_t)ix->s.dim, cap = 0, cnt = 0;
    float *vv = NULL;
    int64_t *rr = NULL;
    sqlite3_stmt *st = NULL;
    /* one read transaction: the count, the rows and the generation agree */
    int rc = in_txn ? SQLITE_OK : exec(ix->db, "BEGIN");
    if (!rc) rc = get_num(ix->db, "gen", 0, gen_now);
    /* everything: one scan in row order; a catch-up: the generation index, so that a
     * search of an index in step reads no row (the planner would scan by row for the
     * ORDER BY) */
    if (!rc)
        rc = sqlite3_prepare_v2(ix->db,
                                after < 0 ? "SELECT row, vec FROM items ORDER BY row"
                                          : "SELECT row, vec FROM items INDEXED BY items_gen WHERE gen > ?",
                                -1, &st, NULL);
    xl_status s = rc ? SQLFAIL(ix, rc, "reading vectors") : XL_OK;
    if (!s && after >= 0) sqlite3_bind_int64(st, 1, after);
    while (!s && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 1024;
            float *nv = realloc(vv, cap * dim * sizeof *nv);
            int64_t *nr = nv ? realloc(rr, cap * sizeof *nr) : NULL;
            if (nv) vv = nv;
            if (nr) rr = nr;
            if (!nv || !nr) { s = xl_err(XL_ERR_NOMEM, "index %s: out of memory loading vectors", ix->path); break; }
        }
        const void *b = sqlite3_column_blob(st, 1);
        if ((size_t)sqlite3_column_bytes(st, 1) != dim * sizeof(float) || !b) {
            s = xl_err(XL_ERR_FORMAT, "index %s is corrupt: row %lld has a vector of %d bytes, not %zu", ix->path,
                       (long long)sqlite3_column_int64(st, 0), sqlite3_column_bytes(st, 1), dim * sizeof(float));
            break;
        }
        rr[cnt] = sqlite3_column_int64(st, 0);
        memcpy(vv + cnt * dim, b, dim * sizeof(float));
        cnt++;
    }
    if (!s && rc != SQLITE_DONE) s = SQLFAIL(ix, rc, "reading vectors");
    sqlite3_finalize(st);
    if (!in_txn) exec(ix->db, "COMMIT");
    if (s) { free(vv); free(rr); return s; }
    *v = vv;
    *rows = rr;
    *n = cnt;
    return XL_OK;
}

xl_status xl_index_vectors(xl_index *ix, const float **v, const int64_t **rows, size_t *n) {
    if (!ix->vec_loaded) {
        long long gen;
        xl_status st = read_vectors(ix, -1, &ix->vec, &ix->rows, &ix->n_vec, &gen, 0);
        if (st) return st;
        ix->vec_loaded = 1;
    }
    *v = ix->vec;
    *rows = ix->rows;
    *n = ix->n_vec;
    return XL_OK;
}

static int n_threads(int t) {
    if (t > 0) return t;
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 ? (int)c : 1;
}

/* Brings the in-memory graph up to the committed rows: loads DB.hnsw when its count is
 * the recorded one (else starts empty), then adds every row of a later generation. */
static xl_status hnsw_sync(xl_index *ix, int in_txn) {
    size_t dim = (size_t)ix->s.dim;
    if (!ix->hnsw) {
        long long fgen = -1, fcount = -1;
        int rc = get_num(ix->db, "hnsw_gen", -1, &fgen);
        if (!rc) rc = get_num(ix->db, "hnsw_count", -1, &fcount);
        if (rc) return SQLFAIL(ix, rc, "reading the HNSW state");
        ix->hnsw_gen = -1;
        if (fgen >= 0 && access(ix->hnsw_path, F_OK) == 0) {
            xl_hnsw *h = NULL;
            if (xl_hnsw_load(ix->hnsw_path, dim, &h) == XL_OK && (long long)xl_hnsw_count(h) == fcount) {
                ix->hnsw = h;
                ix->hnsw_gen = fgen;
            } else {
                xl_hnsw_free(h); /* stale or damaged: rebuilt from the rows below */
            }
            xl_err_clear();
        }
        if (!ix->hnsw) {
            size_t n = 0;
            xl_status st = xl_index_count(ix, &n);
            if (!st) st = xl_hnsw_new(dim, n + 1024, ix->s.hnsw_m, ix->s.hnsw_ef_construction, &ix->hnsw);
            if (st) return st;
            ix->hnsw_dirty = 1;
        }
    }
    float *v;
    int64_t *rows;
    size_t n;
    long long gen_now;
    xl_status st = read_vectors(ix, ix->hnsw_gen, &v, &rows, &n, &gen_now, in_txn);
    if (st) return st;
    if (n) st = xl_hnsw_add(ix->hnsw, v, rows, n, n_threads(0));
    free(v);
    free(rows);
    if (st) return st;
    if (n) ix->hnsw_dirty = 1;
    ix->hnsw_gen = gen_now;
    return XL_OK;
}

xl_status xl_index_flush(xl_index *ix) {
    if (ix->s.ann != XL_ANN_HNSW || !ix->hnsw || !ix->hnsw_dirty) return XL_OK;
    if (!ix->writable) return XL_OK;
    /* under SQLite's write lock: no commit can slip between the catch-up and the
     * record, and two processes flushing write the file and its record in turn */
    int rc = exec(ix->db, "BEGIN IMMEDIATE");
    xl_status st = rc ? SQLFAIL(ix, rc, "locking for the HNSW write") : hnsw_sync(ix, 1);
    if (!st) st = xl_hnsw_save(ix->hnsw, ix->hnsw_path);
    /* a crash between the rename and this commit leaves a count that differs from the
     * recorded one (or, after replaces only, rows that are re-added): both are safe */
    if (!st && (rc = set_kv(ix->db, "hnsw_gen", NULL, ix->hnsw_gen, 1))) st = SQLFAIL(ix, rc, "recording the HNSW state");
    if (!st && (rc = set_kv(ix->db, "hnsw_count", NULL, (long long)xl_hnsw_count(ix->hnsw), 1)))
        st = SQLFAIL(ix, rc, "recording the HNSW state");
    if (!st && (rc = exec(ix->db, "COMMIT"))) st = SQLFAIL(ix, rc, "recording the HNSW state");
    if (st) {
        char keep[1024];
        snprintf(keep, sizeof keep, "%s", xl_last_error());
        exec(ix->db, "ROLLBACK");
        return xl_err(st, "%s", keep);
    }
    ix->hnsw_dirty = 0;
    return XL_OK;
}

long long xl_index_ann_lag(xl_index *ix) {
    if (ix->s.ann != XL_ANN_HNSW) return -1;
    long long fgen = -1, fcount = -1;
    if (get_num(ix->db, "hnsw_gen", -1, &fgen) || get_num(ix->db, "hnsw_count", -1, &fcount)) return -1;
    struct stat sb;
    if (fgen < 0 || stat(ix->hnsw_path, &sb) != 0) return -1;
    sqlite3_stmt *st;
    long long lag = -1;
    if (sqlite3_prepare_v2(ix->db, "SELECT count(*) FROM items WHERE gen > ?", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, fgen);
        if (sqlite3_step(st) == SQLITE_ROW) lag = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    return lag;
}

/* Rows whose meta matches every filter, ascending. */
static xl_status filter_rows(xl_index *ix, const xl_index_where *w, size_t nw, int64_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    size_t cap = 256 + nw * 320;
    char *sql = malloc(cap);
    if (!sql) return xl_err(XL_ERR_NOMEM, "out of memory");
    size_t len = (size_t)snprintf(sql, cap, "SELECT row FROM items WHERE 1");
    for (size_t i = 0; i < nw; i++) {
        if (!w[i].key[0] || strpbrk(w[i].key, "\"\\"))
            { free(sql); return xl_err(XL_ERR_INPUT, "filter key \"%s\": must be non-empty, without quotes or backslashes", w[i].key); }
        int a = (int)(2 * i + 1), b = a + 1;
        /* a string equals VALUE; a number or boolean whose JSON text is VALUE */
        len += (size_t)snprintf(sql + len, cap - len,
                                " AND CASE json_type(meta, ?%d) WHEN 'text' THEN json_extract(meta, ?%d) = ?%d"
                                " WHEN 'integer' THEN (meta -> ?%d) = ?%d WHEN 'real' THEN (meta -> ?%d) = ?%d"
                                " WHEN 'true' THEN ?%d = 'true' WHEN 'false' THEN ?%d = 'false' ELSE 0 END",
                                a, a, b, a, b, a, b, b, b);
    }
    len += (size_t)snprintf(sql + len, cap - len, " ORDER BY row");
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(ix->db, sql, -1, &st, NULL);
    free(sql);
    if (rc) return SQLFAIL(ix, rc, "filtering");
    char path[600];
    for (size_t i = 0; i < nw; i++) {
        snprintf(path, sizeof path, "$.\"%s\"", w[i].key);
        sqlite3_bind_text(st, (int)(2 * i + 1), path, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, (int)(2 * i + 2), w[i].value, -1, SQLITE_TRANSIENT);
    }
    size_t c = 0, capr = 0;
    int64_t *r = NULL;
    xl_status s = XL_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (c == capr) {
            capr = capr ? capr * 2 : 256;
            int64_t *nr = realloc(r, capr * sizeof *nr);
            if (!nr) { s = xl_err(XL_ERR_NOMEM, "out of memory"); break; }
            r = nr;
        }
        r[c++] = sqlite3_column_int64(st, 0);
    }
    if (!s && rc != SQLITE_DONE) s = SQLFAIL(ix, rc, "filtering");
    sqlite3_finalize(st);
    if (s) { free(r); return s; }
    *out = r;
    *n = c;
    return XL_OK;
}

static size_t find_pos(const int64_t *rows, size_t n, int64_t row) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rows[mid] < row) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

xl_status xl_index_search(xl_index *ix, const float *q, size_t nq, const xl_index_search_options *o, int64_t *rows,
                          float *scores, int *n_hits) {
    int k = o && o->k > 0 ? o->k : 10;
    size_t dim = (size_t)ix->s.dim;
    int threads = n_threads(o ? o->threads : 0);
    for (size_t i = 0; i < nq * dim; i++)
        if (!isfinite(q[i])) return xl_err(XL_ERR_INPUT, "query %zu: its vector holds NaN or inf", i / dim);
    for (size_t i = 0; i < nq; i++) {
        n_hits[i] = 0;
        for (int j = 0; j < k; j++) { rows[i * (size_t)k + (size_t)j] = -1; scores[i * (size_t)k + (size_t)j] = 0; }
    }
    float *qn = malloc((nq ? nq : 1) * dim * sizeof *qn);
    if (!qn) return xl_err(XL_ERR_NOMEM, "out of memory");
    memcpy(qn, q, nq * dim * sizeof *qn);
    xl_l2_normalize_rows(qn, nq, dim);
    xl_status st = XL_OK;
    const float *base = NULL;
    const int64_t *base_rows = NULL;
    size_t nb = 0;
    float *sub = NULL;
    int64_t *sel = NULL;
    if (o && o->n_where) {
        /* filters first, then exact ranking of the matching rows only */
        size_t ns;
        st = filter_rows(ix, o->where, o->n_where, &sel, &ns);
        if (!st) st = xl_index_vectors(ix, &base, &base_rows, &nb);
        if (!st && ns) {
            sub = malloc(ns * dim * sizeof *sub);
            if (!sub) st = xl_err(XL_ERR_NOMEM, "out of memory");
            for (size_t i = 0; !st && i < ns; i++) {
                size_t p = find_pos(base_rows, nb, sel[i]);
                if (p >= nb || base_rows[p] != sel[i]) { st = xl_err(XL_ERR_IO, "index %s changed during the search", ix->path); break; }
                memcpy(sub + i * dim, base + p * dim, dim * sizeof *sub);
            }
        }
        base = sub;
        base_rows = sel;
        nb = ns;
    } else if (ix->s.ann == XL_ANN_HNSW && !(o && o->exact)) {
        st = hnsw_sync(ix, 0);
        size_t cnt = st ? 0 : xl_hnsw_count(ix->hnsw);
        int kk = (size_t)k > cnt ? (int)cnt : k;
        if (!st && kk > 0) {
            int64_t *lab = malloc(nq * (size_t)kk * sizeof *lab);
            float *sim = malloc(nq * (size_t)kk * sizeof *sim);
            if (!lab || !sim) st = xl_err(XL_ERR_NOMEM, "out of memory");
            int ef = o && o->ef > 0 ? o->ef : ix->s.hnsw_ef_search;
            if (!st) st = xl_hnsw_search(ix->hnsw, qn, nq, kk, ef, lab, sim, threads);
            for (size_t i = 0; !st && i < nq; i++)
                for (int j = 0; j < kk; j++) {
                    int64_t l = lab[i * (size_t)kk + (size_t)j];
                    if (l < 0) continue;
                    rows[i * (size_t)k + (size_t)n_hits[i]] = l;
                    scores[i * (size_t)k + (size_t)n_hits[i]] = sim[i * (size_t)kk + (size_t)j];
                    n_hits[i]++;
                }
            free(lab);
            free(sim);
        }
        /* keep the graph's catch-up for the next process when we may write */
        if (!st && ix->writable && ix->hnsw_dirty) {
            /* only when the write lock is free: a search never waits for a running add */
            sqlite3_busy_timeout(ix->db, 0);
            st = xl_index_flush(ix);
            sqlite3_busy_timeout(ix->db, 10000);
            if (st && st != XL_ERR_NOMEM) st = XL_OK; /* a read-only folder: search still answered */
            xl_err_clear();
        }
        free(qn);
        return st;
    } else {
        st = xl_index_vectors(ix, &base, &base_rows, &nb);
    }
    int kk = (size_t)k > nb ? (int)nb : k;
    if (!st && kk > 0) {
        int64_t *idx = malloc(nq * (size_t)kk * sizeof *idx);
        float *sim = malloc(nq * (size_t)kk * sizeof *sim);
        if (!idx || !sim) st = xl_err(XL_ERR_NOMEM, "out of memory");
        if (!st) st = xl_knn(qn, nq, base, nb, dim, kk, idx, sim, threads, NULL, NULL);
        for (size_t i = 0; !st && i < nq; i++) {
            for (int j = 0; j < kk; j++) {
                rows[i * (size_t)k + (size_t)j] = base_rows[idx[i * (size_t)kk + (size_t)j]];
                scores[i * (size_t)k + (size_t)j] = sim[i * (size_t)kk + (size_t)j];
            }
            n_hits[i] = kk;
        }
        free(idx);
        free(sim);
    }
    free(sub);
    free(sel);
    free(qn);
    return st;
}

xl_status xl_index_row(xl_index *ix, int64_t row, const char **id, int *id_is_int, const char **text, const char **meta) {
    int rc = SQLITE_OK;
    if (!ix->row_stmt)
        rc = sqlite3_prepare_v2(ix->db, "SELECT id, typeof(id), text, meta FROM items WHERE row = ?", -1, &ix->row_stmt, NULL);
    if (rc) return SQLFAIL(ix, rc, "reading a row");
    sqlite3_reset(ix->row_stmt);
    sqlite3_bind_int64(ix->row_stmt, 1, row);
    rc = sqlite3_step(ix->row_stmt);
    if (rc == SQLITE_DONE) return xl_err(XL_ERR_ARG, "index %s has no row %lld", ix->path, (long long)row);
    if (rc != SQLITE_ROW) return SQLFAIL(ix, rc, "reading a row");
    const char *ty = (const char *)sqlite3_column_text(ix->row_stmt, 1);
    *id_is_int = ty && !strcmp(ty, "integer");
    *id = (const char *)sqlite3_column_text(ix->row_stmt, 0);
    *text = (const char *)sqlite3_column_text(ix->row_stmt, 2);
    *meta = sqlite3_column_type(ix->row_stmt, 3) == SQLITE_NULL ? NULL : (const char *)sqlite3_column_text(ix->row_stmt, 3);
    if (!*id || !*text) return xl_err(XL_ERR_FORMAT, "index %s is corrupt: row %lld lacks its id or text", ix->path, (long long)row);
    return XL_OK;
}
