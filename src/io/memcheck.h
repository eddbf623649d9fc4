/* Will a checkpoint fit in memory? Asked before mapping it, so that a model too large
 * for the machine fails at once with the figures instead of thrashing the page cache
 * or being killed by the kernel half-way through loading.
 *
 * The machine's memory is MemTotal from /proc/meminfo, lowered to the cgroup's
 * memory.max when a container limit is set (cgroup v2), or XLING_MEMORY_LIMIT (bytes,
 * for tests and for users who want to keep headroom) when that is set. */
#ifndef XL_MEMCHECK_H
#define XL_MEMCHECK_H
#include <stdint.h>
#include "xling.h"

/* Sum of the sizes of the checkpoint files of a folder: model.safetensors, or every
 * shard named by model.safetensors.index.json (each counted once), without mapping or
 * reading them (stat only; links are followed, text links resolved). XL_ERR_IO when a
 * file is missing, XL_ERR_FORMAT for an index without a usable weight_map. */
xl_status xl_checkpoint_bytes(const char *dir, uint64_t *bytes);

/* Memory the process may use: *total (see above) and *available (MemAvailable, capped
 * by *total). Either pointer may be NULL. XL_ERR_IO when /proc/meminfo cannot be read
 * (and no XLING_MEMORY_LIMIT is set), XL_ERR_ARG for a malformed XLING_MEMORY_LIMIT. */
xl_status xl_memory_limits(uint64_t *total, uint64_t *available);

/* What a model folder will hold in memory once loaded, from facts known before mapping
 * it (see xl_memory_needed). */
typedef struct {
    uint64_t weight_bytes; /* xl_checkpoint_bytes of the folder */
    int decoder;           /* 1: weights read from the mapping at every forward (llama, gemma3) */
    int quantize_q8;       /* decoders: --quantize q8 */
    int half_weights;      /* the checkpoint stores F16 / BF16 (config's torch_dtype) */
    int hidden, intermediate; /* config.json hidden_size, intermediate_size */
    int batch_tokens;      /* padded tokens per forward batch (0: the default, 8192) */
} xl_mem_need;

/* Bytes needed: the weights as held, plus working memory.
 *   weights: decoders 1x the checkpoint (the mapping is the working set); decoders with
 *     q8 0.52x of a half checkpoint (int8 + a float scale per 128 values; 0.26x of an
 *     F32 one), the float pages handed back tensor by tensor as they are quantized;
 *     encoders 2x a half checkpoint (converted to float32 at load), 1x an F32 one.
 *   working: 256 MiB (runtime, tokenizer, workspaces) + the activations of one batch,
 *     batch_tokens x (6 hidden + 2 intermediate) floats for encoders; decoders run the
 *     MLP in row chunks (XL_DEC_MLP_BYTES, 64 MiB), so 6 hidden floats per token + 64 MiB. */
uint64_t xl_memory_needed(const xl_mem_need *n);

/* XL_OK when needed_bytes fit in the machine's total memory; else XL_ERR_NOMEM with
 * "<dir>: the model needs about 17.2 GiB (weights 16.1 GiB + working memory), this
 * machine has 15.6 GiB". Where the memory cannot be determined (no /proc), XL_OK:
 * the check is advisory and must not stop a model that would run. */
xl_status xl_check_memory_fit(const char *dir_for_messages, uint64_t weight_bytes, uint64_t needed_bytes);

#endif
