/* The sentence-transformers side of a model folder: modules.json, the Pooling
 * module's config, Dense modules (weights, bias, activation), Normalize,
 * sentence_bert_config.json (max_seq_length) and config_sentence_transformers.json
 * (prompts, default_prompt_name). A plain transformers folder (no modules.json)
 * gets the defaults sentence-transformers would apply: mean pooling, no normalize.
 *
 * Supported module chains: Transformer, Pooling, Dense*, Normalize? (in that order;
 * any other module type, or Normalize before a Dense, is XL_ERR_UNSUPPORTED). */
#ifndef XL_ST_CONFIG_H
#define XL_ST_CONFIG_H
#include "xling.h"

typedef enum { XL_ACT_IDENTITY = 0, XL_ACT_TANH, XL_ACT_RELU, XL_ACT_GELU, XL_ACT_GELU_TANH, XL_ACT_SIGMOID, XL_ACT_SILU } xl_activation;

typedef struct {
    int in_features, out_features;
    float *weight;          /* [out_features][in_features], float32 */
    float *bias;            /* [out_features] or NULL */
    xl_activation act;
} xl_dense;

typedef struct {
    int has_modules;        /* modules.json present */
    xl_pooling pooling;     /* never XL_POOL_DEFAULT after loading */
    int include_prompt;     /* 1 unless the Pooling config says false */
    int normalize;          /* a Normalize module is present */
    xl_dense *dense;
    int n_dense;
    int max_seq_length;     /* sentence_bert_config.json, 0 if absent */
    int do_lower_case;      /* sentence_bert_config.json */
    int n_prompts;
    char **prompt_names;
    char **prompt_texts;
    char *default_prompt_name;  /* NULL if none */
    /* Added after the first version: */
    int dim;                /* output dimension: last Dense out_features, else the pooled
                             * dimension (word_embedding_dimension, or hidden_size) */
    char *transformer_path; /* folder of the Transformer module relative to dir: "" (the
                             * folder itself) in current models; old ones use e.g.
                             * "0_Transformer", where config/weights/tokenizer and
                             * sentence_bert_config.json live. Never NULL after loading. */
} xl_st_config;

/* Loads the sentence-transformers files of dir. hidden_size checks the Pooling
 * word_embedding_dimension and the first Dense in_features (hidden_size <= 0: not
 * checked, the Pooling config's dimension is used). On error *out is left freed
 * (xl_st_config_free on it is harmless). */
xl_status xl_st_config_load(const char *dir, int hidden_size, xl_st_config *out);
void xl_st_config_free(xl_st_config *c);

/* Prompt text by name, or NULL. */
const char *xl_st_prompt(const xl_st_config *c, const char *name);

/* Parses "torch.nn.modules.activation.Tanh" and friends (the class name after the last
 * '.', any case: Tanh, ReLU, GELU, Sigmoid, SiLU, Identity), and short names ("tanh",
 * "relu", "gelu", "gelu_tanh", "gelu_new", "gelu_pytorch_tanh", "sigmoid", "silu",
 * "swish", "identity", "linear"). Returns -1 if unknown. */
int xl_activation_parse(const char *name);
/* "tanh", "gelu", ... */
const char *xl_activation_name(xl_activation a);

#endif
