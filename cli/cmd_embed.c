/* xling embed: texts or token ids in, one vector per input out, in input order. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "input.h"
#include "output.h"
#include "progress.h"

#define CHUNK 2048

static const char *usage =
    "usage: xling embed -m DIR [-i FILE] [-o FILE] [options]\n"
    "Embeds one input per line (plain text, or JSONL lines with \"text\" or \"input_ids\").\n"
    "  -m, --model DIR          Hugging Face / sentence-transformers model folder\n"
    "  -i, --input FILE         input file (default stdin); *.jsonl / *.json read as JSONL\n"
    "      --input-format F     text | jsonl (default: from the file name; stdin = text)\n"
    "  -o, --output FILE        output file (default stdout); *.npy implies --format npy\n"
    "      --format F           jsonl (default: {\"embedding\":[...]} per line) | npy | f32\n"
    "      --prompt NAME        prepend the prompt NAME of config_sentence_transformers.json\n"
    "      --prefix STR         prepend STR to every text (overrides --prompt)\n"
    "      --pooling P          cls | mean | max | last (= lasttoken); default: the folder's\n"
    "      --no-normalize       skip L2 normalization even if the folder has Normalize\n"
    "      --normalize          L2-normalize even if the folder has no Normalize module\n"
    "      --max-length N       truncate inputs to N tokens (default: the model's max_seq_length)\n"
    "      --batch N            at most N sequences per forward batch (default 32)\n"
    "      --instruct TASK      instruction-tuned embedders: put TASK in the folder's\n"
    "                           \"Instruct: ...\\nQuery:\" prompt (else \"Instruct: TASK\\nQuery: \")\n"
    "      --dim N              Matryoshka: keep the first N dimensions, then renormalize\n"
    "      --layers             output every layer's mean-pooled and last-token hidden states\n"
    "                           (L+1 entries: embeddings, each block, the last after the final\n"
    "                           norm): JSONL {\"mean\":[[...]],\"last\":[[...]]}, npy [n,2,L+1,H]\n"
    "      --bidirectional      decoders: attend in both directions (as llama-embed-nemotron)\n"
    "      --causal             decoders: causal attention, whatever the folder says\n"
    "      --quantize q8        decoders: block int8 weights made at load (less memory, faster)\n"
    "  -t, --threads N          threads (default: the CPUs this process may use)\n"
    "  -h, --help               this help\n";

typedef struct {
    size_t total, truncated;
    progress bar;
    size_t base;
} run_state;

static void on_progress(void *ctx, size_t done, size_t total) {
    run_state *rs = ctx;
    (void)total;
    progress_add(&rs->bar, rs->base + done - rs->bar.done);
}

/* Embeds one group of inputs (all texts or all ids) into rows of row_floats floats:
 * vectors, or with layers=1 [2][L+1][H] (mean, then last token). */
static xl_status embed_group(xl_model *m, const xl_embed_options *o, int layers, int is_ids, const void *inputs,
                             const size_t *lens, size_t n, size_t row_floats, float *rows, size_t *cut) {
    if (!layers) {
        return is_ids ? xl_embed_ids(m, inputs, lens, n, o, rows, cut) : xl_embed_texts(m, inputs, lens, n, o, rows, cut);
    }
    size_t per = row_floats / 2;
    float *mean = malloc(n * per * sizeof *mean), *last = malloc(n * per * sizeof *last);
    xl_status st = XL_ERR_NOMEM;
    if (mean && last) {
        st = is_ids ? xl_embed_ids_layers(m, inputs, lens, n, o, mean, last, cut)
                    : xl_embed_texts_layers(m, inputs, lens, n, o, mean, last, cut);
        for (size_t i = 0; !st && i < n; i++) {
            memcpy(rows + i * row_floats, mean + i * per, per * sizeof *mean);
            memcpy(rows + i * row_floats + per, last + i * per, per * sizeof *last);
        }
    }
    free(mean);
    free(last);
    return st;
}

/* Embeds one chunk of records into rows[n][row_floats]: texts and id lists go through
 * their own library calls, then rows are placed back in input order. */
static xl_status embed_chunk(xl_model *m, const xl_embed_options *o, int layers, in_record *recs, size_t n,
                             size_t row_floats, float *rows, size_t *truncated) {
    size_t n_text = 0, n_ids = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].is_ids) n_ids++;
        else n_text++;
    }
    const char **texts = malloc((n_text ? n_text : 1) * sizeof *texts);
    size_t *tlens = malloc((n_text ? n_text : 1) * sizeof *tlens);
    const int32_t **ids = malloc((n_ids ? n_ids : 1) * sizeof *ids);
    size_t *ilens = malloc((n_ids ? n_ids : 1) * sizeof *ilens);
    size_t *where_t = malloc((n_text ? n_text : 1) * sizeof *where_t);
    size_t *where_i = malloc((n_ids ? n_ids : 1) * sizeof *where_i);
    float *tmp = malloc((n ? n : 1) * row_floats * sizeof *tmp);
    xl_status st = XL_OK;
    if (!texts || !tlens || !ids || !ilens || !where_t || !where_i || !tmp) {
        st = XL_ERR_NOMEM;
        goto done;
    }
    size_t a = 0, b = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].is_ids) { ids[b] = recs[i].ids; ilens[b] = recs[i].n_ids; where_i[b++] = i; }
        else { texts[a] = recs[i].text; tlens[a] = recs[i].len; where_t[a++] = i; }
    }
    size_t cut = 0;
    if (n_text) {
        st = embed_group(m, o, layers, 0, texts, tlens, n_text, row_floats, tmp, &cut);
        if (st) goto done;
        for (size_t k = 0; k < n_text; k++) memcpy(rows + where_t[k] * row_floats, tmp + k * row_floats, row_floats * sizeof *tmp);
        *truncated += cut;
    }
    if (n_ids) {
        st = embed_group(m, o, layers, 1, ids, ilens, n_ids, row_floats, tmp, &cut);
        if (st) goto done;
        for (size_t k = 0; k < n_ids; k++) memcpy(rows + where_i[k] * row_floats, tmp + k * row_floats, row_floats * sizeof *tmp);
        *truncated += cut;
    }
done:
    free(texts); free(tlens); free(ids); free(ilens); free(where_t); free(where_i); free(tmp);
    return st;
}

int cmd_embed(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},    {"input", required_argument, 0, 'i'},
        {"output", required_argument, 0, 'o'},   {"format", required_argument, 0, 'F'},
        {"input-format", required_argument, 0, 'I'}, {"prompt", required_argument, 0, 'P'},
        {"prefix", required_argument, 0, 'X'},   {"pooling", required_argument, 0, 'p'},
        {"no-normalize", no_argument, 0, 'N'},   {"normalize", no_argument, 0, 'n'},
        {"max-length", required_argument, 0, 'L'}, {"batch", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'},  {"help", no_argument, 0, 'h'},
        {"instruct", required_argument, 0, 'T'}, {"dim", required_argument, 0, 'D'},
        {"layers", no_argument, 0, 'Y'},         {"bidirectional", no_argument, 0, 'B'},
        {"causal", no_argument, 0, 'C'},         {"quantize", required_argument, 0, 'Q'},
        {0, 0, 0, 0}};
    const char *model_dir = NULL, *in_path = NULL, *out_path = NULL;
    in_format ifmt = IN_AUTO;
    out_format ofmt = OUT_AUTO;
    xl_embed_options eo;
    xl_embed_options_init(&eo);
    int threads = 0, layers = 0, c;
    xl_attention_mode attention = XL_ATTN_DEFAULT;
    xl_quantize quantize = XL_QUANTIZE_NONE;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:i:o:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_dir = optarg; break;
        case 'i': in_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'F':
            if (out_parse_format(optarg, &ofmt)) { fprintf(stderr, "xling embed: --format must be jsonl, npy or f32\n"); return 2; }
            break;
        case 'I':
            if (in_parse_format(optarg, &ifmt)) { fprintf(stderr, "xling embed: --input-format must be text or jsonl\n"); return 2; }
            break;
        case 'P': eo.prompt_name = optarg; break;
        case 'X': eo.prefix = optarg; break;
        case 'p':
            if (cli_parse_pooling(optarg, &eo.pooling)) { fprintf(stderr, "xling embed: --pooling must be cls, mean, max, last or lasttoken\n"); return 2; }
            break;
        case 'N': eo.normalize = 0; break;
        case 'n': eo.normalize = 1; break;
        case 'L': if (cli_parse_int("embed", "--max-length", optarg, 1, 1 << 24, &eo.max_length)) return 2; break;
        case 'b': if (cli_parse_int("embed", "--batch", optarg, 1, 1 << 20, &eo.batch_size)) return 2; break;
        case 't': if (cli_parse_int("embed", "--threads", optarg, 1, 1024, &threads)) return 2; break;
        case 'T': eo.instruct = optarg; break;
        case 'D': if (cli_parse_int("embed", "--dim", optarg, 1, 1 << 20, &eo.dim)) return 2; break;
        case 'Y': layers = 1; break;
        case 'B': attention = XL_ATTN_FORCE_BIDIRECTIONAL; break;
        case 'C': attention = XL_ATTN_FORCE_CAUSAL; break;
        case 'Q':
            if (strcmp(optarg, "q8")) { fprintf(stderr, "xling embed: --quantize accepts q8\n"); return 2; }
            quantize = XL_QUANTIZE_Q8;
            break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind < argc) { fprintf(stderr, "xling embed: unexpected argument \"%s\"\n%s", argv[optind], usage); return 2; }
    if (!model_dir) { fprintf(stderr, "xling embed: -m DIR is required\n%s", usage); return 2; }

    if (layers && ofmt == OUT_F32) { fprintf(stderr, "xling embed: --layers writes jsonl or npy\n"); return 2; }
    xl_model_options mo = {.threads = cli_threads("embed", threads), .attention = attention, .quantize = quantize};
    xl_model *m;
    if (xl_model_load(model_dir, &mo, &m)) return cli_fail("embed");
    xl_model_info info;
    xl_model_get_info(m, &info);
    if (eo.dim > info.dim) {
        fprintf(stderr, "xling embed: --dim %d is larger than the model's %d dimensions\n", eo.dim, info.dim);
        xl_model_free(m);
        return 2;
    }
    size_t inner[3] = {(size_t)xl_embed_dim(m, &eo)};
    int inner_ndim = 1;
    if (layers) {
        inner[0] = 2;
        inner[1] = (size_t)xl_model_num_layer_outputs(m);
        inner[2] = (size_t)info.hidden_size;
        inner_ndim = 3;
    }
    size_t dim = inner_ndim == 1 ? inner[0] : inner[0] * inner[1] * inner[2];

    in_reader in;
    if (in_open(&in, in_path, ifmt)) { xl_model_free(m); return cli_fail("embed"); }
    out_writer out;
    if (out_open(&out, out_path, ofmt, inner, inner_ndim)) { in_close(&in); xl_model_free(m); return cli_fail("embed"); }

    in_record *recs = calloc(CHUNK, sizeof *recs);
    float *rows = malloc(CHUNK * dim * sizeof *rows);
    run_state rs = {0};
    progress_init(&rs.bar, "embed");
    eo.progress = on_progress;
    eo.progress_ctx = &rs;
    int rc = 0;
    if (!recs || !rows) { fprintf(stderr, "xling embed: out of memory\n"); rc = 1; }
    while (!rc) {
        size_t got;
        if (in_read_chunk(&in, recs, CHUNK, &got)) { rc = cli_fail("embed"); break; }
        if (!got) break;
        rs.base = rs.total;
        if (embed_chunk(m, &eo, layers, recs, got, dim, rows, &rs.truncated) || out_write_rows(&out, rows, got)) rc = cli_fail("embed");
        rs.total += got;
        in_records_clear(recs, got);
    }
    progress_end(&rs.bar);
    if (out_close(&out) && !rc) rc = cli_fail("embed");
    if (!rc && rs.truncated) {
        int limit = eo.max_length ? eo.max_length : info.max_seq_length;
        fprintf(stderr, "xling embed: %zu of %zu inputs were longer than %d tokens and were truncated\n", rs.truncated, rs.total, limit);
    }
    in_close(&in);
    free(recs);
    free(rows);
    xl_model_free(m);
    return rc;
}
