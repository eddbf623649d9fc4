/* xling merge: checkpoint averaging and layer swapping into a new model folder
 * (the work is the library's xl_merge_average / xl_merge_swap). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "progress.h"

static const char *usage =
    "usage: xling merge -o OUT --average DIR1 DIR2 [DIR3...] [--weights W1,W2,...] [options]\n"
    "       xling merge -o OUT --base DIR_A --swap DIR_B --layers 0-3,28-31 [--swap-embeddings] [options]\n"
    "Writes a new model folder (checkpoint, config, tokenizer and sentence-transformers files)\n"
    "made from others, tensor by tensor with bounded memory, whatever the model size.\n"
    "  --average DIR...       the weighted average of every tensor of these folders (model and\n"
    "                         Dense modules), accumulated in float32; they must have the same\n"
    "                         architecture, tensor names and shapes\n"
    "  --weights W1,W2,...    one weight per folder, normalised to sum 1 (default: equal)\n"
    "  --base DIR_A           the model to start from ...\n"
    "  --swap DIR_B           ... taking the layers of --layers from this one\n"
    "  --layers LIST          transformer layers to take from DIR_B: 0-3,28-31 (0-based)\n"
    "  --swap-embeddings      also take the embeddings from DIR_B (encoders: word, position,\n"
    "                         token-type embeddings and their LayerNorm; decoders: embed_tokens,\n"
    "                         the final norm and an untied lm_head)\n"
    "  --dry-run              list every tensor and where it would come from (TENSOR<TAB>SOURCE),\n"
    "                         write nothing\n"
    "  -o, --output OUT       output folder (must not exist)\n"
    "  --force                replace OUT if it exists (the old folder stays until the new one\n"
    "                         is complete)\n"
    "  --dtype f32|f16|bf16   store every float tensor in this dtype (default: each tensor's\n"
    "                         dtype in the first / base model)\n"
    "  --max-shard-size SIZE  shard the model checkpoint above SIZE: 5GB (default), 500MB, 2MB\n"
    "                         (decimal units, as transformers), 2GiB, or a byte count\n";

typedef struct {
    progress p;
    size_t shown_mb;
    uint64_t done;
} report;

/* Ctrl-C / SIGTERM: the library stops at the next piece and removes what it wrote. */
static volatile int cancelled;
static void on_signal(int sig) {
    (void)sig;
    cancelled = 1;
}

static void on_note(void *user, const char *msg) {
    (void)user;
    fprintf(stderr, "xling merge: note: %s\n", msg);
}

static void on_progress(void *user, uint64_t done, uint64_t total) {
    (void)total;
    report *r = user;
    r->done = done;
    size_t mb = (size_t)(done / 1000000);
    if (mb > r->shown_mb) {
        progress_add(&r->p, mb - r->shown_mb);
        r->shown_mb = mb;
    }
}

typedef struct {
    const char *base;
    size_t n_base, n_other;
} dry_counts;

static void on_tensor_dry(void *user, const char *name, const char *source) {
    dry_counts *c = user;
    printf("%s\t%s\n", name, source);
    if (source == c->base) /* the library passes the base folder string itself */
        c->n_base++;
    else
        c->n_other++;
}

/* "0-3,28-31" -> a malloc'd list of layer indices (duplicates allowed). */
static int parse_layers(const char *s, int **out, int *n) {
    int *v = NULL, cap = 0, k = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long a = strtol(p, &end, 10), b;
        if (end == p || errno || a < 0 || a > 100000 || *p == '-' || *p == '+' || *p == ' ') goto bad;
        p = end;
        b = a;
        if (*p == '-') {
            p++;
            if (*p < '0' || *p > '9') goto bad;
            b = strtol(p, &end, 10);
            if (errno || b < a || b > 100000) goto bad;
            p = end;
        }
        for (long l = a; l <= b; l++) {
            if (k == cap) {
                cap = cap ? 2 * cap : 16;
                int *q = realloc(v, (size_t)cap * sizeof *q);
                if (!q) goto bad;
                v = q;
            }
            v[k++] = (int)l;
        }
        if (*p == ',' && p[1]) p++;
        else if (*p) goto bad;
    }
    if (!k) goto bad;
    *out = v;
    *n = k;
    return 0;
bad:
    free(v);
    return -1;
}

static int parse_weights(const char *s, float **out, int *n) {
    int k = 1;
    for (const char *p = s; *p; p++) k += *p == ',';
    float *w = malloc((size_t)k * sizeof *w);
    if (!w) return -1;
    const char *p = s;
    for (int i = 0; i < k; i++) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !(v >= 0) || v > 1e30 || (*end != ',' && *end)) {
            free(w);
            return -1;
        }
        w[i] = (float)v;
        p = *end ? end + 1 : end;
    }
    *out = w;
    *n = k;
    return 0;
}

int cmd_merge(int argc, char **argv) {
    enum { O_AVERAGE = 256, O_WEIGHTS, O_BASE, O_SWAP, O_LAYERS, O_SWAP_EMB, O_DRY, O_FORCE, O_DTYPE, O_SHARD };
    static const struct option opts[] = {
        {"output", required_argument, 0, 'o'},  {"average", no_argument, 0, O_AVERAGE},
        {"weights", required_argument, 0, O_WEIGHTS}, {"base", required_argument, 0, O_BASE},
        {"swap", required_argument, 0, O_SWAP},  {"layers", required_argument, 0, O_LAYERS},
        {"swap-embeddings", no_argument, 0, O_SWAP_EMB}, {"dry-run", no_argument, 0, O_DRY},
        {"force", no_argument, 0, O_FORCE},     {"dtype", required_argument, 0, O_DTYPE},
        {"max-shard-size", required_argument, 0, O_SHARD}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *out = NULL, *weights_s = NULL, *base = NULL, *swap = NULL, *layers_s = NULL, *dtype_s = NULL,
               *shard_s = NULL;
    int average = 0, swap_emb = 0, dry = 0, force = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case O_AVERAGE: average = 1; break;
        case O_WEIGHTS: weights_s = optarg; break;
        case O_BASE: base = optarg; break;
        case O_SWAP: swap = optarg; break;
        case O_LAYERS: layers_s = optarg; break;
        case O_SWAP_EMB: swap_emb = 1; break;
        case O_DRY: dry = 1; break;
        case O_FORCE: force = 1; break;
        case O_DTYPE: dtype_s = optarg; break;
        case O_SHARD: shard_s = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_bad_option("merge", c, argv);
        }
    }
    int swapping = base || swap || layers_s || swap_emb;
    if (average && swapping) return cli_usage("merge", "--average and --base/--swap/--layers are two different merges");
    if (!average && !swapping) return cli_usage("merge", "give --average DIR1 DIR2... or --base DIR_A --swap DIR_B --layers LIST");
    if (!out && !dry) return cli_usage("merge", "-o OUT is required");
    xl_merge_options mo = {0};
    if (dtype_s) {
        if (strcmp(dtype_s, "f32") == 0 || strcmp(dtype_s, "float32") == 0) mo.dtype = "F32";
        else if (strcmp(dtype_s, "f16") == 0 || strcmp(dtype_s, "float16") == 0) mo.dtype = "F16";
        else if (strcmp(dtype_s, "bf16") == 0 || strcmp(dtype_s, "bfloat16") == 0) mo.dtype = "BF16";
        else return cli_usage("merge", "--dtype must be f32, f16 or bf16, got \"%s\"", dtype_s);
    }
    if (shard_s && xl_parse_size(shard_s, &mo.max_shard_bytes))
        return cli_usage("merge", "--max-shard-size: %s", xl_last_error());
    int *layers = NULL, n_layers = 0;
    float *weights = NULL;
    int n_weights = 0;
    if (average) {
        if (weights_s && parse_weights(weights_s, &weights, &n_weights))
            return cli_usage("merge", "--weights expects non-negative numbers W1,W2,..., got \"%s\"", weights_s);
        int n = argc - optind;
        if (n < 2) {
            free(weights);
            return cli_usage("merge", "--average needs at least two model folders");
        }
        if (weights && n_weights != n) {
            free(weights);
            return cli_usage("merge", "--weights has %d values for %d folders", n_weights, n);
        }
    } else {
        if (weights_s) return cli_usage("merge", "--weights goes with --average");
        if (optind < argc) return cli_usage("merge", "unexpected argument \"%s\"", argv[optind]);
        if (!base || !swap) return cli_usage("merge", "layer swapping needs --base DIR_A and --swap DIR_B");
        if (!layers_s && !swap_emb) return cli_usage("merge", "--layers LIST is required (e.g. --layers 0-3,28-31)");
        if (layers_s && parse_layers(layers_s, &layers, &n_layers))
            return cli_usage("merge", "--layers expects layer numbers and ranges like 0-3,28-31, got \"%s\"", layers_s);
    }
    if (out && !dry && !force) {
        struct stat sb;
        if (lstat(out, &sb) == 0) {
            free(layers);
            free(weights);
            fprintf(stderr, "xling merge: %s already exists (--force replaces it)\n", out);
            return 1;
        }
    }
    for (int i = average ? optind : argc; i < argc; i++) /* ORG/NAME[@REV]: its cached snapshot */
        if (cli_hub_arg("merge", (const char **)&argv[i])) { free(layers); free(weights); return 1; }
    if (!average && (cli_hub_arg("merge", &base) || cli_hub_arg("merge", &swap))) { free(layers); return 1; }
    mo.weights = weights;
    mo.force = force;
    mo.dry_run = dry;
    report rep = {0};
    dry_counts dc = {base, 0, 0};
    if (dry) {
        mo.on_tensor = on_tensor_dry;
        mo.user = &dc;
    } else {
        progress_init(&rep.p, "merge (MB written)");
        mo.on_progress = on_progress;
        mo.user = &rep;
    }
    mo.on_note = on_note;
    mo.cancel = &cancelled;
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    xl_status st;
    if (average)
        st = xl_merge_average(out, (const char *const *)argv + optind, argc - optind, &mo);
    else
        st = xl_merge_swap(out, base, swap, layers, n_layers, swap_emb, &mo);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (!dry) progress_end(&rep.p);
    free(layers);
    free(weights);
    if (st) return cli_fail("merge");
    if (dry) {
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "xling merge: writing stdout failed\n");
            return 1;
        }
        if (swapping)
            fprintf(stderr, "xling merge: %zu tensors from %s, %zu from %s (dry run: nothing written)\n", dc.n_base, base,
                    dc.n_other, swap);
        return 0;
    }
    fprintf(stderr, "xling merge: wrote %s (%.1f MB of tensors) in %.1f s\n", out, rep.done / 1e6,
            (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
    return 0;
}
