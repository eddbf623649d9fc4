/* xling embed: texts or token ids in, one vector per input out, in input order. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "embed_heads.h"
#include "embed_opts.h"
#include "embed_chunks.h"
#include "input.h"
#include "model_opts.h"
#include "npy.h"
#include "outfile.h"
#include "output.h"
#include "precision.h"
#include "progress.h"

#define CHUNK 2048

static const char *usage =
    "usage: xling embed -m DIR [-i FILE | TEXT...] [-o FILE] [options]\n"
    "Embeds one input per line (plain text, or JSONL lines with \"text\" or \"input_ids\"), or\n"
    "the TEXT arguments. JSONL: blank lines are skipped; \"id\" (any JSON value) is copied\n"
    "into the output line.\n"
    MODEL_OPTIONS_HELP
    CHUNK_OPTIONS_HELP
    "  -i, --input FILE         input file (default stdin); *.jsonl / *.json read as JSONL\n"
    "      --input-format F     text | jsonl (default: from the file name; stdin = text)\n"
    "  -o, --output FILE        output file (default stdout), written to a temporary file and\n"
    "                           renamed when complete; *.npy, *.f32 (*.bin, *.raw) and *.jsonl\n"
    "                           (any case) choose the format\n"
    "      --format F           jsonl (default: {\"embedding\":[...]} per line) | npy |\n"
    "                           f32 (= raw: headerless little-endian rows of the precision)\n"
    "      --keep-fields        JSONL: copy every field but \"text\"/\"input_ids\" to the output\n"
    "      --precision P        float32 (default) | float16 | int8 | uint8 | binary | ubinary,\n"
    "                           as sentence-transformers' quantize_embeddings: int8/uint8 map\n"
    "                           [min, max] of each dimension to 256 steps (uint8 = (x - min) /\n"
    "                           ((max - min) / 255) truncated, int8 = that - 128), with min/max\n"
    "                           from this run's embeddings or --calibration; ubinary = bits of\n"
    "                           x > 0 packed 8 per byte (numpy packbits), binary = that - 128 as\n"
    "                           int8. npy dtype follows; JSONL prints integers\n"
    "      --calibration F.npy  int8/uint8: take min/max from this float32 [n, dim] array\n"
    "      --layers             output every layer's mean-pooled and last-token hidden states\n"
    "                           (L+1 entries: embeddings, each block, the last after the final\n"
    "                           norm): JSONL {\"mean\":[[...]],\"last\":[[...]]}, npy [n,2,L+1,H];\n"
    "                           not with --dim / --pooling / --precision\n"
    "      --head H             bge-m3: dense | sparse | colbert | all outputs as JSONL\n"
    "                           (`xling embed --head all --help`)\n"
    "      --sparse-tokens      with --head: sparse weights keyed by vocabulary piece\n"
    "  -h, --help               this help\n";

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
 * their own library calls, then rows are placed back in input order. -1 with cli_error(). */
static int embed_chunk(xl_model *m, const xl_embed_options *o, int layers, const in_reader *in, in_record *recs,
                       size_t n, size_t row_floats, float *rows, size_t *truncated) {
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
    int rc = 0;
    if (!texts || !tlens || !ids || !ilens || !where_t || !where_i || !tmp) {
        cli_set_error("out of memory");
        rc = -1;
        goto done;
    }
    size_t a = 0, b = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].is_ids) { ids[b] = recs[i].ids; ilens[b] = recs[i].n_ids; where_i[b++] = i; }
        else { texts[a] = recs[i].text; tlens[a] = recs[i].len; where_t[a++] = i; }
    }
    size_t cut = 0;
    if (n_text) {
        if (embed_group(m, o, layers, 0, texts, tlens, n_text, row_floats, tmp, &cut)) {
            in_renumber_error(in, recs, where_t, n_text);
            rc = -1;
            goto done;
        }
        for (size_t k = 0; k < n_text; k++) memcpy(rows + where_t[k] * row_floats, tmp + k * row_floats, row_floats * sizeof *tmp);
        *truncated += cut;
    }
    if (n_ids) {
        if (embed_group(m, o, layers, 1, ids, ilens, n_ids, row_floats, tmp, &cut)) {
            in_renumber_error(in, recs, where_i, n_ids);
            rc = -1;
            goto done;
        }
        for (size_t k = 0; k < n_ids; k++) memcpy(rows + where_i[k] * row_floats, tmp + k * row_floats, row_floats * sizeof *tmp);
        *truncated += cut;
    }
done:
    free(texts); free(tlens); free(ids); free(ilens); free(where_t); free(where_i); free(tmp);
    return rc;
}

/* int8 / uint8 without --calibration: the ranges need every embedding of the run, so
 * rows (and their JSONL members) are held until the input ends. */
typedef struct {
    float *rows;
    char **extras;
    size_t n, cap;
} held_rows;

static int hold(held_rows *h, const float *rows, char *const *extras, size_t n, size_t dim) {
    if (h->n + n > h->cap) {
        size_t cap = (h->n + n) * 2;
        float *r = realloc(h->rows, cap * dim * sizeof *r);
        if (r) h->rows = r;
        char **e = r ? realloc(h->extras, cap * sizeof *e) : NULL;
        if (!e) { cli_set_error("out of memory holding the embeddings for the int8/uint8 ranges"); return -1; }
        h->extras = e;
        h->cap = cap;
    }
    memcpy(h->rows + h->n * dim, rows, n * dim * sizeof *rows);
    for (size_t i = 0; i < n; i++) {
        h->extras[h->n] = extras[i] ? strdup(extras[i]) : NULL;
        if (extras[i] && !h->extras[h->n]) { cli_set_error("out of memory"); return -1; }
        h->n++;
    }
    return 0;
}

static void held_free(held_rows *h) {
    for (size_t i = 0; i < h->n; i++) free(h->extras[i]);
    free(h->rows);
    free(h->extras);
}

int cmd_embed(int argc, char **argv) {
    /* bge-m3's heads have their own output path (embed_heads.c). */
    if (embed_heads_wanted(argc, argv)) return cmd_embed_heads(argc, argv);
    static const struct option opts[] = {
        MODEL_LONG_OPTIONS,
        EMBED_LONG_OPTIONS,
        CHUNK_LONG_OPTIONS,
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};
    const char *cmd = "embed", *calib_path = NULL;
    embed_io io = {0};
    precision prec = PREC_FLOAT32;
    model_opts mo;
    model_opts_init(&mo);
    int layers = 0, prec_set = 0, c;
    chunk_cli ck;
    chunk_cli_init(&ck);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:i:o:t:h", opts, NULL)) != -1) {
        int r = model_opts_parse(&mo, cmd, c, optarg);
        if (r < 0) return 2;
        if (r) continue;
        if ((r = chunk_cli_parse(&ck, cmd, c, optarg)) || (r = embed_io_parse(&io, cmd, c, optarg))) {
            if (r < 0) return 2;
            continue;
        }
        switch (c) {
        case EO_LAYERS: layers = 1; break;
        case EO_PRECISION:
            if (prec_parse(optarg, &prec))
                return cli_usage(cmd, "--precision must be float32, float16, int8, uint8, binary or ubinary, got \"%s\"", optarg);
            prec_set = 1;
            break;
        case EO_CALIBRATION: calib_path = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    int rc = model_opts_check(&mo, cmd);
    if (rc) return rc;
    size_t n_args = (size_t)(argc - optind);
    if (n_args && io.in_path) return cli_usage(cmd, "texts given as arguments and -i %s: choose one", io.in_path);
    if (layers && mo.eo.dim) return cli_usage(cmd, "--layers and --dim cannot be used together");
    if (layers && mo.pooling_set) return cli_usage(cmd, "--layers and --pooling cannot be used together");
    if (layers && prec_set && prec != PREC_FLOAT32) return cli_usage(cmd, "--layers and --precision %s cannot be used together", prec_name(prec));
    out_format fmt;
    if ((rc = embed_io_format(&io, cmd, &fmt))) return rc;
    if (layers && fmt == OUT_F32) return cli_usage(cmd, "--layers writes jsonl or npy");
    if (io.keep_fields && fmt != OUT_JSONL) return cli_usage(cmd, "--keep-fields needs JSONL output");
    if ((rc = chunk_cli_check(&ck, cmd, layers, fmt))) return rc;
    if (calib_path && !prec_needs_ranges(prec)) return cli_usage(cmd, "--calibration needs --precision int8 or uint8");
    /* Refused before anything is opened for writing. */
    int same_in = !n_args && cli_same_file(io.in_path, io.out_path);
    if (io.out_path && strcmp(io.out_path, "-") && (same_in || (calib_path && cli_same_file(calib_path, io.out_path))))
        return cli_usage(cmd, "-o %s is the %s file; choose another output", io.out_path, same_in ? "input" : "--calibration");

    xl_model *m;
    if ((rc = model_opts_load(&mo, cmd, &m))) return rc;
    xl_model_info info;
    xl_model_get_info(m, &info);
    size_t inner[3] = {(size_t)xl_embed_dim(m, &mo.eo)};
    int inner_ndim = 1;
    if (layers) {
        inner[0] = 2;
        inner[1] = (size_t)xl_model_num_layer_outputs(m);
        inner[2] = (size_t)info.hidden_size;
        inner_ndim = 3;
    }
    size_t dim = inner_ndim == 1 ? inner[0] : inner[0] * inner[1] * inner[2];
    if ((prec == PREC_BINARY || prec == PREC_UBINARY) && dim % 8) {
        xl_model_free(m);
        /* sentence-transformers packs the whole matrix as one bit string: rows of a
         * dimension that is not a multiple of 8 do not come out as rows. */
        return cli_usage(cmd, "--precision %s needs a dimension that is a multiple of 8 (this one is %zu; see --dim)", prec_name(prec), dim);
    }
    float *start = NULL, *step = NULL, *calib = NULL;
    if (prec_needs_ranges(prec)) {
        start = malloc(dim * sizeof *start);
        step = malloc(dim * sizeof *step);
        if (!start || !step) { cli_set_error("out of memory"); rc = 1; }
    }
    if (!rc && calib_path) {
        size_t cr, cc;
        if (xl_npy_load(calib_path, &calib, &cr, &cc)) { cli_take_lib_error(); rc = 1; }
        else if (!cr) { cli_set_error("%s: the calibration array has no rows", calib_path); rc = 1; }
        else if (cc != dim) { cli_set_error("%s: the calibration embeddings have %zu dimensions, the output has %zu", calib_path, cc, dim); rc = 1; }
        else prec_ranges(calib, cr, dim, start, step);
        free(calib);
    }
    if (rc) {
        free(start); free(step); xl_model_free(m);
        return cli_report(cmd);
    }

    in_reader in;
    if (in_open_cli(&in, argv + optind, n_args, io.in_path, io.ifmt)) { free(start); free(step); xl_model_free(m); return cli_report(cmd); }
    in.cmd = cmd;
    in.keep_fields = io.keep_fields;
    in.reserved[0] = layers ? "mean" : "embedding";
    in.reserved[1] = layers ? "last" : NULL;
    for (int k = 0; ck.on && chunk_cli_keys(&ck)[k]; k++) in.reserved[k] = chunk_cli_keys(&ck)[k];
    out_writer out;
    if (out_open(&out, io.out_path, fmt, prec, inner, inner_ndim)) { in_close(&in); free(start); free(step); xl_model_free(m); return cli_report(cmd); }
    int hold_all = prec_needs_ranges(prec) && !calib_path;
    if (!hold_all) out_set_ranges(&out, start, step);

    in_record *recs = calloc(CHUNK, sizeof *recs);
    float *rows = malloc(CHUNK * dim * sizeof *rows);
    char **extras = calloc(CHUNK, sizeof *extras);
    held_rows held = {0};
    progress_run rs = {0};
    size_t total = 0, truncated = 0;
    progress_init(&rs.bar, "embed");
    mo.eo.progress = progress_run_cb;
    mo.eo.progress_ctx = &rs;
    if (!recs || !rows || !extras) { cli_set_error("out of memory"); rc = 1; }
    while (!rc) {
        size_t got;
        if (in_read_chunk(&in, recs, CHUNK, &got)) { rc = 1; break; }
        if (!got) break;
        rs.base = total;
        for (size_t i = 0; i < got; i++) extras[i] = recs[i].extra;
        const float *out_rows = rows;
        char *const *out_extras = extras;
        size_t n_out = got;
        if (ck.on) {
            if (chunk_cli_embed(&ck, m, &mo.eo, &in, recs, got, total, dim)) rc = 1;
            out_rows = ck.rows;
            out_extras = ck.extras;
            n_out = ck.n_rows;
        } else if (embed_chunk(m, &mo.eo, layers, &in, recs, got, dim, rows, &truncated)) rc = 1;
        if (!rc && (hold_all ? hold(&held, out_rows, out_extras, n_out, dim) : out_write_rows(&out, out_rows, out_extras, n_out)))
            rc = 1;
        total += got;
        in_records_clear(recs, got);
    }
    progress_end(&rs.bar);
    if (!rc && hold_all) {
        if (held.n < 100)
            fprintf(stderr, "xling embed: warning: %s ranges computed from %zu embedding(s); more embeddings or --calibration give stabler buckets\n",
                    prec_name(prec), held.n);
        prec_ranges(held.rows, held.n, dim, start, step);
        out_set_ranges(&out, start, step);
        if (out_write_rows(&out, held.rows, held.extras, held.n)) rc = 1;
    }
    if (!rc && out.wrapped)
        fprintf(stderr, "xling embed: warning: %zu value(s) fell outside the %s buckets (or a dimension had no range) and wrapped around as numpy's astype does\n",
                out.wrapped, prec_name(prec));
    int to_stdout = out.file.is_stdout;
    if (!rc && out_close(&out)) rc = 1;
    else if (rc) out_abort(&out);
    if (rc) {
        /* Rows already on stdout cannot be taken back: say how many there are. */
        if (to_stdout && out.rows_out)
            fprintf(stderr, "xling embed: %s (%zu rows were written to stdout before the error)\n", cli_error(), out.rows_out);
        else cli_report(cmd);
    }
    if (!rc && truncated) {
        int limit = mo.eo.max_length ? mo.eo.max_length : info.max_seq_length;
        fprintf(stderr, "xling embed: %zu of %zu inputs were longer than %d tokens and were truncated\n", truncated, total, limit);
    }
    in_close(&in);
    held_free(&held);
    chunk_cli_free(&ck);
    free(recs); free(rows); free(extras); free(start); free(step);
    xl_model_free(m);
    return rc;
}
