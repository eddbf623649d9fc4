/* `xling pull ORG/NAME[@REVISION]`: a Hub model into the shared Hugging Face cache
 * (xl_hub_pull), with a byte progress bar on a terminal; and the pull that runs when
 * any command is given a Hub id the cache lacks (cli_hub_pull_on_miss). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char *usage =
    "usage: xling pull ORG/NAME[@REVISION] [options]\n"
    "\n"
    "Downloads a model from the Hugging Face Hub into the Hugging Face cache (HF_HUB_CACHE,\n"
    "else HF_HOME/hub, else ~/.cache/huggingface/hub) in huggingface_hub's layout, so that\n"
    "Python tools and xling share it, and prints its snapshot folder. REVISION is a branch,\n"
    "a tag or a commit hash (default main). Only what xling reads is downloaded: configs,\n"
    "tokenizer, *.safetensors, sentence-transformers module folders, *.pt heads. Interrupted\n"
    "downloads resume; LFS files are checked against their sha256.\n"
    "\n"
    "options:\n"
    "      --include GLOB   also download the files matching GLOB (repeatable; '*' crosses '/')\n"
    "      --exclude GLOB   skip the files matching GLOB (repeatable)\n"
    "  -j, --jobs N         parallel file downloads (default 4)\n"
    "      --token TOKEN    Hub access token (default: HF_TOKEN, else the file HF_HOME/token)\n"
    "      --retries N      retries of a failed request, with backoff 1 s, 2 s, 4 s... (default 5)\n"
    "  -q, --quiet          no progress bar and no summary line\n"
    "  -h, --help           this help\n"
    "\n"
    "environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN, HF_HUB_CACHE,\n"
    "HF_HOME, HF_HUB_OFFLINE=1 (never use the network).\n"
    "Every command taking -m DIR also takes -m ORG/NAME[@REVISION]: a folder that exists wins,\n"
    "else the cache is used, and a model missing there is pulled first.\n";

typedef struct {
    int enabled;
    const char *id;
    double start, last;
} bar;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fmt_bytes(char *buf, size_t cap, double b) {
    if (b >= 1e9) snprintf(buf, cap, "%.2f GB", b / 1e9);
    else if (b >= 1e6) snprintf(buf, cap, "%.1f MB", b / 1e6);
    else snprintf(buf, cap, "%.0f kB", b / 1e3);
}

static void draw(bar *b, const xl_hub_progress *p, double t) {
    char done[32], total[32], rate[32], eta[32] = "";
    double el = t - b->start, r = el > 0 ? p->bytes_done / el : 0;
    fmt_bytes(done, sizeof done, (double)p->bytes_done);
    fmt_bytes(total, sizeof total, (double)p->bytes_total);
    fmt_bytes(rate, sizeof rate, r);
    if (r > 0 && p->bytes_total > p->bytes_done) snprintf(eta, sizeof eta, ", ETA %.0fs", (p->bytes_total - p->bytes_done) / r);
    int pct = p->bytes_total ? (int)(100.0 * p->bytes_done / p->bytes_total) : 100;
    fprintf(stderr, "\r%s: %3d%% %s / %s, %s/s%s, %d/%d files   ", b->id, pct, done, total, rate, eta, p->files_done,
            p->files_total);
}

/* Called from the downloading threads, one call at a time (xl_hub_pull serializes them). */
static void on_progress(void *user, const xl_hub_progress *p) {
    bar *b = user;
    if (!b->enabled) return;
    double t = now();
    if (t - b->last < 0.1 && p->files_done < p->files_total) return;
    b->last = t;
    draw(b, p, t);
}

static void bar_init(bar *b, const char *id, int quiet) {
    b->enabled = !quiet && isatty(2);
    b->id = id;
    b->start = b->last = now();
}

static void bar_end(bar *b) {
    if (b->enabled && b->last != b->start) fputc('\n', stderr);
}

xl_status cli_hub_pull_on_miss(const char *id, void *user) {
    (void)user;
    char *cache = xl_hub_cache_dir();
    const char *ep = getenv("HF_ENDPOINT");
    fprintf(stderr, "xling: %s is not in the Hugging Face cache (%s); pulling it from %s\n", id, cache ? cache : "?",
            ep && *ep ? ep : "https://huggingface.co");
    free(cache);
    bar b;
    bar_init(&b, id, 0);
    xl_hub_pull_options o = {.progress = on_progress, .user = &b};
    xl_status st = xl_hub_pull(id, &o, NULL);
    bar_end(&b);
    return st;
}

static char *g_hub_args[64]; /* the snapshot folders given out: a few per run, kept until exit */
static int g_n_hub_args;

int cli_hub_arg(const char *cmd, const char **arg) {
    char *dir = NULL;
    if (xl_hub_locate(*arg, &dir)) return cli_fail(cmd);
    if (!dir) return 0;
    if (g_n_hub_args < 64) g_hub_args[g_n_hub_args++] = dir;
    *arg = dir;
    return 0;
}

static int add_glob(const char ***v, size_t *n, const char *g) {
    const char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv) return -1;
    nv[(*n)++] = g;
    *v = nv;
    return 0;
}

enum { OPT_INCLUDE = 256, OPT_EXCLUDE, OPT_TOKEN, OPT_RETRIES };

int cmd_pull(int argc, char **argv) {
    static const struct option opts[] = {
        {"include", required_argument, 0, OPT_INCLUDE}, {"exclude", required_argument, 0, OPT_EXCLUDE},
        {"jobs", required_argument, 0, 'j'}, {"token", required_argument, 0, OPT_TOKEN},
        {"retries", required_argument, 0, OPT_RETRIES}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    xl_hub_pull_options o = {0};
    const char **inc = NULL, **exc = NULL;
    size_t ninc = 0, nexc = 0;
    int quiet = 0, c, rc = 0, jobs = 4, retries = 5;
    optind = 1;
    opterr = 0;
    while (!rc && (c = getopt_long(argc, argv, ":j:qh", opts, NULL)) != -1) {
        switch (c) {
        case OPT_INCLUDE: if (add_glob(&inc, &ninc, optarg)) rc = cli_usage("pull", "out of memory"); break;
        case OPT_EXCLUDE: if (add_glob(&exc, &nexc, optarg)) rc = cli_usage("pull", "out of memory"); break;
        case 'j': if (cli_parse_int("pull", "--jobs", optarg, 1, 64, &jobs)) rc = 2; break;
        case OPT_TOKEN: o.token = optarg; break;
        case OPT_RETRIES: if (cli_parse_int("pull", "--retries", optarg, 0, 20, &retries)) rc = 2; break;
        case 'q': quiet = 1; break;
        case 'h': fputs(usage, stdout); free(inc); free(exc); return 0;
        default: rc = cli_bad_option("pull", c, argv);
        }
    }
    if (!rc && optind >= argc) rc = cli_usage("pull", "no model id given (ORG/NAME[@REVISION])");
    if (!rc && argc - optind > 1) rc = cli_usage("pull", "one model id at a time (got \"%s\" too)", argv[optind + 1]);
    if (!rc && o.token && !*o.token) rc = cli_usage("pull", "--token is empty");
    if (rc) { free(inc); free(exc); return rc; }
    const char *id = argv[optind];
    o.include = inc;
    o.n_include = ninc;
    o.exclude = exc;
    o.n_exclude = nexc;
    o.jobs = jobs;
    o.retries = retries ? retries : -1;
    bar b;
    bar_init(&b, id, quiet);
    o.progress = on_progress;
    o.user = &b;
    char *dir = NULL;
    double t0 = now();
    xl_status st = xl_hub_pull(id, &o, &dir);
    bar_end(&b);
    if (st == XL_ERR_ARG) rc = cli_usage("pull", "%s", xl_last_error()); /* a malformed id */
    else if (st) rc = cli_fail("pull");
    else {
        if (!quiet) fprintf(stderr, "xling pull: %s ready in %.1f s\n", id, now() - t0);
        printf("%s\n", dir);
    }
    free(dir);
    free(inc);
    free(exc);
    return rc;
}
