/* xling cluster: k-means++ over the embeddings of texts; {"cluster": c} per input line,
 * and with gold labels the V-measure as MTEB's clustering tasks report it. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char *usage =
    "usage: xling cluster -m DIR -k K [-i FILE] [options]\n"
    "Clusters texts by their embeddings with k-means (k-means++ seeding, as scikit-learn's\n"
    "KMeans) and prints {\"cluster\": c} per input line (c in 0..K-1), in input order.\n"
    "Input: one text per line, or JSONL (*.jsonl / *.json) lines with \"text\", optional\n"
    "\"id\" (copied to the output line) and \"label\" (gold class: then the V-measure, as\n"
    "scikit-learn's v_measure_score, is printed on stderr as `v_measure: 0.xxxxxx`).\n"
    "  -m, --model DIR       model folder\n"
    "  -k K                  number of clusters (1 .. number of texts)\n"
    "  -i, --input FILE      input (default stdin; read as text unless named *.jsonl/*.json)\n"
    "      --input-format F  text | jsonl\n"
    "      --seed N          seed of the k-means++ draws (default 0): same seed, same result\n"
    "      --restarts N      runs from different seeds; the one of least inertia is kept (default 10)\n"
    "      --prompt NAME     prompt of the model's config_sentence_transformers.json\n"
    "      --prefix STR      literal prefix for every text\n"
    "      --no-normalize    cluster the raw embeddings (default: L2-normalised)\n"
    "  -t, --threads N       threads\n";

typedef struct {
    char **text;
    size_t *len;
    char **id;     /* JSON text of "id", or NULL */
    char **label;  /* JSON text of "label", or NULL */
    size_t n, cap;
} items_t;

static void items_free(items_t *it) {
    for (size_t i = 0; i < it->n; i++) {
        free(it->text[i]);
        free(it->id[i]);
        free(it->label[i]);
    }
    free(it->text), free(it->len), free(it->id), free(it->label);
}

static int push(items_t *it, char *text, size_t len, char *id, char *label) {
    if (it->n == it->cap) {
        size_t cap = it->cap ? 2 * it->cap : 256;
        char **t = realloc(it->text, cap * sizeof *t);
        if (t) it->text = t;
        size_t *l = realloc(it->len, cap * sizeof *l);
        if (l) it->len = l;
        char **d = realloc(it->id, cap * sizeof *d);
        if (d) it->id = d;
        char **b = realloc(it->label, cap * sizeof *b);
        if (b) it->label = b;
        if (!t || !l || !d || !b) return -1;
        it->cap = cap;
    }
    it->text[it->n] = text;
    it->len[it->n] = len;
    it->id[it->n] = id;
    it->label[it->n++] = label;
    return 0;
}

/* Reads every input line; 1 (message printed) on error. */
static int read_items(const char *path, int jsonl, items_t *it) {
    FILE *f = path ? fopen(path, "rb") : stdin;
    const char *name = path ? path : "stdin";
    if (!f) {
        fprintf(stderr, "xling cluster: cannot read %s: %s\n", path, strerror(errno));
        return 1;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t k;
    int rc = 0;
    while (!rc && (k = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (k > 0 && line[k - 1] == '\n') k--;
        if (k > 0 && line[k - 1] == '\r') k--;
        char *s = line;
        if (lineno == 1 && k >= 3 && !memcmp(s, "\xef\xbb\xbf", 3)) s += 3, k -= 3; /* BOM */
        if (!jsonl) {
            char *t = malloc((size_t)k + 1);
            if (!t || (memcpy(t, s, (size_t)k), t[k] = '\0', push(it, t, (size_t)k, NULL, NULL))) { free(t); rc = -1; }
            continue;
        }
        size_t sp = strspn(s, " \t");
        if ((ssize_t)sp == k) continue; /* blank JSONL line: skipped, still counted */
        json_error_t e;
        json_t *j = json_loadb(s, (size_t)k, JSON_ALLOW_NUL, &e);
        json_t *text = json_object_get(j, "text"), *id = json_object_get(j, "id"), *label = json_object_get(j, "label");
        if (!json_is_object(j)) {
            fprintf(stderr, "xling cluster: %s line %zu: %s\n", name, lineno, j ? "not a JSON object" : e.text);
            rc = 1;
        } else if (!json_is_string(text)) {
            fprintf(stderr, "xling cluster: %s line %zu: \"text\" must be a string\n", name, lineno);
            rc = 1;
        } else if (label && !json_is_string(label) && !json_is_integer(label)) {
            fprintf(stderr, "xling cluster: %s line %zu: \"label\" must be a string or an integer\n", name, lineno);
            rc = 1;
        } else {
            size_t tl = json_string_length(text);
            char *t = malloc(tl + 1);
            char *ids = id ? json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            char *lab = label ? json_dumps(label, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            if (!t || (id && !ids) || (label && !lab)) rc = -1;
            else {
                memcpy(t, json_string_value(text), tl + 1);
                if (push(it, t, tl, ids, lab)) rc = -1;
            }
            if (rc) free(t), free(ids), free(lab);
        }
        json_decref(j);
    }
    if (rc < 0) fprintf(stderr, "xling cluster: out of memory reading %s\n", name);
    else if (!rc && ferror(f)) { fprintf(stderr, "xling cluster: read error on %s\n", name); rc = 1; }
    free(line);
    if (f != stdin) fclose(f);
    return rc ? 1 : 0;
}

static char **g_labels;
static int cmp_label_idx(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = strcmp(g_labels[x], g_labels[y]);
    return c ? c : (x > y) - (x < y);
}

/* Gold labels as ints (equal JSON text, equal class): 1, 0 when no line has one, -1
 * when only some lines have one. */
static int gold_labels(const items_t *it, int *gold) {
    size_t n_with = 0;
    for (size_t i = 0; i < it->n; i++) n_with += it->label[i] != NULL;
    if (n_with == 0) return 0;
    if (n_with != it->n) return -1;
    size_t *order = malloc(it->n * sizeof *order);
    if (!order) return -2;
    for (size_t i = 0; i < it->n; i++) order[i] = i;
    g_labels = it->label;
    qsort(order, it->n, sizeof *order, cmp_label_idx);
    int cls = -1;
    for (size_t r = 0; r < it->n; r++) {
        if (!r || strcmp(it->label[order[r]], it->label[order[r - 1]])) cls++;
        gold[order[r]] = cls;
    }
    free(order);
    return 1;
}

int cmd_cluster(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},    {"input", required_argument, 0, 'i'},
        {"input-format", required_argument, 0, 'I'}, {"seed", required_argument, 0, 'S'},
        {"restarts", required_argument, 0, 'R'}, {"prompt", required_argument, 0, 'P'},
        {"prefix", required_argument, 0, 'X'},   {"no-normalize", no_argument, 0, 'N'},
        {"threads", required_argument, 0, 't'},  {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *dir = NULL, *in_path = NULL;
    int k = 0, threads = 0, restarts = 10, seed = 0, normalize = 1, jsonl = -1, c;
    xl_embed_options eo;
    xl_embed_options_init(&eo);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:k:i:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': dir = optarg; break;
        case 'k': if (cli_parse_int("cluster", "-k", optarg, 1, 1 << 24, &k)) return 2; break;
        case 'i': in_path = optarg; break;
        case 'I':
            if (!strcmp(optarg, "jsonl")) jsonl = 1;
            else if (!strcmp(optarg, "text")) jsonl = 0;
            else return cli_usage("cluster", "--input-format must be text or jsonl");
            break;
        case 'S': if (cli_parse_int("cluster", "--seed", optarg, 0, 0x7fffffff, &seed)) return 2; break;
        case 'R': if (cli_parse_int("cluster", "--restarts", optarg, 1, 1000, &restarts)) return 2; break;
        case 'P': eo.prompt_name = optarg; break;
        case 'X': eo.prefix = optarg; break;
        case 'N': normalize = 0; break;
        case 't': if (cli_parse_int("cluster", "--threads", optarg, 1, 1024, &threads)) return 2; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_bad_option("cluster", c, argv);
        }
    }
    if (optind < argc) { return cli_usage("cluster", "unexpected argument \"%s\"", argv[optind]); }
    if (!dir || !k) { return cli_usage("cluster", "-m DIR and -k K are required"); }
    if (in_path && !strcmp(in_path, "-")) in_path = NULL;
    if (jsonl < 0) {
        const char *dot = in_path ? strrchr(in_path, '.') : NULL;
        jsonl = dot && (!strcmp(dot, ".jsonl") || !strcmp(dot, ".json"));
    }
    items_t it = {0};
    int rc = read_items(in_path, jsonl, &it);
    if (!rc && (size_t)k > it.n) {
        fprintf(stderr, "xling cluster: -k %d is more than the %zu texts\n", k, it.n);
        rc = 1;
    }
    int *gold = NULL, *lab = NULL, has_gold = 0;
    float *emb = NULL;
    xl_model *m = NULL;
    if (!rc) {
        gold = malloc(it.n * sizeof *gold);
        lab = malloc(it.n * sizeof *lab);
        if (!gold || !lab) { fprintf(stderr, "xling cluster: out of memory\n"); rc = 1; }
    }
    if (!rc && (has_gold = gold_labels(&it, gold)) < 0) {
        if (has_gold == -1) fprintf(stderr, "xling cluster: some lines have a \"label\" and some do not; give all or none\n");
        else fprintf(stderr, "xling cluster: out of memory\n");
        rc = 1;
    }
    if (!rc) {
        xl_model_options mo = {.threads = threads};
        eo.threads = threads;
        if (xl_model_load(dir, &mo, &m)) rc = cli_fail("cluster");
    }
    int dim = 0;
    if (!rc) {
        dim = xl_embed_dim(m, &eo);
        emb = malloc(it.n * (size_t)dim * sizeof *emb);
        if (!emb) { fprintf(stderr, "xling cluster: out of memory (%zu embeddings)\n", it.n); rc = 1; }
        else if (xl_embed_texts(m, (const char *const *)it.text, it.len, it.n, &eo, emb, NULL)) rc = cli_fail("cluster");
    }
    if (!rc) {
        if (normalize) xl_l2_normalize_rows(emb, it.n, (size_t)dim);
        xl_kmeans_options ko = {.seed = (uint64_t)seed, .restarts = restarts,
                                .threads = threads > 0 ? threads : (int)sysconf(_SC_NPROCESSORS_ONLN)};
        if (xl_kmeans(emb, it.n, (size_t)dim, k, &ko, lab, NULL, NULL)) rc = cli_fail("cluster");
    }
    for (size_t i = 0; !rc && i < it.n; i++) {
        if (it.id[i]) printf("{\"id\":%s,\"cluster\":%d}\n", it.id[i], lab[i]);
        else printf("{\"cluster\":%d}\n", lab[i]);
    }
    if (!rc && (fflush(stdout) != 0 || ferror(stdout))) { fprintf(stderr, "xling cluster: write failed: %s\n", strerror(errno)); rc = 1; }
    if (!rc && has_gold) {
        double v;
        if (xl_metric_v_measure(gold, lab, it.n, &v)) rc = cli_fail("cluster");
        else fprintf(stderr, "v_measure: %.6f\n", v);
    }
    free(gold), free(lab), free(emb);
    items_free(&it);
    xl_model_free(m);
    return rc;
}
