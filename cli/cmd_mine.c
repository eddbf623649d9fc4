/* xling mine: parallel sentences from two monolingual collections with margin scoring
 * (LASER's mine_bitexts.py), from texts embedded with a model or from .npy vectors. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "outfile.h"

static const char *usage =
    "usage: xling mine -m DIR SRC TGT [options]\n"
    "       xling mine --src-emb A.npy --tgt-emb B.npy [SRC TGT] [options]\n"
    "Finds parallel sentences between SRC and TGT (one sentence per line) as LASER's\n"
    "mine_bitexts.py does: k nearest neighbours both ways on L2-normalised embeddings, each\n"
    "candidate scored by its margin against the two neighbourhoods' mean similarity.\n"
    "  -m, --model DIR        embed SRC and TGT with this model folder\n"
    "      --src-emb FILE     source vectors (.npy [n, dim]) instead of a model\n"
    "      --tgt-emb FILE     target vectors (.npy [m, dim])\n"
    "  -k N                   neighbours (default 4; capped at the other side's size)\n"
    "      --margin M         ratio (default): cos / mean; distance: cos - mean; absolute: cos\n"
    "      --mode M           mine (default): best pairs of both directions, greedy, each\n"
    "                         sentence used once; intersect: mutual best pairs; forward:\n"
    "                         each source's best target; backward: each target's best source\n"
    "      --threshold X      keep pairs with score > X (default: all)\n"
    "  -o, --output FILE      output (default stdout; written to a temporary file, renamed)\n"
    "      --format F         jsonl (default): {\"score\", \"src\", \"tgt\"} with 0-based line\n"
    "                         numbers (+ \"src_text\", \"tgt_text\" when texts are known);\n"
    "                         tsv: score<TAB>source<TAB>target (LASER's columns; needs texts)\n"
    "      --prompt NAME      prompt of the model's config_sentence_transformers.json\n"
    "      --prefix STR       literal prefix for every sentence\n"
    "      --max-length N     truncate sentences to N tokens\n"
    "      --batch N          sequences per forward batch\n"
    "  -t, --threads N        threads\n"
    "Pairs are printed best first in every mode. Progress goes to stderr when it is a terminal.\n";

typedef struct {
    char **v;
    size_t *len;
    size_t n;
} lines_t;

static void lines_free(lines_t *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    free(l->len);
    memset(l, 0, sizeof *l);
}

/* Every line of a text file (trailing \n and \r removed). */
static int read_lines(const char *path, lines_t *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "xling mine: cannot read %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t k;
    int rc = 0;
    while ((k = getline(&line, &lcap, f)) >= 0) {
        if (k > 0 && line[k - 1] == '\n') k--;
        if (k > 0 && line[k - 1] == '\r') k--;
        if (out->n == cap) {
            cap = cap ? 2 * cap : 1024;
            char **v = realloc(out->v, cap * sizeof *v);
            size_t *len = v ? realloc(out->len, cap * sizeof *len) : NULL;
            if (v) out->v = v;
            if (len) out->len = len;
            if (!v || !len) { rc = 1; break; }
        }
        char *s = malloc((size_t)k + 1);
        if (!s) { rc = 1; break; }
        memcpy(s, line, (size_t)k);
        s[k] = '\0';
        out->v[out->n] = s;
        out->len[out->n++] = (size_t)k;
    }
    if (rc) fprintf(stderr, "xling mine: out of memory reading %s\n", path);
    else if (ferror(f)) { fprintf(stderr, "xling mine: read error on %s\n", path); rc = 1; }
    free(line);
    fclose(f);
    if (rc) lines_free(out);
    return rc;
}

static void on_progress(void *ctx, double done) {
    const char *what = ctx;
    fprintf(stderr, "\rxling mine: %s %5.1f%%", what, 100 * done);
    if (done >= 1) fputc('\n', stderr);
}

static void on_embed_progress(void *ctx, size_t done, size_t total) {
    fprintf(stderr, "\rxling mine: embedding %s %zu/%zu", (const char *)ctx, done, total);
    if (done >= total) fputc('\n', stderr);
}

/* Embeds lines with the model, L2-normalised. */
static int embed_lines(xl_model *m, const lines_t *l, const xl_embed_options *eo, const char *what, float **out,
                       size_t *dim) {
    xl_model_info info;
    xl_model_get_info(m, &info);
    int d = xl_embed_dim(m, eo);
    float *e = malloc((l->n ? l->n : 1) * (size_t)d * sizeof *e);
    if (!e) { fprintf(stderr, "xling mine: out of memory embedding %s\n", what); return 1; }
    xl_embed_options o = *eo;
    if (isatty(2)) { o.progress = on_embed_progress; o.progress_ctx = (void *)what; }
    if (xl_embed_texts(m, (const char *const *)l->v, l->len, l->n, &o, e, NULL)) {
        free(e);
        return cli_fail("mine");
    }
    *out = e;
    *dim = (size_t)d;
    return 0;
}

static int load_npy(const char *path, float **out, size_t *rows, size_t *dim) {
    if (xl_npy_load(path, out, rows, dim)) return cli_fail("mine");
    return 0;
}

int cmd_mine(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},    {"src-emb", required_argument, 0, 'S'},
        {"tgt-emb", required_argument, 0, 'T'},  {"margin", required_argument, 0, 'M'},
        {"mode", required_argument, 0, 'D'},     {"threshold", required_argument, 0, 'H'},
        {"output", required_argument, 0, 'o'},   {"format", required_argument, 0, 'F'},
        {"prompt", required_argument, 0, 'P'},   {"prefix", required_argument, 0, 'X'},
        {"max-length", required_argument, 0, 'L'}, {"batch", required_argument, 0, 'B'},
        {"threads", required_argument, 0, 't'},  {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *dir = NULL, *src_emb = NULL, *tgt_emb = NULL, *out_path = NULL;
    int tsv = 0, threads = 0, c;
    xl_mine_options mo;
    xl_mine_options_init(&mo);
    xl_embed_options eo;
    xl_embed_options_init(&eo);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:k:o:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': dir = optarg; break;
        case 'S': src_emb = optarg; break;
        case 'T': tgt_emb = optarg; break;
        case 'k': if (cli_parse_int("mine", "-k", optarg, 1, 1 << 20, &mo.k)) return 2; break;
        case 'M':
            if (!strcmp(optarg, "ratio")) mo.margin = XL_MARGIN_RATIO;
            else if (!strcmp(optarg, "distance")) mo.margin = XL_MARGIN_DISTANCE;
            else if (!strcmp(optarg, "absolute")) mo.margin = XL_MARGIN_ABSOLUTE;
            else return cli_usage("mine", "--margin must be ratio, distance or absolute (got \"%s\")", optarg);
            break;
        case 'D':
            if (!strcmp(optarg, "mine")) mo.mode = XL_MINE_MINE;
            else if (!strcmp(optarg, "intersect")) mo.mode = XL_MINE_INTERSECT;
            else if (!strcmp(optarg, "forward")) mo.mode = XL_MINE_FORWARD;
            else if (!strcmp(optarg, "backward")) mo.mode = XL_MINE_BACKWARD;
            else return cli_usage("mine", "--mode must be mine, intersect, forward or backward (got \"%s\")", optarg);
            break;
        case 'H': {
            char *e;
            errno = 0;
            mo.threshold = strtod(optarg, &e);
            if (errno || e == optarg || *e || isnan(mo.threshold)) {
                return cli_usage("mine", "--threshold must be a number (got \"%s\")", optarg);
            }
            break;
        }
        case 'o': out_path = optarg; break;
        case 'F':
            if (!strcmp(optarg, "tsv")) tsv = 1;
            else if (strcmp(optarg, "jsonl")) return cli_usage("mine", "--format must be jsonl or tsv (got \"%s\")", optarg);
            break;
        case 'P': eo.prompt_name = optarg; break;
        case 'X': eo.prefix = optarg; break;
        case 'L': if (cli_parse_int("mine", "--max-length", optarg, 1, 1 << 24, &eo.max_length)) return 2; break;
        case 'B': if (cli_parse_int("mine", "--batch", optarg, 1, 1 << 16, &eo.batch_size)) return 2; break;
        case 't': if (cli_parse_int("mine", "--threads", optarg, 1, 1024, &threads)) return 2; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_bad_option("mine", c, argv);
        }
    }
    int n_files = argc - optind;
    const char *src = n_files >= 1 ? argv[optind] : NULL, *tgt = n_files >= 2 ? argv[optind + 1] : NULL;
    if (n_files != 0 && n_files != 2) {
        return cli_usage("mine", "give two text files, SRC and TGT (got %d)", n_files);
    }
    if (dir && (src_emb || tgt_emb)) {
        return cli_usage("mine", "-m and --src-emb/--tgt-emb exclude each other");
    }
    if (!dir && (!src_emb || !tgt_emb)) {
        return cli_usage("mine", "give -m DIR with SRC TGT, or both --src-emb and --tgt-emb");
    }
    if (dir && !src) { return cli_usage("mine", "-m DIR needs the text files SRC TGT"); }
    if (tsv && !src) { return cli_usage("mine", "--format tsv needs the text files SRC TGT"); }
    if (out_path && !strcmp(out_path, "-")) out_path = NULL;

    lines_t ls = {0}, lt = {0};
    float *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0, dx = 0, dy = 0;
    xl_model *m = NULL;
    int rc = 0;
    if (src && (read_lines(src, &ls) || read_lines(tgt, &lt))) rc = 1;
    if (!rc && dir) {
        xl_model_options opt = {.threads = threads};
        eo.threads = threads;
        if (xl_model_load(dir, &opt, &m)) rc = cli_fail("mine");
        if (!rc) rc = embed_lines(m, &ls, &eo, "source", &x, &dx);
        if (!rc) rc = embed_lines(m, &lt, &eo, "target", &y, &dy);
        nx = ls.n;
        ny = lt.n;
    } else if (!rc) {
        rc = load_npy(src_emb, &x, &nx, &dx);
        if (!rc) rc = load_npy(tgt_emb, &y, &ny, &dy);
        if (!rc && dx != dy) {
            fprintf(stderr, "xling mine: dimensions differ: %s has %zu, %s has %zu\n", src_emb, dx, tgt_emb, dy);
            rc = 1;
        }
        if (!rc && src && (ls.n != nx || lt.n != ny)) {
            fprintf(stderr, "xling mine: %s has %zu lines for %zu vectors, %s %zu lines for %zu vectors\n", src, ls.n, nx,
                    tgt, lt.n, ny);
            rc = 1;
        }
    }
    if (!rc && (!nx || !ny)) {
        fprintf(stderr, "xling mine: nothing to mine: %zu source and %zu target sentences\n", nx, ny);
        rc = 1;
    }
    xl_mine_pair *pairs = NULL;
    size_t np = 0;
    if (!rc) {
        xl_l2_normalize_rows(x, nx, dx);
        xl_l2_normalize_rows(y, ny, dx);
        mo.threads = threads > 0 ? threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
        if (isatty(2)) { mo.progress = on_progress; mo.progress_ctx = "k-NN"; }
        if (xl_mine(x, nx, y, ny, dx, &mo, &pairs, &np)) rc = cli_fail("mine");
    }
    /* output: a temporary file beside the target, renamed once complete (cli/outfile.c) */
    outfile of = {0};
    if (!rc && outfile_open(&of, out_path)) rc = cli_report("mine");
    FILE *out = of.f;
    for (size_t i = 0; !rc && i < np; i++) {
        size_t s = (size_t)pairs[i].src, t = (size_t)pairs[i].tgt;
        if (tsv) {
            fprintf(out, "%.6f\t", pairs[i].score);
            fwrite(ls.v[s], 1, ls.len[s], out);
            fputc('\t', out);
            fwrite(lt.v[t], 1, lt.len[t], out);
            fputc('\n', out);
        } else {
            fprintf(out, "{\"score\":%.9g,\"src\":%zu,\"tgt\":%zu", pairs[i].score, s, t);
            if (src) {
                fputs(",\"src_text\":", out);
                cli_put_json_string(out, ls.v[s], ls.len[s]);
                fputs(",\"tgt_text\":", out);
                cli_put_json_string(out, lt.v[t], lt.len[t]);
            }
            fputs("}\n", out);
        }
    }
    if (of.f) {
        if (!rc && outfile_commit(&of)) rc = cli_report("mine");
        else if (rc) outfile_abort(&of);
    }
    free(pairs);
    free(x);
    free(y);
    lines_free(&ls);
    lines_free(&lt);
    xl_model_free(m);
    return rc;
}
