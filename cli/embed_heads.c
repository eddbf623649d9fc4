/* xling embed --head dense|sparse|colbert|all: bge-m3's three outputs per input, as
 * JSONL {"embedding": [...], "sparse": {"id": w}, "colbert": [[...], ...]} (the keys
 * asked for), or the dense vectors alone as .npy / f32. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "embed_heads.h"
#include "embed_opts.h"
#include "input.h"
#include "model_opts.h"
#include "output.h"
#include "progress.h"

/* Inputs per library call: a call's outputs are held at once, and ColBERT keeps one
 * vector per token (8192 tokens of bge-m3: 32 MB), so its calls take fewer texts. */
#define CHUNK 256
#define CHUNK_COLBERT 16

enum { O_HEAD = EO_LAST, O_SPARSE_TOKENS, O_CHUNKING /* embed's long-document options: refused with --head */ };

int embed_heads_wanted(int argc, char **argv) {
    /* options of `embed` that take a value: their value is skipped, so that
     * `--prefix --head` is a prefix, not a head */
    static const char *valued[] = {"-m", "-i", "-o", "-t", "--model", "--input", "--output", "--threads", "--prompt",
                                   "--prefix", "--pooling", "--max-length", "--batch", "--instruct", "--dim",
                                   "--quantize", "--format", "--input-format", "--precision", "--calibration", NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) return 0;
        if (!strcmp(a, "--head") || !strncmp(a, "--head=", 7) || !strcmp(a, "--sparse-tokens")) return 1;
        for (int k = 0; valued[k]; k++)
            if (!strcmp(a, valued[k])) {
                i++;
                break;
            }
    }
    return 0;
}

/* "dense", "sparse", "colbert", "all", or a comma-separated list of them. */
static int parse_heads(const char *s, unsigned *out) {
    unsigned h = 0;
    char buf[64];
    if (strlen(s) >= sizeof buf) return -1;
    strcpy(buf, s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "dense")) h |= XL_M3_DENSE;
        else if (!strcmp(t, "sparse")) h |= XL_M3_SPARSE;
        else if (!strcmp(t, "colbert")) h |= XL_M3_COLBERT;
        else if (!strcmp(t, "all")) h |= XL_M3_ALL;
        else return -1;
    }
    if (!h) return -1;
    *out = h;
    return 0;
}

static void put_floats(FILE *f, const float *v, size_t n) {
    fputc('[', f);
    for (size_t j = 0; j < n; j++) fprintf(f, j ? ",%.9g" : "%.9g", (double)v[j]);
    fputc(']', f);
}

static void write_line(FILE *f, const xl_m3_vectors *v, const char *extra, const xl_tokenizer *tok, int by_piece) {
    int first = 1;
    fputc('{', f);
    if (extra) fputs(extra, f);
    if (v->dense) {
        fputs("\"embedding\":", f);
        put_floats(f, v->dense, (size_t)v->dense_dim);
        first = 0;
    }
    if (v->sparse_ids) {
        fputs(first ? "\"sparse\":{" : ",\"sparse\":{", f);
        for (size_t k = 0; k < v->n_sparse; k++) {
            if (k) fputc(',', f);
            const char *piece = by_piece && tok ? xl_tokenizer_id_to_token(tok, v->sparse_ids[k]) : NULL;
            if (piece) cli_put_json_string(f, piece, strlen(piece));
            else fprintf(f, "\"%d\"", v->sparse_ids[k]);
            fprintf(f, ":%.9g", (double)v->sparse_weights[k]);
        }
        fputc('}', f);
        first = 0;
    }
    if (v->colbert) {
        fputs(first ? "\"colbert\":[" : ",\"colbert\":[", f);
        for (size_t r = 0; r < v->n_colbert; r++) {
            if (r) fputc(',', f);
            put_floats(f, v->colbert + r * (size_t)v->colbert_dim, (size_t)v->colbert_dim);
        }
        fputc(']', f);
    }
    fputs("}\n", f);
}

/* One group of records (all texts, or all ids) through the library into vecs, placed
 * back by where[]. -1 with cli_error(). */
static int run_group(const xl_m3 *h, unsigned heads, const xl_embed_options *o, const in_reader *in, const in_record *recs,
                     const size_t *where, size_t n, int ids, xl_m3_vectors *vecs, size_t *cut) {
    if (!n) return 0;
    const void **inputs = malloc(n * sizeof *inputs);
    size_t *lens = malloc(n * sizeof *lens);
    xl_m3_vectors *tmp = calloc(n, sizeof *tmp);
    int rc = 0;
    if (!inputs || !lens || !tmp) { cli_set_error("out of memory"); rc = -1; }
    for (size_t k = 0; !rc && k < n; k++) {
        inputs[k] = ids ? (const void *)recs[where[k]].ids : (const void *)recs[where[k]].text;
        lens[k] = ids ? recs[where[k]].n_ids : recs[where[k]].len;
    }
    size_t c = 0;
    if (!rc) {
        xl_status st = ids ? xl_m3_embed_ids(h, (const int32_t *const *)inputs, lens, n, heads, o, tmp, &c)
                           : xl_m3_embed_texts(h, (const char *const *)inputs, lens, n, heads, o, tmp, &c);
        if (st) { in_renumber_error(in, recs, where, n); rc = -1; }
    }
    if (!rc) {
        for (size_t k = 0; k < n; k++) vecs[where[k]] = tmp[k];
        *cut += c;
    }
    free(inputs); free(lens); free(tmp);
    return rc;
}

static const char *usage =
    "usage: xling embed -m DIR --head dense|sparse|colbert|all [--sparse-tokens] [-i FILE | TEXT...] [-o FILE]\n"
    "bge-m3 (a folder with colbert_linear.pt / sparse_linear.pt): FlagEmbedding's BGEM3 outputs,\n"
    "one JSON line per input with the keys asked for (a comma list of heads works too):\n"
    "  \"embedding\": [...]          dense: the CLS state, normalised\n"
    "  \"sparse\": {\"id\": w, ...}     lexical weights: relu(sparse_linear(h)), max per token id,\n"
    "                              special tokens left out\n"
    "  \"colbert\": [[...], ...]     normalize(colbert_linear(h)) for every token after CLS\n"
    "  -m, --model DIR          the bge-m3 folder\n"
    "      --head H             dense | sparse | colbert | all (or e.g. dense,sparse)\n"
    "      --sparse-tokens      key the sparse weights by the vocabulary piece, not the id\n"
    "  -i, --input FILE         input (default stdin); *.jsonl / *.json: JSONL \"text\" or \"input_ids\"\n"
    "      --input-format F     text | jsonl\n"
    "  -o, --output FILE        output (default stdout), written atomically; .npy / .f32 hold\n"
    "                           --head dense only\n"
    "      --format F           jsonl (default) | npy | f32 (--head dense only)\n"
    "      --keep-fields        JSONL: copy every other field of the input line\n"
    "      --prompt NAME, --prefix STR, --max-length N, --batch N, -t N   as for embed\n"
    "  -h, --help               this help\n";

int cmd_embed_heads(int argc, char **argv) {
    static const struct option opts[] = {
        MODEL_LONG_OPTIONS,
        EMBED_LONG_OPTIONS,
        {"head", required_argument, 0, O_HEAD},       {"sparse-tokens", no_argument, 0, O_SPARSE_TOKENS},
        {"chunk-size", required_argument, 0, O_CHUNKING}, {"chunk-overlap", required_argument, 0, O_CHUNKING},
        {"chunk-pooling", required_argument, 0, O_CHUNKING}, {"chunks", no_argument, 0, O_CHUNKING},
        {"late-chunking", no_argument, 0, O_CHUNKING},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};
    const char *cmd = "embed", *clash = NULL;
    embed_io io = {0};
    model_opts mo;
    model_opts_init(&mo);
    unsigned heads = 0;
    int by_piece = 0, c, li = -1;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:i:o:t:h", opts, &li)) != -1) {
        int r = model_opts_parse(&mo, cmd, c, optarg);
        if (r < 0) return 2;
        if (r) {
            if (c == MO_POOLING) clash = "--pooling";
            else if (c == MO_DIM) clash = "--dim";
            else if (c == MO_NORMALIZE) clash = "--normalize";
            else if (c == MO_NO_NORMALIZE) clash = "--no-normalize";
            else if (c == MO_INSTRUCT) clash = "--instruct";
            continue;
        }
        if ((r = embed_io_parse(&io, cmd, c, optarg))) {
            if (r < 0) return 2;
            continue;
        }
        switch (c) {
        case EO_LAYERS: clash = "--layers"; break;
        case EO_PRECISION: clash = "--precision"; break;
        case EO_CALIBRATION: clash = "--calibration"; break;
        case O_HEAD: {
            unsigned h;
            if (parse_heads(optarg, &h)) return cli_usage(cmd, "--head must be dense, sparse, colbert or all, got \"%s\"", optarg);
            heads |= h;
            break;
        }
        case O_SPARSE_TOKENS: by_piece = 1; break;
        case O_CHUNKING:
            return cli_usage(cmd, "--%s cannot be used with --head (the heads embed each text in one window)",
                             li >= 0 ? opts[li].name : "chunk-size");
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    int rc = model_opts_check(&mo, cmd);
    if (rc) return rc;
    if (!heads) return cli_usage(cmd, "--sparse-tokens needs --head sparse (or all)");
    if (clash) return cli_usage(cmd, "%s cannot be used with --head (bge-m3's heads fix pooling and normalization)", clash);
    if (by_piece && !(heads & XL_M3_SPARSE)) return cli_usage(cmd, "--sparse-tokens needs --head sparse (or all)");
    size_t n_args = (size_t)(argc - optind);
    if (n_args && io.in_path) return cli_usage(cmd, "texts given as arguments and -i %s: choose one", io.in_path);
    out_format fmt;
    if ((rc = embed_io_format(&io, cmd, &fmt))) return rc;
    if (fmt != OUT_JSONL && heads != XL_M3_DENSE)
        return cli_usage(cmd, "%s output holds one vector per input: only --head dense; sparse and colbert need JSONL",
                         fmt == OUT_NPY ? ".npy" : "f32");
    if (io.keep_fields && fmt != OUT_JSONL) return cli_usage(cmd, "--keep-fields needs JSONL output");
    if (!n_args && cli_refuse_output_is_input(cmd, io.in_path, io.out_path)) return 2;

    xl_model *m;
    if ((rc = model_opts_load(&mo, cmd, &m))) return rc;
    xl_m3 *h;
    if (xl_m3_load(m, &h)) { xl_model_free(m); return cli_fail(cmd); }
    if (heads & ~xl_m3_heads(h)) {
        fprintf(stderr, "xling embed: %s has no %s (--head %s)\n", mo.dir,
                (heads & ~xl_m3_heads(h) & XL_M3_SPARSE) ? "sparse_linear.pt" : "colbert_linear.pt",
                (heads & ~xl_m3_heads(h) & XL_M3_SPARSE) ? "sparse" : "colbert");
        xl_m3_free(h);
        xl_model_free(m);
        return 1;
    }
    xl_model_info info;
    xl_model_get_info(m, &info);
    const xl_tokenizer *tok = xl_model_tokenizer(m);

    in_reader in;
    if (in_open_cli(&in, argv + optind, n_args, io.in_path, io.ifmt)) { xl_m3_free(h); xl_model_free(m); return cli_report(cmd); }
    in.cmd = cmd;
    in.keep_fields = io.keep_fields;
    in.reserved[0] = "embedding";
    in.reserved[1] = "sparse";
    in.reserved[2] = "colbert";
    /* dense to .npy / f32 goes through the embed writer; JSONL is written here */
    size_t inner[1] = {(size_t)info.hidden_size};
    out_writer ow;
    if (out_open(&ow, io.out_path, fmt, PREC_FLOAT32, inner, 1)) { in_close(&in); xl_m3_free(h); xl_model_free(m); return cli_report(cmd); }

    in_record *recs = calloc(CHUNK, sizeof *recs);
    xl_m3_vectors *vecs = calloc(CHUNK, sizeof *vecs);
    size_t *where_t = malloc(CHUNK * sizeof *where_t), *where_i = malloc(CHUNK * sizeof *where_i);
    float *rows = fmt != OUT_JSONL ? malloc(CHUNK * inner[0] * sizeof *rows) : NULL;
    char **extras = calloc(CHUNK, sizeof *extras);
    progress_run rs = {0};
    progress_init(&rs.bar, "embed");
    mo.eo.progress = progress_run_cb;
    mo.eo.progress_ctx = &rs;
    size_t total = 0, truncated = 0, lines = 0;
    if (!recs || !vecs || !where_t || !where_i || !extras || (fmt != OUT_JSONL && !rows)) { cli_set_error("out of memory"); rc = 1; }
    while (!rc) {
        size_t got, nt = 0, ni = 0;
        if (in_read_chunk(&in, recs, (heads & XL_M3_COLBERT) ? CHUNK_COLBERT : CHUNK, &got)) { rc = 1; break; }
        if (!got) break;
        for (size_t i = 0; i < got; i++) {
            if (recs[i].is_ids) where_i[ni++] = i;
            else where_t[nt++] = i;
        }
        rs.base = total;
        if (run_group(h, heads, &mo.eo, &in, recs, where_t, nt, 0, vecs, &truncated)) rc = 1;
        rs.base = total + nt;
        if (!rc && run_group(h, heads, &mo.eo, &in, recs, where_i, ni, 1, vecs, &truncated)) rc = 1;
        if (!rc && fmt == OUT_JSONL) {
            for (size_t i = 0; i < got; i++) write_line(ow.file.f, &vecs[i], recs[i].extra, tok, by_piece);
            lines += got;
            if (ferror(ow.file.f) || (ow.file.is_stdout && fflush(ow.file.f))) {
                cli_set_error("%s: write failed", ow.file.name);
                rc = 1;
            } else ow.rows_out = lines;
        } else if (!rc) {
            for (size_t i = 0; i < got; i++) {
                memcpy(rows + i * inner[0], vecs[i].dense, inner[0] * sizeof *rows);
                extras[i] = recs[i].extra;
            }
            if (out_write_rows(&ow, rows, extras, got)) rc = 1;
        }
        for (size_t i = 0; i < got; i++) xl_m3_vectors_free(&vecs[i]);
        total += got;
        in_records_clear(recs, got);
    }
    progress_end(&rs.bar);
    int to_stdout = ow.file.is_stdout;
    if (!rc && fmt == OUT_JSONL) ow.rows = lines;
    if (!rc && out_close(&ow)) rc = 1;
    else if (rc) out_abort(&ow);
    if (rc) {
        if (to_stdout && ow.rows_out)
            fprintf(stderr, "xling embed: %s (%zu rows were written to stdout before the error)\n", cli_error(), ow.rows_out);
        else cli_report(cmd);
    }
    if (!rc && truncated) {
        int limit = mo.eo.max_length ? mo.eo.max_length : info.max_seq_length;
        fprintf(stderr, "xling embed: %zu of %zu inputs were longer than %d tokens and were truncated\n", truncated, total, limit);
    }
    in_close(&in);
    free(recs); free(vecs); free(where_t); free(where_i); free(rows); free(extras);
    xl_m3_free(h);
    xl_model_free(m);
    return rc;
}
