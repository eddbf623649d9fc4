/* xling serve: options, model and server start-up, then the main thread waits for
 * SIGTERM / SIGINT and drains: no new connections, requests in flight finish (bounded
 * by --shutdown-timeout, after which the batch in flight is cancelled), exit 0. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <unistd.h>

#include "../cli/cli.h"
#include "server.h"

srv_state g_srv;

static const char *usage =
    "usage: xling serve -m DIR [--host 127.0.0.1] [--port 8080] [options]\n"
    "An HTTP server for OpenAI's embeddings API (POST /v1/embeddings, GET /v1/models; /v1/rerank\n"
    "for cross-encoders) and Hugging Face text-embeddings-inference's (POST /embed, /embed_all,\n"
    "/embed_sparse (bge-m3), /similarity, /tokenize, /rerank, /predict (classifiers); GET /info,\n"
    "/health, /metrics).\n"
    "The embedding routes take texts or token ids (used as given).\n"
    "Prints \"xling serve: listening on http://HOST:PORT\" on\n"
    "stderr when ready, one line per request after that; SIGTERM / SIGINT drain and exit 0.\n"
    "  -m, --model DIR                 model folder, or a Hub id ORG/NAME[@REV] (as xling embed)\n"
    "      --host ADDR                 address to bind (default 127.0.0.1; 0.0.0.0 = all)\n"
    "      --port N                    port (default 8080; 0 = any free port)\n"
    "      --api-key KEY               require \"Authorization: Bearer KEY\" (all routes but\n"
    "                                  /health); --api-key-file F reads KEY from F's first line\n"
    "      --served-model-name NAME    the name requests' \"model\" must match and replies give\n"
    "                                  (default: the Hub id of -m or of a cache folder, else the\n"
    "                                  folder name)\n"
    "      --max-batch-tokens N        tokens per merged forward pass (default 16384)\n"
    "      --max-concurrent-requests N requests in progress at once; more get 429 (default 512)\n"
    "      --max-client-batch-size N   inputs per request (default 32)\n"
    "      --max-input-tokens N        tokens per input, special tokens included (default: the\n"
    "                                  model's max_seq_length)\n"
    "      --max-body-bytes N          request body limit; K, M, KiB, MiB suffixes (default 2MiB)\n"
    "      --batch-wait-ms N           longest wait for a batch to fill (default 2)\n"
    "      --auto-truncate             truncate long inputs by default (else they are an error)\n"
    "      --shutdown-timeout S        longest drain on SIGTERM (default 30)\n"
    "      --idle-timeout S            close connections idle for S seconds (default 60)\n"
    "      --read-timeout S            drop a request whose body is still arriving after S\n"
    "                                  seconds (default 30)\n"
    "      --log-format F              text (default) | json | none\n"
    "      --cors-allow-origin O       let browser pages of origin O call the API: * or\n"
    "                                  scheme://host[:port] origins separated by commas\n"
    "                                  (answers OPTIONS preflights; default: no CORS headers)\n"
    "  -t, --threads N                 threads of the forward passes (default: all usable CPUs)\n"
    "  -h, --help                      this help\n";

enum {
    O_HOST = 256, O_PORT, O_KEY, O_KEY_FILE, O_NAME, O_BATCH_TOKENS, O_CONCURRENT, O_CLIENT_BATCH, O_INPUT_TOKENS,
    O_BODY, O_WAIT, O_TRUNC, O_SHUTDOWN, O_IDLE, O_READ, O_LOG, O_CORS
};

/* --cors-allow-origin: "*", or a comma-separated list of origins, each scheme://host[:port]
 * without a path (what browsers send in Origin). */
static int cors_list_ok(const char *s) {
    if (!strcmp(s, "*")) return 1;
    if (!*s) return 0;
    for (const char *p = s;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *sep = memmem(p, n, "://", 3);
        if (!sep || sep == p || (size_t)(sep - p) + 3 >= n) return 0;
        for (const char *q = sep + 3; q < p + n; q++)
            if (*q == '/' || *q == ' ' || *q == '*' || (unsigned char)*q < 0x21) return 0;
        if (!end) return 1;
        p = end + 1;
    }
}

/* "2MiB", "512K", "1000": bytes, or -1. */
static long long parse_size(const char *s) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0) return -1;
    long long mul = 1;
    if (!strcasecmp(end, "k") || !strcasecmp(end, "kib") || !strcasecmp(end, "kb")) mul = 1024;
    else if (!strcasecmp(end, "m") || !strcasecmp(end, "mib") || !strcasecmp(end, "mb")) mul = 1024 * 1024;
    else if (*end) return -1;
    if (v > (1LL << 40) / mul) return -1;
    return v * mul;
}

static char *read_key_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "xling serve: --api-key-file %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char line[4096];
    char *got = fgets(line, sizeof line, f);
    fclose(f);
    size_t n = got ? strlen(line) : 0;
    while (n && isspace((unsigned char)line[n - 1])) line[--n] = 0;
    if (!n) {
        fprintf(stderr, "xling serve: --api-key-file %s: the first line is empty\n", path);
        return NULL;
    }
    return strdup(line);
}

/* The Hub id given as -m ORG/NAME[@REV] (without the revision), or of a Hugging Face cache
 * folder (.../models--ORG--NAME/snapshots/REV), else the folder's last name. */
static char *default_name(const char *dir) {
    if (access(dir, F_OK) && xl_hub_is_id(dir)) return strndup(dir, strcspn(dir, "@"));
    const char *m = strstr(dir, "models--");
    if (m && strstr(m, "/snapshots/")) {
        const char *s = m + 8, *e = strchr(s, '/');
        char *id = strndup(s, (size_t)(e - s));
        char *sep = id ? strstr(id, "--") : NULL;
        if (sep) {
            *sep = '/';
            memmove(sep + 1, sep + 2, strlen(sep + 2) + 1);
        }
        return id;
    }
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t b = n;
    while (b && dir[b - 1] != '/') b--;
    return strndup(dir + b, n - b);
}

static int int_opt(const char *opt, const char *v, int min, int max, int *out) {
    return cli_parse_int("serve", opt, v, min, max, out);
}

int cmd_serve(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},           {"threads", required_argument, 0, 't'},
        {"host", required_argument, 0, O_HOST},          {"port", required_argument, 0, O_PORT},
        {"api-key", required_argument, 0, O_KEY},        {"api-key-file", required_argument, 0, O_KEY_FILE},
        {"served-model-name", required_argument, 0, O_NAME},
        {"max-batch-tokens", required_argument, 0, O_BATCH_TOKENS},
        {"max-concurrent-requests", required_argument, 0, O_CONCURRENT},
        {"max-client-batch-size", required_argument, 0, O_CLIENT_BATCH},
        {"max-input-tokens", required_argument, 0, O_INPUT_TOKENS},
        {"max-body-bytes", required_argument, 0, O_BODY}, {"batch-wait-ms", required_argument, 0, O_WAIT},
        {"auto-truncate", no_argument, 0, O_TRUNC},       {"shutdown-timeout", required_argument, 0, O_SHUTDOWN},
        {"idle-timeout", required_argument, 0, O_IDLE},   {"read-timeout", required_argument, 0, O_READ},
        {"log-format", required_argument, 0, O_LOG},      {"help", no_argument, 0, 'h'},
        {"cors-allow-origin", required_argument, 0, O_CORS},
        {0, 0, 0, 0}};
    const char *cmd = "serve", *dir = NULL, *key = NULL, *key_file = NULL, *name = NULL;
    srv_config cfg = {.host = "127.0.0.1", .port = 8080, .max_batch_tokens = 16384, .max_concurrent = 512,
                      .max_client_batch = 32, .max_body = 2u << 20, .batch_wait_ms = 2, .shutdown_timeout_s = 30,
                      .idle_timeout_s = 60, .read_timeout_s = 30};
    int c, threads = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:t:h", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'm': dir = optarg; break;
        case 't': bad = int_opt("--threads", optarg, 1, 1024, &threads); break;
        case O_HOST: cfg.host = optarg; break;
        case O_PORT: bad = int_opt("--port", optarg, 0, 65535, &cfg.port); break;
        case O_KEY: key = optarg; break;
        case O_KEY_FILE: key_file = optarg; break;
        case O_NAME: name = optarg; break;
        case O_BATCH_TOKENS: bad = int_opt("--max-batch-tokens", optarg, 1, 1 << 24, &cfg.max_batch_tokens); break;
        case O_CONCURRENT: bad = int_opt("--max-concurrent-requests", optarg, 1, 65536, &cfg.max_concurrent); break;
        case O_CLIENT_BATCH: bad = int_opt("--max-client-batch-size", optarg, 1, 1 << 20, &cfg.max_client_batch); break;
        case O_INPUT_TOKENS: bad = int_opt("--max-input-tokens", optarg, 1, 1 << 24, &cfg.max_input_tokens); break;
        case O_BODY: {
            long long v = parse_size(optarg);
            if (v < 1) return cli_usage(cmd, "--max-body-bytes expects a size such as 2MiB, 512K or 65536, got \"%s\"", optarg);
            cfg.max_body = (size_t)v;
            break;
        }
        case O_WAIT: bad = int_opt("--batch-wait-ms", optarg, 0, 10000, &cfg.batch_wait_ms); break;
        case O_TRUNC: cfg.auto_truncate = 1; break;
        case O_SHUTDOWN: bad = int_opt("--shutdown-timeout", optarg, 0, 86400, &cfg.shutdown_timeout_s); break;
        case O_IDLE: bad = int_opt("--idle-timeout", optarg, 1, 86400, &cfg.idle_timeout_s); break;
        case O_READ: bad = int_opt("--read-timeout", optarg, 0, 86400, &cfg.read_timeout_s); break;
        case O_LOG:
            if (!strcmp(optarg, "json")) cfg.log_json = 1;
            else if (!strcmp(optarg, "none")) cfg.log_off = 1;
            else if (strcmp(optarg, "text")) return cli_usage(cmd, "--log-format must be text, json or none, got \"%s\"", optarg);
            break;
        case O_CORS: cfg.cors = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_bad_option(cmd, c, argv);
        }
        if (bad) return 2;
    }
    if (optind < argc) return cli_usage(cmd, "unexpected argument \"%s\"", argv[optind]);
    if (!dir) return cli_usage(cmd, "-m DIR is required");
    if (key && key_file) return cli_usage(cmd, "--api-key and --api-key-file cannot be used together");
    if (key && !*key) return cli_usage(cmd, "--api-key is empty");
    if (cfg.max_batch_tokens < 1) return cli_usage(cmd, "--max-batch-tokens must be positive");
    if (cfg.cors && !cors_list_ok(cfg.cors))
        return cli_usage(cmd, "--cors-allow-origin expects * or origins such as https://app.example (scheme://host[:port], "
                              "separated by commas), got \"%s\"", cfg.cors);
    cfg.threads = cli_threads(cmd, threads);
    if (key_file && !(cfg.api_key = read_key_file(key_file))) return 1;
    if (key) cfg.api_key = strdup(key);

    /* Every thread made from here on (libmicrohttpd's, the batcher's, OpenMP's) inherits
     * this mask: the signals reach only the main thread's sigwait. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    memset(&g_srv, 0, sizeof g_srv);
    xl_model_options mo = {.threads = cfg.threads};
    if (cli_hub_arg(cmd, &dir)) { free(cfg.api_key); return 1; } /* ORG/NAME: its snapshot, named by its id */
    if (xl_model_load(dir, &mo, &g_srv.model)) {
        free(cfg.api_key);
        return cli_fail(cmd);
    }
    xl_status m3st = srv_describe_model();
    if (m3st && m3st != XL_ERR_UNSUPPORTED)
        fprintf(stderr, "xling serve: warning: bge-m3 heads not loaded, /embed_sparse is off: %s\n", xl_last_error());
    char *dname = name ? NULL : default_name(dir);
    cfg.served_name = name ? name : dname ? dname : dir;
    g_srv.started = (long long)time(NULL);
    g_srv.max_input = cfg.max_input_tokens ? cfg.max_input_tokens
                      : g_srv.info.max_seq_length > 0 ? g_srv.info.max_seq_length
                                                      : g_srv.info.max_position_embeddings;
    int rc = 0;
    if (g_srv.tok) {
        /* the limit must fit the model (position table, special tokens): check it once */
        xl_embed_options o;
        xl_embed_options_init(&o);
        o.max_length = g_srv.max_input;
        const char *empty = "";
        xl_sequence *s;
        if (xl_prepare_texts(g_srv.model, &empty, NULL, NULL, NULL, 1, &o, &s)) rc = cli_usage(cmd, "--max-input-tokens %d: %s", g_srv.max_input, xl_last_error());
        else xl_sequences_free(s, 1);
    }
    g_srv.cfg = cfg;
    metrics_init();
    if (!rc && !(g_srv.batcher = batcher_start(g_srv.model, &g_srv.cfg, g_srv.scores_want, g_srv.rinfo.n_labels))) {
        fprintf(stderr, "xling serve: cannot start the batcher: %s\n", xl_last_error());
        rc = 1;
    }
    struct MHD_Daemon *d = NULL;
    int port = 0;
    if (!rc) {
        char err[256];
        if (!(d = http_start(&g_srv.cfg, &port, err, sizeof err))) {
            fprintf(stderr, "xling serve: %s\n", err);
            rc = 1;
        }
    }
    if (rc) {
        batcher_stop(g_srv.batcher);
        xl_m3_free(g_srv.m3);
        xl_model_free(g_srv.model);
        free(dname);
        free(cfg.api_key);
        return rc;
    }
    int v6 = strchr(cfg.host, ':') != NULL;
    fprintf(stderr, "xling serve: listening on http://%s%s%s:%d (model %s, %d dimensions, %d input tokens)\n",
            v6 ? "[" : "", cfg.host, v6 ? "]" : "", port, cfg.served_name, g_srv.dim, g_srv.max_input);

    int sig = 0;
    while (sigwait(&sigs, &sig)) {}
    __atomic_store_n(&g_srv.shutting_down, 1, __ATOMIC_RELEASE);
    /* stop accepting: the listening socket closes, new connections are refused */
    MHD_socket lfd = MHD_quiesce_daemon(d);
    if (lfd != MHD_INVALID_SOCKET) close(lfd);
    size_t left = __atomic_load_n(&g_srv.in_flight, __ATOMIC_ACQUIRE);
    fprintf(stderr, "xling serve: %s: finishing %zu request(s) in flight (at most %d s)\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", left, cfg.shutdown_timeout_s);
    double deadline = srv_now() + cfg.shutdown_timeout_s;
    struct timespec tick = {0, 20 * 1000 * 1000};
    while ((left = __atomic_load_n(&g_srv.in_flight, __ATOMIC_ACQUIRE)) && srv_now() < deadline) {
        if (sigtimedwait(&sigs, NULL, &tick) > 0) {
            fprintf(stderr, "xling serve: second signal: not waiting any longer\n");
            break;
        }
    }
    if (left) {
        fprintf(stderr, "xling serve: %zu request(s) did not finish in time; stopping them\n", left);
        batcher_cancel(g_srv.batcher);
    }
    MHD_stop_daemon(d);
    batcher_stop(g_srv.batcher);
    xl_m3_free(g_srv.m3);
    xl_model_free(g_srv.model);
    free(dname);
    free(g_srv.cfg.api_key);
    fprintf(stderr, "xling serve: stopped\n");
    return 0;
}
