/* PLACEHOLDER while the command is built on its branch; replaced by its implementation.
 * Keep the --m3 hand-over: `xling rerank --m3 ...` is cmd_rerank_m3 (cli/cmd_rerank_m3.c). */
#include <stdio.h>
#include <string.h>
#include "cli.h"
int cmd_rerank(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--m3")) return cmd_rerank_m3(argc, argv);
    fputs("xling rerank: not built yet\n", stderr);
    return 2;
}
