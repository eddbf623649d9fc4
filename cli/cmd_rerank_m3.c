/* PLACEHOLDER while the command is built on its branch; replaced by its implementation. */
#include <stdio.h>
#include "cli.h"
int cmd_rerank_m3(int argc, char **argv) {
    (void)argc; (void)argv;
    fputs("xling rerank --m3: not built yet\n", stderr);
    return 2;
}
