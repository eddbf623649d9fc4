/* Loading a model folder: config.json → architecture → weights → sentence-transformers
 * head → tokenizer, and the facts `xling info` reports. */
#include "embed/model_internal.h"
#include "hub/hub.h"
#include "io/memcheck.h"
#include "io/model_config.h"
#include "kernels/dispatch.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/threads.h"

#include <stdlib.h>
#include <string.h>

static void summarize_dtypes(const xl_weights *w, char *buf, size_t cap, uint64_t *n_params) {
    int seen[XL_DT_BOOL + 1] = {0};
    uint64_t params = 0;
    for (size_t i = 0; i < xl_weights_count(w); i++) {
        const xl_tensor *t = xl_weights_at(w, i);
        seen[t->dtype] = 1;
        params += t->numel;
    }
    buf[0] = '\0';
    const xl_dtype order[] = {XL_DT_BF16, XL_DT_F16, XL_DT_F32, XL_DT_F64, XL_DT_I64, XL_DT_I32, XL_DT_I8, XL_DT_U8, XL_DT_BOOL};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        if (!seen[order[k]]) continue;
        if (buf[0]) strncat(buf, "+", cap - strlen(buf) - 1);
        strncat(buf, xl_dtype_name(order[k]), cap - strlen(buf) - 1);
    }
    *n_params = params;
}

/* Refuses, before the weights are read (opening reads the headers only), a model that
 * cannot fit in memory; the architecture says how much its load holds. */
static xl_status check_memory(const xl_model *m, const char *base, const xl_model_options *o) {
    uint64_t need;
    xl_status st = m->arch->estimate_memory(m->config, m->weights, o, &need);
    if (st) return st;
    return xl_check_memory_fit(base, xl_weights_data_bytes(m->weights), need);
}

static xl_status model_load(const char *dir, const xl_model_options *opts, xl_model **out) {
    *out = NULL;
    if (!dir || !*dir) return xl_err(XL_ERR_ARG, "no model folder given");
    if (!xl_is_dir(dir)) return xl_err(XL_ERR_IO, "%s: not a directory (expected a Hugging Face model folder)", dir);
    if (xl_kernels_check()) return XL_ERR_ARG; /* an XLING_ISA this CPU cannot run */
    xl_model *m = calloc(1, sizeof *m);
    if (!m) return xl_err(XL_ERR_NOMEM, "out of memory");
    m->dir = strdup(dir);
    m->threads = xl_threads_for(opts ? opts->threads : 0);
    /* The sentence-transformers modules say where the transformer lives: the folder
     * itself for current models, a subfolder such as 0_Transformer for old ones. Read
     * them once without the hidden-size check to find it, then again with it. */
    xl_status st = xl_st_config_load(dir, -1, &m->st);
    if (st) { xl_model_free(m); return st; }
    char *base = m->st.transformer_path && *m->st.transformer_path ? xl_path_join(dir, m->st.transformer_path) : strdup(dir);
    xl_st_config_free(&m->st);
    memset(&m->st, 0, sizeof m->st);
    if (!base) { xl_model_free(m); return xl_err(XL_ERR_NOMEM, "out of memory"); }
    st = xl_config_load(base, &m->config);
    if (!st) st = xl_arch_find(m->config, base, &m->arch);
    if (!st) st = xl_weights_open_dir(base, &m->weights);
    if (!st) st = check_memory(m, base, opts);
    if (!st) st = m->arch->load(m->config, m->weights, base, opts, &m->impl);
    if (!st) {
        m->arch->get_info(m->impl, &m->ainfo);
        st = xl_st_config_load(dir, m->ainfo.hidden_size, &m->st);
    }
    if (!st) {
        char *tok_path = xl_path_join(base, "tokenizer.json");
        if (tok_path && xl_file_exists(tok_path)) st = xl_tokenizer_load(base, &m->tok);
        free(tok_path);
    }
    free(base);
    if (st) { xl_model_free(m); return st; }
    summarize_dtypes(m->weights, m->dtype_summary, sizeof m->dtype_summary, &m->n_params);
    for (int k = 0; k < m->st.n_dense; k++) {
        const xl_dense *d = &m->st.dense[k];
        m->n_params += (uint64_t)d->in_features * d->out_features + (d->bias ? d->out_features : 0);
    }
    m->dim = m->st.n_dense ? m->st.dense[m->st.n_dense - 1].out_features : m->ainfo.hidden_size;

    /* Default truncation: sentence_bert_config's max_seq_length, else the tokenizer's
     * model_max_length, else what the position table allows; never beyond the table. */
    int maxlen = m->st.max_seq_length;
    if (maxlen <= 0 && m->tok) maxlen = (int)xl_tokenizer_model_max_length(m->tok);
    if (maxlen <= 0 || (m->ainfo.max_tokens > 0 && maxlen > m->ainfo.max_tokens)) maxlen = m->ainfo.max_tokens;
    m->max_seq_length = maxlen;
    *out = m;
    return XL_OK;
}

xl_status xl_model_load(const char *dir, const xl_model_options *opts, xl_model **out) {
    char *hub = NULL; /* a Hub id (ORG/NAME[@REV]) names its snapshot in the HF cache */
    *out = NULL;
    xl_status st = xl_hub_local(dir, &hub);
    if (!st) st = model_load(hub ? hub : dir, opts, out);
    free(hub);
    return st;
}

void xl_model_free(xl_model *m) {
    if (!m) return;
    if (m->impl) m->arch->free(m->impl);
    xl_weights_close(m->weights);
    xl_st_config_free(&m->st);
    xl_tokenizer_free(m->tok);
    if (m->config) json_decref(m->config);
    free(m->dir);
    free(m);
}

const xl_tokenizer *xl_model_tokenizer(const xl_model *m) { return m->tok; }

void xl_model_get_info(const xl_model *m, xl_model_info *info) {
    memset(info, 0, sizeof *info);
    const xl_arch_info *a = &m->ainfo;
    info->architecture = a->architecture;
    info->model_type = a->model_type;
    info->hidden_size = a->hidden_size;
    info->num_layers = a->num_layers;
    info->num_heads = a->num_heads;
    info->num_kv_heads = a->num_kv_heads;
    info->intermediate_size = a->intermediate_size;
    info->vocab_size = a->vocab_size;
    info->max_position_embeddings = a->max_position_embeddings;
    info->dim = m->dim;
    info->dtype = m->dtype_summary;
    info->n_params = m->n_params;
    info->pooling = m->st.pooling;
    info->include_prompt = m->st.include_prompt;
    info->normalize = m->st.normalize;
    info->n_dense = m->st.n_dense;
    info->max_seq_length = m->max_seq_length;
    info->tokenizer_type = m->tok ? xl_tokenizer_type(m->tok) : NULL;
    info->n_prompts = m->st.n_prompts;
    info->prompt_names = (const char *const *)m->st.prompt_names;
    info->prompt_texts = (const char *const *)m->st.prompt_texts;
    info->default_prompt_name = m->st.default_prompt_name;
}
