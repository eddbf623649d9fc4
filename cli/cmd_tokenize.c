/* xling tokenize: texts in, {"ids":[...],"tokens":[...]} per input out. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "input.h"
#include "outfile.h"

#define CHUNK 4096

static const char *usage =
    "usage: xling tokenize -m DIR [-i FILE | TEXT...] [options]\n"
    "Tokenizes one text per line (plain text, or JSONL lines with \"text\"), or the TEXT\n"
    "arguments, as the Hugging Face tokenizers library does; prints {\"ids\":[...],\"tokens\":[...]}\n"
    "per input. JSONL: blank lines are skipped; \"id\" (any JSON value) is copied into the\n"
    "output line; a line with \"text_pair\" is encoded as the pair (text, text_pair) with the\n"
    "post-processor's pair template (BERT [CLS] a [SEP] b [SEP], XLM-R <s> a </s></s> b </s>)\n"
    "and prints \"type_ids\" (token type ids) too; --max-length then cuts the longer text\n"
    "first, as the crate's longest_first.\n"
    "  -m, --model DIR          model folder, a folder with tokenizer.json, or a tokenizer.json file\n"
    "  -i, --input FILE         input file (default stdin); *.jsonl / *.json read as JSONL\n"
    "      --input-format F     text | jsonl\n"
    "  -o, --output FILE        output file (default stdout), written to a temporary file and\n"
    "                           renamed when complete\n"
    "      --keep-fields        JSONL: copy every field but \"text\" to the output line\n"
    "      --no-special         do not add the post-processor's special tokens\n"
    "      --max-length N       truncate to N tokens, keeping the special tokens (default: never)\n"
    "      --offsets            add \"offsets\":[[start,end],...]: the input bytes each token covers\n"
    "                           (special tokens [0,0]; not for text pairs)\n"
    "  -h, --help               this help\n";

enum { O_INPUT_FORMAT = 256, O_NO_SPECIAL, O_MAX_LENGTH, O_KEEP_FIELDS, O_OFFSETS };

/* One {"ids":[...],"tokens":[...]} line (with "type_ids" for a pair, "offsets" when
 * the encoding has them), streamed: memory stays that of the encoding. */
static void write_one(FILE *f, const xl_tokenizer *tok, const xl_encoding *e, const char *extra, int pair) {
    fputc('{', f);
    if (extra) fputs(extra, f);
    fputs("\"ids\":[", f);
    for (size_t k = 0; k < e->n; k++) fprintf(f, k ? ",%d" : "%d", e->ids[k]);
    if (pair) {
        fputs("],\"type_ids\":[", f);
        for (size_t k = 0; k < e->n; k++) fprintf(f, k ? ",%d" : "%d", e->type_ids[k]);
    }
    fputs("],\"tokens\":[", f);
    for (size_t k = 0; k < e->n; k++) {
        if (k) fputc(',', f);
        const char *s = xl_tokenizer_id_to_token(tok, e->ids[k]);
        if (s) cli_put_json_string(f, s, strlen(s));
        else fputs("null", f);
    }
    if (e->offsets) {
        fputs("],\"offsets\":[", f);
        for (size_t k = 0; k < e->n; k++) fprintf(f, k ? ",[%u,%u]" : "[%u,%u]", e->offsets[2 * k], e->offsets[2 * k + 1]);
    }
    fputs("]}\n", f);
}

int cmd_tokenize(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"input", required_argument, 0, 'i'},
        {"output", required_argument, 0, 'o'}, {"input-format", required_argument, 0, O_INPUT_FORMAT},
        {"no-special", no_argument, 0, O_NO_SPECIAL},  {"max-length", required_argument, 0, O_MAX_LENGTH},
        {"keep-fields", no_argument, 0, O_KEEP_FIELDS}, {"offsets", no_argument, 0, O_OFFSETS},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = "tokenize", *path = NULL, *in_path = NULL, *out_path = NULL;
    in_format ifmt = IN_AUTO;
    int add_special = 1, max_len = 0, keep_fields = 0, offsets = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:i:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': path = optarg; break;
        case 'i': in_path = optarg; break;
        case 'o': out_path = optarg; break;
        case O_INPUT_FORMAT:
            if (in_parse_format(optarg, &ifmt)) return cli_usage(cmd, "--input-format must be text or jsonl, got \"%s\"", optarg);
            break;
        case O_NO_SPECIAL: add_special = 0; break;
        case O_MAX_LENGTH: if (cli_parse_int(cmd, "--max-length", optarg, 1, 1 << 30, &max_len)) return 2; break;
        case O_KEEP_FIELDS: keep_fields = 1; break;
        case O_OFFSETS: offsets = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    size_t n_args = (size_t)(argc - optind);
    if (!path) return cli_usage(cmd, "-m DIR is required");
    if (n_args && in_path) return cli_usage(cmd, "texts given as arguments and -i %s: choose one", in_path);
    if (!n_args && cli_refuse_output_is_input(cmd, in_path, out_path)) return 2;
    xl_tokenizer *tok;
    if (xl_tokenizer_load(path, &tok)) return cli_fail(cmd);
    size_t specials = add_special ? cli_special_count(tok) : 0;
    if (max_len && (size_t)max_len < specials) {
        xl_tokenizer_free(tok);
        return cli_usage(cmd, "--max-length %d is below the %zu special tokens the tokenizer adds", max_len, specials);
    }
    in_reader in;
    if (in_open_cli(&in, argv + optind, n_args, in_path, ifmt)) { xl_tokenizer_free(tok); return cli_report(cmd); }
    in.cmd = cmd;
    in.keep_fields = keep_fields;
    in.reserved[0] = "ids";
    in.reserved[1] = "tokens";
    in.reserved[2] = "type_ids";
    in.reserved[3] = "offsets";
    in.pairs_ok = 1;
    outfile out;
    if (outfile_open(&out, out_path)) { in_close(&in); xl_tokenizer_free(tok); return cli_report(cmd); }
    in_record *recs = calloc(CHUNK, sizeof *recs);
    int rc = 0;
    size_t written = 0, lines = 0; /* lines: handed to stdio; written: known to be out */
    if (!recs) { cli_set_error("out of memory"); rc = 1; }
    while (!rc) {
        size_t got;
        if (in_read_chunk(&in, recs, CHUNK, &got)) { rc = 1; break; }
        if (!got) break;
        char w[512];
        for (size_t i = 0; i < got && !rc; i++) {
            if (recs[i].is_ids) {
                cli_set_error("%s: \"input_ids\" given; tokenize needs \"text\"", in_where(&in, recs[i].line, w, sizeof w));
                rc = 1;
                break;
            }
            xl_encoding e;
            const in_record *r = &recs[i];
            if (r->pair && offsets) {
                cli_set_error("%s: --offsets is not available for text pairs", in_where(&in, r->line, w, sizeof w));
                rc = 1;
                break;
            }
            xl_status st = r->pair ? xl_tokenize_pair(tok, r->text, r->len, r->pair, r->pair_len, add_special,
                                                      (size_t)max_len, &e)
                         : offsets ? xl_tokenize_offsets(tok, r->text, r->len, add_special, &e)
                                   : xl_tokenize(tok, r->text, r->len, add_special, &e);
            if (st) {
                cli_set_error("%s: %s", in_where(&in, r->line, w, sizeof w), xl_last_error());
                rc = 1;
                break;
            }
            if (max_len && !r->pair) xl_encoding_truncate(&e, (size_t)max_len);
            write_one(out.f, tok, &e, r->extra, r->pair != NULL);
            lines++;
            xl_encoding_free(&e);
        }
        in_records_clear(recs, got);
        if (!rc && (ferror(out.f) || (out.is_stdout && fflush(out.f) != 0))) {
            cli_set_error("%s: write failed: %s", out.name, strerror(errno ? errno : EIO));
            rc = 1;
        }
        if (!rc) written = lines;
    }
    int to_stdout = out.is_stdout;
    if (!rc && outfile_commit(&out)) rc = 1;
    else if (rc && outfile_abort(&out) == 0) written = lines;
    if (rc) {
        if (to_stdout && written)
            fprintf(stderr, "xling tokenize: %s (%zu lines were written to stdout before the error)\n", cli_error(), written);
        else cli_report(cmd);
    }
    free(recs);
    in_close(&in);
    xl_tokenizer_free(tok);
    return rc;
}
