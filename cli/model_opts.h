/* The model and embedding options that `embed` and `similarity` share: parsing, the
 * checks between them, and loading the model with them. */
#ifndef XL_CLI_MODEL_OPTS_H
#define XL_CLI_MODEL_OPTS_H
#include <getopt.h>
#include "xling.h"

enum {
    MO_PROMPT = 256, MO_PREFIX, MO_POOLING, MO_NO_NORMALIZE, MO_NORMALIZE, MO_MAX_LENGTH, MO_BATCH,
    MO_INSTRUCT, MO_DIM, MO_BIDIRECTIONAL, MO_CAUSAL, MO_QUANTIZE, MO_LAST
};

/* getopt_long entries (the option table of a command starts with these). */
#define MODEL_LONG_OPTIONS                                                                           \
    {"model", required_argument, 0, 'm'}, {"threads", required_argument, 0, 't'},                    \
    {"prompt", required_argument, 0, MO_PROMPT}, {"prefix", required_argument, 0, MO_PREFIX},        \
    {"pooling", required_argument, 0, MO_POOLING}, {"no-normalize", no_argument, 0, MO_NO_NORMALIZE}, \
    {"normalize", no_argument, 0, MO_NORMALIZE}, {"max-length", required_argument, 0, MO_MAX_LENGTH}, \
    {"batch", required_argument, 0, MO_BATCH}, {"instruct", required_argument, 0, MO_INSTRUCT},      \
    {"dim", required_argument, 0, MO_DIM}, {"bidirectional", no_argument, 0, MO_BIDIRECTIONAL},      \
    {"causal", no_argument, 0, MO_CAUSAL}, {"quantize", required_argument, 0, MO_QUANTIZE}

/* The help lines of those options. */
#define MODEL_OPTIONS_HELP                                                                              \
    "  -m, --model DIR          Hugging Face / sentence-transformers model folder\n"                    \
    "      --prompt NAME        prepend the prompt NAME of config_sentence_transformers.json\n"        \
    "      --prefix STR         prepend STR to every text\n"                                            \
    "      --instruct TASK      instruction-tuned embedders: put TASK in the folder's\n"               \
    "                           \"Instruct: ...\\nQuery:\" prompt (else \"Instruct: TASK\\nQuery: \"\n"   \
    "                           is prepended, with a warning); not with --prompt / --prefix\n"        \
    "      --pooling P          cls | mean | max | last (= lasttoken); default: the folder's\n"        \
    "      --no-normalize       skip L2 normalization even if the folder has Normalize\n"              \
    "      --normalize          L2-normalize even if the folder has no Normalize module\n"             \
    "      --max-length N       truncate inputs to N tokens, special tokens included (default:\n"      \
    "                           the model's max_seq_length)\n"                                          \
    "      --batch N            at most N sequences per forward batch (default 32)\n"                  \
    "      --dim N              Matryoshka: keep the first N dimensions, then renormalize\n"           \
    "      --bidirectional      decoders: attend in both directions (as llama-embed-nemotron)\n"      \
    "      --causal             decoders: causal attention, whatever the folder says\n"                \
    "      --quantize q8        decoders: block int8 weights made at load (less memory, faster)\n"    \
    "  -t, --threads N          threads (default: the CPUs this process may use)\n"

typedef struct {
    const char *dir;
    xl_embed_options eo;
    int threads;
    xl_attention_mode attention;
    xl_quantize quantize;
    int pooling_set;
} model_opts;

void model_opts_init(model_opts *o);
/* Handles getopt's c if it is a model option: 1 handled, 0 not a model option,
 * -1 usage error (printed). */
int model_opts_parse(model_opts *o, const char *cmd, int c, const char *arg);
/* Conflicting or missing options: 0, or 2 after printing the usage error. */
int model_opts_check(const model_opts *o, const char *cmd);
/* Loads the model; checks --dim and --max-length against it and warns when --instruct
 * finds no instruction prompt. Returns 0, 1 (runtime error) or 2 (usage error), printed. */
int model_opts_load(const model_opts *o, const char *cmd, xl_model **m);

#endif
