/* The model handle behind xling.h's opaque xl_model: the transformer (an xl_arch and
 * its weights), the sentence-transformers head and the tokenizer of one folder. */
#ifndef XL_MODEL_INTERNAL_H
#define XL_MODEL_INTERNAL_H
#include <jansson.h>
#include "io/safetensors.h"
#include "io/st_config.h"
#include "models/arch.h"
#include "xling.h"

struct xl_model {
    char *dir;
    json_t *config;
    xl_weights *weights;
    const xl_arch *arch;
    void *impl;                 /* the architecture's model */
    xl_arch_info ainfo;
    xl_st_config st;
    xl_tokenizer *tok;          /* NULL when the folder has no tokenizer.json */
    int threads;
    int dim;                    /* output dimension after the Dense modules */
    int max_seq_length;         /* default truncation length */
    char dtype_summary[64];     /* stored dtypes, e.g. "F16+F32" */
    uint64_t n_params;          /* transformer + Dense parameters */
};

/* Runs the transformer over token sequences and returns their pooled, head-applied
 * embeddings in out[n][dim]. prompt_lens[i] tokens at the start of sequence i are
 * excluded from pooling when the Pooling config says include_prompt: false
 * (NULL = none). Sequences must be non-empty. */
xl_status xl_model_embed_sequences(xl_model *m, const int32_t *const *ids, const size_t *lens,
                                   const size_t *prompt_lens, size_t n, const xl_embed_options *o,
                                   float *out);

#endif
