/* xling similarity: embeds a handful of texts and prints their cosine similarity
 * matrix — the quickest way to see whether a model puts translations together. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "input.h"

#define MAX_TEXTS 4096

static const char *usage =
    "usage: xling similarity -m DIR [-i FILE] [--prompt NAME | --prefix STR] [--json] [-t N]\n"
    "Embeds the input texts (one per line, or JSONL \"text\") and prints the matrix of their\n"
    "cosine similarities (at most 4096 texts).\n"
    "  -m, --model DIR    model folder\n"
    "  -i, --input FILE   input (default stdin)\n"
    "      --prompt NAME  prompt of config_sentence_transformers.json to prepend\n"
    "      --prefix STR   literal prefix to prepend\n"
    "      --json         print the matrix as one JSON array of rows\n"
    "  -t, --threads N    threads\n";

/* Prints the first `width` display columns of s (UTF-8 aware, newlines as spaces). */
static void print_label(const char *s, size_t len, int width) {
    int cols = 0;
    size_t i = 0;
    while (i < len && cols < width) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        if (i + k > len) break;
        if (c == '\n' || c == '\t' || c == '\r') putchar(' ');
        else fwrite(s + i, 1, k, stdout);
        i += k;
        cols++;
    }
    for (; cols < width; cols++) putchar(' ');
}

int cmd_similarity(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"input", required_argument, 0, 'i'},
        {"prompt", required_argument, 0, 'P'}, {"prefix", required_argument, 0, 'X'},
        {"json", no_argument, 0, 'j'},        {"threads", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *dir = NULL, *in_path = NULL;
    xl_embed_options eo;
    xl_embed_options_init(&eo);
    int as_json = 0, threads = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:i:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': dir = optarg; break;
        case 'i': in_path = optarg; break;
        case 'P': eo.prompt_name = optarg; break;
        case 'X': eo.prefix = optarg; break;
        case 'j': as_json = 1; break;
        case 't': if (cli_parse_int("similarity", "--threads", optarg, 1, 1024, &threads)) return 2; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (!dir) { fprintf(stderr, "xling similarity: -m DIR is required\n%s", usage); return 2; }
    in_reader in;
    if (in_open(&in, in_path, IN_AUTO)) return cli_fail("similarity");
    in_record *recs = calloc(MAX_TEXTS + 1, sizeof *recs);
    size_t n = 0;
    if (!recs || in_read_chunk(&in, recs, MAX_TEXTS + 1, &n)) { in_close(&in); free(recs); return cli_fail("similarity"); }
    in_close(&in);
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        if (recs[i].is_ids) { fprintf(stderr, "xling similarity: line %zu: texts only\n", recs[i].line); rc = 1; break; }
    if (n > MAX_TEXTS) { fprintf(stderr, "xling similarity: more than %d texts; use xling embed for large inputs\n", MAX_TEXTS); rc = 1; }
    xl_model *m = NULL;
    xl_model_options mo = {.threads = cli_threads("similarity", threads)};
    if (!rc && xl_model_load(dir, &mo, &m)) rc = cli_fail("similarity");
    float *emb = NULL, *sim = NULL;
    const char **texts = NULL;
    size_t *lens = NULL;
    if (!rc && n) {
        xl_model_info info;
        xl_model_get_info(m, &info);
        emb = malloc(n * (size_t)info.dim * sizeof *emb);
        sim = malloc(n * n * sizeof *sim);
        texts = malloc(n * sizeof *texts);
        lens = malloc(n * sizeof *lens);
        if (!emb || !sim || !texts || !lens) { fprintf(stderr, "xling similarity: out of memory\n"); rc = 1; }
        for (size_t i = 0; !rc && i < n; i++) { texts[i] = recs[i].text; lens[i] = recs[i].len; }
        if (!rc && xl_embed_texts(m, texts, lens, n, &eo, emb, NULL)) rc = cli_fail("similarity");
        if (!rc) xl_cosine_similarity(emb, n, emb, n, (size_t)info.dim, sim);
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
        printf("%-24s", "");
        for (size_t j = 0; j < n; j++) printf(" %6zu", j + 1);
        putchar('\n');
        for (size_t i = 0; i < n; i++) {
            printf("%3zu ", i + 1);
            print_label(recs[i].text, recs[i].len, 20);
            for (size_t j = 0; j < n; j++) printf(" %6.3f", (double)sim[i * n + j]);
            putchar('\n');
        }
    }
    in_records_clear(recs, n);
    free(recs); free(emb); free(sim); free(texts); free(lens);
    xl_model_free(m);
    return rc;
}
