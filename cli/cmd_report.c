/* xling report: the HTML page of a results folder written by eval / align. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *usage =
    "usage: xling report DIR -o report.html\n"
    "Writes one self-contained HTML page (inline SVG, no script, nothing fetched) for the\n"
    "results in DIR (eval/align -o DIR: DIR/<model name>/<TaskName>.json, MEXA.json,\n"
    "model_meta.json): per task a bar chart of every language sorted by score and a table,\n"
    "MEXA's per-layer curves (one line per pair), the model and the run settings.\n"
    "  -o, --output FILE   the HTML file (required)\n";

int cmd_report(int argc, char **argv) {
    static const struct option opts[] = {{"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_bad_option("report", c, argv);
        }
    }
    if (argc - optind != 1 || !out) return cli_usage("report", "give one results folder and -o FILE");
    return report_write(argv[optind], out);
}
