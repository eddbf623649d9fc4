/* xling command-line entry point: dispatches to one file per subcommand. */
#include <stdio.h>
#include <string.h>
#include "xling.h"

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("xling %s\n", XLING_VERSION);
        return 0;
    }
    fprintf(stderr, "xling: unknown command \"%s\"\n", argv[1]);
    return 2;
}
