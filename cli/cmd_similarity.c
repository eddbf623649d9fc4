/* xling similarity: embeds a handful of texts and prints their cosine similarity
 * matrix — the quickest way to see whether a model puts translations together. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "cli.h"
#include "input.h"
#include "model_opts.h"

#define MAX_TEXTS 4096
#define LABEL_COLS 20

static const char *usage =
    "usage: xling similarity -m DIR [-i FILE | TEXT...] [--json] [model options]\n"
    "Embeds the input texts (one per line, or JSONL \"text\"), or the TEXT arguments, and\n"
    "prints the matrix of their cosine similarities (at most 4096 texts).\n"
    "  -i, --input FILE         input (default stdin)\n"
    "      --json               print the matrix as one JSON array of rows\n"
    MODEL_OPTIONS_HELP
    "  -h, --help               this help\n";

enum { O_JSON = MO_LAST };

/* Prints s in exactly `width` display columns (wide CJK characters count 2, combining
 * marks 0; control characters as spaces), cut or padded with spaces. */
static void print_label(const char *s, size_t len, int width) {
    int cols = 0;
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0) break;
        int w = cp < 0x20 || cp == 0x7F ? 1 : utf8proc_charwidth(cp);
        if (w < 0) w = 0;
        if (cols + w > width) break;
        if (cp < 0x20 || cp == 0x7F) putchar(' ');
        else fwrite(s + i, 1, (size_t)k, stdout);
        i += (size_t)k;
        cols += w;
    }
    for (; cols < width; cols++) putchar(' ');
}

int cmd_similarity(int argc, char **argv) {
    static const struct option opts[] = {
        MODEL_LONG_OPTIONS,
        {"input", required_argument, 0, 'i'}, {"json", no_argument, 0, O_JSON},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *cmd = "similarity", *in_path = NULL;
    model_opts mo;
    model_opts_init(&mo);
    int as_json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:i:t:h", opts, NULL)) != -1) {
        int r = model_opts_parse(&mo, cmd, c, optarg);
        if (r < 0) return 2;
        if (r) continue;
        switch (c) {
        case 'i': in_path = optarg; break;
        case O_JSON: as_json = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    int rc = model_opts_check(&mo, cmd);
    if (rc) return rc;
    size_t n_args = (size_t)(argc - optind);
    if (n_args && in_path) return cli_usage(cmd, "texts given as arguments and -i %s: choose one", in_path);
    in_reader in;
    if (in_open_cli(&in, argv + optind, n_args, in_path, IN_AUTO)) return cli_report(cmd);
    in.cmd = cmd;
    in_record *recs = calloc(MAX_TEXTS + 1, sizeof *recs);
    size_t n = 0;
    if (!recs) { cli_set_error("out of memory"); rc = cli_report(cmd); }
    else if (in_read_chunk(&in, recs, MAX_TEXTS + 1, &n)) rc = cli_report(cmd);
    char w[512];
    for (size_t i = 0; !rc && i < n; i++)
        if (recs[i].is_ids) {
            fprintf(stderr, "xling similarity: %s: texts only (\"input_ids\" given)\n", in_where(&in, recs[i].line, w, sizeof w));
            rc = 1;
        }
    if (!rc && n > MAX_TEXTS) { fprintf(stderr, "xling similarity: more than %d texts; use xling embed for large inputs\n", MAX_TEXTS); rc = 1; }
    xl_model *m = NULL;
    if (!rc) rc = model_opts_load(&mo, cmd, &m);
    float *emb = NULL, *sim = NULL;
    const char **texts = NULL;
    size_t *lens = NULL, *where = NULL;
    size_t dim = m ? (size_t)xl_embed_dim(m, &mo.eo) : 0;
    if (!rc && n) {
        emb = malloc(n * dim * sizeof *emb);
        sim = malloc(n * n * sizeof *sim);
        texts = malloc(n * sizeof *texts);
        lens = malloc(n * sizeof *lens);
        where = malloc(n * sizeof *where);
        if (!emb || !sim || !texts || !lens || !where) { fprintf(stderr, "xling similarity: out of memory\n"); rc = 1; }
        for (size_t i = 0; !rc && i < n; i++) { texts[i] = recs[i].text; lens[i] = recs[i].len; where[i] = i; }
        if (!rc && xl_embed_texts(m, texts, lens, n, &mo.eo, emb, NULL)) {
            in_renumber_error(&in, recs, where, n);
            rc = cli_report(cmd);
        }
        if (!rc) xl_cosine_similarity(emb, n, emb, n, dim, sim);
    }
    if (!rc && as_json) {
        putchar('[');
        for (size_t i = 0; i < n; i++) {
            printf(i ? ",[" : "[");
            for (size_t j = 0; j < n; j++) printf(j ? ",%.6f" : "%.6f", (double)sim[i * n + j]);
            putchar(']');
        }
        puts("]");
    } else if (!rc) {
        printf("%*s", 4 + LABEL_COLS, "");
        for (size_t j = 0; j < n; j++) printf(" %6zu", j + 1);
        putchar('\n');
        for (size_t i = 0; i < n; i++) {
            printf("%3zu ", i + 1);
            print_label(recs[i].text, recs[i].len, LABEL_COLS);
            for (size_t j = 0; j < n; j++) printf(" %6.3f", (double)sim[i * n + j]);
            putchar('\n');
        }
    }
    in_close(&in);
    if (recs) in_records_clear(recs, n);
    free(recs); free(emb); free(sim); free(texts); free(lens); free(where);
    xl_model_free(m);
    return rc;
}
