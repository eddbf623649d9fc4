/* The interface every architecture implements: load weights for a config, then run a
 * forward pass over a padded batch of token ids to produce the last hidden state.
 * Nothing here knows about tokenizers, pooling or the sentence-transformers head. */
#ifndef XL_ARCH_H
#define XL_ARCH_H
#include <jansson.h>
#include <stdint.h>
#include "io/safetensors.h"
#include "xling.h"

/* A padded batch: B sequences of T positions, row-major [B][T]. Sequences are
 * right-padded (real tokens first, mask 1, then mask 0). Every sequence has >= 1 token. */
typedef struct {
    int B, T;
    const int32_t *ids;
    const int32_t *type_ids; /* [B][T] token types, or NULL = all 0 (decoders have none) */
    const uint8_t *mask;
    const int *lens;      /* real length of each sequence */
} xl_batch;

/* Called after each layer with hidden states [B][T][H] (pads included, their
 * values unspecified). layer 0 = embedding output, l = output of block l;
 * layer L+1 is only emitted when the model has a final norm (output after it). */
typedef void (*xl_layer_cb)(void *ctx, int layer, const float *hidden, int B, int T, int H);

typedef struct {
    const char *architecture;
    const char *model_type;
    int hidden_size, num_layers, num_heads, num_kv_heads, head_dim, intermediate_size;
    int vocab_size, max_position_embeddings;
    int max_tokens;            /* longest sequence the position table allows (0 = unbounded) */
    int causal;                /* 1 for causal attention */
    int has_final_norm;
    const char *dtype;         /* stored dtype summary */
    uint64_t n_params;
} xl_arch_info;

typedef struct xl_arch {
    const char *name;
    /* 1 if this implementation handles the config (by architectures[] / model_type). */
    int (*matches)(const json_t *config);
    /* Bytes of memory a load needs (weights resident + working set), for the memory
     * check made before anything is read (w: the opened checkpoint, headers only). opts
     * may be NULL. */
    xl_status (*estimate_memory)(const json_t *config, const xl_weights *w, const xl_model_options *opts,
                                 uint64_t *bytes);
    /* dir is for error messages. opts (may be NULL) carries the load options
     * (attention direction, quantization, threads for the load); an option the family
     * does not have is an error naming it. */
    xl_status (*load)(const json_t *config, const xl_weights *w, const char *dir, const xl_model_options *opts,
                      void **model);
    /* Per-context run state (scratch buffers, grown on demand, reused across calls).
     * The model itself is never written after load, so threads may share it, each
     * with its own state. */
    xl_status (*state_new)(const void *model, void **state);
    void (*state_free)(void *state);
    /* hidden: [B][T][hidden_size] output (last hidden state, after the final norm
     * if any). cb may be NULL. threads: how many threads to use. state: from
     * state_new of this model. */
    xl_status (*forward)(const void *model, void *state, const xl_batch *batch, float *hidden, xl_layer_cb cb,
                         void *cb_ctx, int threads);
    void (*get_info)(const void *model, xl_arch_info *info);
    /* Sequence classification head (cross-encoders), or NULL: the number of scores it
     * gives (0 = the loaded model has no head) and the raw scores (logits) of one
     * sequence from its last hidden state rows h[len][hidden_size]. */
    int (*num_scores)(const void *model);
    void (*head_scores)(const void *model, const float *h, int len, float *scores);
    /* Causal LMs (a Qwen3-Reranker's yes/no), or NULL: the logits of n vocabulary rows
     * for one final hidden state h[hidden_size], out[n] = h · W[rows[k]] with W the
     * output embedding (lm_head.weight, else the tied embed_tokens). Only those rows
     * are read. */
    xl_status (*vocab_logits)(const void *model, const float *h, const int32_t *rows, int n, float *out);
    void (*free)(void *model);
} xl_arch;

/* The families (models/bert.c, models/llama.c, models/gemma3.c). */
extern const xl_arch xl_arch_bert;   /* BertModel, XLMRobertaModel */
extern const xl_arch xl_arch_llama;  /* Llama (causal or bidirectional), Mistral, Qwen2, Qwen3 */
extern const xl_arch xl_arch_gemma3; /* Gemma 3 text (EmbeddingGemma) */
/* llama and gemma3 are one forward (models/decoder.c) driven by a description each
 * family makes from its config. */

/* Registry: finds the implementation for a config, or sets an error naming the
 * architecture. */
xl_status xl_arch_find(const json_t *config, const char *dir, const xl_arch **out);

#endif
