/* xling vocab transfer / extend: a model with a new tokenizer, or with tokens added,
 * initialised without training (the work is the library's xl_vocab_transfer /
 * xl_vocab_extend); prints how each new row was made. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "progress.h"

static const char *usage =
    "usage: xling vocab transfer -m SOURCE --tokenizer NEWTOK -o OUT [--method fvt|align]\n"
    "                            [--parallel PAIRS.tsv] [--min-count N] [options]\n"
    "       xling vocab extend -m SOURCE --add-tokens FILE -o OUT [options]\n"
    "transfer: SOURCE's model with NEWTOK's tokenizer (tokenizer.json + tokenizer_config.json,\n"
    "special_tokens_map.json) and new rows for its vocabulary in every vocabulary-sized\n"
    "tensor (input embeddings, an untied lm_head, an MLM decoder):\n"
    "  copy      a new piece meaning what a source piece means takes its row, across the\n"
    "            conventions: word-initial \"\xe2\x96\x81x\" = \"\xc4\xa0x\" = WordPiece \"x\"; continuation \"x\" = \"##x\";\n"
    "            special tokens by role ([CLS] = <s>, [SEP] = </s>, pad, unk, mask)\n"
    "  fvt       the mean of the rows of the source tokenizer's pieces of the token's text\n"
    "            (word-initial pieces with a leading space), unknown pieces left out\n"
    "  align     (--method align) the alignment-weighted mean of the source tokens it aligns\n"
    "            to in a parallel corpus (IBM Model 1, EM both ways); tokens seen fewer than\n"
    "            --min-count times get fvt\n"
    "  fallback  no known source piece: the mean of all source rows\n"
    "config.json's vocab_size and special token ids follow NEWTOK; for XLM-R, whose positions\n"
    "count from pad_token_id, the position rows move with it.\n"
    "extend: adds the tokens of FILE (one a line) to SOURCE's tokenizer as regular added\n"
    "tokens (new ids after the largest one) with fvt rows; every existing row stays.\n"
    "  -m, --model SOURCE      the model folder\n"
    "      --tokenizer NEWTOK  transfer: a folder holding tokenizer.json, or the file\n"
    "      --method fvt|align  transfer: how tokens that are not copied get their rows (default fvt)\n"
    "      --parallel FILE     align: UTF-8 lines \"source text<TAB>new-language text\"\n"
    "      --min-count N       align: occurrences a token needs to be aligned (default 3)\n"
    "      --iterations N      align: EM iterations of each direction (default 5)\n"
    "      --add-tokens FILE   extend: the tokens, one a line (blank lines, repeats and known\n"
    "                          tokens are skipped)\n"
    "  -o, --output OUT        output folder (must not exist)\n"
    "      --force             replace OUT if it exists (the old folder stays until the new\n"
    "                          one is complete)\n"
    "      --json              print the report as one JSON object\n"
    "  -t, --threads N         threads\n";

typedef struct {
    progress p;
    const char *stage;
    size_t last;
} prog;

static void on_progress(void *ctx, const char *stage, size_t done, size_t total) {
    (void)total;
    prog *r = ctx;
    if (r->stage != stage) {
        if (r->stage) progress_end(&r->p);
        progress_init(&r->p, stage);
        r->stage = stage;
        r->last = 0;
    }
    progress_add(&r->p, done - r->last);
    r->last = done;
}

static double pct(size_t a, size_t n) { return n ? 100.0 * (double)a / (double)n : 0.0; }

static void print_report(const xl_vocab_report *r, const char *out, int extend, int json) {
    if (json) {
        printf("{\"output\":");
        cli_put_json_string(stdout, out, strlen(out));
        printf(",\"source_kind\":");
        cli_put_json_string(stdout, r->source_kind, strlen(r->source_kind));
        printf(",\"new_kind\":");
        cli_put_json_string(stdout, r->new_kind, strlen(r->new_kind));
        printf(",\"tokens\":%zu,\"copy\":%zu,\"align\":%zu,\"fvt\":%zu,\"fallback\":%zu", r->n_tokens, r->n_copy,
               r->n_align, r->n_fvt, r->n_fallback);
        if (extend) printf(",\"added\":%zu,\"skipped\":%zu", r->n_added, r->n_skipped);
        else printf(",\"pairs\":%zu,\"old_pad\":%d,\"new_pad\":%d,\"positions_shifted\":%s", r->n_pairs, r->old_pad,
                    r->new_pad, r->positions_shifted ? "true" : "false");
        printf(",\"tensors_changed\":%zu}\n", r->n_tensors_changed);
        return;
    }
    if (extend) {
        printf("added %zu tokens (%zu lines skipped) to a %s tokenizer: rows %zu\n", r->n_added, r->n_skipped,
               r->source_kind, r->n_tokens);
        printf("  fvt       %8zu\n  fallback  %8zu\n", r->n_fvt, r->n_fallback);
    } else {
        printf("%s -> %s: %zu tokens\n", r->source_kind, r->new_kind, r->n_tokens);
        printf("  copy      %8zu  %6.2f%%\n", r->n_copy, pct(r->n_copy, r->n_tokens));
        printf("  align     %8zu  %6.2f%%", r->n_align, pct(r->n_align, r->n_tokens));
        if (r->n_pairs) printf("  (%zu sentence pairs)", r->n_pairs);
        printf("\n  fvt       %8zu  %6.2f%%\n", r->n_fvt, pct(r->n_fvt, r->n_tokens));
        printf("  fallback  %8zu  %6.2f%%\n", r->n_fallback, pct(r->n_fallback, r->n_tokens));
        if (r->positions_shifted)
            printf("pad_token_id %d -> %d: position rows moved with it\n", r->old_pad, r->new_pad);
    }
    printf("wrote %s (%zu tensors with new rows)\n", out, r->n_tensors_changed);
}

int cmd_vocab(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        if (argc < 2) return cli_usage("vocab", "a subcommand is required: transfer or extend");
        fputs(usage, stdout);
        return 0;
    }
    const char *sub = argv[1];
    int extend = !strcmp(sub, "extend");
    if (!extend && strcmp(sub, "transfer") != 0) return cli_usage("vocab", "unknown subcommand \"%s\" (transfer, extend)", sub);
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},      {"tokenizer", required_argument, 0, 'T'},
        {"method", required_argument, 0, 'M'},     {"parallel", required_argument, 0, 'P'},
        {"min-count", required_argument, 0, 'C'},  {"iterations", required_argument, 0, 'I'},
        {"add-tokens", required_argument, 0, 'A'}, {"output", required_argument, 0, 'o'},
        {"force", no_argument, 0, 'F'},            {"json", no_argument, 0, 'J'},
        {"threads", required_argument, 0, 't'},    {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *model = NULL, *tokenizer = NULL, *add = NULL, *out = NULL, *method = NULL;
    int json = 0, threads = 0, c, min_count_set = 0, iter_set = 0;
    xl_vocab_options o;
    xl_vocab_options_init(&o);
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:o:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'T': tokenizer = optarg; break;
        case 'M': method = optarg; break;
        case 'P': o.parallel = optarg; break;
        case 'C':
            if (cli_parse_int("vocab", "--min-count", optarg, 1, 1 << 30, &o.min_count)) return 2;
            min_count_set = 1;
            break;
        case 'I':
            if (cli_parse_int("vocab", "--iterations", optarg, 1, 1000, &o.iterations)) return 2;
            iter_set = 1;
            break;
        case 'A': add = optarg; break;
        case 'o': out = optarg; break;
        case 'F': o.force = 1; break;
        case 'J': json = 1; break;
        case 't': if (cli_parse_int("vocab", "--threads", optarg, 1, 1024, &threads)) return 2; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_bad_option("vocab", c, argv);
        }
    }
    if (optind < argc) return cli_usage("vocab", "unexpected argument \"%s\"", argv[optind]);
    if (!model || !out) return cli_usage("vocab", "-m SOURCE and -o OUT are required");
    if (extend) {
        if (!add) return cli_usage("vocab", "extend needs --add-tokens FILE");
        if (tokenizer || method || o.parallel || min_count_set || iter_set)
            return cli_usage("vocab", "extend takes no --tokenizer, --method, --parallel, --min-count or --iterations");
    } else {
        if (!tokenizer) return cli_usage("vocab", "transfer needs --tokenizer NEWTOK");
        if (add) return cli_usage("vocab", "--add-tokens belongs to `xling vocab extend`");
        if (method && !strcmp(method, "align")) o.method = XL_VOCAB_ALIGN;
        else if (method && strcmp(method, "fvt") != 0) return cli_usage("vocab", "--method must be fvt or align");
        if (o.method == XL_VOCAB_ALIGN && !o.parallel) return cli_usage("vocab", "--method align needs --parallel PAIRS.tsv");
        if (o.method != XL_VOCAB_ALIGN && (o.parallel || min_count_set || iter_set))
            return cli_usage("vocab", "--parallel, --min-count and --iterations go with --method align");
    }
    if (cli_hub_arg("vocab", &model) || (tokenizer && cli_hub_arg("vocab", &tokenizer))) return 1; /* ORG/NAME[@REV] */
    o.threads = cli_threads("vocab", threads);
    prog pr = {0};
    o.progress = on_progress;
    o.progress_ctx = &pr;
    xl_vocab_report r;
    xl_status st = extend ? xl_vocab_extend(model, add, out, &o, &r) : xl_vocab_transfer(model, tokenizer, out, &o, &r);
    if (pr.stage) progress_end(&pr.p);
    if (st) return cli_fail("vocab");
    print_report(&r, out, extend, json);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "xling vocab: writing the report failed (the folder %s is complete)\n", out);
        return 1;
    }
    return 0;
}
