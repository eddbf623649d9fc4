/* xling score: cross-encoder scores of text pairs as given (xl_score_texts), one JSON
 * line per input line, in input order. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "input.h"
#include "outfile.h"
#include "progress.h"
#include "rerank_hits.h"

static const char *usage =
    "usage: xling score -m DIR [-i PAIRS.jsonl] [-o FILE] [--raw-scores] [options]\n"
    "Scores each input line with a cross-encoder, as given: JSONL {\"text\", \"text_pair\"}\n"
    "through the tokenizer's pair template (a line without \"text_pair\", or a plain text\n"
    "line, is scored alone). Decoder rerankers (Qwen3-Reranker and its seq-cls conversions)\n"
    "take the whole, already formatted input as \"text\" and no \"text_pair\" (`xling rerank`\n"
    "applies their prompt). One JSON line per input, in input order (\"id\" passed through):\n"
    "  one label:      {\"score\": s} (the activation: sigmoid unless config.json's\n"
    "                  sentence_transformers.activation_fn says otherwise; Qwen3-Reranker: P(yes))\n"
    "  several labels: {\"label\": name, \"scores\": {name: p, ...}} (softmax; names from id2label)\n"
    "  -m, --model DIR       the cross-encoder folder\n"
    "  -i, --input FILE      input (default stdin); *.jsonl / *.json or --input-format jsonl\n"
    "                        for JSONL, else one text per line\n"
    "      --input-format F  text | jsonl\n"
    "  -o, --output FILE     output (default stdout; written atomically)\n"
    "      --raw-scores      the logits before the activation (\"score\", or \"scores\" by label)\n"
    "      --max-length N    tokens per input, special tokens included (default: the model's\n"
    "                        maximum); pairs are cut longest-first\n"
    "      --batch N         inputs per forward batch (default 32)\n"
    "  -t, --threads N       threads (default: the CPUs this process may use)\n";

enum { CHUNK = 512 };

static void put_label(FILE *f, const xl_model *m, int k) {
    const char *name = xl_reranker_label(m, k);
    if (name) cli_put_json_string(f, name, strlen(name));
    else fprintf(f, "\"LABEL_%d\"", k);
}

int cmd_score(int argc, char **argv) {
    static const struct option opts[] = {
        RERANK_LONG_OPTIONS,
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *cmd = "score";
    int c;
    rerank_cli opt;
    rerank_cli_init(&opt);
    xl_rerank_options *ro = &opt.ro;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:i:o:t:h", opts, NULL)) != -1) {
        int r = rerank_cli_parse(&opt, cmd, c, optarg);
        if (r < 0) return 2;
        if (r) continue;
        switch (c) {
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    if (!opt.dir) return cli_usage(cmd, "give the model folder with -m DIR");
    if (optind < argc) return cli_usage(cmd, "unexpected argument \"%s\" (the input is -i FILE or stdin)", argv[optind]);
    if (cli_refuse_output_is_input(cmd, opt.in_path, opt.out_path)) return 2;
    ro->threads = opt.threads ? cli_threads(cmd, opt.threads) : 0;

    xl_model_options mopt = {.threads = ro->threads};
    xl_model *m;
    if (xl_model_load(opt.dir, &mopt, &m)) return cli_fail(cmd);
    xl_reranker_info info;
    if (xl_reranker_info_get(m, &info)) { cli_fail(cmd); xl_model_free(m); return 1; }
    in_reader in;
    if (in_open(&in, opt.in_path, opt.ifmt)) { xl_model_free(m); return cli_report(cmd); }
    in.cmd = cmd;
    in.pairs_ok = 1;
    in.reserved[0] = "score";
    in.reserved[1] = "scores";
    in.reserved[2] = "label";
    const int L = info.n_labels;
    in_record *recs = calloc(CHUNK, sizeof *recs);
    const char **a = calloc(CHUNK, sizeof *a), **b = calloc(CHUNK, sizeof *b);
    size_t *al = calloc(CHUNK, sizeof *al), *bl = calloc(CHUNK, sizeof *bl), *where = calloc(CHUNK, sizeof *where);
    float *s = calloc((size_t)CHUNK * (size_t)L, sizeof *s);
    outfile out = {0};
    int rc = 0;
    size_t total = 0;
    if (!recs || !a || !b || !al || !bl || !where || !s) { cli_set_error("out of memory"); rc = 1; }
    if (!rc && outfile_open(&out, opt.out_path)) rc = 1;
    progress_run rs = {0};
    progress_init(&rs.bar, "score");
    ro->progress = progress_run_cb;
    ro->progress_ctx = &rs;
    while (!rc) {
        size_t got;
        if (in_read_chunk(&in, recs, CHUNK, &got)) { rc = 1; break; }
        if (!got) break;
        if (in_refuse_ids(&in, recs, got, "\"input_ids\" is not read by score; give \"text\" (and \"text_pair\")")) rc = 1;
        for (size_t i = 0; i < got && !rc; i++) {
            a[i] = recs[i].text;
            al[i] = recs[i].len;
            b[i] = recs[i].pair;
            bl[i] = recs[i].pair ? recs[i].pair_len : 0;
            where[i] = i;
        }
        rs.base = total;
        if (!rc && xl_score_texts(m, a, al, b, bl, got, ro, s)) {
            in_renumber_error(&in, recs, where, got);
            rc = 1;
        }
        for (size_t i = 0; !rc && i < got; i++) {
            const float *si = s + i * (size_t)L;
            fputc('{', out.f);
            if (recs[i].extra) fputs(recs[i].extra, out.f);
            if (L == 1) {
                fprintf(out.f, "\"score\":%.9g}\n", si[0]);
                continue;
            }
            int best = 0;
            for (int k = 1; k < L; k++) best = si[k] > si[best] ? k : best;
            fputs("\"label\":", out.f);
            put_label(out.f, m, best);
            fputs(",\"scores\":{", out.f);
            for (int k = 0; k < L; k++) {
                if (k) fputc(',', out.f);
                put_label(out.f, m, k);
                fprintf(out.f, ":%.9g", si[k]);
            }
            fputs("}}\n", out.f);
        }
        total += got;
        in_records_clear(recs, got);
    }
    progress_end(&rs.bar);
    if (!rc && !total) { cli_set_error("no inputs in %s", in.name); rc = 1; }
    if (!rc && outfile_commit(&out)) rc = 1;
    if (rc) {
        if (out.f) outfile_abort(&out);
        cli_report(cmd);
    }
    free(recs); free(a); free(b); free(al); free(bl); free(where); free(s);
    in_close(&in);
    xl_model_free(m);
    return rc;
}
