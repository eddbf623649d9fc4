/* Which files of a Hub repository a pull takes. By default only what xling reads:
 * the root JSON files (config, tokenizer, sentence-transformers configs, the
 * safetensors index), the root *.safetensors (every shard), *.pt heads (bge-m3's
 * sparse_linear.pt, colbert_linear.pt), and the JSON / safetensors files of the
 * sentence-transformers module folders (1_Pooling/, 2_Dense/, ...). Never the PyTorch,
 * ONNX, TensorFlow, Flax or GGUF duplicates of the weights, nor READMEs or images.
 * --include globs add files, --exclude globs remove them (Python fnmatch semantics, as
 * huggingface_hub's allow/ignore patterns: '*' crosses '/'; a pattern ending in '/' takes
 * the whole folder). */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub.h"

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int glob_match(const char *pattern, const char *path) {
    size_t n = strlen(pattern);
    if (n && pattern[n - 1] == '/') {
        char *p = malloc(n + 2);
        if (!p) return 0;
        memcpy(p, pattern, n);
        p[n] = '*';
        p[n + 1] = '\0';
        int ok = fnmatch(p, path, 0) == 0;
        free(p);
        return ok;
    }
    return fnmatch(pattern, path, 0) == 0;
}

static int any_match(const char *const *globs, size_t n, const char *path) {
    for (size_t i = 0; i < n; i++)
        if (globs[i] && glob_match(globs[i], path)) return 1;
    return 0;
}

/* A sentence-transformers module folder: digits, '_', a name (1_Pooling, 2_Dense). */
static int module_folder(const char *path, size_t len) {
    size_t i = 0;
    while (i < len && path[i] >= '0' && path[i] <= '9') i++;
    return i > 0 && i + 1 < len && path[i] == '_';
}

static int default_take(const char *path) {
    const char *slash = strchr(path, '/');
    if (!slash) {
        if (ends_with(path, ".json"))
            return !ends_with(path, ".bin.index.json") && !ends_with(path, ".h5.index.json") &&
                   !ends_with(path, ".msgpack.index.json");
        if (ends_with(path, ".safetensors")) return 1;
        if (ends_with(path, ".pt")) return strcmp(path, "optimizer.pt") && strcmp(path, "scheduler.pt");
        return 0;
    }
    if (strchr(slash + 1, '/') || !module_folder(path, (size_t)(slash - path))) return 0;
    return ends_with(path, ".json") || ends_with(path, ".safetensors");
}

int hub_select(const char *path, const xl_hub_pull_options *o) {
    int take = default_take(path);
    if (o && !take) take = any_match(o->include, o->n_include, path);
    if (o && take && any_match(o->exclude, o->n_exclude, path)) take = 0;
    return take;
}
