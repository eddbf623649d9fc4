/* Will a model fit in memory? Asked after reading the checkpoint's headers and before
 * loading it, so that a model too large for the machine fails at once with the figures
 * instead of thrashing the page cache or being killed by the kernel half-way through
 * loading. The figure itself comes from the architecture (xl_arch.estimate_memory).
 *
 * The machine's memory is MemTotal from /proc/meminfo, lowered to the cgroup's
 * memory.max when a container limit is set (cgroup v2), or XLING_MEMORY_LIMIT (bytes,
 * for tests and for users who want to keep headroom) when that is set. */
#ifndef XL_MEMCHECK_H
#define XL_MEMCHECK_H
#include <stdint.h>
#include "io/safetensors.h"
#include "xling.h"

/* Bytes of tensor data in an opened checkpoint (headers only are read: the mapping is
 * lazy), the weights' share of what a load holds. */
uint64_t xl_weights_data_bytes(const xl_weights *w);
/* 1 when most of those bytes are F16 / BF16 tensors. */
int xl_weights_mostly_half(const xl_weights *w);

/* What every estimate adds (each architecture's estimate_memory owns its formula):
 * the runtime, tokenizer and workspaces, and the padded tokens of one forward batch. */
#define XL_MEM_RUNTIME_BYTES (256ull << 20)
#define XL_MEM_BATCH_TOKENS 8192u

/* Memory the process may use: *total (see above) and *available (MemAvailable, capped
 * by *total). Either pointer may be NULL. XL_ERR_IO when /proc/meminfo cannot be read
 * (and no XLING_MEMORY_LIMIT is set), XL_ERR_ARG for a malformed XLING_MEMORY_LIMIT. */
xl_status xl_memory_limits(uint64_t *total, uint64_t *available);

/* XL_OK when needed_bytes fit in the machine's total memory; else XL_ERR_NOMEM with
 * "<dir>: the model needs about 17.2 GiB (weights 16.1 GiB + working memory), this
 * machine has 15.6 GiB". Where the memory cannot be determined (no /proc), XL_OK:
 * the check is advisory and must not stop a model that would run. */
xl_status xl_check_memory_fit(const char *dir_for_messages, uint64_t weight_bytes, uint64_t needed_bytes);

#endif
