/* xling bench-embed: times the forward pass on random token ids, for the peer
 * benchmark harness (../shared/bench, XLING_CMD contract): one warm-up, then `reps`
 * timed runs of the whole batch; prints one JSON line on stdout. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char *usage =
    "usage: xling bench-embed -m DIR [--batch B] [--seq S] [--reps R] [--threads T] [--quantize q8]\n"
    "                         [--bidirectional | --causal] [--json]\n"
    "Times embedding B random sequences of S token ids (ids >= 5, no padding): one warm-up,\n"
    "then R timed runs; prints {\"ms\":[...],\"median_ms\":..,\"tokens_per_s\":..,\"emb_head\":[...]}.\n"
    "With BENCH_IDS=1,2,3 in the environment, embeds that one sequence instead.\n"
    "  -m, --model DIR   model folder (no tokenizer needed)\n"
    "      --batch B     sequences per call (default 32)\n"
    "      --seq S       tokens per sequence (default 128)\n"
    "      --reps R      timed repetitions (default 5)\n"
    "  -t, --threads T   threads (default: the CPUs this process may use)\n"
    "      --quantize q8 decoders: block int8 weights made at load (load_ms includes it)\n"
    "      --bidirectional, --causal\n"
    "                    decoders: force the attention direction\n"
    "      --json        (accepted for the harness; output is always JSON)\n";

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Prepare + run on the given context; 1 (message printed) when the call or an item fails. */
static int embed_once(xl_context *ctx, const xl_model *m, const int32_t *const *rows, const size_t *lens, size_t n,
                      const xl_embed_options *eo, float *out) {
    xl_sequence *seqs;
    xl_outputs o;
    if (xl_prepare_ids(m, rows, lens, NULL, n, eo, &seqs)) return cli_fail("bench-embed");
    int rc = xl_run(ctx, seqs, n, XL_OUT_EMBEDDING, eo, &o) ? cli_fail("bench-embed") : 0;
    for (size_t i = 0; !rc && i < n; i++)
        if (o.status[i]) {
            fprintf(stderr, "xling bench-embed: input %zu: %s\n", i + 1, o.error[i]);
            rc = 1;
        }
    if (!rc) memcpy(out, o.embeddings, n * (size_t)o.dim * sizeof *out);
    xl_outputs_free(&o);
    xl_sequences_free(seqs, n);
    return rc;
}

int cmd_bench_embed(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"batch", required_argument, 0, 'b'},
        {"seq", required_argument, 0, 's'},   {"reps", required_argument, 0, 'r'},
        {"threads", required_argument, 0, 't'}, {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},        {"quantize", required_argument, 0, 'Q'},
        {"bidirectional", no_argument, 0, 'B'}, {"causal", no_argument, 0, 'C'},
        {0, 0, 0, 0}};
    const char *dir = NULL;
    int batch = 32, seq = 128, reps = 5, threads = 0, c;
    xl_attention_mode attention = XL_ATTN_DEFAULT;
    xl_quantize quantize = XL_QUANTIZE_NONE;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': dir = optarg; break;
        case 'b': if (cli_parse_int("bench-embed", "--batch", optarg, 1, 1 << 16, &batch)) return 2; break;
        case 's': if (cli_parse_int("bench-embed", "--seq", optarg, 1, 1 << 20, &seq)) return 2; break;
        case 'r': if (cli_parse_int("bench-embed", "--reps", optarg, 1, 1 << 20, &reps)) return 2; break;
        case 't': if (cli_parse_int("bench-embed", "--threads", optarg, 1, 1024, &threads)) return 2; break;
        case 'j': break;
        case 'Q':
            if (strcmp(optarg, "q8")) return cli_usage("bench-embed", "--quantize accepts q8, got \"%s\"", optarg);
            quantize = XL_QUANTIZE_Q8;
            break;
        case 'B': attention = XL_ATTN_FORCE_BIDIRECTIONAL; break;
        case 'C': attention = XL_ATTN_FORCE_CAUSAL; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_bad_option("bench-embed", c, argv);
        }
    }
    if (!dir) return cli_usage("bench-embed", "-m DIR is required");
    threads = threads > 0 ? cli_threads("bench-embed", threads) : xl_default_threads();
    xl_model_options mo = {.threads = threads, .attention = attention, .quantize = quantize};
    xl_model *m;
    double t0 = now_ms();
    if (xl_model_load(dir, &mo, &m)) return cli_fail("bench-embed");
    double load_ms = now_ms() - t0;
    xl_model_info info;
    xl_model_get_info(m, &info);

    const char *fixed = getenv("BENCH_IDS");
    int32_t *ids;
    size_t n, len;
    if (fixed && *fixed) {
        n = 1;
        len = 0;
        ids = malloc((strlen(fixed) / 2 + 2) * sizeof *ids);
        for (const char *p = fixed; ids && *p;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p) { fprintf(stderr, "xling bench-embed: BENCH_IDS must be a comma-separated id list\n"); free(ids); xl_model_free(m); return 2; }
            ids[len++] = (int32_t)v;
            p = *end == ',' ? end + 1 : end;
        }
    } else {
        n = (size_t)batch;
        len = (size_t)seq;
        ids = malloc(n * len * sizeof *ids);
        uint64_t s = 0x9E3779B97F4A7C15ull;
        for (size_t k = 0; ids && k < n * len; k++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            ids[k] = 5 + (int32_t)(s % (uint64_t)(info.vocab_size - 5));
        }
    }
    const int32_t **rows = malloc(n * sizeof *rows);
    size_t *lens = malloc(n * sizeof *lens);
    float *out = malloc(n * (size_t)info.dim * sizeof *out);
    double *ms = malloc((size_t)reps * sizeof *ms);
    if (!ids || !rows || !lens || !out || !ms) { fprintf(stderr, "xling bench-embed: out of memory\n"); return 1; }
    for (size_t k = 0; k < n; k++) { rows[k] = ids + k * len; lens[k] = len; }
    xl_embed_options eo;
    xl_embed_options_init(&eo);
    eo.batch_size = (int)n;
    eo.batch_tokens = (int)(n * len);
    eo.max_length = (int)len;
    int rc = 0;
    /* One context for every repetition, as a server worker would keep it: its buffers
     * stay warm from one call to the next. */
    xl_context *ctx = NULL;
    if (xl_context_new(m, &ctx)) rc = cli_fail("bench-embed");
    if (!rc) rc = embed_once(ctx, m, rows, lens, n, &eo, out); /* warm-up */
    for (int r = 0; !rc && r < reps; r++) {
        double a = now_ms();
        rc = embed_once(ctx, m, rows, lens, n, &eo, out);
        ms[r] = now_ms() - a;
    }
    xl_context_free(ctx);
    if (!rc) {
        printf("{\"ms\":[");
        for (int r = 0; r < reps; r++) printf(r ? ",%.3f" : "%.3f", ms[r]);
        qsort(ms, (size_t)reps, sizeof *ms, cmp_double);
        double med = reps % 2 ? ms[reps / 2] : 0.5 * (ms[reps / 2 - 1] + ms[reps / 2]);
        printf("],\"median_ms\":%.3f,\"tokens_per_s\":%.1f,\"load_ms\":%.1f,\"batch\":%zu,\"seq\":%zu,\"threads\":%d,"
               "\"isa\":\"%s\",\"emb_head\":[",
               med, (double)(n * len) / (med / 1e3), load_ms, n, len, threads, xl_kernel_isa());
        for (int j = 0; j < 8 && j < info.dim; j++) printf(j ? ",%.7g" : "%.7g", (double)out[j]);
        printf("]}\n");
    }
    free(ids); free(rows); free(lens); free(out); free(ms);
    xl_model_free(m);
    return rc;
}
