/* xling align: MEXA (Kargaran et al. 2024) cross-lingual alignment per layer on Tatoeba
 * pairs, for mean, position-weighted mean and last-token embeddings of every layer. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "eval_common.h"

static const char *usage =
    "usage: xling align -m DIR [--pairs eng-deu,eng-hin,...] [--n 1000] [-o DIR] [options]\n"
    "MEXA alignment of each layer with English on the Tatoeba pairs in data/: with n\n"
    "parallel sentences and C = cosine(language X rows, English columns), the fraction of\n"
    "i whose C[i][i] beats every other entry of row i and column i. Three embeddings per\n"
    "layer: mean-pooled, position-weighted mean (weights ~ 1-based position), last token.\n"
    "Layers as embed --layers: L + 1 entries, [0] the embedding output.\n"
    "  -m, --model DIR      model folder\n"
    "      --pairs LIST     eng-XXX pairs (or XXX) with Tatoeba codes (default: all)\n"
    "      --n N            the first N lines of each pair's files (default 1000)\n"
    "  -o, --output DIR     also write DIR/<model name>/MEXA.json (where eval writes)\n"
    "      --name NAME      model name in the results (default: the folder's name)\n"
    "      --data DIR       the data folder (default: $XLING_DATA, else the repo's data/)\n"
    "      --prompt NAME / --prefix STR   prompt for every sentence (default none)\n"
    "      --max-length N   truncate sentences to N tokens\n"
    "      --batch N        sequences per forward batch\n"
    "  -t, --threads N      threads\n";

static int oom_align(void) { fprintf(stderr, "xling align: out of memory\n"); return 1; }

static const char *const kinds[3] = {"mean", "weighted_mean", "last"};

int cmd_align(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},      {"pairs", required_argument, 0, 'p'},
        {"n", required_argument, 0, 'n'},          {"output", required_argument, 0, 'o'},
        {"name", required_argument, 0, 'N'},       {"data", required_argument, 0, 'd'},
        {"prompt", required_argument, 0, 'P'},     {"prefix", required_argument, 0, 'X'},
        {"max-length", required_argument, 0, 'L'}, {"batch", required_argument, 0, 'B'},
        {"threads", required_argument, 0, 't'},    {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *dir = NULL, *pairs_arg = NULL, *out_dir = NULL, *name_arg = NULL, *data_arg = NULL;
    int n_max = 1000, threads = 0, c;
    xl_embed_options eo;
    xl_embed_options_init(&eo);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:o:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': dir = optarg; break;
        case 'p': pairs_arg = optarg; break;
        case 'n': if (cli_parse_int("align", "--n", optarg, 2, 65536, &n_max)) return 2; break;
        case 'o': out_dir = optarg; break;
        case 'N': name_arg = optarg; break;
        case 'd': data_arg = optarg; break;
        case 'P': eo.prompt_name = optarg; break;
        case 'X': eo.prefix = optarg; break;
        case 'L': if (cli_parse_int("align", "--max-length", optarg, 1, 1 << 24, &eo.max_length)) return 2; break;
        case 'B': if (cli_parse_int("align", "--batch", optarg, 1, 1 << 16, &eo.batch_size)) return 2; break;
        case 't': if (cli_parse_int("align", "--threads", optarg, 1, 1024, &threads)) return 2; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_bad_option("align", c, argv);
        }
    }
    if (optind < argc) return cli_usage("align", "unexpected argument \"%s\"", argv[optind]);
    if (!dir) return cli_usage("align", "give the model folder with -m DIR");
    if (eo.prefix && eo.prompt_name) return cli_usage("align", "--prefix and --prompt cannot be used together");
    threads = cli_threads("align", threads);

    int rc = 0;
    char *data = evc_data_dir(data_arg), *name = evc_model_name(dir, name_arg), *mdir = NULL;
    char (*codes)[8] = NULL;
    size_t nc = 0, np = 0;
    int *sel = NULL;
    xl_model *m = NULL;
    float *buf[3] = {0}, *x = NULL, *y = NULL;
    double *score = NULL;   /* [np][3][L+1] */
    char **paths = NULL;
    json_t *pj = NULL;
    if (!data || !name) { fprintf(stderr, "xling align: out of memory\n"); rc = 1; goto done; }
    if (!evc_is_dir(data)) {
        fprintf(stderr, "xling align: data folder %s not found (give --data DIR or set XLING_DATA)\n", data);
        rc = 1;
        goto done;
    }
    if (xl_tatoeba_codes(data, &codes, &nc)) { rc = cli_fail("align"); goto done; }
    if (!(sel = malloc(nc * sizeof *sel)) || !(paths = calloc(2 * nc + 1, sizeof *paths))) {
        fprintf(stderr, "xling align: out of memory\n"); rc = 1; goto done;
    }
    if (!pairs_arg) {
        for (size_t i = 0; i < nc; i++) sel[np++] = (int)i;
    } else {
        char *s = strdup(pairs_arg), *save = NULL;
        for (char *tok = s ? strtok_r(s, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save)) {
            const char *code = !strncmp(tok, "eng-", 4) ? tok + 4 : tok;
            size_t i = 0;
            while (i < nc && strcmp(codes[i], code)) i++;
            if (i == nc || !strcmp(code, "eng")) {
                fprintf(stderr, "xling align: unknown pair \"%s\"; the Tatoeba pairs are eng-XXX with XXX one of:", tok);
                for (size_t k = 0; k < nc; k++) fprintf(stderr, " %s", codes[k]);
                fputc('\n', stderr);
                rc = 2;
                break;
            }
            int dup = 0;
            for (size_t k = 0; k < np; k++) dup |= sel[k] == (int)i;
            if (!dup) sel[np++] = (int)i;
        }
        free(s);
        if (rc) goto done;
        if (!np) { rc = cli_usage("align", "--pairs is empty"); goto done; }
    }
    if (out_dir) {
        if (!(mdir = evc_join(out_dir, name))) { fprintf(stderr, "xling align: out of memory\n"); rc = 1; goto done; }
        if (evc_mkdirs(mdir)) { rc = cli_report("align"); goto done; }
    }
    xl_model_options mopt = {.threads = threads};
    eo.threads = threads;
    if (xl_model_load(dir, &mopt, &m)) { rc = cli_fail("align"); goto done; }
    xl_model_info info;
    xl_model_get_info(m, &info);
    size_t NL = (size_t)xl_model_num_layer_outputs(m), H = (size_t)info.hidden_size;
    if (!(score = calloc(np * 3 * NL, sizeof *score))) { fprintf(stderr, "xling align: out of memory\n"); rc = 1; goto done; }
    int nthreads = threads > 0 ? threads : xl_default_threads();
    evc_progress pr;
    evc_progress_init(&pr, "xling align: embedding", 0);
    size_t used_n = 0;
    for (size_t p = 0; p < np && !rc; p++) {
        xl_lines xx, en;
        const char *code = codes[sel[p]];
        if (xl_tatoeba_load(data, code, (size_t)n_max, &xx, &en)) { rc = cli_fail("align"); break; }
        paths[2 * p] = xl_tatoeba_path(data, code, 0);
        paths[2 * p + 1] = xl_tatoeba_path(data, code, 1);
        size_t n = xx.n;
        if (n > used_n) used_n = n;
        /* one call for both sides: [0, n) language X, [n, 2n) English */
        const char **t = malloc(2 * n * sizeof *t);
        size_t *tl = malloc(2 * n * sizeof *tl);
        size_t per = NL * H;
        for (int k = 0; k < 3; k++) { free(buf[k]); buf[k] = malloc(2 * n * per * sizeof(float)); }
        free(x); free(y);
        x = malloc(n * H * sizeof *x);
        y = malloc(n * H * sizeof *y);
        if (!t || !tl || !buf[0] || !buf[1] || !buf[2] || !x || !y) {
            fprintf(stderr, "xling align: out of memory for %zu sentences x %zu layers x %zu\n", 2 * n, NL, H);
            rc = 1;
        }
        for (size_t i = 0; !rc && i < n; i++) {
            t[i] = xx.v[i]; tl[i] = xx.len[i];
            t[n + i] = en.v[i]; tl[n + i] = en.len[i];
        }
        xl_embed_options o = eo;
        pr.total = 2 * n;
        pr.start = evc_now();
        char what[64];
        snprintf(what, sizeof what, "xling align: eng-%s (%zu/%zu)", code, p + 1, np);
        pr.what = what;
        o.progress = evc_progress_cb;
        o.progress_ctx = &pr;
        if (!rc && xl_embed_texts_layers_weighted(m, t, tl, 2 * n, &o, buf[0], buf[1], buf[2], NULL))
            rc = cli_fail("align");
        if (pr.enabled) fputc('\n', stderr);
        for (int k = 0; k < 3 && !rc; k++)
            for (size_t l = 0; l < NL && !rc; l++) {
                for (size_t i = 0; i < n; i++) {
                    memcpy(x + i * H, buf[k] + (i * NL + l) * H, H * sizeof *x);
                    memcpy(y + i * H, buf[k] + ((n + i) * NL + l) * H, H * sizeof *y);
                }
                if (xl_eval_mexa(x, y, n, H, nthreads, &score[(p * 3 + (size_t)k) * NL + l])) rc = cli_fail("align");
            }
        free(t); free(tl);
        xl_lines_free(&xx);
        xl_lines_free(&en);
    }
    if (rc) goto done;

    /* table: the average over pairs per layer, then every pair */
    printf("MEXA alignment with English (x100), %zu pair%s, up to %zu sentences each\n", np, np == 1 ? "" : "s", used_n);
    printf("%-14s %-14s", "pair", "pooling");
    for (size_t l = 0; l < NL; l++) {
        char lab[24];
        snprintf(lab, sizeof lab, "L%zu", l);
        printf(" %6s", lab);
    }
    putchar('\n');
    pj = json_object();
    json_t *avg = json_object();
    for (int k = 0; k < 3; k++) {
        json_t *a = json_array();
        printf("%-14s %-14s", "average", kinds[k]);
        for (size_t l = 0; l < NL; l++) {
            double s = 0;
            for (size_t p = 0; p < np; p++) s += score[(p * 3 + (size_t)k) * NL + l];
            s /= (double)np;
            json_array_append_new(a, json_real(s));
            printf(" %6.1f", 100 * s);
        }
        putchar('\n');
        json_object_set_new(avg, kinds[k], a);
    }
    for (size_t p = 0; p < np; p++) {
        json_t *po = json_object();
        char pn[16];
        snprintf(pn, sizeof pn, "eng-%s", codes[sel[p]]);
        for (int k = 0; k < 3; k++) {
            json_t *a = json_array();
            printf("%-14s %-14s", pn, kinds[k]);
            for (size_t l = 0; l < NL; l++) {
                double s = score[(p * 3 + (size_t)k) * NL + l];
                json_array_append_new(a, json_real(s));
                printf(" %6.1f", 100 * s);
            }
            putchar('\n');
            json_object_set_new(po, kinds[k], a);
        }
        json_object_set_new(pj, pn, po);
    }
    fflush(stdout);
    if (mdir) {
        char rev[17];
        if (xl_files_hash((const char *const *)paths, 2 * np, rev)) { rc = cli_fail("align"); goto done; }
        json_t *res = json_object();
        json_object_set_new(res, "task_name", json_string("MEXA"));
        json_object_set_new(res, "xling_version", json_string(XLING_VERSION));
        json_object_set_new(res, "dataset_revision", json_string(rev));
        json_object_set_new(res, "n", json_integer((json_int_t)n_max));
        json_object_set_new(res, "num_layer_outputs", json_integer((json_int_t)NL));
        json_object_set_new(res, "pairs", pj);
        json_object_set_new(res, "average", avg);
        pj = NULL;
        char *path = evc_join(mdir, "MEXA.json");
        if (!path) rc = oom_align();
        else if (evc_write_json(path, res)) rc = cli_report("align");
        free(path);
        json_decref(res);
        json_t *s = json_object();
        json_object_set_new(s, "pairs", json_string(pairs_arg ? pairs_arg : "all"));
        json_object_set_new(s, "n", json_integer(n_max));
        json_object_set_new(s, "prompt", eo.prompt_name ? json_string(eo.prompt_name) : json_null());
        json_object_set_new(s, "prefix", eo.prefix ? json_string(eo.prefix) : json_null());
        if (rc) json_decref(s);
        else if (evc_write_meta(mdir, name, m, "align_settings", s)) rc = cli_report("align");
    } else {
        json_decref(avg);
    }
done:
    json_decref(pj);
    for (size_t i = 0; paths && i < 2 * nc; i++) free(paths[i]);
    free(paths);
    for (int k = 0; k < 3; k++) free(buf[k]);
    free(x); free(y); free(score); free(sel); free(codes); free(data); free(name); free(mdir);
    xl_model_free(m);
    return rc;
}
