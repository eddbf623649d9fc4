/* Memory fit check before loading a checkpoint: see memcheck.h. */
#include "io/memcheck.h"
#include "io/safetensors.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/error.h"

#define GIB (1024.0 * 1024.0 * 1024.0)

/* ------------------------------------------------------------ checkpoint size */

uint64_t xl_weights_data_bytes(const xl_weights *w) {
    uint64_t sum = 0;
    for (size_t i = 0; i < xl_weights_count(w); i++) sum += xl_weights_at(w, i)->nbytes;
    return sum;
}

int xl_weights_mostly_half(const xl_weights *w) {
    uint64_t half = 0, sum = 0;
    for (size_t i = 0; i < xl_weights_count(w); i++) {
        const xl_tensor *t = xl_weights_at(w, i);
        sum += t->nbytes;
        if (t->dtype == XL_DT_F16 || t->dtype == XL_DT_BF16) half += t->nbytes;
    }
    return half > sum - half;
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
