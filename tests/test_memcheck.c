/* Tests of the memory fit check (src/io/memcheck.h): checkpoint sizes of single and
 * sharded folders without mapping them, the machine's memory from /proc/meminfo or
 * XLING_MEMORY_LIMIT, and the "too big for this machine" message. Sizes are exact
 * byte counts (tolerance 0); the GiB figures of the message are printed with one
 * decimal, so they are compared as text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "io/memcheck.h"
#include "testlib.h"
#include "xling.h"

#define GIB (1024ull * 1024ull * 1024ull)

static char tmp_root[256];

static const char *in_tmp(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp_root, name);
    return buf[k];
}

static int write_file(const char *path, const char *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && n == len) ? 0 : -1;
}

/* A file of `len` bytes (content irrelevant: only sizes are read). */
static int write_sized(const char *path, size_t len) {
    char *buf = calloc(1, len ? len : 1);
    int rc = buf ? write_file(path, buf, len) : -1;
    free(buf);
    return rc;
}

static int make_dir(const char *name) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", in_tmp(name));
    return system(cmd);
}

static void test_checkpoint_bytes(void) {
    uint64_t n = 1;
    /* A single file. */
    CHECK(make_dir("single") == 0);
    CHECK(write_sized(in_tmp("single/model.safetensors"), 12345) == 0);
    CHECK_EQ_INT(xl_checkpoint_bytes(in_tmp("single"), &n), XL_OK);
    CHECK_EQ_INT(n, 12345);

    /* Shards: three tensors in two files, each file counted once; an unrelated file
     * in the folder is not counted. */
    CHECK(make_dir("sharded") == 0);
    CHECK(write_sized(in_tmp("sharded/model-00001-of-00002.safetensors"), 1000) == 0);
    CHECK(write_sized(in_tmp("sharded/model-00002-of-00002.safetensors"), 234) == 0);
    CHECK(write_sized(in_tmp("sharded/unrelated.bin"), 99999) == 0);
    const char *index = "{\"metadata\": {\"total_size\": 1},\n \"weight_map\": {"
                        "\"a.weight\": \"model-00001-of-00002.safetensors\","
                        "\"b.weight\": \"model-00002-of-00002.safetensors\","
                        "\"c.weight\": \"model-00001-of-00002.safetensors\"}}";
    CHECK(write_file(in_tmp("sharded/model.safetensors.index.json"), index, strlen(index)) == 0);
    CHECK_EQ_INT(xl_checkpoint_bytes(in_tmp("sharded"), &n), XL_OK);
    CHECK_EQ_INT(n, 1234);

    /* A missing shard names the index and the shard. */
    CHECK(make_dir("missing") == 0);
    const char *index2 = "{\"weight_map\": {\"a.weight\": \"one.safetensors\", \"b.weight\": \"two.safetensors\"}}";
    CHECK(write_file(in_tmp("missing/model.safetensors.index.json"), index2, strlen(index2)) == 0);
    CHECK(write_sized(in_tmp("missing/one.safetensors"), 10) == 0);
    CHECK_EQ_INT(xl_checkpoint_bytes(in_tmp("missing"), &n), XL_ERR_IO);
    CHECK(strstr(xl_last_error(), "two.safetensors") != NULL);
    CHECK(strstr(xl_last_error(), "model.safetensors.index.json") != NULL);

    /* Shard names must stay inside the folder; weight_map must be a non-empty object. */
    CHECK(make_dir("escape") == 0);
    const char *index3 = "{\"weight_map\": {\"a.weight\": \"../single/model.safetensors\"}}";
    CHECK(write_file(in_tmp("escape/model.safetensors.index.json"), index3, strlen(index3)) == 0);
    CHECK_EQ_INT(xl_checkpoint_bytes(in_tmp("escape"), &n), XL_ERR_FORMAT);
    CHECK(strstr(xl_last_error(), "a.weight") != NULL);
    CHECK(make_dir("nomap") == 0);
    CHECK(write_file(in_tmp("nomap/model.safetensors.index.json"), "{\"weight_map\": {}}", 18) == 0);
    CHECK_EQ_INT(xl_checkpoint_bytes(in_tmp("nomap"), &n), XL_ERR_FORMAT);
    CHECK(write_file(in_tmp("nomap/model.safetensors.index.json"), "[1, 2]", 6) == 0);
    CHECK_EQ_INT(xl_checkpoint_bytes(in_tmp("nomap"), &n), XL_ERR_FORMAT);

    /* A text link (a symlink copied as a file holding its relative target) counts the
     * target, as the loader maps the target. */
    CHECK(make_dir("textlink/blobs") == 0);
    CHECK(write_sized(in_tmp("textlink/blobs/abc123"), 4321) == 0);
    CHECK(write_file(in_tmp("textlink/model.safetensors"), "blobs/abc123", 12) == 0);
    CHECK_EQ_INT(xl_checkpoint_bytes(in_tmp("textlink"), &n), XL_OK);
    CHECK_EQ_INT(n, 4321);

    /* No checkpoint at all, and not a folder. */
    CHECK(make_dir("empty") == 0);
    CHECK_EQ_INT(xl_checkpoint_bytes(in_tmp("empty"), &n), XL_ERR_IO);
    CHECK(strstr(xl_last_error(), "model.safetensors") != NULL);
    CHECK_EQ_INT(xl_checkpoint_bytes(in_tmp("single/model.safetensors"), &n), XL_ERR_IO);

    /* The fixture decoder folder: the sum equals the file's own size. */
    const char *shared = t_shared_dir();
    const char *fx = shared ? t_path(shared, "fixtures/models/qwen3-tiny") : NULL;
    if (!fx || access(t_path(fx, "model.safetensors"), R_OK) != 0) {
        t_skip_case("fixture qwen3-tiny size", "fixture folder absent");
    } else {
        FILE *f = fopen(t_path(fx, "model.safetensors"), "rb");
        long len = -1;
        if (f && fseek(f, 0, SEEK_END) == 0) len = ftell(f);
        if (f) fclose(f);
        CHECK_EQ_INT(xl_checkpoint_bytes(fx, &n), XL_OK);
        CHECK_EQ_INT(n, len);
    }
}

static void test_memory_fit(void) {
    uint64_t total = 0, avail = 0;

    /* From /proc/meminfo: some memory, available never above total. */
    unsetenv("XLING_MEMORY_LIMIT");
    if (access("/proc/meminfo", R_OK) != 0) {
        t_skip_case("/proc/meminfo", "not readable here");
    } else {
        CHECK_EQ_INT(xl_memory_limits(&total, &avail), XL_OK);
        CHECK(total > 64ull * 1024 * 1024);
        CHECK(avail > 0 && avail <= total);
        CHECK_EQ_INT(xl_check_memory_fit("m", 1000, 2000), XL_OK);
        /* 2^60 bytes fit nowhere. */
        CHECK_EQ_INT(xl_check_memory_fit("m", 1ull << 60, 1ull << 60), XL_ERR_NOMEM);
        CHECK(strstr(xl_last_error(), "this machine has") != NULL);
    }

    /* The override, in bytes and with a binary unit. */
    setenv("XLING_MEMORY_LIMIT", "17179869184", 1);
    CHECK_EQ_INT(xl_memory_limits(&total, &avail), XL_OK);
    CHECK_EQ_INT(total, 16 * GIB);
    CHECK_EQ_INT(avail, 16 * GIB);
    setenv("XLING_MEMORY_LIMIT", "15.6G", 1);
    CHECK_EQ_INT(xl_memory_limits(&total, NULL), XL_ERR_ARG);
    CHECK(strstr(xl_last_error(), "XLING_MEMORY_LIMIT") != NULL);
    setenv("XLING_MEMORY_LIMIT", "abc", 1);
    CHECK_EQ_INT(xl_check_memory_fit("m", 1, 2), XL_ERR_ARG);
    setenv("XLING_MEMORY_LIMIT", "0", 1);
    CHECK_EQ_INT(xl_memory_limits(&total, NULL), XL_ERR_ARG);
    setenv("XLING_MEMORY_LIMIT", "16G", 1);
    CHECK_EQ_INT(xl_memory_limits(&total, NULL), XL_OK);
    CHECK_EQ_INT(total, 16 * GIB);

    /* 15.6 GiB machine, 16.1 GiB of weights needing 17.2 GiB: refused with the figures. */
    uint64_t machine = (uint64_t)(15.6 * GIB), weights = (uint64_t)(16.1 * GIB), needed = (uint64_t)(17.2 * GIB);
    char limit[32];
    snprintf(limit, sizeof limit, "%llu", (unsigned long long)machine);
    setenv("XLING_MEMORY_LIMIT", limit, 1);
    CHECK_EQ_INT(xl_check_memory_fit("/models/llama8b", weights, needed), XL_ERR_NOMEM);
    CHECK_STR(xl_last_error(), "/models/llama8b: the model needs about 17.2 GiB (weights 16.1 GiB + working memory), "
                               "the memory limit (XLING_MEMORY_LIMIT) is 15.6 GiB");
    /* Exactly the limit fits; one byte more does not. */
    CHECK_EQ_INT(xl_check_memory_fit("d", weights, machine), XL_OK);
    CHECK_EQ_INT(xl_check_memory_fit("d", weights, machine + 1), XL_ERR_NOMEM);
    unsetenv("XLING_MEMORY_LIMIT");
}

/* The estimate per case, on the shapes the formula was checked against. */
static void test_memory_needed(void) {
    const uint64_t MIB = 1024ull * 1024ull;
    /* Llama-3.1-8B, BF16, 16.06 GB: the mapping + 256 MiB + 8192 x 6 x 4096 floats + 64 MiB. */
    xl_mem_need n = {.weight_bytes = 16060522496ull, .decoder = 1, .half_weights = 1, .hidden = 4096,
                     .intermediate = 14336};
    uint64_t working = 256 * MIB + 8192ull * 6 * 4096 * 4 + 64 * MIB;
    CHECK_EQ_INT(xl_memory_needed(&n), 16060522496ull + working);
    /* ... with q8: 52 % of the checkpoint. */
    n.quantize_q8 = 1;
    CHECK_EQ_INT(xl_memory_needed(&n), 16060522496ull / 100 * 52 + working);
    /* A smaller batch needs less working memory. */
    n.batch_tokens = 512;
    CHECK_EQ_INT(xl_memory_needed(&n), 16060522496ull / 100 * 52 + 256 * MIB + 512ull * 6 * 4096 * 4 + 64 * MIB);
    /* An encoder from a BF16 checkpoint holds float32 copies (2x) and its whole MLP. */
    xl_mem_need e = {.weight_bytes = 1000 * MIB, .half_weights = 1, .hidden = 768, .intermediate = 3072};
    uint64_t ework = 256 * MIB + 8192ull * (6 * 768 + 2 * 3072) * 4;
    CHECK_EQ_INT(xl_memory_needed(&e), 2000 * MIB + ework);
    e.half_weights = 0;
    CHECK_EQ_INT(xl_memory_needed(&e), 1000 * MIB + ework);
    /* The 8B BF16 estimate on a 15.6 GiB machine: refused; on 24 GiB: fine. */
    n = (xl_mem_need){.weight_bytes = 16060522496ull, .decoder = 1, .half_weights = 1, .hidden = 4096, .intermediate = 14336};
    setenv("XLING_MEMORY_LIMIT", "16750372454", 1); /* 15.6 GiB */
    CHECK_EQ_INT(xl_check_memory_fit("llama8b", n.weight_bytes, xl_memory_needed(&n)), XL_ERR_NOMEM);
    CHECK(strstr(xl_last_error(), "needs about 16.0 GiB (weights 15.0 GiB + working memory)") != NULL);
    setenv("XLING_MEMORY_LIMIT", "24G", 1);
    CHECK_EQ_INT(xl_check_memory_fit("llama8b", n.weight_bytes, xl_memory_needed(&n)), XL_OK);
    unsetenv("XLING_MEMORY_LIMIT");
}

int main(void) {
    snprintf(tmp_root, sizeof tmp_root, "/tmp/xling-test-memcheck-XXXXXX");
    if (!mkdtemp(tmp_root)) {
        t_skip_case("memcheck", "cannot create a temporary folder");
        return test_summary("test_memcheck");
    }
    test_checkpoint_bytes();
    test_memory_fit();
    test_memory_needed();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (system(cmd) != 0) fprintf(stderr, "test_memcheck: could not remove %s\n", tmp_root);
    return test_summary("test_memcheck");
}
