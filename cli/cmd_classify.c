/* xling classify: logistic regression on embeddings (liblinear), trained in one language
 * and applied to any other — zero-shot cross-lingual transfer when the model puts
 * translations together. The classifier file records the model's identity and prompt. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "labelled.h"
#include "outfile.h"

static const char *usage =
    "usage: xling classify train -m DIR -i TRAIN.jsonl -o CLF [options]\n"
    "       xling classify predict --classifier CLF [-m DIR] -i TEST.jsonl [--eval] [-o FILE]\n"
    "train: embeds the texts of {\"text\", \"label\"} JSONL lines and fits an L2-regularised\n"
    "logistic regression with liblinear (one-vs-rest for more than two classes, as liblinear\n"
    "does it); CLF (JSON) records the model folder, its identity (xl_model_fingerprint), the\n"
    "prompt and the weights. predict: {\"label\": ..., \"scores\": {label: p}} per line, in\n"
    "input order (\"id\" copied), probabilities as liblinear's predict_probability (sum 1);\n"
    "--eval: every line has a gold \"label\": accuracy and macro-F1 (scikit-learn's) on stderr.\n"
    "Zero-shot cross-lingual transfer: train on English lines, predict on Swahili ones.\n"
    "  -m, --model DIR       model folder (predict: default the one recorded in CLF; its\n"
    "                        identity must equal the recorded one)\n"
    "  -i, --input FILE      JSONL input (default stdin)\n"
    "  -o, --output FILE     train: the classifier file; predict: output (default stdout)\n"
    "      --classifier CLF  predict: the classifier file\n"
    "  -C X                  train: inverse regularisation strength (default 1)\n"
    "      --prompt NAME     train: prompt of config_sentence_transformers.json (recorded)\n"
    "      --prefix STR      train: literal prefix (recorded)\n"
    "      --eval            predict: print accuracy and macro-F1 against the gold labels\n"
    "  -t, --threads N       threads\n";

/* The JSON text of a label as an object key: a string's value, else the text itself. */
static char *label_key(const char *json_text) {
    json_error_t e;
    json_t *j = json_loads(json_text, JSON_DECODE_ANY, &e);
    char *k = json_is_string(j) ? strdup(json_string_value(j)) : strdup(json_text);
    json_decref(j);
    return k;
}

static int embed_items(xl_model *m, const items_t *it, const xl_embed_options *eo, float **out, int *dim) {
    *dim = xl_embed_dim(m, eo);
    *out = malloc((it->n ? it->n : 1) * (size_t)*dim * sizeof **out);
    if (!*out) { cli_set_error("out of memory (%zu embeddings)", it->n); return -1; }
    if (xl_embed_texts(m, (const char *const *)it->text, it->len, it->n, eo, *out, NULL)) {
        cli_take_lib_error();
        return -1;
    }
    return 0;
}

static int train(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},  {"input", required_argument, 0, 'i'},
        {"output", required_argument, 0, 'o'}, {"prompt", required_argument, 0, 'P'},
        {"prefix", required_argument, 0, 'X'}, {"threads", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *cmd = "classify train", *dir = NULL, *in_path = NULL, *out_path = NULL;
    double C = 1.0;
    int threads = 0, c;
    xl_embed_options eo;
    xl_embed_options_init(&eo);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:i:o:C:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': dir = optarg; break;
        case 'i': in_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'P': eo.prompt_name = optarg; break;
        case 'X': eo.prefix = optarg; break;
        case 'C': {
            char *e;
            errno = 0;
            C = strtod(optarg, &e);
            if (errno || e == optarg || *e || !(C > 0) || !isfinite(C)) return cli_usage(cmd, "-C must be a positive number (got \"%s\")", optarg);
            break;
        }
        case 't': if (cli_parse_int(cmd, "--threads", optarg, 1, 1024, &threads)) return 2; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    if (optind < argc) return cli_usage(cmd, "unexpected argument \"%s\"", argv[optind]);
    if (!dir || !out_path) return cli_usage(cmd, "-m DIR and -o CLF are required");
    if (eo.prompt_name && eo.prefix) return cli_usage(cmd, "--prompt and --prefix exclude each other");
    if (in_path && !strcmp(in_path, "-")) in_path = NULL;
    items_t it = {0};
    if (labelled_read("classify train", in_path, 1, &it)) return 1;
    int *y = malloc((it.n ? it.n : 1) * sizeof *y), rc = 0, dim = 0;
    float *x = NULL;
    xl_model *m = NULL;
    xl_logreg clf = {0};
    char fp[17] = "";
    if (!y) { cli_set_error("out of memory"); rc = 1; }
    int has = rc ? 0 : labelled_classes(&it, y);
    if (!rc && has != 1) {
        cli_set_error(has == 0 ? "the training lines have no \"label\"" : has == -1 ? "some training lines have no \"label\"" : "out of memory");
        rc = 1;
    }
    if (!rc) {
        xl_model_options mo = {.threads = cli_threads(cmd, threads)};
        eo.threads = threads;
        if (xl_model_fingerprint(dir, fp) || xl_model_load(dir, &mo, &m)) { cli_take_lib_error(); rc = 1; }
    }
    if (!rc && embed_items(m, &it, &eo, &x, &dim)) rc = 1;
    if (!rc && xl_logreg_train(x, it.n, (size_t)dim, y, C, &clf)) { cli_take_lib_error(); rc = 1; }
    if (!rc) {
        /* class k of liblinear is the label whose class number is clf.labels[k] */
        xl_model_info info;
        xl_model_get_info(m, &info);
        char real[PATH_MAX];
        json_t *root = json_object(), *labels = json_array(), *w = json_array();
        for (int k = 0; k < clf.n_classes; k++) {
            size_t at = 0;
            while (at < it.n && y[at] != clf.labels[k]) at++;
            json_error_t e;
            json_array_append_new(labels, json_loads(it.label[at], JSON_DECODE_ANY, &e));
        }
        for (int r = 0; r < clf.n_weights; r++) {
            json_t *row = json_array();
            for (int d = 0; d <= dim; d++) json_array_append_new(row, json_real(clf.w[(size_t)r * (dim + 1) + d]));
            json_array_append_new(w, row);
        }
        json_object_set_new(root, "format", json_string("xling-classifier"));
        json_object_set_new(root, "version", json_integer(1));
        json_object_set_new(root, "model", json_pack("{s:s, s:s, s:s, s:i}", "path", realpath(dir, real) ? real : dir,
                                                     "architecture", info.architecture, "fingerprint", fp, "dim", dim));
        json_object_set_new(root, "prompt", eo.prompt_name ? json_string(eo.prompt_name) : json_null());
        json_object_set_new(root, "prefix", eo.prefix ? json_string(eo.prefix) : json_null());
        json_object_set_new(root, "C", json_real(C));
        json_object_set_new(root, "training_items", json_integer((json_int_t)it.n));
        json_object_set_new(root, "labels", labels);
        json_object_set_new(root, "weights", w);
        outfile of;
        if (outfile_open(&of, out_path)) rc = 1;
        else if (json_dumpf(root, of.f, JSON_COMPACT) != 0 || fputc('\n', of.f) == EOF) { outfile_abort(&of); cli_set_error("%s: write failed", out_path); rc = 1; }
        else if (outfile_commit(&of)) rc = 1;
        json_decref(root);
        if (!rc) fprintf(stderr, "xling classify train: %zu items, %d classes, dimension %d -> %s\n", it.n, clf.n_classes, dim, out_path);
    }
    xl_logreg_free(&clf);
    free(x), free(y);
    labelled_free(&it);
    xl_model_free(m);
    return rc ? cli_report(cmd) : 0;
}

static int predict(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},      {"input", required_argument, 0, 'i'},
        {"output", required_argument, 0, 'o'},     {"classifier", required_argument, 0, 'K'},
        {"eval", no_argument, 0, 'E'},             {"threads", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},             {0, 0, 0, 0}};
    const char *cmd = "classify predict", *dir = NULL, *in_path = NULL, *out_path = NULL, *clf_path = NULL;
    int threads = 0, eval = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:i:o:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': dir = optarg; break;
        case 'i': in_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'K': clf_path = optarg; break;
        case 'E': eval = 1; break;
        case 't': if (cli_parse_int(cmd, "--threads", optarg, 1, 1024, &threads)) return 2; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    if (optind < argc) return cli_usage(cmd, "unexpected argument \"%s\"", argv[optind]);
    if (!clf_path) return cli_usage(cmd, "--classifier CLF is required");
    if (in_path && !strcmp(in_path, "-")) in_path = NULL;
    json_error_t e;
    json_t *root = json_load_file(clf_path, 0, &e);
    const json_t *model = json_object_get(root, "model"), *labels = json_object_get(root, "labels"),
                 *w = json_object_get(root, "weights");
    int dim = (int)json_integer_value(json_object_get(model, "dim"));
    size_t nl = json_array_size(labels), nw = json_array_size(w);
    if (!root) { fprintf(stderr, "xling %s: %s: %s\n", cmd, clf_path, e.text); return 1; }
    if (strcmp(json_string_value(json_object_get(root, "format")) ? json_string_value(json_object_get(root, "format")) : "",
               "xling-classifier") || dim < 1 || nl < 2 || nw != (nl == 2 ? 1 : nl) ||
        !json_is_string(json_object_get(model, "fingerprint")) || !json_is_string(json_object_get(model, "path"))) {
        fprintf(stderr, "xling %s: %s is not an xling classifier file (format, labels, weights or model missing)\n", cmd, clf_path);
        json_decref(root);
        return 1;
    }
    xl_logreg clf = {.n_classes = (int)nl, .n_weights = (int)nw, .dim = dim};
    clf.w = malloc(nw * ((size_t)dim + 1) * sizeof *clf.w);
    int rc = clf.w ? 0 : 1;
    for (size_t r = 0; !rc && r < nw; r++) {
        const json_t *row = json_array_get(w, r);
        if (json_array_size(row) != (size_t)dim + 1) { rc = 1; break; }
        for (int d = 0; d <= dim; d++) {
            const json_t *v = json_array_get(row, (size_t)d);
            if (!json_is_number(v) || !isfinite(json_number_value(v))) { rc = 1; break; }
            clf.w[r * ((size_t)dim + 1) + (size_t)d] = json_number_value(v);
        }
    }
    if (rc) { fprintf(stderr, "xling %s: %s: the weights are not %zu rows of %d numbers\n", cmd, clf_path, nw, dim + 1); free(clf.w); json_decref(root); return 1; }
    if (!dir) dir = json_string_value(json_object_get(model, "path"));
    char fp[17];
    xl_model *m = NULL;
    items_t it = {0};
    float *x = NULL;
    double *prob = malloc(nl * sizeof *prob);
    int *gold = NULL;
    xl_embed_options eo;
    xl_embed_options_init(&eo);
    eo.prompt_name = json_string_value(json_object_get(root, "prompt"));
    eo.prefix = json_string_value(json_object_get(root, "prefix"));
    eo.threads = threads;
    if (!prob) { cli_set_error("out of memory"); rc = 1; }
    if (!rc && xl_model_fingerprint(dir, fp)) { cli_take_lib_error(); rc = 1; }
    if (!rc && strcmp(fp, json_string_value(json_object_get(model, "fingerprint")))) {
        cli_set_error("%s is another model (fingerprint %s) than the one %s was trained with (%s, %s)", dir, fp, clf_path,
                      json_string_value(json_object_get(model, "path")), json_string_value(json_object_get(model, "fingerprint")));
        rc = 1;
    }
    if (!rc) {
        xl_model_options mo = {.threads = cli_threads(cmd, threads)};
        if (xl_model_load(dir, &mo, &m)) { cli_take_lib_error(); rc = 1; }
    }
    if (!rc && labelled_read(cmd, in_path, 1, &it)) { json_decref(root); free(clf.w); free(prob); xl_model_free(m); return 1; }
    int d2 = 0;
    if (!rc && embed_items(m, &it, &eo, &x, &d2)) rc = 1;
    if (!rc && d2 != dim) { cli_set_error("the model gives %d dimensions, the classifier wants %d", d2, dim); rc = 1; }
    /* gold labels for --eval: the classifier's label numbers (-1 for a label it never saw) */
    char **keys = calloc(nl, sizeof *keys);
    if (!rc && !keys) { cli_set_error("out of memory"); rc = 1; }
    for (size_t k = 0; !rc && k < nl; k++) {
        char *t = json_dumps(json_array_get(labels, k), JSON_ENCODE_ANY | JSON_COMPACT);
        keys[k] = t ? label_key(t) : NULL;
        free(t);
        if (!keys[k]) { cli_set_error("out of memory"); rc = 1; }
    }
    if (!rc && eval) {
        gold = malloc((it.n ? it.n : 1) * sizeof *gold);
        for (size_t i = 0; gold && i < it.n; i++) {
            if (!it.label[i]) { cli_set_error("--eval: line %zu has no \"label\"", i + 1); rc = 1; break; }
            char *k = label_key(it.label[i]);
            gold[i] = -1;
            for (size_t l = 0; k && l < nl; l++)
                if (!strcmp(k, keys[l])) gold[i] = (int)l;
            free(k);
        }
        if (!gold) { cli_set_error("out of memory"); rc = 1; }
    }
    outfile of = {0};
    int *pred = malloc((it.n ? it.n : 1) * sizeof *pred);
    if (!rc && !pred) { cli_set_error("out of memory"); rc = 1; }
    if (!rc && outfile_open(&of, out_path)) rc = 1;
    for (size_t i = 0; !rc && i < it.n; i++) {
        xl_logreg_predict(&clf, x + i * (size_t)dim, prob);
        int best = 0;
        for (size_t k = 1; k < nl; k++)
            if (prob[k] > prob[best]) best = (int)k;
        pred[i] = best;
        char *lab = json_dumps(json_array_get(labels, (size_t)best), JSON_ENCODE_ANY | JSON_COMPACT);
        fputc('{', of.f);
        if (it.id[i]) fprintf(of.f, "\"id\":%s,", it.id[i]);
        fprintf(of.f, "\"label\":%s,\"scores\":{", lab ? lab : "null");
        free(lab);
        for (size_t k = 0; k < nl; k++) {
            if (k) fputc(',', of.f);
            cli_put_json_string(of.f, keys[k], strlen(keys[k]));
            fprintf(of.f, ":%.6g", prob[k]);
        }
        fputs("}}\n", of.f);
    }
    if (of.f) {
        if (!rc && outfile_commit(&of)) rc = 1;
        else if (rc) outfile_abort(&of);
    }
    if (!rc && eval) {
        xl_cls_metrics cm;
        if (xl_metrics_classification(gold, pred, it.n, &cm)) { cli_take_lib_error(); rc = 1; }
        else fprintf(stderr, "accuracy: %.6f\nf1_macro: %.6f\n", cm.accuracy, cm.f1_macro);
    }
    for (size_t k = 0; keys && k < nl; k++) free(keys[k]);
    free(keys), free(pred), free(gold), free(x), free(prob), free(clf.w);
    labelled_free(&it);
    xl_model_free(m);
    json_decref(root);
    return rc ? cli_report(cmd) : 0;
}

int cmd_classify(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "train")) return train(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "predict")) return predict(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) { fputs(usage, stdout); return 0; }
    return cli_usage("classify", "give train or predict");
}
