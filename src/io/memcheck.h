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

/* XL_OK when needed_bytes fit in the machine's total memory; else XL_ERR_NOMEM with
 * "<dir>: the model needs about 17.2 GiB (weights 16.1 GiB + working memory), this
 * machine has 15.6 GiB". Where the memory cannot be determined (no /proc), XL_OK:
 * the check is advisory and must not stop a model that would run. */
xl_status xl_check_memory_fit(const char *dir_for_messages, uint64_t weight_bytes, uint64_t needed_bytes);

#endif
