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
#include "labelled.h"

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
    int rc = labelled_read("cluster", in_path, jsonl, &it);
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
    if (!rc && (has_gold = labelled_classes(&it, gold)) < 0) {
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
    labelled_free(&it);
    xl_model_free(m);
    return rc;
}
