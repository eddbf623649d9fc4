/* Memory fit check before loading a checkpoint: see memcheck.h. */
#include "io/memcheck.h"
#include "io/safetensors.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"

#define GIB (1024.0 * 1024.0 * 1024.0)

/* ------------------------------------------------------------ checkpoint size */

/* Size of dir/name, following symlinks and text links. */
static xl_status file_size(const char *dir, const char *name, const char *listed_in, uint64_t *size) {
    char *p = xl_path_join(dir, name);
    char *rp = p ? xl_resolve_text_link(p) : NULL;
    free(p);
    if (!rp) return xl_err(XL_ERR_NOMEM, "%s: out of memory", dir);
    struct stat sb;
    xl_status st = XL_OK;
    if (stat(rp, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (listed_in)
            st = xl_err(XL_ERR_IO, "%s: shard '%s' is missing", listed_in, name);
        else
            st = xl_err(XL_ERR_IO, "%s: cannot read its size (%s)", rp, errno ? strerror(errno) : "not a regular file");
    } else {
        *size = (uint64_t)sb.st_size;
    }
    free(rp);
    return st;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static xl_status sharded_bytes(const char *dir, const char *index_path, uint64_t *bytes) {
    json_t *idx;
    xl_status st = xl_json_load_file(index_path, &idx);
    if (st) return st;
    const json_t *map = json_is_object(idx) ? json_object_get(idx, "weight_map") : NULL;
    const char **names = NULL;
    size_t n = 0;
    if (!json_is_object(map) || json_object_size(map) == 0) {
        st = xl_err(XL_ERR_FORMAT, "%s: no \"weight_map\" object with entries", index_path);
        goto done;
    }
    names = malloc(json_object_size(map) * sizeof *names);
    if (!names) {
        st = xl_err(XL_ERR_NOMEM, "%s: out of memory", index_path);
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)map, key, v) {
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
            !xl_shard_name_ok(json_string_value(v))) {
            st = xl_err(XL_ERR_FORMAT, "%s: weight_map entry of tensor '%s' is not a file name in the folder", index_path,
                        key);
            goto done;
        }
        names[n++] = json_string_value(v);
    }
    /* Many tensors per shard: count each file once. */
    qsort(names, n, sizeof *names, cmp_str);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(names[i], names[i - 1]) == 0) continue;
        uint64_t sz;
        if ((st = file_size(dir, names[i], index_path, &sz))) goto done;
        sum += sz;
    }
    *bytes = sum;
done:
    free(names);
    json_decref(idx);
    return st;
}

xl_status xl_checkpoint_bytes(const char *dir, uint64_t *bytes) {
    *bytes = 0;
    if (!dir || !xl_is_dir(dir)) return xl_err(XL_ERR_IO, "%s: not a folder", dir ? dir : "(null)");
    char *single = xl_path_join(dir, "model.safetensors");
    char *index = xl_path_join(dir, "model.safetensors.index.json");
    xl_status st;
    if (!single || !index)
        st = xl_err(XL_ERR_NOMEM, "%s: out of memory", dir);
    else if (xl_file_exists(single))
        st = file_size(dir, "model.safetensors", NULL, bytes);
    else if (xl_file_exists(index))
        st = sharded_bytes(dir, index, bytes);
    else
        st = xl_err(XL_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json", dir);
    free(single);
    free(index);
    return st;
}

/* ------------------------------------------------------------ the machine's memory */

/* "123", "64k", "16G", ... (binary units) → bytes. 0 on success. */
static int parse_bytes(const char *s, uint64_t *out) {
    errno = 0;
    char *end;
    if (*s < '0' || *s > '9') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return -1;
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: break;
    }
    if ((*end == 'b' || *end == 'B') && shift) end++; /* "16GB" */
    if (*end != '\0' || v == 0 || (shift && v > (UINT64_MAX >> shift))) return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

/* A "Key:   123 kB" line of /proc/meminfo, in bytes; 0 when absent. */
static uint64_t meminfo_field(const char *text, const char *key) {
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
            unsigned long long kb = strtoull(p + kl + 1, NULL, 10);
            return (uint64_t)kb * 1024u;
        }
    }
    return 0;
}

/* A container's memory limit (cgroup v2 memory.max, or v1 limit_in_bytes); 0 = none. */
static uint64_t cgroup_limit(void) {
    static const char *const files[] = {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        FILE *f = fopen(files[i], "r");
        if (!f) continue;
        char buf[64] = {0};
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        uint64_t v;
        if (strcmp(buf, "max") != 0 && parse_bytes(buf, &v) == 0) return v;
    }
    return 0;
}

xl_status xl_memory_limits(uint64_t *total, uint64_t *available) {
    uint64_t tot = 0, avail = 0;
    const char *env = getenv("XLING_MEMORY_LIMIT");
    if (env && *env) {
        if (parse_bytes(env, &tot))
            return xl_err(XL_ERR_ARG, "XLING_MEMORY_LIMIT=\"%s\" is not a positive number of bytes (e.g. 17179869184 or 16G)",
                          env);
        avail = tot;
    } else {
        /* /proc files report size 0, so read a fixed buffer (MemTotal and MemAvailable
         * are among the first lines). */
        char text[4096];
        FILE *f = fopen("/proc/meminfo", "r");
        if (!f) return xl_err(XL_ERR_IO, "/proc/meminfo: %s", strerror(errno));
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = '\0';
        tot = meminfo_field(text, "MemTotal");
        avail = meminfo_field(text, "MemAvailable");
        if (tot == 0) return xl_err(XL_ERR_IO, "/proc/meminfo: no MemTotal line");
        if (avail == 0) avail = tot;
        uint64_t cg = cgroup_limit();
        if (cg && cg < tot) tot = cg;
        if (avail > tot) avail = tot;
    }
    if (total) *total = tot;
    if (available) *available = avail;
    return XL_OK;
}

xl_status xl_check_memory_fit(const char *dir_for_messages, uint64_t weight_bytes, uint64_t needed_bytes) {
    uint64_t total;
    xl_status st = xl_memory_limits(&total, NULL);
    if (st == XL_ERR_IO) { /* memory unknown: say nothing, let the load try */
        xl_err_clear();
        return XL_OK;
    }
    if (st) return st;
    if (needed_bytes <= total) return XL_OK;
    const char *env = getenv("XLING_MEMORY_LIMIT");
    return xl_err(XL_ERR_NOMEM, "%s: the model needs about %.1f GiB (weights %.1f GiB + working memory), %s %.1f GiB",
                  dir_for_messages ? dir_for_messages : "model", needed_bytes / GIB, weight_bytes / GIB,
                  env && *env ? "the memory limit (XLING_MEMORY_LIMIT) is" : "this machine has", total / GIB);
}

uint64_t xl_memory_needed(const xl_mem_need *n) {
    uint64_t w = n->weight_bytes, weights;
    if (n->decoder && n->quantize_q8)
        weights = n->half_weights ? w / 100 * 52 : w / 100 * 26;
    else if (n->decoder)
        weights = w;
    else
        weights = n->half_weights ? 2 * w : w;
    uint64_t tokens = n->batch_tokens > 0 ? (uint64_t)n->batch_tokens : 8192u;
    uint64_t hidden = n->hidden > 0 ? (uint64_t)n->hidden : 0, inter = n->intermediate > 0 ? (uint64_t)n->intermediate : 0;
    uint64_t per_token = n->decoder ? 6 * hidden : 6 * hidden + 2 * inter;
    uint64_t working = (256ull << 20) + tokens * per_token * sizeof(float) + (n->decoder ? 64ull << 20 : 0);
    return weights + working;
}
