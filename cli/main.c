/* xling command-line entry point: dispatches to one file per subcommand, then makes
 * sure everything reached stdout (a full disk or a closed pipe is an error, exit 1). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *usage =
    "xling " XLING_VERSION " — multilingual and cross-lingual text embeddings\n"
    "\n"
    "usage: xling <command> [options]   (xling <command> --help for its options)\n"
    "\n"
    "commands:\n"
    "  embed        embed texts or token ids with a Hugging Face / sentence-transformers model\n"
    "               folder (JSONL, .npy or raw rows out; float32 to binary precision)\n"
    "  tokenize     tokenize texts exactly as the Hugging Face tokenizers library does\n"
    "  similarity   print the cosine similarity matrix of a few texts\n"
    "  mine         parallel sentences from two collections (LASER margin scoring)\n"
    "  classify     train a logistic regression on embeddings / predict (zero-shot cross-lingual)\n"
    "  cluster      k-means clusters of texts (V-measure against gold labels)\n"
    "  index        a persistent search index in one SQLite file (create, add, search, info,\n"
    "               export; exact or HNSW search, metadata filters)\n"
    "  eval         Tatoeba, multilingual STS and Tatoeba retrieval offline (mteb-layout results)\n"
    "  align        MEXA cross-lingual alignment per layer (mean, weighted mean, last token)\n"
    "  report       a self-contained HTML report of eval/align results\n"
    "  rerank       rerank documents for a query (cross-encoders, Qwen3-Reranker, bge-m3 --m3)\n"
    "  score        score text pairs with a cross-encoder (one label, or softmax over labels)\n"
    "  serve        an HTTP server for the OpenAI and TEI embedding APIs\n"
    "  pull         download a model from the Hugging Face Hub into the shared HF cache\n"
    "  list         the cached Hub models xling can run\n"
    "  rm           remove a cached Hub model\n"
    "  merge        average checkpoints or swap layers between models (writes an HF folder)\n"
    "  vocab        transfer a model to a new tokenizer, or extend its vocabulary\n"
    "  info         describe a model folder (architecture, sizes, pooling, prompts, dtype...)\n"
    "               or, with --kernels, the kernel sets this CPU runs\n"
    "  bench-embed  time the forward pass on random ids (benchmark harness contract)\n"
    "  help         this help\n"
    "\n"
    "Inputs: one text per line, JSONL lines with \"text\" (or \"input_ids\" for embed), or texts\n"
    "as arguments. Errors go to stderr with exit status 1 (2 for usage errors).\n"
    "XLING_ISA=generic|avx2|avx2-novnni|avx512|avx512-novnni forces a kernel set.\n";

/* stdout must have taken everything: fflush reports what buffered writes could not. */
static int finish(const char *cmd, int rc) {
    /* A write that failed while a long text (a --help over 4 KiB) was being buffered left
     * its errno; the fflush below then has nothing left to write and sets none. */
    int earlier = ferror(stdout) ? errno : 0;
    errno = 0;
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc == 0) {
        int e = errno ? errno : earlier ? earlier : EIO;
        fprintf(stderr, "xling%s%s: write error on stdout: %s\n", cmd ? " " : "", cmd ? cmd : "", strerror(e));
        rc = 1;
    }
    return rc;
}

int main(int argc, char **argv) {
    cli_wait_policy(argv);
    xl_hub_set_miss_handler(cli_hub_pull_on_miss, NULL); /* -m ORG/NAME not cached: pull it */
    if (argc < 2) {
        fputs("xling: no command given (see `xling --help`)\n", stderr);
        return 2;
    }
    /* an XLING_ISA this CPU cannot run (or a misspelt one) stops every command here */
    const char *isa = xl_kernel_isa();
    if (!isa) { fprintf(stderr, "xling: %s\n", xl_last_error()); return 1; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage, stdout);
        return finish(NULL, 0);
    }
    if (!strcmp(argv[1], "--version")) {
        printf("xling " XLING_VERSION " (kernels: %s)\n", isa);
        return finish(NULL, 0);
    }
    static const struct { const char *name; int (*run)(int, char **); } cmds[] = {
        {"embed", cmd_embed}, {"tokenize", cmd_tokenize}, {"similarity", cmd_similarity},
        {"mine", cmd_mine},   {"cluster", cmd_cluster},   {"classify", cmd_classify},   {"index", cmd_index},
        {"eval", cmd_eval},   {"align", cmd_align},       {"report", cmd_report},
        {"info", cmd_info},   {"rerank", cmd_rerank},     {"score", cmd_score},
        {"serve", cmd_serve}, {"pull", cmd_pull},         {"list", cmd_list},           {"rm", cmd_rm},
        {"merge", cmd_merge}, {"vocab", cmd_vocab},
        {"bench-embed", cmd_bench_embed}};
    const char *cmd = argv[1];
    argv[1] = argv[0];
    for (size_t k = 0; k < sizeof cmds / sizeof *cmds; k++)
        if (!strcmp(cmd, cmds[k].name)) return finish(cmd, cmds[k].run(argc - 1, argv + 1));
    fprintf(stderr, "xling: unknown command \"%s\" (xling --help lists the commands)\n", cmd);
    return 2;
}
