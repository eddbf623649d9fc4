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

/* Per-worker state: the architecture's run state and the buffers of the last run, kept
 * so the next run does not fault in fresh pages. */
struct xl_context {
    const xl_model *m;
    void *state;                /* m->arch->state_new */
    int cancel;                 /* set by xl_context_cancel (atomic builtins) */
    float *hidden;              /* [cap_rows][hidden] forward output */
    size_t cap_rows;
};

/* Threads a run uses: the options', else the model's (embed.c). */
int xl_embed_threads(const xl_model *m, const xl_embed_options *o);

/* prepare.c, for chunk.c: the text put before every input (--prefix, --instruct or the
 * prompt; *owned is set when allocated), the length limit inputs are cut to (0 = none),
 * sentence-transformers' do_lower_case (a malloc'd copy). */
xl_status xl_prompt_prefix(const xl_model *m, const xl_embed_options *o, const char **prefix, char **owned);
xl_status xl_length_limit(const xl_model *m, const xl_embed_options *o, size_t *max_len);
char *xl_lowercase(const char *s, size_t len, size_t *out_len);

#endif
