/* `xling list [--json]`: the models in the Hugging Face cache that xling can run. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *usage =
    "usage: xling list [--json]\n"
    "\n"
    "The models of the Hugging Face cache (HF_HUB_CACHE, else HF_HOME/hub, else\n"
    "~/.cache/huggingface/hub) that xling can run (a snapshot with config.json and\n"
    ".safetensors weights), whoever downloaded them: one line per snapshot with its id,\n"
    "the revisions (refs) naming it, its commit, architecture, parameters (from the\n"
    "safetensors headers) and size on disk.\n"
    "\n"
    "options:\n"
    "      --json     one JSON array of objects with id, revision (null when no ref names\n"
    "                 the snapshot; several comma-separated), commit, architecture,\n"
    "                 parameters, size_bytes, path\n"
    "  -h, --help     this help\n";

static void human(char *buf, size_t cap, double v, const char *const *units) {
    int u = 0;
    while (v >= 1000 && units[u + 1]) { v /= 1000; u++; }
    snprintf(buf, cap, u ? "%.1f%s" : "%.0f%s", v, units[u]);
}

static void put_str(const char *s) {
    if (s) cli_put_json_string(stdout, s, strlen(s));
    else fputs("null", stdout);
}

int cmd_list(int argc, char **argv) {
    static const struct option opts[] = {{"json", no_argument, 0, 'J'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int as_json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'J': as_json = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_bad_option("list", c, argv);
        }
    }
    if (optind < argc) return cli_usage("list", "unexpected argument \"%s\"", argv[optind]);
    xl_hub_model *m = NULL;
    size_t n = 0;
    if (xl_hub_list(NULL, &m, &n)) return cli_fail("list");
    if (as_json) {
        fputs("[", stdout);
        for (size_t i = 0; i < n; i++) {
            fputs(i ? ",\n {\"id\": " : "\n {\"id\": ", stdout);
            put_str(m[i].id);
            fputs(", \"revision\": ", stdout);
            put_str(m[i].revision);
            fputs(", \"commit\": ", stdout);
            put_str(m[i].commit);
            fputs(", \"architecture\": ", stdout);
            put_str(m[i].architecture);
            printf(", \"parameters\": %" PRIu64 ", \"size_bytes\": %" PRIu64 ", \"path\": ", m[i].parameters, m[i].size_bytes);
            put_str(m[i].path);
            fputs("}", stdout);
        }
        fputs(n ? "\n]\n" : "]\n", stdout);
    } else if (n == 0) {
        char *cache = xl_hub_cache_dir();
        fprintf(stderr, "xling list: no model xling can run in %s (`xling pull ORG/NAME` adds one)\n", cache ? cache : "the cache");
        free(cache);
    } else {
        static const char *const pu[] = {"", "K", "M", "B", "T", NULL}, *const bu[] = {" B", " kB", " MB", " GB", " TB", NULL};
        int w = 2;
        for (size_t i = 0; i < n; i++)
            if ((int)strlen(m[i].id) > w) w = (int)strlen(m[i].id);
        printf("%-*s  %-12s  %-8s  %-24s  %8s  %9s\n", w, "ID", "REVISION", "COMMIT", "ARCHITECTURE", "PARAMS", "SIZE");
        for (size_t i = 0; i < n; i++) {
            char p[32], s[32];
            human(p, sizeof p, (double)m[i].parameters, pu);
            human(s, sizeof s, (double)m[i].size_bytes, bu);
            printf("%-*s  %-12s  %.8s  %-24s  %8s  %9s\n", w, m[i].id, m[i].revision ? m[i].revision : "-", m[i].commit,
                   m[i].architecture ? m[i].architecture : "?", p, s);
        }
    }
    xl_hub_list_free(m, n);
    return 0;
}
