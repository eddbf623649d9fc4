/* `xling rm ORG/NAME[@REVISION]...`: removes cached Hub models (xl_hub_rm). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const char *usage =
    "usage: xling rm ORG/NAME[@REVISION]...\n"
    "\n"
    "Removes models from the Hugging Face cache (HF_HUB_CACHE, else HF_HOME/hub, else\n"
    "~/.cache/huggingface/hub). ORG/NAME removes the whole repository folder, every\n"
    "revision; ORG/NAME@REVISION (a branch, tag or commit) removes that snapshot, the refs\n"
    "naming it and the files no other revision shares.\n"
    "\n"
    "options:\n"
    "  -h, --help     this help\n";

int cmd_rm(int argc, char **argv) {
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'h') { fputs(usage, stdout); return 0; }
        return cli_bad_option("rm", c, argv);
    }
    if (optind >= argc) return cli_usage("rm", "no model id given (ORG/NAME[@REVISION])");
    for (int i = optind; i < argc; i++)
        if (!xl_hub_is_id(argv[i])) return cli_usage("rm", "\"%s\" is not a Hugging Face model id (ORG/NAME[@REVISION])", argv[i]);
    int rc = 0;
    for (int i = optind; i < argc; i++) {
        uint64_t freed = 0;
        if (xl_hub_rm(NULL, argv[i], &freed)) rc = cli_fail("rm");
        else fprintf(stderr, "xling rm: removed %s (%.1f MB freed)\n", argv[i], freed / 1e6);
    }
    return rc;
}
