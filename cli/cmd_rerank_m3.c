/* xling rerank --m3: documents scored against a query with bge-m3's three heads (dense,
 * lexical, ColBERT) and their weighted combination, best first. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "input.h"
#include "model_opts.h"
#include "outfile.h"
#include "progress.h"
#include "rerank_hits.h"

/* Documents per library call: their ColBERT vectors (up to 32 MB per 8192-token text
 * of bge-m3) are held until scored. */
#define CHUNK 16

static const char *usage =
    "usage: xling rerank --m3 -m DIR -q QUERY [-i DOCS | DOC...] [--top-k K] [--weights D,L,C] [options]\n"
    "Scores every document against the query with bge-m3 (a folder with colbert_linear.pt and\n"
    "sparse_linear.pt), as FlagEmbedding's BGEM3 compute_score, and prints one JSON line per\n"
    "document, best first:\n"
    "  {\"index\": i, \"score\": s, \"text\": ..., \"dense\": d, \"lexical\": l, \"colbert\": c}\n"
    "i = 0-based input position (\"id\" of JSONL input passed through); dense = cosine of the\n"
    "CLS vectors, lexical = sum of q_w * d_w over shared token ids, colbert = mean over the\n"
    "query's vectors of the best dot product with the document's; score = (wd*d + wl*l +\n"
    "wc*c) / (wd + wl + wc).\n"
    "  -m, --model DIR       the bge-m3 folder\n"
    "  -q, --query TEXT      the query\n"
    "  -i, --input FILE      documents: one per line, or JSONL {\"text\", \"id\"?} (*.jsonl /\n"
    "                        *.json, or --input-format jsonl); default stdin, or DOC arguments\n"
    "      --input-format F  text | jsonl\n"
    "  -o, --output FILE     output (default stdout; written atomically)\n"
    "  -k, --top-k K         print only the K best\n"
    "      --weights D,L,C   weights of dense, lexical, colbert (default 0.4,0.2,0.4)\n"
    "      --no-text         leave \"text\" out of the output\n"
    "      --max-length N    truncate the query and each document to N tokens\n"
    "      --batch N         sequences per forward batch (default 32)\n"
    "  -t, --threads N       threads (default: the CPUs this process may use)\n";

enum { O_M3 = MO_LAST, O_WEIGHTS, O_INFMT, O_NOTEXT };

static int parse_weights(const char *s, double w[3]) {
    char *end;
    for (int k = 0; k < 3; k++) {
        w[k] = strtod(s, &end);
        if (end == s || !(w[k] >= 0) || w[k] > 1e30) return -1;
        if (k < 2) {
            if (*end != ',') return -1;
            s = end + 1;
        }
    }
    return *end || !(w[0] + w[1] + w[2] > 0) ? -1 : 0;
}

typedef struct {
    size_t index;
    double score, dense, lexical, colbert;
    char *text, *extra;
    size_t len;
} scored;

static int best_first(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index; /* ties: input order */
}

int cmd_rerank_m3(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},       {"query", required_argument, 0, 'q'},
        {"input", required_argument, 0, 'i'},       {"output", required_argument, 0, 'o'},
        {"top-k", required_argument, 0, 'k'},       {"threads", required_argument, 0, 't'},
        {"max-length", required_argument, 0, MO_MAX_LENGTH}, {"batch", required_argument, 0, MO_BATCH},
        {"m3", no_argument, 0, O_M3},               {"weights", required_argument, 0, O_WEIGHTS},
        {"input-format", required_argument, 0, O_INFMT}, {"no-text", no_argument, 0, O_NOTEXT},
        {"help", no_argument, 0, 'h'},              {0, 0, 0, 0}};
    const char *cmd = "rerank --m3", *query = NULL, *in_path = NULL, *out_path = NULL;
    in_format ifmt = IN_AUTO;
    model_opts mo;
    model_opts_init(&mo);
    double w[3] = {0.4, 0.2, 0.4};
    int top_k = 0, no_text = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:q:i:o:k:t:h", opts, NULL)) != -1) {
        int r = model_opts_parse(&mo, cmd, c, optarg);
        if (r < 0) return 2;
        if (r) continue;
        switch (c) {
        case 'q': query = optarg; break;
        case 'i': in_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'k': if (cli_parse_int(cmd, "--top-k", optarg, 1, 1 << 30, &top_k)) return 2; break;
        case O_M3: break;
        case O_WEIGHTS:
            if (parse_weights(optarg, w))
                return cli_usage(cmd, "--weights needs three numbers >= 0 with a positive sum (dense,lexical,colbert), got \"%s\"", optarg);
            break;
        case O_INFMT:
            if (in_parse_format(optarg, &ifmt)) return cli_usage(cmd, "--input-format must be text or jsonl, got \"%s\"", optarg);
            break;
        case O_NOTEXT: no_text = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    int rc = model_opts_check(&mo, cmd);
    if (rc) return rc;
    size_t n_args = (size_t)(argc - optind);
    if (rerank_check_args(cmd, query, n_args, in_path, out_path)) return 2;

    xl_model *m;
    if ((rc = model_opts_load(&mo, cmd, &m))) return rc;
    xl_m3 *h;
    if (xl_m3_load(m, &h)) { xl_model_free(m); return cli_fail(cmd); }
    if (xl_m3_heads(h) != XL_M3_ALL) {
        fprintf(stderr, "xling rerank --m3: %s lacks %s (--m3 scores with all three heads)\n", mo.dir,
                (xl_m3_heads(h) & XL_M3_SPARSE) ? "colbert_linear.pt" : "sparse_linear.pt");
        xl_m3_free(h);
        xl_model_free(m);
        return 1;
    }
    xl_m3_vectors qv;
    if (xl_m3_embed_texts(h, &query, NULL, 1, XL_M3_ALL, &mo.eo, &qv, NULL)) {
        fprintf(stderr, "xling rerank --m3: the query: %s\n", xl_last_error());
        xl_m3_free(h);
        xl_model_free(m);
        return 1;
    }
    in_reader in;
    if (in_open_cli(&in, argv + optind, n_args, in_path, ifmt)) { xl_m3_vectors_free(&qv); xl_m3_free(h); xl_model_free(m); return cli_report(cmd); }
    in.cmd = cmd;
    in.reserved[0] = "index";
    in.reserved[1] = "score";
    in.reserved[2] = "text";
    in.reserved[3] = "dense";

    in_record *recs = calloc(CHUNK, sizeof *recs);
    xl_m3_vectors *dv = calloc(CHUNK, sizeof *dv);
    const char **texts = malloc(CHUNK * sizeof *texts);
    size_t *lens = malloc(CHUNK * sizeof *lens), *where = malloc(CHUNK * sizeof *where);
    scored *all = NULL;
    size_t n = 0, cap = 0;
    progress_run rs = {0};
    progress_init(&rs.bar, "rerank");
    mo.eo.progress = progress_run_cb;
    mo.eo.progress_ctx = &rs;
    if (!recs || !dv || !texts || !lens || !where) { cli_set_error("out of memory"); rc = 1; }
    while (!rc) {
        size_t got;
        if (in_read_chunk(&in, recs, CHUNK, &got)) { rc = 1; break; }
        if (!got) break;
        if (in_refuse_ids(&in, recs, got, "\"input_ids\" is not read by rerank; give the document as \"text\"")) rc = 1;
        for (size_t i = 0; i < got && !rc; i++) {
            texts[i] = recs[i].text;
            lens[i] = recs[i].len;
            where[i] = i;
        }
        if (!rc && n + got > cap) {
            size_t nc = cap ? cap * 2 : 1024;
            while (nc < n + got) nc *= 2;
            scored *a = realloc(all, nc * sizeof *a);
            if (!a) { cli_set_error("out of memory"); rc = 1; }
            else { all = a; cap = nc; }
        }
        rs.base = n;
        if (!rc && xl_m3_embed_texts(h, texts, lens, got, XL_M3_ALL, &mo.eo, dv, NULL)) {
            in_renumber_error(&in, recs, where, got);
            rc = 1;
        }
        for (size_t i = 0; !rc && i < got; i++) {
            xl_m3_scores s;
            if (xl_m3_score(&qv, &dv[i], w, &s)) { cli_take_lib_error(); rc = 1; break; }
            scored *o = &all[n + i];
            *o = (scored){n + i, s.combined, s.dense, s.lexical, s.colbert, recs[i].text, recs[i].extra, recs[i].len};
            recs[i].text = NULL; /* kept for the output */
            recs[i].extra = NULL;
        }
        for (size_t i = 0; i < got; i++) xl_m3_vectors_free(&dv[i]);
        if (!rc) n += got;
        in_records_clear(recs, got);
    }
    progress_end(&rs.bar);
    if (!rc && !n) { cli_set_error("no documents in %s", n_args ? "the arguments" : in.name); rc = 1; }
    outfile out = {0};
    if (!rc && outfile_open(&out, out_path)) rc = 1;
    if (!rc) {
        qsort(all, n, sizeof *all, best_first);
        size_t k = top_k && (size_t)top_k < n ? (size_t)top_k : n;
        for (size_t r = 0; r < k; r++) {
            const scored *o = &all[r];
            fputc('{', out.f);
            if (o->extra) fputs(o->extra, out.f);
            fprintf(out.f, "\"index\":%zu,\"score\":%.9g", o->index, o->score);
            if (!no_text) {
                fputs(",\"text\":", out.f);
                cli_put_json_string(out.f, o->text, o->len);
            }
            fprintf(out.f, ",\"dense\":%.9g,\"lexical\":%.9g,\"colbert\":%.9g}\n", o->dense, o->lexical, o->colbert);
        }
        if (outfile_commit(&out)) rc = 1;
    }
    if (rc) {
        if (out.f) outfile_abort(&out);
        cli_report(cmd);
    }
    for (size_t i = 0; i < n; i++) {
        free(all[i].text);
        free(all[i].extra);
    }
    free(all); free(recs); free(dv); free(texts); free(lens); free(where);
    in_close(&in);
    xl_m3_vectors_free(&qv);
    xl_m3_free(h);
    xl_model_free(m);
    return rc;
}
