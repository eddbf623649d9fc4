/* xling index: a persistent search index in one SQLite file (create, add, search, info,
 * export). Argument parsing, input parsing and output formatting; the storage and the
 * search are the library's (src/tasks/index.c). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "rerank_hits.h"

static const char *usage =
    "usage: xling index create DB -m DIR [--ann none|hnsw] [--doc-prompt NAME] [--query-prompt NAME]\n"
    "                          [--instruct TEXT] [--hnsw-m N] [--ef-construction N] [--ef-search N]\n"
    "       xling index add DB [-i FILE] [-m DIR] [--replace] [--batch N]\n"
    "       xling index search DB [-q TEXT]... [-i QUERIES] [-k 10] [--where KEY=VALUE]... [--exact]\n"
    "                          [--ef N] [-m DIR] [--rerank DIR [--rerank-top N]]\n"
    "       xling index info DB [--json]\n"
    "       xling index export DB -o X.npy [--ids FILE.jsonl]\n"
    "A search index in one SQLite file: texts, ids, metadata and unit vectors, with the model's\n"
    "path, identity (architecture, dimension, fingerprint of config.json and the weights'\n"
    "headers) and prompts.\n"
    "  create   --ann hnsw keeps an HNSW graph (hnswlib) in DB.hnsw beside the file (defaults:\n"
    "           --hnsw-m 16, --ef-construction 200, --ef-search 256); prompts\n"
    "           default to the model's query/passage or query/document prompts; --instruct\n"
    "           sets the task of an instruction model's query prompt.\n"
    "  add      input (-i FILE, default stdin): text lines (blank ones skipped), or JSONL\n"
    "           lines {\"text\", \"id\" (string or integer; default a new integer), \"meta\"\n"
    "           (object)}. Embedded with the document prompt and committed per batch: a\n"
    "           killed add loses at most the batch in flight; running it again resumes\n"
    "           (stored ids are skipped, lines without an id are recognised by their\n"
    "           position and the lines before them), --replace overwrites stored ids.\n"
    "  search   one JSON line per query: {\"query\", \"hits\": [{\"id\", \"score\", \"text\",\n"
    "           \"meta\"}]}, best first, score = cosine. Exact (one GEMM pass over the stored\n"
    "           vectors) unless the index has HNSW (then --exact forces it). --where KEY=VALUE\n"
    "           keeps items whose meta KEY is the string VALUE, or a number / boolean whose\n"
    "           JSON text is VALUE; filters apply before ranking (exactly). --rerank DIR: the\n"
    "           best --rerank-top hits (default 50, at least -k) reordered by that\n"
    "           cross-encoder / reranker (xling rerank); \"score\" is then its score and\n"
    "           \"retrieval_score\" the cosine.\n"
    "  info     count, model, dimension, prompts, ANN state, file size (--json: one object)\n"
    "  export   vectors as float32 .npy [n, dim] in insertion order, and one JSON line per\n"
    "           row {\"id\", \"text\"(, \"meta\")} (default X.ids.jsonl beside the array)\n"
    "  -m DIR   the model folder when it moved (its identity must equal the stored one)\n"
    "  -t N     threads\n"
    "Progress goes to stderr when it is a terminal.\n";

#define CMD "index"

/* ------------------------------------------------------------ JSON output */

static void put_str(FILE *f, const char *s) { cli_put_json_string(f, s, strlen(s)); }

static void put_id(FILE *f, const char *id, int is_int) {
    if (is_int) fputs(id, f);
    else put_str(f, id);
}

/* ------------------------------------------------------------ input lines */

typedef struct {
    FILE *f;
    const char *name;
    char *line;
    size_t cap;
    size_t lineno;
    int jsonl;      /* -1 undecided */
    uint64_t chain; /* hash of every line read so far (resume keys) */
} reader;

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

typedef struct {
    char *text, *id, *meta;
    int id_is_int;
    uint64_t key;
    size_t lineno;
} item_t;

static void item_free(item_t *it) {
    free(it->text);
    free(it->id);
    free(it->meta);
    memset(it, 0, sizeof *it);
}

/* Next item: 1 read, 0 end of input, -1 error (printed). JSONL when the first non-blank
 * line is a JSON object; then every non-blank line must be one. */
static int next_item(reader *r, item_t *it) {
    memset(it, 0, sizeof *it);
    for (;;) {
        ssize_t k = getline(&r->line, &r->cap, r->f);
        if (k < 0) {
            if (ferror(r->f)) { fprintf(stderr, "xling " CMD ": read error on %s\n", r->name); return -1; }
            return 0;
        }
        r->lineno++;
        /* the key of a line: its text and everything before it in the input */
        r->chain = fnv(r->chain, r->line, (size_t)k);
        if (k > 0 && r->line[k - 1] == '\n') k--;
        if (k > 0 && r->line[k - 1] == '\r') k--;
        r->line[k] = '\0';
        size_t b = 0;
        while (b < (size_t)k && (r->line[b] == ' ' || r->line[b] == '\t')) b++;
        if (b == (size_t)k) continue; /* blank */
        if (r->jsonl < 0) r->jsonl = r->line[b] == '{';
        it->lineno = r->lineno;
        it->key = r->chain ? r->chain : 1;
        if (!r->jsonl) {
            if (memchr(r->line, '\0', (size_t)k)) {
                fprintf(stderr, "xling " CMD ": %s line %zu: NUL byte in the text\n", r->name, r->lineno);
                return -1;
            }
            it->text = strdup(r->line);
            return it->text ? 1 : -1;
        }
        json_error_t je;
        json_t *o = json_loadb(r->line, (size_t)k, 0, &je);
        if (!o || !json_is_object(o)) {
            fprintf(stderr, "xling " CMD ": %s line %zu: not a JSON object (%s)\n", r->name, r->lineno,
                    o ? "another JSON value" : je.text);
            json_decref(o);
            return -1;
        }
        json_t *t = json_object_get(o, "text"), *id = json_object_get(o, "id"), *m = json_object_get(o, "meta");
        const char *err = NULL;
        if (!json_is_string(t)) err = "no \"text\" string";
        else if (id && !json_is_string(id) && !json_is_integer(id)) err = "\"id\" must be a string or an integer";
        else if (m && !json_is_object(m) && !json_is_null(m)) err = "\"meta\" must be a JSON object";
        else if (json_string_length(t) != strlen(json_string_value(t))) err = "NUL character in \"text\"";
        else if (id && json_is_string(id) && json_string_length(id) != strlen(json_string_value(id)))
            err = "NUL character in \"id\"";
        if (err) {
            fprintf(stderr, "xling " CMD ": %s line %zu: %s\n", r->name, r->lineno, err);
            json_decref(o);
            return -1;
        }
        it->text = strdup(json_string_value(t));
        if (id && json_is_string(id)) it->id = strdup(json_string_value(id));
        if (id && json_is_integer(id)) {
            char num[32];
            snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
            it->id = strdup(num);
            it->id_is_int = 1;
        }
        int has_meta = json_is_object(m);
        if (has_meta) it->meta = json_dumps(m, JSON_COMPACT | JSON_ENSURE_ASCII);
        int oom = !it->text || (id && !it->id) || (has_meta && !it->meta);
        json_decref(o); /* id and m belong to o */
        if (oom) {
            fprintf(stderr, "xling " CMD ": out of memory\n");
            item_free(it);
            return -1;
        }
        return 1;
    }
}

static int open_reader(reader *r, const char *path) {
    memset(r, 0, sizeof *r);
    r->jsonl = -1;
    r->chain = 0xcbf29ce484222325ull;
    if (!path || !strcmp(path, "-")) {
        r->f = stdin;
        r->name = "<stdin>";
        return 0;
    }
    r->f = fopen(path, "rb");
    r->name = path;
    if (!r->f) { fprintf(stderr, "xling " CMD ": cannot read %s: %s\n", path, strerror(errno)); return 1; }
    return 0;
}

static void close_reader(reader *r) {
    if (r->f && r->f != stdin) fclose(r->f);
    free(r->line);
}

/* ------------------------------------------------------------ model */

/* Loads the model for an index (dir, else the stored path) and checks its identity. */
static int load_model_for(xl_index *ix, const char *dir, int threads, xl_model **m) {
    const xl_index_settings *s = xl_index_get_settings(ix);
    *m = NULL;
    if (!dir) dir = s->model_path;
    if (!dir) {
        fprintf(stderr, "xling " CMD ": the index names no model folder; give one with -m DIR\n");
        return 1;
    }
    char fp[17];
    if (xl_model_fingerprint(dir, fp)) {
        fprintf(stderr, "xling " CMD ": model folder %s: %s%s\n", dir, xl_last_error(),
                dir == s->model_path ? " (moved? give the folder with -m DIR)" : "");
        return 1;
    }
    xl_model_options mo = {.threads = threads};
    if (xl_model_load(dir, &mo, m)) return cli_fail(CMD);
    xl_model_info info;
    xl_model_get_info(*m, &info);
    if (xl_index_check_model(ix, dir, info.architecture, info.dim, fp)) {
        xl_model_free(*m);
        *m = NULL;
        return cli_fail(CMD);
    }
    return 0;
}

static const char *find_prompt(const xl_model_info *i, const char *name) {
    for (int k = 0; k < i->n_prompts; k++)
        if (!strcmp(i->prompt_names[k], name)) return i->prompt_texts[k];
    return NULL;
}

static void progress_add(size_t done, size_t added) {
    fprintf(stderr, "\rxling index add: %zu read, %zu added", done, added);
}

/* ------------------------------------------------------------ create */

static int do_create(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},       {"ann", required_argument, 0, 'A'},
        {"doc-prompt", required_argument, 0, 'D'},  {"query-prompt", required_argument, 0, 'Q'},
        {"instruct", required_argument, 0, 'I'},    {"hnsw-m", required_argument, 0, 'M'},
        {"ef-construction", required_argument, 0, 'C'}, {"ef-search", required_argument, 0, 'E'},
        {"help", no_argument, 0, 'h'},              {0, 0, 0, 0}};
    const char *dir = NULL, *doc = NULL, *query = NULL;
    xl_index_settings s = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': dir = optarg; break;
        case 'A':
            if (!strcmp(optarg, "hnsw")) s.ann = XL_ANN_HNSW;
            else if (!strcmp(optarg, "none")) s.ann = XL_ANN_NONE;
            else { fprintf(stderr, "xling index create: --ann must be none or hnsw (got \"%s\")\n", optarg); return 2; }
            break;
        case 'D': doc = optarg; break;
        case 'Q': query = optarg; break;
        case 'I': s.instruct = optarg; break;
        case 'M': if (cli_parse_int("index create", "--hnsw-m", optarg, 2, 256, &s.hnsw_m)) return 2; break;
        case 'C': if (cli_parse_int("index create", "--ef-construction", optarg, 1, 1 << 16, &s.hnsw_ef_construction)) return 2; break;
        case 'E': if (cli_parse_int("index create", "--ef-search", optarg, 1, 1 << 16, &s.hnsw_ef_search)) return 2; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fprintf(stderr, "see `xling index --help`\n"); return 2;
        }
    }
    if (argc - optind != 1) { fprintf(stderr, "xling index create: give one DB path\nsee `xling index --help`\n"); return 2; }
    if (!dir) { fprintf(stderr, "xling index create: -m DIR (the model folder) is required\nsee `xling index --help`\n"); return 2; }
    const char *db = argv[optind];
    char fp[17];
    if (xl_model_fingerprint(dir, fp)) return cli_fail("index create");
    xl_model *m = NULL;
    xl_model_options mo = {0};
    if (xl_model_load(dir, &mo, &m)) return cli_fail("index create");
    xl_model_info info;
    xl_model_get_info(m, &info);
    /* the folder's prompts for queries and documents, as sentence-transformers names them */
    if (!query && find_prompt(&info, "query")) query = "query";
    if (!doc) doc = find_prompt(&info, "passage") ? "passage" : find_prompt(&info, "document") ? "document" : NULL;
    int rc = 0;
    const char *names[2] = {doc, query};
    for (int i = 0; i < 2 && !rc; i++) {
        if (!names[i] || find_prompt(&info, names[i])) continue;
        fprintf(stderr, "xling index create: model %s has no prompt \"%s\" (its prompts:", dir, names[i]);
        for (int k = 0; k < info.n_prompts; k++) fprintf(stderr, " %s", info.prompt_names[k]);
        fprintf(stderr, "%s)\n", info.n_prompts ? "" : " none");
        rc = 1;
    }
    char *abs = rc ? NULL : realpath(dir, NULL);
    if (!rc) {
        s.model_path = abs ? abs : dir;
        s.architecture = info.architecture;
        s.fingerprint = fp;
        s.dim = info.dim;
        s.doc_prompt_name = doc;
        s.doc_prompt = doc ? find_prompt(&info, doc) : NULL;
        s.query_prompt_name = query;
        s.query_prompt = query ? find_prompt(&info, query) : NULL;
        if (xl_index_create(db, &s)) rc = cli_fail("index create");
    }
    if (!rc)
        fprintf(stderr, "xling index create: %s: %s, dim %d, documents: %s, queries: %s%s%s, ann: %s\n", db,
                info.architecture, info.dim, doc ? doc : "(no prompt)", query ? query : "(no prompt)",
                s.instruct ? " with instruction " : "", s.instruct ? s.instruct : "", s.ann ? "hnsw" : "none");
    free(abs);
    xl_model_free(m);
    return rc;
}

/* ------------------------------------------------------------ add */

static int do_add(int argc, char **argv) {
    static const struct option opts[] = {
        {"input", required_argument, 0, 'i'},  {"model", required_argument, 0, 'm'},
        {"replace", no_argument, 0, 'R'},      {"batch", required_argument, 0, 'B'},
        {"threads", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *in = NULL, *dir = NULL;
    int replace = 0, batch = 64, threads = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "i:m:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': in = optarg; break;
        case 'm': dir = optarg; break;
        case 'R': replace = 1; break;
        case 'B': if (cli_parse_int("index add", "--batch", optarg, 1, 1 << 16, &batch)) return 2; break;
        case 't': if (cli_parse_int("index add", "--threads", optarg, 1, 1024, &threads)) return 2; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fprintf(stderr, "see `xling index --help`\n"); return 2;
        }
    }
    if (argc - optind != 1) { fprintf(stderr, "xling index add: give one DB path\nsee `xling index --help`\n"); return 2; }
    xl_index *ix = NULL;
    if (xl_index_open(argv[optind], 1, &ix)) return cli_fail("index add");
    const xl_index_settings *s = xl_index_get_settings(ix);
    reader r;
    xl_model *m = NULL;
    int rc = open_reader(&r, in);
    if (!rc) rc = load_model_for(ix, dir, threads, &m);
    xl_embed_options eo;
    xl_embed_options_init(&eo);
    eo.prompt_name = s->doc_prompt_name;
    if (!s->doc_prompt_name) eo.prefix = ""; /* what the index recorded, not the folder's default */
    eo.threads = threads;
    size_t dim = (size_t)s->dim, n_read = 0, n_added = 0, n_repl = 0, n_skip = 0;
    item_t *items = calloc((size_t)batch, sizeof *items);
    xl_index_item *xi = calloc((size_t)batch, sizeof *xi);
    const char **texts = calloc((size_t)batch, sizeof *texts);
    size_t *lens = calloc((size_t)batch, sizeof *lens);
    float *vec = malloc((size_t)batch * dim * sizeof *vec);
    if (!rc && (!items || !xi || !texts || !lens || !vec)) { fprintf(stderr, "xling index add: out of memory\n"); rc = 1; }
    int tty = isatty(2), eof = 0;
    while (!rc && !eof) {
        size_t nb = 0;
        while (nb < (size_t)batch) {
            int got = next_item(&r, &items[nb]);
            if (got < 0) { rc = 1; break; }
            if (got == 0) { eof = 1; break; }
            n_read++;
            xl_index_item *x = &xi[nb];
            *x = (xl_index_item){.text = items[nb].text, .id = items[nb].id, .id_is_int = items[nb].id_is_int,
                                 .meta = items[nb].meta, .line_key = items[nb].key};
            /* resuming: what is stored is not embedded again */
            int has = replace ? 0 : xl_index_contains(ix, x);
            if (has < 0) { rc = cli_fail("index add"); item_free(&items[nb]); break; }
            if (has) { n_skip++; item_free(&items[nb]); continue; }
            nb++;
        }
        for (size_t i = 0; !rc && i < nb; i++) {
            texts[i] = items[i].text;
            lens[i] = strlen(items[i].text);
        }
        if (!rc && nb) {
            size_t a = 0, rp = 0, sk = 0;
            if (xl_embed_texts(m, texts, lens, nb, &eo, vec, NULL)) rc = cli_fail("index add");
            else if (xl_index_add(ix, xi, nb, vec, replace, &a, &rp, &sk)) {
                fprintf(stderr, "xling index add: %s (batch of lines %zu-%zu; the batches before it are stored)\n",
                        xl_last_error(), items[0].lineno, items[nb - 1].lineno);
                rc = 1;
            }
            n_added += a;
            n_repl += rp;
            n_skip += sk;
        }
        for (size_t i = 0; i < nb; i++) item_free(&items[i]);
        if (tty) progress_add(n_read, n_added);
    }
    if (tty) fputc('\n', stderr);
    if (!rc && n_read == 0) {
        fprintf(stderr, "xling index add: no texts in %s\n", r.name);
        rc = 1;
    }
    if (!rc && xl_index_flush(ix)) rc = cli_fail("index add");
    size_t total = 0;
    if (!rc && !xl_index_count(ix, &total))
        fprintf(stderr, "xling index add: %zu added, %zu replaced, %zu skipped (already stored); %zu items in %s\n",
                n_added, n_repl, n_skip, total, argv[optind]);
    close_reader(&r);
    free(items);
    free(xi);
    free(texts);
    free(lens);
    free(vec);
    xl_model_free(m);
    xl_index_close(ix);
    return rc;
}

/* ------------------------------------------------------------ search */

typedef struct {
    char **text, **id;
    int *id_is_int;
    size_t n, cap;
} queries_t;

static int push_query(queries_t *q, const char *text, const char *id, int id_is_int) {
    if (q->n == q->cap) {
        size_t nc = q->cap ? 2 * q->cap : 16;
        char **t = realloc(q->text, nc * sizeof *t);
        if (t) q->text = t;
        char **i = t ? realloc(q->id, nc * sizeof *i) : NULL;
        if (i) q->id = i;
        int *ii = i ? realloc(q->id_is_int, nc * sizeof *ii) : NULL;
        if (ii) q->id_is_int = ii;
        if (!ii) return 1;
        q->cap = nc;
    }
    q->text[q->n] = strdup(text);
    q->id[q->n] = id ? strdup(id) : NULL;
    q->id_is_int[q->n] = id_is_int;
    return !q->text[q->n++];
}

static void queries_free(queries_t *q) {
    for (size_t i = 0; i < q->n; i++) { free(q->text[i]); free(q->id[i]); }
    free(q->text);
    free(q->id);
    free(q->id_is_int);
}

static int do_search(int argc, char **argv) {
    static const struct option opts[] = {
        {"query", required_argument, 0, 'q'},  {"input", required_argument, 0, 'i'},
        {"model", required_argument, 0, 'm'},  {"where", required_argument, 0, 'W'},
        {"exact", no_argument, 0, 'X'},        {"ef", required_argument, 0, 'E'},
        {"threads", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'},
        {"rerank", required_argument, 0, 'R'}, {"rerank-top", required_argument, 0, 'T'},
        {0, 0, 0, 0}};
    const char *in = NULL, *dir = NULL, *rerank_dir = NULL;
    int rerank_top = 0;
    queries_t q = {0};
    xl_index_where *where = calloc((size_t)argc, sizeof *where);
    xl_index_search_options so = {.k = 10};
    int threads = 0, c, rc = 0;
    if (!where) { fprintf(stderr, "xling index search: out of memory\n"); return 1; }
    optind = 1;
    while (!rc && (c = getopt_long(argc, argv, "q:i:m:k:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'q':
            if (!optarg[0]) { fprintf(stderr, "xling index search: -q needs a non-empty text\n"); rc = 2; }
            else if (push_query(&q, optarg, NULL, 0)) { fprintf(stderr, "xling index search: out of memory\n"); rc = 1; }
            break;
        case 'i': in = optarg; break;
        case 'm': dir = optarg; break;
        case 'k': if (cli_parse_int("index search", "-k", optarg, 1, 10000, &so.k)) rc = 2; break;
        case 'W': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                fprintf(stderr, "xling index search: --where expects KEY=VALUE (got \"%s\")\n", optarg);
                rc = 2;
                break;
            }
            *eq = '\0';
            where[so.n_where++] = (xl_index_where){optarg, eq + 1};
            break;
        }
        case 'X': so.exact = 1; break;
        case 'E': if (cli_parse_int("index search", "--ef", optarg, 1, 1 << 16, &so.ef)) rc = 2; break;
        case 't': if (cli_parse_int("index search", "--threads", optarg, 1, 1024, &threads)) rc = 2; break;
        case 'R': rerank_dir = optarg; break;
        case 'T': if (cli_parse_int("index search", "--rerank-top", optarg, 1, 10000, &rerank_top)) rc = 2; break;
        case 'h': fputs(usage, stdout); free(where); queries_free(&q); return 0;
        default: fprintf(stderr, "see `xling index --help`\n"); rc = 2;
        }
    }
    if (!rc && argc - optind != 1) { fprintf(stderr, "xling index search: give one DB path\nsee `xling index --help`\n"); rc = 2; }
    if (!rc && !q.n && !in) { fprintf(stderr, "xling index search: give queries with -q TEXT or -i FILE\nsee `xling index --help`\n"); rc = 2; }
    so.where = where;
    so.threads = threads;
    xl_index *ix = NULL;
    if (!rc && xl_index_open(argv[optind], access(argv[optind], W_OK) == 0, &ix)) rc = cli_fail("index search");
    if (!rc && in) {
        reader r;
        item_t it;
        int got = 0;
        rc = open_reader(&r, in);
        while (!rc && (got = next_item(&r, &it)) > 0) {
            if (push_query(&q, it.text, it.id, it.id_is_int)) { fprintf(stderr, "xling index search: out of memory\n"); rc = 1; }
            item_free(&it);
        }
        if (got < 0) rc = 1;
        if (!rc && !q.n) { fprintf(stderr, "xling index search: no queries in %s\n", r.name); rc = 1; }
        close_reader(&r);
    }
    size_t count = 0;
    if (!rc && xl_index_count(ix, &count)) rc = cli_fail("index search");
    if (!rc && !count) { fprintf(stderr, "xling index search: index %s is empty (add texts with `xling index add`)\n", argv[optind]); rc = 1; }
    if (!rc && rerank_top && !rerank_dir) { fprintf(stderr, "xling index search: --rerank-top needs --rerank DIR\nsee `xling index --help`\n"); rc = 2; }
    xl_model *m = NULL, *rm = NULL;
    if (!rc) rc = load_model_for(ix, dir, threads, &m);
    /* --rerank: the best --rerank-top hits (default 50, at least k) by cosine, reordered
     * by the cross-encoder; the k best of them are printed */
    int out_k = so.k;
    xl_rerank_options ro;
    xl_rerank_options_init(&ro);
    ro.threads = threads;
    if (!rc && rerank_dir) {
        rc = rerank_model_load("index search", rerank_dir, threads, &rm);
        so.k = rerank_top ? rerank_top : 50;
        if (so.k < out_k) so.k = out_k;
    }
    const xl_index_settings *s = ix ? xl_index_get_settings(ix) : NULL;
    xl_embed_options eo;
    xl_embed_options_init(&eo);
    if (s) {
        eo.prompt_name = s->query_prompt_name;
        eo.instruct = s->instruct;
        if (!s->query_prompt_name && !s->instruct) eo.prefix = "";
    }
    eo.threads = threads;
    size_t dim = s ? (size_t)s->dim : 0, chunk = 256, k = (size_t)so.k;
    float *qv = malloc(chunk * dim * sizeof *qv + 1);
    int64_t *rows = malloc(chunk * k * sizeof *rows);
    float *scores = malloc(chunk * k * sizeof *scores);
    int *nh = malloc(chunk * sizeof *nh);
    size_t *lens = malloc(chunk * sizeof *lens);
    if (!rc && (!qv || !rows || !scores || !nh || !lens)) { fprintf(stderr, "xling index search: out of memory\n"); rc = 1; }
    for (size_t at = 0; !rc && at < q.n; at += chunk) {
        size_t n = q.n - at < chunk ? q.n - at : chunk;
        for (size_t i = 0; i < n; i++) lens[i] = strlen(q.text[at + i]);
        if (xl_embed_texts(m, (const char *const *)q.text + at, lens, n, &eo, qv, NULL) ||
            xl_index_search(ix, qv, n, &so, rows, scores, nh)) {
            rc = cli_fail("index search");
            break;
        }
        for (size_t i = 0; !rc && i < n; i++) {
            fputs("{\"query\":", stdout);
            put_str(stdout, q.text[at + i]);
            if (q.id[at + i]) {
                fputs(",\"id\":", stdout);
                put_id(stdout, q.id[at + i], q.id_is_int[at + i]);
            }
            fputs(",\"hits\":[", stdout);
            if (rm && rerank_print_hits(stdout, ix, rm, &ro, q.text[at + i], rows + i * k, scores + i * k, nh[i], out_k)) {
                rc = cli_report("index search");
                break;
            }
            for (int j = 0; !rm && j < nh[i]; j++) {
                const char *id, *text, *meta;
                int is_int;
                if (xl_index_row(ix, rows[i * k + (size_t)j], &id, &is_int, &text, &meta)) { rc = cli_fail("index search"); break; }
                fputs(j ? ",{\"id\":" : "{\"id\":", stdout);
                put_id(stdout, id, is_int);
                printf(",\"score\":%.7g,\"text\":", scores[i * k + (size_t)j]);
                put_str(stdout, text);
                fputs(",\"meta\":", stdout);
                fputs(meta ? meta : "null", stdout);
                fputc('}', stdout);
            }
            fputs("]}\n", stdout);
        }
    }
    if (!rc && (fflush(stdout) || ferror(stdout))) { fprintf(stderr, "xling index search: write failed: %s\n", strerror(errno)); rc = 1; }
    free(qv);
    free(rows);
    free(scores);
    free(nh);
    free(lens);
    free(where);
    queries_free(&q);
    xl_model_free(m);
    xl_model_free(rm);
    xl_index_close(ix);
    return rc;
}

/* ------------------------------------------------------------ info */

static long long file_size(const char *path, const char *suffix) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s%s", path, suffix);
    struct stat sb;
    return stat(p, &sb) == 0 ? (long long)sb.st_size : 0;
}

static int do_info(int argc, char **argv) {
    static const struct option opts[] = {{"json", no_argument, 0, 'J'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int as_json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'J': as_json = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fprintf(stderr, "see `xling index --help`\n"); return 2;
        }
    }
    if (argc - optind != 1) { fprintf(stderr, "xling index info: give one DB path\nsee `xling index --help`\n"); return 2; }
    const char *db = argv[optind];
    xl_index *ix = NULL;
    if (xl_index_open(db, 0, &ix)) return cli_fail("index info");
    size_t n = 0;
    if (xl_index_count(ix, &n)) { xl_index_close(ix); return cli_fail("index info"); }
    const xl_index_settings *s = xl_index_get_settings(ix);
    long long lag = xl_index_ann_lag(ix);
    long long size = file_size(db, ""), wal = file_size(db, "-wal"), hn = file_size(db, ".hnsw");
    const char *ann_state = s->ann != XL_ANN_HNSW ? NULL : lag == 0 ? "in step" : lag < 0 ? "not built (built at the next search)" : "behind (caught up at the next add or search)";
    if (as_json) {
        json_t *o = json_pack("{s:I, s:s?, s:s?, s:s?, s:i, s:{s:s?, s:s?, s:s?, s:s?, s:s?}, s:s, s:I, s:I, s:I}", "count",
                              (json_int_t)n, "model_path", s->model_path, "architecture", s->architecture, "fingerprint",
                              s->fingerprint, "dim", s->dim, "prompts", "document", s->doc_prompt_name, "document_text",
                              s->doc_prompt, "query", s->query_prompt_name, "query_text", s->query_prompt, "instruct",
                              s->instruct, "ann", s->ann == XL_ANN_HNSW ? "hnsw" : "none", "file_bytes",
                              (json_int_t)size, "wal_bytes", (json_int_t)wal, "hnsw_bytes", (json_int_t)hn);
        if (o && s->ann == XL_ANN_HNSW) {
            json_object_set_new(o, "hnsw", json_pack("{s:i, s:i, s:i, s:I, s:s}", "M", s->hnsw_m, "ef_construction",
                                                     s->hnsw_ef_construction, "ef_search", s->hnsw_ef_search,
                                                     "rows_behind", (json_int_t)lag, "state", ann_state));
        }
        char *txt = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        if (txt) puts(txt);
        free(txt);
        json_decref(o);
    } else {
        printf("count          %zu\n", n);
        printf("model          %s\n", s->model_path ? s->model_path : "(none)");
        printf("architecture   %s\n", s->architecture ? s->architecture : "?");
        printf("fingerprint    %s\n", s->fingerprint ? s->fingerprint : "?");
        printf("dim            %d\n", s->dim);
        printf("doc prompt     %s\n", s->doc_prompt_name ? s->doc_prompt_name : "(none)");
        printf("query prompt   %s\n", s->query_prompt_name ? s->query_prompt_name : "(none)");
        if (s->instruct) printf("instruct       %s\n", s->instruct);
        if (s->ann == XL_ANN_HNSW)
            printf("ann            hnsw (M %d, ef_construction %d, ef_search %d): %s\n", s->hnsw_m,
                   s->hnsw_ef_construction, s->hnsw_ef_search, ann_state);
        else printf("ann            none (exact search)\n");
        printf("file size      %lld bytes (+ %lld journal, %lld hnsw)\n", size, wal, hn);
    }
    xl_index_close(ix);
    return 0;
}

/* ------------------------------------------------------------ export */

/* Opens a temporary file beside path (renamed over it by finish_out). */
static FILE *open_out(const char *path, char **tmp) {
    size_t l = strlen(path) + 32;
    *tmp = malloc(l);
    if (!*tmp) return NULL;
    snprintf(*tmp, l, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(*tmp);
    if (fd >= 0) {
        /* mkstemp makes 0600; the result gets the usual mode */
        mode_t um = umask(0);
        umask(um);
        fchmod(fd, 0666 & ~um);
    }
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        fprintf(stderr, "xling index export: cannot write %s: %s\n", path, strerror(errno));
        if (fd >= 0) { close(fd); unlink(*tmp); }
        free(*tmp);
        *tmp = NULL;
    }
    return f;
}

static int finish_out(FILE *f, char *tmp, const char *path, int ok) {
    if (ok && (fflush(f) || ferror(f) || fsync(fileno(f)))) ok = 0;
    if (fclose(f)) ok = 0;
    if (ok && rename(tmp, path)) ok = 0;
    if (!ok) {
        fprintf(stderr, "xling index export: write failed on %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok ? 0 : 1;
}

static int do_export(int argc, char **argv) {
    static const struct option opts[] = {{"output", required_argument, 0, 'o'}, {"ids", required_argument, 0, 'I'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = NULL, *ids = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'I': ids = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fprintf(stderr, "see `xling index --help`\n"); return 2;
        }
    }
    if (argc - optind != 1 || !out) { fprintf(stderr, "xling index export: give one DB path and -o X.npy\nsee `xling index --help`\n"); return 2; }
    char *ids_def = NULL;
    if (!ids) {
        size_t l = strlen(out);
        ids_def = malloc(l + 12);
        if (!ids_def) return 1;
        size_t stem = l >= 4 && !strcmp(out + l - 4, ".npy") ? l - 4 : l;
        snprintf(ids_def, l + 12, "%.*s.ids.jsonl", (int)stem, out);
        ids = ids_def;
    }
    xl_index *ix = NULL;
    const float *v;
    const int64_t *rows;
    size_t n = 0;
    int rc = 0;
    if (xl_index_open(argv[optind], 0, &ix) || xl_index_vectors(ix, &v, &rows, &n)) rc = cli_fail("index export");
    size_t dim = ix ? (size_t)xl_index_get_settings(ix)->dim : 0;
    char *t1 = NULL, *t2 = NULL;
    FILE *f1 = rc ? NULL : open_out(out, &t1), *f2 = f1 ? open_out(ids, &t2) : NULL;
    if (!rc && (!f1 || !f2)) rc = 1;
    int ok = !rc;
    if (ok) {
        /* .npy 1.0: magic, header length, a dict padded with spaces to a multiple of 64 */
        char dict[160];
        int hl = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }", n, dim);
        int total = ((10 + hl + 1 + 63) / 64) * 64;
        int pad = total - 10 - hl - 1;
        unsigned short hlen = (unsigned short)(total - 10);
        fwrite("\x93NUMPY\x01\x00", 1, 8, f1);
        fputc(hlen & 0xff, f1);
        fputc(hlen >> 8, f1);
        fwrite(dict, 1, (size_t)hl, f1);
        for (int i = 0; i < pad; i++) fputc(' ', f1);
        fputc('\n', f1);
        if (n && fwrite(v, sizeof(float) * dim, n, f1) != n) ok = 0;
    }
    for (size_t i = 0; ok && i < n; i++) {
        const char *id, *text, *meta;
        int is_int;
        if (xl_index_row(ix, rows[i], &id, &is_int, &text, &meta)) { rc = cli_fail("index export"); ok = 0; break; }
        fputs("{\"id\":", f2);
        put_id(f2, id, is_int);
        fputs(",\"text\":", f2);
        put_str(f2, text);
        if (meta) { fputs(",\"meta\":", f2); fputs(meta, f2); }
        fputs("}\n", f2);
    }
    int bad = 0;
    if (f1) bad |= finish_out(f1, t1, out, ok);
    if (f2) bad |= finish_out(f2, t2, ids, ok);
    if (bad) rc = 1;
    if (!rc) fprintf(stderr, "xling index export: %zu vectors of dim %zu to %s, ids and texts to %s\n", n, dim, out, ids);
    free(ids_def);
    xl_index_close(ix);
    return rc;
}

int cmd_index(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    argv[1] = argv[0];
    if (!strcmp(sub, "create")) return do_create(argc - 1, argv + 1);
    if (!strcmp(sub, "add")) return do_add(argc - 1, argv + 1);
    if (!strcmp(sub, "search")) return do_search(argc - 1, argv + 1);
    if (!strcmp(sub, "info")) return do_info(argc - 1, argv + 1);
    if (!strcmp(sub, "export")) return do_export(argc - 1, argv + 1);
    fprintf(stderr, "xling index: unknown subcommand \"%s\" (create, add, search, info, export)\n", sub);
    return 2;
}
