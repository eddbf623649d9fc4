/* xling rerank: one query against documents with a cross-encoder or reranker
 * (xl_rerank), best first. `--m3` hands over to the bge-m3 scorer (cmd_rerank_m3.c). */
#include <errno.h>
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
    "usage: xling rerank -m DIR -q QUERY [-i DOCS | DOC...] [--top-k K] [--raw-scores] [options]\n"
    "Scores every document against the query with a cross-encoder (XLM-R / BERT\n"
    "...ForSequenceClassification, e.g. bge-reranker-v2-m3) or a decoder reranker\n"
    "(Qwen3-Reranker, as its Qwen3ForCausalLM folder or a ...ForSequenceClassification\n"
    "conversion; xling applies its prompt), and prints one JSON line per document, best\n"
    "first: {\"index\": i, \"score\": s, \"text\": ...} (i = 0-based input position; \"id\" of\n"
    "JSONL input passed through). Score: the model's activation (sigmoid for one label, or\n"
    "config.json's sentence_transformers.activation_fn); Qwen3-Reranker: P(yes).\n"
    "  -m, --model DIR       the cross-encoder / reranker folder\n"
    "  -q, --query TEXT      the query\n"
    "  -i, --input FILE      documents: one per line, or JSONL {\"text\", \"id\"?} (*.jsonl /\n"
    "                        *.json, or --input-format jsonl); default stdin, or DOC arguments\n"
    "      --input-format F  text | jsonl\n"
    "  -o, --output FILE     output (default stdout; written atomically)\n"
    "  -k, --top-k K         print only the K best\n"
    "      --raw-scores      the raw score (logit; Qwen3-Reranker: logit(yes) - logit(no))\n"
    "      --no-text         leave \"text\" out of the output\n"
    "      --instruct TEXT   decoder rerankers: the instruction (default: the model card's\n"
    "                        \"Given a web search query, retrieve relevant passages that\n"
    "                        answer the query\")\n"
    "      --max-length N    tokens per pair, special and prompt tokens included (default: the\n"
    "                        model's maximum); longer pairs are cut longest-first (decoder\n"
    "                        rerankers: the document's end)\n"
    "      --batch N         pairs per forward batch (default 32)\n"
    "  -t, --threads N       threads (default: the CPUs this process may use)\n"
    "      --m3 ...          bge-m3: dense + sparse + ColBERT scores (`xling rerank --m3 --help`)\n";

enum { O_INSTRUCT = RO_LAST, O_NOTEXT };

typedef struct {
    in_record *recs;
    size_t n, cap;
} docs_t;

static int push_docs(docs_t *d, in_record *recs, size_t got) {
    if (d->n + got > d->cap) {
        size_t nc = d->cap ? d->cap : 256;
        while (nc < d->n + got) nc *= 2;
        in_record *r = realloc(d->recs, nc * sizeof *r);
        if (!r) return -1;
        d->recs = r;
        d->cap = nc;
    }
    memcpy(d->recs + d->n, recs, got * sizeof *recs);
    memset(recs, 0, got * sizeof *recs); /* moved */
    d->n += got;
    return 0;
}

int cmd_rerank(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--m3")) return cmd_rerank_m3(argc, argv);
    static const struct option opts[] = {
        RERANK_LONG_OPTIONS,
        {"query", required_argument, 0, 'q'},      {"top-k", required_argument, 0, 'k'},
        {"instruct", required_argument, 0, O_INSTRUCT}, {"no-text", no_argument, 0, O_NOTEXT},
        {"help", no_argument, 0, 'h'},             {0, 0, 0, 0}};
    const char *cmd = "rerank", *query = NULL;
    int top_k = 0, no_text = 0, c;
    rerank_cli opt;
    rerank_cli_init(&opt);
    xl_rerank_options *ro = &opt.ro;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:q:i:o:k:t:h", opts, NULL)) != -1) {
        int r = rerank_cli_parse(&opt, cmd, c, optarg);
        if (r < 0) return 2;
        if (r) continue;
        switch (c) {
        case 'q': query = optarg; break;
        case 'k': if (cli_parse_int(cmd, "--top-k", optarg, 1, 1 << 30, &top_k)) return 2; break;
        case O_INSTRUCT: ro->instruct = optarg; break;
        case O_NOTEXT: no_text = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    if (!opt.dir) return cli_usage(cmd, "give the model folder with -m DIR");
    size_t n_args = (size_t)(argc - optind);
    if (rerank_check_args(cmd, query, n_args, opt.in_path, opt.out_path)) return 2;
    ro->threads = opt.threads ? cli_threads(cmd, opt.threads) : 0;

    xl_model *m;
    if (rerank_model_load(cmd, opt.dir, ro->threads, &m)) return 1;
    in_reader in;
    if (in_open_cli(&in, argv + optind, n_args, opt.in_path, opt.ifmt)) { xl_model_free(m); return cli_report(cmd); }
    in.cmd = cmd;
    in.reserved[0] = "index";
    in.reserved[1] = "score";
    in.reserved[2] = "text";

    docs_t d = {0};
    int rc = 0;
    enum { CHUNK = 1024 };
    in_record *chunk = calloc(CHUNK, sizeof *chunk);
    if (!chunk) { cli_set_error("out of memory"); rc = 1; }
    while (!rc) {
        size_t got;
        if (in_read_chunk(&in, chunk, CHUNK, &got)) { rc = 1; break; }
        if (!got) break;
        if (in_refuse_ids(&in, chunk, got, "\"input_ids\" is not read by rerank; give the document as \"text\"")) rc = 1;
        if (!rc && push_docs(&d, chunk, got)) { cli_set_error("out of memory"); rc = 1; }
        in_records_clear(chunk, got);
    }
    free(chunk);
    if (!rc && !d.n)
        { cli_set_error("no documents in %s", n_args ? "the arguments" : in.name); rc = 1; }

    const char **texts = rc ? NULL : malloc(d.n * sizeof *texts);
    size_t *lens = rc ? NULL : malloc(d.n * sizeof *lens), *order = rc ? NULL : malloc(d.n * sizeof *order);
    size_t *where = rc ? NULL : malloc(d.n * sizeof *where);
    float *scores = rc ? NULL : malloc(d.n * sizeof *scores);
    if (!rc && (!texts || !lens || !order || !where || !scores)) { cli_set_error("out of memory"); rc = 1; }
    for (size_t i = 0; !rc && i < d.n; i++) {
        texts[i] = d.recs[i].text;
        lens[i] = d.recs[i].len;
        where[i] = i;
    }
    progress_run rs = {0};
    progress_init(&rs.bar, "rerank");
    ro->progress = progress_run_cb;
    ro->progress_ctx = &rs;
    if (!rc && xl_rerank(m, query, strlen(query), texts, lens, d.n, ro, scores)) {
        in_renumber_error(&in, d.recs, where, d.n);
        rc = 1;
    }
    progress_end(&rs.bar);
    outfile out = {0};
    if (!rc && outfile_open(&out, opt.out_path)) rc = 1;
    if (!rc) {
        rerank_order(scores, d.n, order);
        size_t k = top_k && (size_t)top_k < d.n ? (size_t)top_k : d.n;
        for (size_t r = 0; r < k; r++) {
            const in_record *rec = &d.recs[order[r]];
            fputc('{', out.f);
            if (rec->extra) fputs(rec->extra, out.f);
            fprintf(out.f, "\"index\":%zu,\"score\":%.9g", order[r], scores[order[r]]);
            if (!no_text) {
                fputs(",\"text\":", out.f);
                cli_put_json_string(out.f, rec->text, rec->len);
            }
            fputs("}\n", out.f);
        }
        if (outfile_commit(&out)) rc = 1;
    }
    if (rc) {
        if (out.f) outfile_abort(&out);
        cli_report(cmd);
    }
    in_records_clear(d.recs, d.n);
    free(d.recs);
    free(texts); free(lens); free(order); free(where); free(scores);
    in_close(&in);
    xl_model_free(m);
    return rc;
}
