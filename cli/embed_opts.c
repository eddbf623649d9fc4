/* The input / output options of `xling embed` (see embed_opts.h). */
#include "embed_opts.h"

#include <getopt.h>

#include "cli.h"

int embed_io_parse(embed_io *io, const char *cmd, int c, const char *arg) {
    switch (c) {
    case 'i': io->in_path = arg; return 1;
    case 'o': io->out_path = arg; return 1;
    case EO_FORMAT:
        if (out_parse_format(arg, &io->ofmt)) {
            cli_usage(cmd, "--format must be jsonl, npy, f32 or raw, got \"%s\"", arg);
            return -1;
        }
        return 1;
    case EO_INPUT_FORMAT:
        if (in_parse_format(arg, &io->ifmt)) {
            cli_usage(cmd, "--input-format must be text or jsonl, got \"%s\"", arg);
            return -1;
        }
        return 1;
    case EO_KEEP_FIELDS: io->keep_fields = 1; return 1;
    default: return 0;
    }
}

int embed_io_format(const embed_io *io, const char *cmd, out_format *fmt) {
    out_format named = out_format_of_name(io->out_path);
    if (io->ofmt && named && io->ofmt != named)
        return cli_usage(cmd, "--format %s contradicts the output name %s",
                         io->ofmt == OUT_NPY ? "npy" : io->ofmt == OUT_F32 ? "f32" : "jsonl", io->out_path);
    *fmt = io->ofmt ? io->ofmt : named ? named : OUT_JSONL;
    return 0;
}
