/* PLACEHOLDER while the command is built on its branch; replaced by its implementation. */
#include <stdio.h>
#include "cli.h"
int cmd_score(int argc, char **argv) {
    (void)argc; (void)argv;
    fputs("xling score: not built yet\n", stderr);
    return 2;
}
