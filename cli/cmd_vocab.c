/* PLACEHOLDER while the command is built on its branch; replaced by its implementation. */
#include <stdio.h>
#include "cli.h"
int cmd_vocab(int argc, char **argv) {
    (void)argc; (void)argv;
    fputs("xling vocab: not built yet\n", stderr);
    return 2;
}
