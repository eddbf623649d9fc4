/* xling command-line entry point: dispatches to one file per subcommand. */
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
    "               folder (JSONL, .npy or raw float32 out)\n"
    "  tokenize     tokenize texts exactly as the Hugging Face tokenizers library does\n"
    "  similarity   print the cosine similarity matrix of a few texts\n"
    "  mine         parallel sentences from two collections (LASER margin scoring)\n"
    "  info         describe a model folder (architecture, sizes, pooling, prompts, dtype...)\n"
    "  bench-embed  time the forward pass on random ids (benchmark harness contract)\n"
    "  help         this help\n"
    "\n"
    "Inputs: one text per line, or JSONL lines with \"text\" (or \"input_ids\" for embed).\n"
    "Errors go to stderr with exit status 1 (2 for usage errors).\n";

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) { puts("xling " XLING_VERSION); return 0; }
    const char *cmd = argv[1];
    argv[1] = argv[0];
    if (!strcmp(cmd, "embed")) return cmd_embed(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "similarity")) return cmd_similarity(argc - 1, argv + 1);
    if (!strcmp(cmd, "mine")) return cmd_mine(argc - 1, argv + 1);
    if (!strcmp(cmd, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench-embed")) return cmd_bench_embed(argc - 1, argv + 1);
    fprintf(stderr, "xling: unknown command \"%s\" (xling --help lists the commands)\n", cmd);
    return 2;
}
