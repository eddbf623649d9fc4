/* Tests of the memory fit check (src/io/memcheck.h) and of the architectures' memory
 * estimates (xl_arch.estimate_memory): tensor bytes of an opened checkpoint, the
 * machine's memory from /proc/meminfo or XLING_MEMORY_LIMIT, and the "too big for this
 * machine" message. Sizes are exact byte counts (tolerance 0); the GiB figures of the
 * message are printed with one decimal, so they are compared as text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "io/memcheck.h"
#include "io/safetensors.h"
#include "models/decoder.h"
#include "util/json.h"
#include "testlib.h"
#include "xling.h"

#define GIB (1024ull * 1024ull * 1024ull)

/* A fixture folder of ../shared, or NULL (after a skip) when absent. */
static const char *fixture(const char *name) {
    const char *shared = t_shared_dir();
    const char *fx = shared ? t_path(shared, "fixtures/models") : NULL;
    fx = fx ? t_path(fx, name) : NULL;
    if (!fx || access(t_path(fx, "model.safetensors"), R_OK) != 0) {
        t_skip_case(name, "fixture folder absent");
        return NULL;
    }
    return fx;
}

/* Tensor bytes of an opened checkpoint: the file's size less the 8-byte length and the
 * header (the fixtures' tensors are contiguous); the fixtures' dtypes decide "half". */
static void test_weights_bytes(void) {
    static const struct {
        const char *name;
        int half;
    } cases[] = {{"qwen3-tiny", 1}, {"bert-tiny", 0}, {"xlmr-tiny", 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *fx = fixture(cases[i].name);
        if (!fx) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s", t_path(fx, "model.safetensors"));
        FILE *f = fopen(path, "rb");
        long len = -1;
        unsigned char hl[8] = {0};
        if (f && fread(hl, 1, 8, f) == 8 && fseek(f, 0, SEEK_END) == 0) len = ftell(f);
        if (f) fclose(f);
        uint64_t header = 0;
        for (int k = 7; k >= 0; k--) header = header << 8 | hl[k];
        xl_weights *w = NULL;
        CHECK_EQ_INT(xl_weights_open_dir(fx, &w), XL_OK);
        if (!w) continue;
        CHECK_EQ_INT(xl_weights_data_bytes(w), (uint64_t)len - 8 - header);
        CHECK_EQ_INT(xl_weights_mostly_half(w), cases[i].half);
        xl_weights_close(w);
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

/* An architecture's estimate for a fixture folder (opts may be NULL). */
static uint64_t arch_estimate(const xl_arch *arch, const char *fx, const xl_model_options *o, uint64_t *data,
                              int *hidden, int *inter) {
    json_t *cfg = NULL;
    xl_weights *w = NULL;
    uint64_t bytes = 0;
    CHECK_EQ_INT(xl_json_load_file(t_path(fx, "config.json"), &cfg), XL_OK);
    CHECK_EQ_INT(xl_weights_open_dir(fx, &w), XL_OK);
    if (cfg && w) {
        CHECK_EQ_INT(arch->estimate_memory(cfg, w, o, &bytes), XL_OK);
        *data = xl_weights_data_bytes(w);
        *hidden = (int)json_integer_value(json_object_get(cfg, "hidden_size"));
        *inter = (int)json_integer_value(json_object_get(cfg, "intermediate_size"));
    }
    xl_weights_close(w);
    json_decref(cfg);
    return bytes;
}

/* The estimates per case, on the shapes the formulas were checked against. */
static void test_memory_needed(void) {
    const uint64_t MIB = 1024ull * 1024ull;
    /* Llama-3.1-8B, BF16, 16.06 GB: the mapping + 256 MiB + 8192 x 6 x 4096 floats + 64 MiB. */
    const uint64_t w8b = 16060522496ull;
    uint64_t working = 256 * MIB + 8192ull * 6 * 4096 * 4 + 64 * MIB;
    CHECK_EQ_INT(xl_dec_memory_needed(w8b, 1, 0, 4096, 0), w8b + working);
    /* ... with q8: 52 % of a half checkpoint, 26 % of an F32 one. */
    CHECK_EQ_INT(xl_dec_memory_needed(w8b, 1, 1, 4096, 0), w8b / 100 * 52 + working);
    CHECK_EQ_INT(xl_dec_memory_needed(w8b, 0, 1, 4096, 0), w8b / 100 * 26 + working);
    /* A smaller batch needs less working memory. */
    CHECK_EQ_INT(xl_dec_memory_needed(w8b, 1, 1, 4096, 512), w8b / 100 * 52 + 256 * MIB + 512ull * 6 * 4096 * 4 + 64 * MIB);
    /* The 8B BF16 estimate on a 15.6 GiB machine: refused; on 24 GiB: fine. */
    setenv("XLING_MEMORY_LIMIT", "16750372454", 1); /* 15.6 GiB */
    CHECK_EQ_INT(xl_check_memory_fit("llama8b", w8b, xl_dec_memory_needed(w8b, 1, 0, 4096, 0)), XL_ERR_NOMEM);
    CHECK(strstr(xl_last_error(), "needs about 16.0 GiB (weights 15.0 GiB + working memory)") != NULL);
    setenv("XLING_MEMORY_LIMIT", "24G", 1);
    CHECK_EQ_INT(xl_check_memory_fit("llama8b", w8b, xl_dec_memory_needed(w8b, 1, 0, 4096, 0)), XL_OK);
    unsetenv("XLING_MEMORY_LIMIT");

    /* Through the architecture table: the decoders' estimate from the opened checkpoint
     * and the q8 load option. */
    uint64_t data = 0;
    int h = 0, inter = 0;
    const char *fx = fixture("qwen3-tiny");
    if (fx) {
        uint64_t e = arch_estimate(&xl_arch_llama, fx, NULL, &data, &h, &inter);
        CHECK(data > 0 && h > 0);
        CHECK_EQ_INT(e, data + 256 * MIB + 8192ull * 6 * (uint64_t)h * 4 + 64 * MIB);
        xl_model_options q8 = {.quantize = XL_QUANTIZE_Q8};
        CHECK_EQ_INT(arch_estimate(&xl_arch_llama, fx, &q8, &data, &h, &inter), xl_dec_memory_needed(data, 1, 1, h, 0));
    }
    fx = fixture("gemma3-tiny");
    if (fx) {
        uint64_t e = arch_estimate(&xl_arch_gemma3, fx, NULL, &data, &h, &inter);
        CHECK_EQ_INT(e, xl_dec_memory_needed(data, 1, 0, h, 0));
    }
    /* An encoder holds float32 copies of its F16 tensors (2x), except the word table,
     * read in place from the mapping (xlmr-tiny: 250002 x 16 F16 values), and its whole
     * MLP: 256 MiB + 8192 x (6 hidden + 2 intermediate) floats. */
    fx = fixture("xlmr-tiny");
    if (fx) {
        uint64_t e = arch_estimate(&xl_arch_bert, fx, NULL, &data, &h, &inter);
        CHECK(data > 0 && h > 0 && inter > 0);
        const uint64_t word = 250002ull * (uint64_t)h * 2;
        CHECK_EQ_INT(e, 2 * (data - word) + word + 256 * MIB + 8192ull * (6 * (uint64_t)h + 2 * (uint64_t)inter) * 4);
    }
    fx = fixture("bert-tiny");
    if (fx) {
        uint64_t e = arch_estimate(&xl_arch_bert, fx, NULL, &data, &h, &inter);
        CHECK_EQ_INT(e, data + 256 * MIB + 8192ull * (6 * (uint64_t)h + 2 * (uint64_t)inter) * 4);
    }
}

int main(void) {
    test_weights_bytes();
    test_memory_fit();
    test_memory_needed();
    return test_summary("test_memcheck");
}
