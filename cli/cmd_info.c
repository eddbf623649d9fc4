/* xling info: what a model folder holds, as text or one JSON object with stable keys. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const char *usage =
    "usage: xling info -m DIR [--json]\n"
    "Describes a model folder: architecture, sizes, pooling, normalization, prompts, dtype,\n"
    "parameter count, tokenizer type.\n"
    "  -m, --model DIR   model folder\n"
    "      --json        one JSON object (keys: architecture, model_type, hidden_size, num_layers,\n"
    "                    num_heads, num_kv_heads, intermediate_size, vocab_size,\n"
    "                    max_position_embeddings, max_seq_length, dim, pooling, include_prompt,\n"
    "                    normalize, dense_layers, dtype, parameters, tokenizer, prompts,\n"
    "                    default_prompt_name)\n";

int cmd_info(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *dir = NULL;
    int as_json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': dir = optarg; break;
        case 'j': as_json = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_bad_option("info", c, argv);
        }
    }
    if (optind < argc) return cli_usage("info", "unexpected argument \"%s\"", argv[optind]);
    if (!dir) return cli_usage("info", "-m DIR is required");
    xl_model_options mo = {.threads = 1};
    xl_model *m;
    if (xl_model_load(dir, &mo, &m)) return cli_fail("info");
    xl_model_info i;
    xl_model_get_info(m, &i);
    json_t *prompts = json_object();
    for (int k = 0; k < i.n_prompts; k++) json_object_set_new(prompts, i.prompt_names[k], json_string(i.prompt_texts[k]));
    json_t *o = json_pack("{s:s?, s:s?, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:b, s:b, s:i, s:s, s:I, s:s?, s:o, s:s?}",
                          "architecture", i.architecture, "model_type", i.model_type, "hidden_size", i.hidden_size,
                          "num_layers", i.num_layers, "num_heads", i.num_heads, "num_kv_heads", i.num_kv_heads,
                          "intermediate_size", i.intermediate_size, "vocab_size", i.vocab_size,
                          "max_position_embeddings", i.max_position_embeddings, "max_seq_length", i.max_seq_length,
                          "dim", i.dim, "pooling", cli_pooling_name(i.pooling), "include_prompt", i.include_prompt,
                          "normalize", i.normalize, "dense_layers", i.n_dense, "dtype", i.dtype,
                          "parameters", (json_int_t)i.n_params, "tokenizer", i.tokenizer_type, "prompts", prompts,
                          "default_prompt_name", i.default_prompt_name);
    if (!o) { xl_model_free(m); fprintf(stderr, "xling info: out of memory\n"); return 1; }
    if (as_json) {
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        puts(s);
        free(s);
    } else {
        printf("architecture      %s (%s)\n", i.architecture ? i.architecture : "?", i.model_type ? i.model_type : "?");
        printf("layers            %d\nhidden size       %d\nheads             %d (kv %d)\nintermediate      %d\n",
               i.num_layers, i.hidden_size, i.num_heads, i.num_kv_heads, i.intermediate_size);
        printf("vocab             %d\nmax positions     %d\nmax seq length    %d\n", i.vocab_size, i.max_position_embeddings, i.max_seq_length);
        printf("pooling           %s%s\n", cli_pooling_name(i.pooling), i.include_prompt ? "" : " (prompt excluded)");
        printf("dense layers      %d\nnormalize         %s\nembedding dim     %d\n", i.n_dense, i.normalize ? "yes" : "no", i.dim);
        printf("dtype             %s\nparameters        %llu\n", i.dtype, (unsigned long long)i.n_params);
        printf("tokenizer         %s\n", i.tokenizer_type ? i.tokenizer_type : "none (token ids only)");
        for (int k = 0; k < i.n_prompts; k++) {
            json_t *js = json_string(i.prompt_texts[k]);
            char *q = json_dumps(js, JSON_ENCODE_ANY);
            printf("prompt            %s = %s\n", i.prompt_names[k], q ? q : "?");
            free(q);
            json_decref(js);
        }
        if (i.default_prompt_name) printf("default prompt    %s\n", i.default_prompt_name);
    }
    json_decref(o);
    xl_model_free(m);
    return 0;
}
