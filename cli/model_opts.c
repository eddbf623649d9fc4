#include "model_opts.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

void model_opts_init(model_opts *o) {
    memset(o, 0, sizeof *o);
    xl_embed_options_init(&o->eo);
}

int model_opts_parse(model_opts *o, const char *cmd, int c, const char *arg) {
    switch (c) {
    case 'm': o->dir = arg; return 1;
    case 't': return cli_parse_int(cmd, "--threads", arg, 1, 1024, &o->threads) ? -1 : 1;
    case MO_PROMPT: o->eo.prompt_name = arg; return 1;
    case MO_PREFIX: o->eo.prefix = arg; return 1;
    case MO_POOLING:
        if (cli_parse_pooling(arg, &o->eo.pooling)) {
            cli_usage(cmd, "--pooling must be cls, mean, max, last or lasttoken, got \"%s\"", arg);
            return -1;
        }
        o->pooling_set = 1;
        return 1;
    case MO_NO_NORMALIZE: o->eo.normalize = 0; return 1;
    case MO_NORMALIZE: o->eo.normalize = 1; return 1;
    case MO_MAX_LENGTH: return cli_parse_int(cmd, "--max-length", arg, 1, 1 << 24, &o->eo.max_length) ? -1 : 1;
    case MO_BATCH: return cli_parse_int(cmd, "--batch", arg, 1, 1 << 20, &o->eo.batch_size) ? -1 : 1;
    case MO_INSTRUCT: o->eo.instruct = arg; return 1;
    case MO_DIM: return cli_parse_int(cmd, "--dim", arg, 1, 1 << 20, &o->eo.dim) ? -1 : 1;
    case MO_BIDIRECTIONAL: o->attention = XL_ATTN_FORCE_BIDIRECTIONAL; return 1;
    case MO_CAUSAL: o->attention = XL_ATTN_FORCE_CAUSAL; return 1;
    case MO_QUANTIZE:
        if (strcmp(arg, "q8")) {
            cli_usage(cmd, "--quantize accepts q8, got \"%s\"", arg);
            return -1;
        }
        o->quantize = XL_QUANTIZE_Q8;
        return 1;
    }
    return 0;
}

int model_opts_check(const model_opts *o, const char *cmd) {
    if (!o->dir) return cli_usage(cmd, "-m DIR is required");
    if (o->eo.instruct && o->eo.prefix) return cli_usage(cmd, "--instruct and --prefix cannot be used together");
    if (o->eo.instruct && o->eo.prompt_name) return cli_usage(cmd, "--instruct and --prompt cannot be used together");
    if (o->eo.prefix && o->eo.prompt_name) return cli_usage(cmd, "--prefix and --prompt cannot be used together");
    return 0;
}

/* Is p an instruction template "Instruct:<sp>TASK\nQuery:..." (as the library fills)? */
static int is_instruct_prompt(const char *p) { return !strncmp(p, "Instruct:", 9) && strstr(p + 9, "\nQuery:"); }

int model_opts_load(const model_opts *o, const char *cmd, xl_model **m) {
    xl_model_options mo = {.threads = cli_threads(cmd, o->threads), .attention = o->attention, .quantize = o->quantize};
    if (xl_model_load(o->dir, &mo, m)) return cli_fail(cmd);
    xl_model_info info;
    xl_model_get_info(*m, &info);
    int rc = 0;
    size_t specials = cli_special_count(xl_model_tokenizer(*m));
    if (o->eo.dim > info.dim)
        rc = cli_usage(cmd, "--dim %d is larger than the model's %d dimensions", o->eo.dim, info.dim);
    else if (o->eo.max_length && (size_t)o->eo.max_length < specials)
        rc = cli_usage(cmd, "--max-length %d is below the %zu special tokens the tokenizer adds", o->eo.max_length, specials);
    if (rc) {
        xl_model_free(*m);
        *m = NULL;
        return rc;
    }
    if (o->eo.instruct) {
        int found = 0;
        for (int k = 0; k < info.n_prompts; k++) found |= is_instruct_prompt(info.prompt_texts[k]) != 0;
        if (!found) {
            /* Escaped as JSON would, so that the newline shows. */
            fprintf(stderr, "xling %s: warning: the model has no \"Instruct: ...\\nQuery:\" prompt; prepending \"Instruct: %s\\nQuery: \" to every text\n",
                    cmd, o->eo.instruct);
        }
    }
    return 0;
}
