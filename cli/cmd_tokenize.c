/* xling tokenize: texts in, {"ids":[...],"tokens":[...]} per input out. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "input.h"
#include "util/fileio.h"

#define CHUNK 4096

static const char *usage =
    "usage: xling tokenize -m DIR [-i FILE] [options]\n"
    "Tokenizes one text per line (plain text, or JSONL lines with \"text\") as the Hugging Face\n"
    "tokenizers library does; prints {\"ids\":[...],\"tokens\":[...]} per input.\n"
    "  -m, --model DIR          model folder, a folder with tokenizer.json, or a tokenizer.json file\n"
    "  -i, --input FILE         input file (default stdin); *.jsonl / *.json read as JSONL\n"
    "      --input-format F     text | jsonl\n"
    "  -o, --output FILE        output file (default stdout)\n"
    "      --no-special         do not add the post-processor's special tokens\n"
    "      --max-length N       truncate to N tokens, keeping the special tokens (default: never)\n"
    "  -h, --help               this help\n";

/* Writes s as a JSON string (s is valid UTF-8: vocabulary entries are). */
static void write_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') { fputc('\\', f); fputc(*p, f); }
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p == '\r') fputs("\\r", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

/* One {"ids":[...],"tokens":[...]} line, streamed: memory stays that of the encoding. */
static void write_one(FILE *f, const xl_tokenizer *tok, const xl_encoding *e) {
    fputs("{\"ids\":[", f);
    for (size_t k = 0; k < e->n; k++) fprintf(f, k ? ",%d" : "%d", e->ids[k]);
    fputs("],\"tokens\":[", f);
    for (size_t k = 0; k < e->n; k++) {
        if (k) fputc(',', f);
        const char *s = xl_tokenizer_id_to_token(tok, e->ids[k]);
        if (s) write_json_string(f, s);
        else fputs("null", f);
    }
    fputs("]}\n", f);
}

int cmd_tokenize(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"input", required_argument, 0, 'i'},
        {"output", required_argument, 0, 'o'}, {"input-format", required_argument, 0, 'I'},
        {"no-special", no_argument, 0, 'S'},  {"max-length", required_argument, 0, 'L'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *path = NULL, *in_path = NULL, *out_path = NULL;
    in_format ifmt = IN_AUTO;
    int add_special = 1, max_len = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:i:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': path = optarg; break;
        case 'i': in_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'I':
            if (in_parse_format(optarg, &ifmt)) { fprintf(stderr, "xling tokenize: --input-format must be text or jsonl\n"); return 2; }
            break;
        case 'S': add_special = 0; break;
        case 'L': if (cli_parse_int("tokenize", "--max-length", optarg, 1, 1 << 30, &max_len)) return 2; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind < argc) { fprintf(stderr, "xling tokenize: unexpected argument \"%s\"\n%s", argv[optind], usage); return 2; }
    if (!path) { fprintf(stderr, "xling tokenize: -m DIR is required\n%s", usage); return 2; }
    xl_tokenizer *tok;
    if (xl_tokenizer_load(path, &tok)) return cli_fail("tokenize");
    in_reader in;
    if (in_open(&in, in_path, ifmt)) { xl_tokenizer_free(tok); return cli_fail("tokenize"); }
    FILE *out = stdout;
    if (out_path && strcmp(out_path, "-") && !(out = fopen(out_path, "wb"))) {
        fprintf(stderr, "xling tokenize: cannot write %s\n", out_path);
        in_close(&in);
        xl_tokenizer_free(tok);
        return 1;
    }
    in_record *recs = calloc(CHUNK, sizeof *recs);
    int rc = recs ? 0 : 1;
    while (!rc) {
        size_t got;
        if (in_read_chunk(&in, recs, CHUNK, &got)) { rc = cli_fail("tokenize"); break; }
        if (!got) break;
        for (size_t i = 0; i < got && !rc; i++) {
            if (recs[i].is_ids) {
                fprintf(stderr, "xling tokenize: %s line %zu: \"input_ids\" given; tokenize needs \"text\"\n", in.name, recs[i].line);
                rc = 1;
                break;
            }
            xl_encoding e;
            if (xl_tokenize(tok, recs[i].text, recs[i].len, add_special, &e)) { rc = cli_fail("tokenize"); break; }
            if (max_len) xl_encoding_truncate(&e, (size_t)max_len);
            write_one(out, tok, &e);
            xl_encoding_free(&e);
        }
        in_records_clear(recs, got);
    }
    if (fflush(out) != 0 || ferror(out)) { if (!rc) fprintf(stderr, "xling tokenize: write failed\n"); rc = 1; }
    if (out != stdout) fclose(out);
    free(recs);
    in_close(&in);
    xl_tokenizer_free(tok);
    return rc;
}
