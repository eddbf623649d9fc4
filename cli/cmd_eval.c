/* xling eval: Tatoeba bitext mining, multilingual STS-B (mono- and cross-lingual) and
 * Tatoeba retrieval on the data in data/, results in mteb's layout. Every distinct text
 * is embedded once for all the tasks of a run; scoring lives in src/eval/. */
#include <getopt.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "eval_common.h"

static const char *usage =
    "usage: xling eval -m DIR [--tasks LIST] [--langs LIST] [-o DIR] [options]\n"
    "Evaluates a model offline on the benchmarks in data/ (see data/README.md):\n"
    "  tatoeba            bitext mining xxx-eng (mteb's BitextMiningEvaluator: f1 main;\n"
    "                     accuracy, precision, recall; LASER error rates both ways)\n"
    "  sts                multilingual STS-B test split per language (cosine_spearman main)\n"
    "  sts-cross          STS-B with sentence 1 and 2 in two languages (default en-X)\n"
    "  tatoeba-retrieval  xxx queries against the distinct English sentences of all the\n"
    "                     pairs evaluated (ndcg_at_10 main)\n"
    "  -m, --model DIR        model folder\n"
    "      --tasks LIST       comma-separated tasks (default: all four)\n"
    "      --langs LIST       Tatoeba codes (deu or deu-eng), STS-B codes (de), cross pairs\n"
    "                         (en-de); each task takes the ones that apply to it\n"
    "  -o, --output DIR       results in DIR/<model name>/<TaskName>.json (mteb's layout)\n"
    "      --name NAME        model name in the results (default: the folder's name)\n"
    "      --resume           skip tasks whose result file exists\n"
    "      --report FILE      also write the HTML report of DIR (needs -o)\n"
    "      --data DIR         the data folder (default: $XLING_DATA, else the repo's data/)\n"
    "      --prompt NAME      prompt for Tatoeba and STS sentences and retrieval queries\n"
    "      --prefix STR       literal prefix instead\n"
    "      --instruct TEXT    task instruction (instruction-tuned embedders) instead\n"
    "      --doc-prompt NAME  prompt for the retrieval documents (default: none)\n"
    "      --max-length N     truncate texts to N tokens\n"
    "      --batch N          sequences per forward batch\n"
    "  -t, --threads N        threads\n"
    "Prints a summary (scores x100) on stdout; progress with an ETA on stderr (terminal).\n";

enum { T_TATOEBA, T_STS, T_CROSS, T_RETR, N_TASKS };
static const char *const task_keys[N_TASKS] = {"tatoeba", "sts", "sts-cross", "tatoeba-retrieval"};
static const char *const task_names[N_TASKS] = {"Tatoeba", "STSBenchmarkMultilingualSTS",
                                                "STSBenchmarkMultilingualSTSCross", "TatoebaRetrieval"};

/* One subset of a task: its texts as ids into the query-side (a) or document-side set. */
typedef struct {
    int task;
    char subset[16], lang_a[16], lang_b[16];
    size_t n;
    size_t *ia, *ib;   /* texts of side a and b (retrieval: ib = corpus rows) */
    double *gold;
} unit;

typedef struct {
    unit *u;
    size_t n, cap;
} units;

static unit *unit_new(units *us, int task) {
    if (us->n == us->cap) {
        size_t cap = us->cap ? 2 * us->cap : 64;
        unit *p = realloc(us->u, cap * sizeof *p);
        if (!p) return NULL;
        us->u = p;
        us->cap = cap;
    }
    unit *u = &us->u[us->n++];
    memset(u, 0, sizeof *u);
    u->task = task;
    return u;
}

static int oom(void) { fprintf(stderr, "xling eval: out of memory\n"); return 1; }

/* A failure of the CLI's own (message into cli_error()), as a non-OK status. */
static xl_status fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static xl_status fail(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cli_set_error("%s", msg);
    return XL_ERR_INPUT;
}

/* A library call's status, its message taken into cli_error() when it failed. */
static xl_status lib(xl_status st) {
    if (st) cli_take_lib_error();
    return st;
}

/* Splits a comma list into a NULL-terminated array of strdup'd items. */
static char **split(const char *s, size_t *n) {
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    char **v = calloc(cap + 1, sizeof *v);
    *n = 0;
    if (!v) return NULL;
    const char *p = s;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t L = c ? (size_t)(c - p) : strlen(p);
        if (L) v[(*n)++] = strndup(p, L);
        if (!c) break;
        p = c + 1;
    }
    return v;
}

static void free_list(char **v) {
    for (size_t i = 0; v && v[i]; i++) free(v[i]);
    free(v);
}

/* Which languages of each task a --langs token selects. */
static int tatoeba_index(char (*codes)[8], size_t nc, const char *tok) {
    char c[8];
    size_t L = strlen(tok);
    if (L == 7 && !strcmp(tok + 3, "-eng")) L = 3;
    if (L != 3) return -1;
    memcpy(c, tok, 3);
    c[3] = '\0';
    for (size_t i = 0; i < nc; i++)
        if (!strcmp(codes[i], c)) return (int)i;
    return -1;
}

/* "a-b" with two STS-B languages, or "x" (x != en) meaning en-x; -1 if neither. */
static int cross_pair(const char *tok, int *a, int *b) {
    const char *d = strchr(tok, '-');
    if (!d) {
        *a = 0;
        *b = xl_stsb_lang_index(tok);
        return *b > 0 ? 0 : -1;
    }
    char x[8];
    if ((size_t)(d - tok) >= sizeof x) return -1;
    memcpy(x, tok, (size_t)(d - tok));
    x[d - tok] = '\0';
    *a = xl_stsb_lang_index(x);
    *b = xl_stsb_lang_index(d + 1);
    return *a >= 0 && *b >= 0 && *a != *b ? 0 : -1;
}

static void print_known(char (*codes)[8], size_t nc, const int *want) {
    if (want[T_TATOEBA] || want[T_RETR]) {
        fprintf(stderr, "  Tatoeba (ISO 639-3, as its file names):");
        for (size_t i = 0; i < nc; i++) fprintf(stderr, " %s", codes[i]);
        fputc('\n', stderr);
    }
    if (want[T_STS] || want[T_CROSS]) {
        fprintf(stderr, "  STS-B:");
        for (int i = 0; xl_stsb_langs[i]; i++) fprintf(stderr, " %s", xl_stsb_langs[i]);
        fprintf(stderr, "%s\n", want[T_CROSS] ? " (sts-cross: pairs such as en-de, de-fr)" : "");
    }
}

static xl_status add_lines(xl_textset *ts, const xl_lines *l, size_t **ids) {
    *ids = malloc((l->n ? l->n : 1) * sizeof **ids);
    if (!*ids) return fail("out of memory");
    for (size_t i = 0; i < l->n; i++) {
        xl_status st = lib(xl_textset_add(ts, l->v[i], l->len[i], &(*ids)[i]));
        if (st) return st;
    }
    return XL_OK;
}

/* Rows of emb picked by ids, L2-normalised if asked. */
static float *gather(const float *emb, const size_t *ids, size_t n, size_t dim, int normalize) {
    float *o = malloc((n ? n : 1) * dim * sizeof *o);
    if (!o) return NULL;
    for (size_t i = 0; i < n; i++) memcpy(o + i * dim, emb + ids[i] * dim, dim * sizeof *o);
    if (normalize) xl_l2_normalize_rows(o, n, dim);
    return o;
}

static void set_num(json_t *o, const char *k, double v) { json_object_set_new(o, k, json_real(v)); }

/* Scores one unit into a scores.test entry (NULL on error, message in cli_error()).
 * emb: the query-side embeddings; corpus: the normalised retrieval corpus. */
static json_t *score_unit(const unit *u, const float *emb, const float *corpus, size_t dim, size_t n_corpus,
                          int threads, double *main_score) {
    json_t *o = json_object();
    json_object_set_new(o, "hf_subset", json_string(u->subset));
    json_t *langs = json_array();
    json_array_append_new(langs, json_string(u->lang_a));
    if (u->lang_b[0] && strcmp(u->lang_a, u->lang_b)) json_array_append_new(langs, json_string(u->lang_b));
    json_object_set_new(o, "languages", langs);
    xl_status st = XL_OK;
    int sts = u->task == T_STS || u->task == T_CROSS;
    float *a = gather(emb, u->ia, u->n, dim, !sts);
    float *b = u->task == T_RETR ? NULL : gather(emb, u->ib, u->n, dim, !sts);
    if (!a || (!b && u->task != T_RETR)) st = fail("out of memory");
    if (!st && u->task == T_TATOEBA) {
        xl_bitext_scores s;
        st = lib(xl_eval_bitext(a, b, u->n, dim, threads, &s));
        set_num(o, "accuracy", s.accuracy);
        set_num(o, "precision", s.precision);
        set_num(o, "recall", s.recall);
        set_num(o, "f1", s.f1);
        set_num(o, "laser_error_xx_en", s.laser_error_xx_en);
        set_num(o, "laser_error_en_xx", s.laser_error_en_xx);
        *main_score = s.f1;
    } else if (!st && sts) {
        xl_sts_scores s;
        st = lib(xl_eval_sts(a, b, u->n, dim, u->gold, &s));
        set_num(o, "cosine_pearson", s.cosine_pearson);
        set_num(o, "cosine_spearman", s.cosine_spearman);
        set_num(o, "manhattan_pearson", s.manhattan_pearson);
        set_num(o, "manhattan_spearman", s.manhattan_spearman);
        set_num(o, "euclidean_pearson", s.euclidean_pearson);
        set_num(o, "euclidean_spearman", s.euclidean_spearman);
        set_num(o, "pearson", s.cosine_pearson);
        set_num(o, "spearman", s.cosine_spearman);
        *main_score = s.cosine_spearman;
    } else if (!st) {
        xl_retrieval_scores s;
        st = lib(xl_eval_retrieval(a, u->n, corpus, n_corpus, dim, u->ib, threads, &s));
        set_num(o, "ndcg_at_10", s.ndcg_at_10);
        set_num(o, "mrr_at_10", s.mrr_at_10);
        set_num(o, "recall_at_1", s.recall_at_1);
        set_num(o, "recall_at_10", s.recall_at_10);
        set_num(o, "recall_at_100", s.recall_at_100);
        *main_score = s.ndcg_at_10;
    }
    free(a);
    free(b);
    if (st) { json_decref(o); return NULL; }
    set_num(o, "main_score", *main_score);
    return o;
}

static void units_free(units *us) {
    for (size_t i = 0; i < us->n; i++) {
        free(us->u[i].ia);
        free(us->u[i].ib);
        free(us->u[i].gold);
    }
    free(us->u);
}

/* Appends path to a task's file list (for its dataset_revision). */
static int push_path(char ***v, size_t *n, char *path) {
    if (!path) return 1;
    char **p = realloc(*v, (*n + 1) * sizeof *p);
    if (!p) { free(path); return 1; }
    *v = p;
    p[(*n)++] = path;
    return 0;
}

static const char *main_metric(int task) {
    return task == T_TATOEBA ? "f1" : task == T_RETR ? "ndcg_at_10" : "cosine_spearman";
}

int cmd_eval(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},      {"tasks", required_argument, 0, 'T'},
        {"langs", required_argument, 0, 'l'},      {"output", required_argument, 0, 'o'},
        {"name", required_argument, 0, 'N'},       {"resume", no_argument, 0, 'R'},
        {"report", required_argument, 0, 'r'},     {"data", required_argument, 0, 'd'},
        {"prompt", required_argument, 0, 'P'},     {"prefix", required_argument, 0, 'X'},
        {"instruct", required_argument, 0, 'I'},   {"doc-prompt", required_argument, 0, 'D'},
        {"max-length", required_argument, 0, 'L'}, {"batch", required_argument, 0, 'B'},
        {"threads", required_argument, 0, 't'},    {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *dir = NULL, *tasks_arg = NULL, *langs_arg = NULL, *out_dir = NULL, *name_arg = NULL;
    const char *report = NULL, *data_arg = NULL, *doc_prompt = NULL;
    int resume = 0, threads = 0, c;
    xl_embed_options eo;
    xl_embed_options_init(&eo);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:o:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': dir = optarg; break;
        case 'T': tasks_arg = optarg; break;
        case 'l': langs_arg = optarg; break;
        case 'o': out_dir = optarg; break;
        case 'N': name_arg = optarg; break;
        case 'R': resume = 1; break;
        case 'r': report = optarg; break;
        case 'd': data_arg = optarg; break;
        case 'P': eo.prompt_name = optarg; break;
        case 'X': eo.prefix = optarg; break;
        case 'I': eo.instruct = optarg; break;
        case 'D': doc_prompt = optarg; break;
        case 'L': if (cli_parse_int("eval", "--max-length", optarg, 1, 1 << 24, &eo.max_length)) return 2; break;
        case 'B': if (cli_parse_int("eval", "--batch", optarg, 1, 1 << 16, &eo.batch_size)) return 2; break;
        case 't': if (cli_parse_int("eval", "--threads", optarg, 1, 1024, &threads)) return 2; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_bad_option("eval", c, argv);
        }
    }
    if (optind < argc) return cli_usage("eval", "unexpected argument \"%s\"", argv[optind]);
    if (!dir) return cli_usage("eval", "give the model folder with -m DIR");
    if ((resume || report) && !out_dir) return cli_usage("eval", "--resume and --report need -o DIR");
    if (eo.instruct && eo.prefix) return cli_usage("eval", "--instruct and --prefix cannot be used together");
    if (eo.instruct && eo.prompt_name) return cli_usage("eval", "--instruct and --prompt cannot be used together");
    if (eo.prefix && eo.prompt_name) return cli_usage("eval", "--prefix and --prompt cannot be used together");
    threads = cli_threads("eval", threads);

    /* tasks */
    int want[N_TASKS] = {0};
    size_t nt = 0;
    char **tl = split(tasks_arg ? tasks_arg : "tatoeba,sts,sts-cross,tatoeba-retrieval", &nt);
    if (!tl) return oom();
    for (size_t i = 0; i < nt; i++) {
        int k = 0;
        while (k < N_TASKS && strcmp(tl[i], task_keys[k])) k++;
        if (k == N_TASKS) {
            int r = cli_usage("eval", "unknown task \"%s\" (tasks: tatoeba, sts, sts-cross, tatoeba-retrieval)", tl[i]);
            free_list(tl);
            return r;
        }
        want[k] = 1;
    }
    free_list(tl);
    if (!nt) return cli_usage("eval", "--tasks is empty (tasks: tatoeba, sts, sts-cross, tatoeba-retrieval)");

    int rc = 0;
    char *data = evc_data_dir(data_arg), *name = evc_model_name(dir, name_arg), *mdir = NULL;
    char (*codes)[8] = NULL;
    size_t nc = 0;
    unsigned char *tsel = NULL;
    int ssel[16] = {0}, cross[128][2], ncross = 0;
    char **ll = NULL;
    xl_textset *qs = xl_textset_new(), *cs = xl_textset_new();
    units us = {0};
    char **paths[N_TASKS] = {0};
    size_t npaths[N_TASKS] = {0};
    xl_sts_set sets[16] = {0};
    int loaded[16] = {0};
    xl_model *m = NULL;
    float *emb = NULL, *demb = NULL, *corpus = NULL;
    size_t *corpus_ids = NULL;
    if (!data || !name || !qs || !cs) { rc = oom(); goto done; }
    if (!evc_is_dir(data)) {
        fprintf(stderr, "xling eval: data folder %s not found (give --data DIR or set XLING_DATA)\n", data);
        rc = 1;
        goto done;
    }
    if (want[T_TATOEBA] || want[T_RETR]) {
        if (xl_tatoeba_codes(data, &codes, &nc)) { rc = cli_fail("eval"); goto done; }
        if (!(tsel = calloc(nc, 1))) { rc = oom(); goto done; }
    }
    /* languages: each token must name a language of at least one selected task */
    if (langs_arg) {
        size_t nl;
        if (!(ll = split(langs_arg, &nl))) { rc = oom(); goto done; }
        for (size_t i = 0; i < nl; i++) {
            int used = 0, a, b, t;
            if ((want[T_TATOEBA] || want[T_RETR]) && (t = tatoeba_index(codes, nc, ll[i])) >= 0) { tsel[t] = 1; used = 1; }
            if (want[T_STS] && (t = xl_stsb_lang_index(ll[i])) >= 0) { ssel[t] = 1; used = 1; }
            if (want[T_CROSS] && cross_pair(ll[i], &a, &b) == 0) {
                int dup = 0;
                for (int k = 0; k < ncross; k++) dup |= cross[k][0] == a && cross[k][1] == b;
                if (!dup && ncross < 128) { cross[ncross][0] = a; cross[ncross][1] = b; ncross++; }
                used = 1;
            }
            if (!used) {
                fprintf(stderr, "xling eval: unknown language \"%s\" for the tasks selected; they have:\n", ll[i]);
                print_known(codes, nc, want);
                rc = 2;
                goto done;
            }
        }
    } else {
        for (size_t i = 0; i < nc; i++) tsel[i] = 1;
        /* by default, the STS-B languages whose file the data folder has (as Tatoeba's) */
        for (int i = 0; xl_stsb_langs[i]; i++) {
            char *p = xl_stsb_path(data, xl_stsb_langs[i]);
            ssel[i] = p && evc_exists(p);
            free(p);
        }
        for (int i = 1; xl_stsb_langs[i] && ssel[0]; i++)
            if (ssel[i]) { cross[ncross][0] = 0; cross[ncross][1] = i; ncross++; }
    }
    int any_t = 0, any_s = 0;
    for (size_t i = 0; i < nc; i++) any_t |= tsel[i];
    for (int i = 0; xl_stsb_langs[i]; i++) any_s |= ssel[i];
    int has[N_TASKS] = {any_t, any_s, ncross > 0, any_t};
    for (int k = 0; k < N_TASKS; k++)
        if (want[k] && !has[k]) {
            fprintf(stderr, "xling eval: --langs selects no language of %s; skipping it\n", task_keys[k]);
            want[k] = 0;
        }

    /* results folder; --resume drops the tasks already done */
    if (out_dir) {
        if (!(mdir = evc_join(out_dir, name))) { rc = oom(); goto done; }
        if (evc_mkdirs(mdir)) { rc = cli_report("eval"); goto done; }
        for (int k = 0; k < N_TASKS; k++) {
            if (!want[k] || !resume) continue;
            char fn[96];
            snprintf(fn, sizeof fn, "%s.json", task_names[k]);
            char *p = evc_join(mdir, fn);
            if (p && evc_exists(p)) {
                fprintf(stderr, "xling eval: %s: %s exists, skipped (--resume)\n", task_keys[k], p);
                want[k] = 0;
            }
            free(p);
        }
    }

    /* data → units over distinct texts */
    double t_start = evc_now(), t_data = 0, t_load = 0, t_embed = 0, t_score = 0, t_out = 0;
    xl_status st = XL_OK;
    for (size_t i = 0; !st && i < nc && (want[T_TATOEBA] || want[T_RETR]); i++) {
        if (!tsel[i]) continue;
        xl_lines xx, en;
        if ((st = lib(xl_tatoeba_load(data, codes[i], 0, &xx, &en)))) break;
        for (int k = T_TATOEBA; k <= T_RETR && !st; k += T_RETR - T_TATOEBA) {
            if (!want[k]) continue;
            unit *u = unit_new(&us, k);
            if (!u) { st = fail("out of memory"); break; }
            snprintf(u->subset, sizeof u->subset, "%s-eng", codes[i]);
            snprintf(u->lang_a, sizeof u->lang_a, "%s-%s", codes[i], xl_tatoeba_script(codes[i]));
            snprintf(u->lang_b, sizeof u->lang_b, "eng-Latn");
            u->n = xx.n;
            st = add_lines(qs, &xx, &u->ia);
            if (!st) st = add_lines(k == T_TATOEBA ? qs : cs, &en, &u->ib);
            if (!st && (push_path(&paths[k], &npaths[k], xl_tatoeba_path(data, codes[i], 0)) ||
                        push_path(&paths[k], &npaths[k], xl_tatoeba_path(data, codes[i], 1))))
                st = fail("out of memory");
        }
        xl_lines_free(&xx);
        xl_lines_free(&en);
    }
    for (int l = 0; !st && xl_stsb_langs[l]; l++) {
        int need = want[T_STS] && ssel[l];
        for (int k = 0; k < ncross && want[T_CROSS]; k++) need |= cross[k][0] == l || cross[k][1] == l;
        if (!need) continue;
        if ((st = lib(xl_stsb_load(data, xl_stsb_langs[l], &sets[l])))) break;
        loaded[l] = 1;
        if (sets[l].s1.n != sets[0].s1.n && loaded[0])
            st = fail("STS-B %s has %zu pairs but en has %zu: the translations must be parallel",
                        xl_stsb_langs[l], sets[l].s1.n, sets[0].s1.n);
    }
    for (int l = 0; !st && want[T_STS] && xl_stsb_langs[l]; l++) {
        if (!ssel[l]) continue;
        unit *u = unit_new(&us, T_STS);
        if (!u) { st = fail("out of memory"); break; }
        snprintf(u->subset, sizeof u->subset, "%s", xl_stsb_langs[l]);
        snprintf(u->lang_a, sizeof u->lang_a, "%s", xl_stsb_iso3[l]);
        u->n = sets[l].s1.n;
        st = add_lines(qs, &sets[l].s1, &u->ia);
        if (!st) st = add_lines(qs, &sets[l].s2, &u->ib);
        if (!st && !(u->gold = malloc(u->n * sizeof *u->gold))) st = fail("out of memory");
        if (!st) memcpy(u->gold, sets[l].score, u->n * sizeof *u->gold);
        if (!st && push_path(&paths[T_STS], &npaths[T_STS], xl_stsb_path(data, xl_stsb_langs[l])))
            st = fail("out of memory");
    }
    for (int k = 0; !st && want[T_CROSS] && k < ncross; k++) {
        int a = cross[k][0], b = cross[k][1];
        if (sets[a].s1.n != sets[b].s1.n) {
            st = fail("STS-B %s has %zu pairs but %s has %zu: the translations must be parallel",
                        xl_stsb_langs[a], sets[a].s1.n, xl_stsb_langs[b], sets[b].s1.n);
            break;
        }
        unit *u = unit_new(&us, T_CROSS);
        if (!u) { st = fail("out of memory"); break; }
        snprintf(u->subset, sizeof u->subset, "%s-%s", xl_stsb_langs[a], xl_stsb_langs[b]);
        snprintf(u->lang_a, sizeof u->lang_a, "%s", xl_stsb_iso3[a]);
        snprintf(u->lang_b, sizeof u->lang_b, "%s", xl_stsb_iso3[b]);
        u->n = sets[a].s1.n;
        st = add_lines(qs, &sets[a].s1, &u->ia);
        if (!st) st = add_lines(qs, &sets[b].s2, &u->ib);
        /* the gold score belongs to the pair, whatever its languages (the English one) */
        if (!st && !(u->gold = malloc(u->n * sizeof *u->gold))) st = fail("out of memory");
        if (!st) memcpy(u->gold, sets[a].score, u->n * sizeof *u->gold);
        if (!st && (push_path(&paths[T_CROSS], &npaths[T_CROSS], xl_stsb_path(data, xl_stsb_langs[a])) ||
                    push_path(&paths[T_CROSS], &npaths[T_CROSS], xl_stsb_path(data, xl_stsb_langs[b]))))
            st = fail("out of memory");
    }
    if (st) { rc = cli_report("eval"); goto done; }
    if (!us.n) { fprintf(stderr, "xling eval: nothing to do\n"); goto done; }

    /* embeddings: every distinct text once; the retrieval corpus on the document side
     * (its own options only when they differ from the query side's) */
    t_data = evc_now() - t_start;
    xl_model_options mopt = {.threads = threads};
    eo.threads = threads;
    double tl0 = evc_now();
    if (xl_model_load(dir, &mopt, &m)) { rc = cli_fail("eval"); goto done; }
    t_load = evc_now() - tl0;
    size_t dim = (size_t)xl_embed_dim(m, &eo);
    int same_side = !eo.prompt_name && !eo.prefix && !eo.instruct && !doc_prompt;
    size_t ncorp = xl_textset_count(cs);
    if (same_side && ncorp) {
        if (!(corpus_ids = malloc(ncorp * sizeof *corpus_ids))) { rc = oom(); goto done; }
        for (size_t i = 0; i < ncorp && !st; i++)
            st = lib(xl_textset_add(qs, xl_textset_texts(cs)[i], xl_textset_lens(cs)[i], &corpus_ids[i]));
        if (st) { rc = cli_report("eval"); goto done; }
    }
    size_t nq = xl_textset_count(qs), ndoc = same_side ? 0 : ncorp;
    evc_progress pr;
    evc_progress_init(&pr, "xling eval: embedding", nq + ndoc);
    double t0 = evc_now();
    xl_embed_options qo = eo;
    qo.progress = evc_progress_cb;
    qo.progress_ctx = &pr;
    if (!(emb = malloc((nq ? nq : 1) * dim * sizeof *emb))) { rc = oom(); goto done; }
    if (xl_embed_texts(m, xl_textset_texts(qs), xl_textset_lens(qs), nq, &qo, emb, NULL)) { rc = cli_fail("eval"); goto done; }
    if (ndoc) {
        xl_embed_options dopt = qo;
        dopt.prompt_name = doc_prompt;
        dopt.prefix = NULL;
        dopt.instruct = NULL;
        pr.base = nq;
        if (!(demb = malloc(ndoc * dim * sizeof *demb))) { rc = oom(); goto done; }
        if (xl_embed_texts(m, xl_textset_texts(cs), xl_textset_lens(cs), ndoc, &dopt, demb, NULL)) { rc = cli_fail("eval"); goto done; }
    }
    evc_progress_end(&pr);
    t_embed = evc_now() - t0;
    if (ncorp) {
        if (same_side) corpus = gather(emb, corpus_ids, ncorp, dim, 1);
        else { corpus = demb; demb = NULL; xl_l2_normalize_rows(corpus, ncorp, dim); }
        if (!corpus) { rc = oom(); goto done; }
    }

    /* scoring, one result file per task; embedding time shared by the texts each task uses */
    size_t refs[N_TASKS] = {0}, all_refs = 0;
    for (size_t i = 0; i < us.n; i++) { refs[us.u[i].task] += 2 * us.u[i].n; all_refs += 2 * us.u[i].n; }
    int nthreads = threads > 0 ? threads : xl_default_threads();
    for (int k = 0; k < N_TASKS && !rc; k++) {
        if (!want[k]) continue;
        double t1 = evc_now(), sum = 0;
        size_t cnt = 0;
        json_t *test = json_array();
        printf("%s (%s x100)\n", task_names[k], main_metric(k));
        for (size_t i = 0; i < us.n; i++) {
            if (us.u[i].task != k) continue;
            double ms = 0;
            json_t *e = score_unit(&us.u[i], emb, corpus, dim, ncorp, nthreads, &ms);
            if (!e) { rc = cli_report("eval"); break; }
            json_array_append_new(test, e);
            printf("  %-10s %6.2f\n", us.u[i].subset, 100 * ms);
            sum += ms;
            cnt++;
        }
        if (rc) { json_decref(test); break; }
        t_score += evc_now() - t1;
        double to0 = evc_now();
        printf("  %-10s %6.2f\n", "mean", cnt ? 100 * sum / (double)cnt : 0.0);
        char rev[17];
        if (xl_files_hash((const char *const *)paths[k], npaths[k], rev)) { json_decref(test); rc = cli_fail("eval"); break; }
        double et = evc_now() - t1 + (all_refs ? t_embed * (double)refs[k] / (double)all_refs : 0);
        json_t *res = json_object();
        json_object_set_new(res, "task_name", json_string(task_names[k]));
        json_object_set_new(res, "mteb_version", json_null());
        json_object_set_new(res, "xling_version", json_string(XLING_VERSION));
        json_object_set_new(res, "dataset_revision", json_string(rev));
        json_object_set_new(res, "evaluation_time", json_real(et));
        json_object_set_new(res, "kg_co2_emissions", json_null());
        json_t *scores = json_object();
        json_object_set_new(scores, "test", test);
        json_object_set_new(res, "scores", scores);
        if (mdir) {
            char fn[96];
            snprintf(fn, sizeof fn, "%s.json", task_names[k]);
            char *p = evc_join(mdir, fn);
            if (!p || evc_write_json(p, res)) rc = p ? cli_report("eval") : oom();
            free(p);
        }
        json_decref(res);
        t_out += evc_now() - to0;
    }
    fflush(stdout);
    if (!rc && isatty(2))
        fprintf(stderr, "xling eval: data %.2fs, model load %.2fs, embedding %zu texts %.2fs, scoring %.2fs, output %.2fs\n",
                t_data, t_load, nq + ndoc, t_embed, t_score, t_out);
    if (!rc && mdir) {
        json_t *s = json_object();
        json_object_set_new(s, "prompt", eo.prompt_name ? json_string(eo.prompt_name) : json_null());
        json_object_set_new(s, "prefix", eo.prefix ? json_string(eo.prefix) : json_null());
        json_object_set_new(s, "instruct", eo.instruct ? json_string(eo.instruct) : json_null());
        json_object_set_new(s, "doc_prompt", doc_prompt ? json_string(doc_prompt) : json_null());
        json_object_set_new(s, "max_length", json_integer(eo.max_length));
        json_object_set_new(s, "langs", langs_arg ? json_string(langs_arg) : json_string("all"));
        json_object_set_new(s, "distinct_texts", json_integer((json_int_t)(nq + ndoc)));
        json_t *tm = json_object();   /* seconds: where the run's time went */
        json_object_set_new(tm, "data", json_real(t_data));
        json_object_set_new(tm, "model_load", json_real(t_load));
        json_object_set_new(tm, "embedding", json_real(t_embed));
        json_object_set_new(tm, "scoring", json_real(t_score));
        json_object_set_new(tm, "output", json_real(t_out));
        json_object_set_new(s, "time", tm);
        if (evc_write_meta(mdir, name, m, "eval_settings", s)) rc = cli_report("eval");
    }
done:
    if (!rc && report && report_write(out_dir, report)) rc = 1;
    for (int k = 0; k < N_TASKS; k++) {
        for (size_t i = 0; i < npaths[k]; i++) free(paths[k][i]);
        free(paths[k]);
    }
    for (int l = 0; l < 16; l++)
        if (loaded[l]) xl_sts_set_free(&sets[l]);
    units_free(&us);
    free_list(ll);
    free(codes); free(tsel); free(data); free(name); free(mdir);
    free(emb); free(demb); free(corpus); free(corpus_ids);
    xl_textset_free(qs);
    xl_textset_free(cs);
    xl_model_free(m);
    return rc;
}
