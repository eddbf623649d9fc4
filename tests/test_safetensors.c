/* Tests of the safetensors reader: every fixture checkpoint (counts, names, shapes,
 * dtypes and raw values read with Python's struct module and hard-coded here), exact
 * F16/BF16 conversion, prefix lookup, a sharded checkpoint, and hostile files written
 * into a temporary folder, each of which must fail with the right status and a
 * message naming the file and the tensor. Conversions are exact: values are compared
 * with tolerance 0 (F16/BF16 -> F32 is lossless). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "testlib.h"
#include "util/error.h"

static char tmpdir[256];

/* ------------------------------------------------------------------ file writers */

static const char *tmp(const char *name) { return t_path(tmpdir, name); }

static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    if (len) fwrite(data, 1, len, f);
    fclose(f);
}

/* Writes a safetensors file: 8-byte little-endian length `hlen_field` (or the real
 * header length when hlen_field is UINT64_MAX), the header text, then data_len bytes
 * of data (byte i = i & 0xff, unless data is given). */
static void write_st_full(const char *path, uint64_t hlen_field, const char *header, const void *data,
                          size_t data_len) {
    size_t hl = strlen(header);
    uint64_t n = hlen_field == UINT64_MAX ? hl : hlen_field;
    unsigned char *buf = malloc(8 + hl + data_len + 1);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(n >> (8 * i));
    memcpy(buf + 8, header, hl);
    for (size_t i = 0; i < data_len; i++)
        buf[8 + hl + i] = data ? ((const unsigned char *)data)[i] : (unsigned char)(i & 0xff);
    write_bytes(path, buf, 8 + hl + data_len);
    free(buf);
}

static void write_st(const char *path, const char *header, size_t data_len) {
    write_st_full(path, UINT64_MAX, header, NULL, data_len);
}

/* Opens a file that must fail with `want`; the message must contain each non-NULL needle. */
static void expect_fail(const char *file, xl_status want, const char *n1, const char *n2) {
    xl_weights *w = (xl_weights *)1;
    xl_status st = xl_weights_open_file(tmp(file), &w);
    CHECK_MSG(st == want, "%s: status %s, want %s (%s)", file, xl_status_name(st), xl_status_name(want),
              xl_last_error());
    CHECK(w == NULL);
    const char *msg = xl_last_error();
    CHECK_MSG(strstr(msg, file) != NULL, "%s: message lacks the file name: %s", file, msg);
    if (n1) CHECK_MSG(strstr(msg, n1) != NULL, "%s: message lacks '%s': %s", file, n1, msg);
    if (n2) CHECK_MSG(strstr(msg, n2) != NULL, "%s: message lacks '%s': %s", file, n2, msg);
    CHECK_MSG(strchr(msg, '\n') == NULL, "%s: message is not one line", file);
    if (st == XL_OK) xl_weights_close(w);
}

/* ------------------------------------------------------------------ fixtures */

typedef struct {
    const char *model;
    size_t count;
    xl_dtype dtype;
    const char *big;            /* the largest tensor, and its shape */
    int64_t big0, big1;
    const char *vec;            /* a 1-D tensor and the raw bits of its first 4 values */
    int64_t vec_len;
    uint32_t raw[4];
    const char *extra;          /* another tensor and its 2-D shape */
    int64_t ex0, ex1;
} fixture;

static const fixture fixtures[] = {
    {"bert-tiny", 39, XL_DT_F32, "embeddings.word_embeddings.weight", 30522, 32, "embeddings.LayerNorm.weight", 32,
     {0x3f71bec9, 0x3f81a87e, 0x3f6fac14, 0x3f99d25d}, "encoder.layer.0.attention.self.query.weight", 32, 32},
    {"xlmr-tiny", 39, XL_DT_F16, "embeddings.word_embeddings.weight", 250002, 16, "embeddings.LayerNorm.weight", 16,
     {0x3bf1, 0x3c2d, 0x3a58, 0x3b52}, "embeddings.position_embeddings.weight", 514, 16},
    {"gemma3-tiny", 41, XL_DT_F16, "embed_tokens.weight", 262144, 16, "layers.0.input_layernorm.weight", 16,
     {0x28f7, 0x27b2, 0x3166, 0xb051}, "layers.0.self_attn.k_proj.weight", 8, 16},
    {"llama-bi-tiny", 20, XL_DT_BF16, "embed_tokens.weight", 128256, 32, "layers.0.input_layernorm.weight", 32,
     {0x3f7a, 0x3f7e, 0x3f90, 0x3f8d}, "layers.0.self_attn.k_proj.weight", 16, 32},
    {"qwen2-tiny", 26, XL_DT_BF16, "embed_tokens.weight", 151669, 16, "layers.0.input_layernorm.weight", 16,
     {0x3f74, 0x3f88, 0x3f82, 0x3f3e}, "layers.0.self_attn.v_proj.weight", 8, 16},
    {"qwen3-tiny", 24, XL_DT_F16, "embed_tokens.weight", 151669, 32, "layers.0.input_layernorm.weight", 32,
     {0x3c01, 0x3bd9, 0x3ada, 0x3b79}, "layers.0.self_attn.q_proj.weight", 64, 32},
    {"mistral-tiny", 20, XL_DT_F16, "embed_tokens.weight", 128256, 20, "layers.0.input_layernorm.weight", 20,
     {0x3c9f, 0x3cc1, 0x3c3e, 0x3b87}, "layers.0.self_attn.k_proj.weight", 10, 20},
};

static float raw_to_f32(xl_dtype dt, uint32_t raw) {
    if (dt == XL_DT_F32) {
        float f;
        memcpy(&f, &raw, 4);
        return f;
    }
    return dt == XL_DT_F16 ? xl_f16_to_f32((uint16_t)raw) : xl_bf16_to_f32((uint16_t)raw);
}

static void test_fixture(const char *shared, const fixture *fx) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/fixtures/models/%s", shared, fx->model);
    xl_weights *w;
    xl_status st = xl_weights_open_dir(dir, &w);
    CHECK_MSG(st == XL_OK, "%s: %s", fx->model, xl_last_error());
    if (st) return;
    CHECK_EQ_INT(xl_weights_count(w), fx->count);
    CHECK(strstr(xl_weights_path(w), "model.safetensors") != NULL);

    /* Every tensor: stored dtype, byte size consistent, laid out back to back by offset. */
    const char *prev_end = NULL;
    int all_dtype = 1, contiguous = 1, sizes = 1;
    for (size_t i = 0; i < xl_weights_count(w); i++) {
        const xl_tensor *t = xl_weights_at(w, i);
        all_dtype &= t->dtype == fx->dtype;
        sizes &= t->nbytes == t->numel * xl_dtype_size(t->dtype);
        if (prev_end) contiguous &= (const char *)t->data == prev_end;
        prev_end = (const char *)t->data + t->nbytes;
        CHECK(xl_weights_find(w, t->name) == t);
    }
    CHECK_MSG(all_dtype, "%s: not every tensor is %s", fx->model, xl_dtype_name(fx->dtype));
    CHECK(sizes);
    CHECK_MSG(contiguous, "%s: iteration is not in data-offset order", fx->model);
    CHECK(xl_weights_at(w, xl_weights_count(w)) == NULL);

    const xl_tensor *t;
    int64_t big[2] = {fx->big0, fx->big1};
    st = xl_weights_get(w, fx->big, 2, big, &t);
    CHECK_MSG(st == XL_OK, "%s", xl_last_error());
    int64_t ex[2] = {fx->ex0, fx->ex1};
    st = xl_weights_get(w, fx->extra, 2, ex, &t);
    CHECK_MSG(st == XL_OK, "%s", xl_last_error());

    int64_t vl[1] = {fx->vec_len};
    st = xl_weights_get(w, fx->vec, 1, vl, &t);
    CHECK_MSG(st == XL_OK, "%s", xl_last_error());
    if (st == XL_OK) {
        CHECK_EQ_INT(t->dtype, fx->dtype);
        CHECK_EQ_INT(t->numel, (size_t)fx->vec_len);
        float *f;
        CHECK(xl_tensor_to_f32(t, &f) == XL_OK);
        for (int k = 0; k < 4; k++) CHECK_NEAR(f[k], raw_to_f32(fx->dtype, fx->raw[k]), 0);
        free(f);
    }
    /* The same tensor through the usual prefixes. */
    char name[256];
    const char *prefix = strncmp(fx->model, "bert", 4) == 0 ? "bert." : strncmp(fx->model, "xlmr", 4) == 0 ? "roberta." : "model.";
    snprintf(name, sizeof name, "%s%s", prefix, fx->vec);
    CHECK(xl_weights_find(w, name) == t);
    CHECK(xl_weights_find(w, "no.such.tensor") == NULL);
    xl_weights_close(w);
}

static void test_fixtures(void) {
    const char *shared = t_shared_dir();
    if (!shared) {
        t_skip_case("fixture checkpoints", "../shared not found");
        return;
    }
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) test_fixture(shared, &fixtures[i]);

    /* The Dense module files: bert-tiny F32 with bias, gemma3-tiny F16 without. */
    xl_weights *w;
    CHECK(xl_weights_open_file(t_path(shared, "fixtures/models/bert-tiny/2_Dense/model.safetensors"), &w) == XL_OK);
    if (w) {
        CHECK_EQ_INT(xl_weights_count(w), 2);
        float *b = NULL;
        int64_t bs[1] = {16};
        CHECK(xl_weights_get_f32(w, "linear.bias", 1, bs, &b) == XL_OK);
        if (b) {
            uint32_t bits;
            memcpy(&bits, &b[1], 4);
            CHECK_EQ_INT(bits, 0xbe094c6f);
        }
        free(b);
        xl_weights_close(w);
    }
    CHECK(xl_weights_open_file(t_path(shared, "fixtures/models/gemma3-tiny/3_Dense/model.safetensors"), &w) == XL_OK);
    if (w) {
        const xl_tensor *t = xl_weights_find(w, "linear.weight");
        CHECK(t && t->dtype == XL_DT_F16 && t->ndim == 2 && t->shape[0] == 16 && t->shape[1] == 64);
        float *f = NULL;
        if (t && xl_tensor_to_f32(t, &f) == XL_OK) {
            CHECK_NEAR(f[0], 0.07391357421875, 0);
            CHECK_NEAR(f[3], -0.0523681640625, 0);
        }
        free(f);
        xl_weights_close(w);
    }

    /* config.json helper. */
    json_t *cfg;
    CHECK(xl_config_load(t_path(shared, "fixtures/models/qwen3-tiny"), &cfg) == XL_OK);
    if (cfg) {
        CHECK_EQ_INT(json_integer_value(json_object_get(cfg, "hidden_size")), 32);
        json_decref(cfg);
    }
}

/* ------------------------------------------------------------------ conversions */

/* Independent reference: the IEEE half value from its fields, by ldexp. */
static double f16_ref(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static uint32_t f32_bits(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

static void test_conversions(void) {
    CHECK(xl_f16_to_f32(0x3C00) == 1.0f);
    CHECK(xl_f16_to_f32(0x7BFF) == 65504.0f);
    CHECK(xl_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    CHECK(xl_f16_to_f32(0x03FF) == ldexpf(1023.0f, -24)); /* largest subnormal */
    CHECK(xl_f16_to_f32(0x0400) == ldexpf(1.0f, -14));    /* smallest normal */
    CHECK_EQ_INT(f32_bits(xl_f16_to_f32(0x8000)), 0x80000000u); /* -0.0 keeps its sign */
    CHECK(xl_f16_to_f32(0x7C00) == INFINITY);
    CHECK(xl_f16_to_f32(0xFC00) == -INFINITY);
    CHECK(isnan(xl_f16_to_f32(0x7E00)) && isnan(xl_f16_to_f32(0x7C01)) && isnan(xl_f16_to_f32(0xFFFF)));
    CHECK(xl_f16_to_f32(0xC000) == -2.0f);
    CHECK(xl_f16_to_f32(0x3555) == 0x1.554p-2f);
    CHECK(xl_bf16_to_f32(0x3F80) == 1.0f);
    CHECK(xl_bf16_to_f32(0xC040) == -3.0f);
    CHECK(xl_bf16_to_f32(0x7F80) == INFINITY);
    CHECK(isnan(xl_bf16_to_f32(0x7FC0)));
    CHECK(xl_bf16_to_f32(0x0001) == ldexpf(1.0f, -133)); /* bf16 subnormal */

    /* All 65536 halves: scalar against the ldexp reference, and the bulk (SIMD) path
     * against the scalar one bit for bit, from an odd (unaligned) address. */
    unsigned char *raw = malloc(2 * 65536 + 1);
    float *bulk = malloc(65536 * sizeof(float));
    for (uint32_t i = 0; i < 65536; i++) {
        raw[1 + 2 * i] = (unsigned char)(i & 0xff);
        raw[2 + 2 * i] = (unsigned char)(i >> 8);
    }
    int scalar_ok = 1, bulk_ok = 1, bf_ok = 1;
    for (uint32_t i = 0; i < 65536; i++) {
        float s = xl_f16_to_f32((uint16_t)i);
        double r = f16_ref((uint16_t)i);
        if (isnan(r) ? !isnan(s) : ((double)s != r || !signbit(s) != !signbit(r))) {
            if (scalar_ok) fprintf(stderr, "    f16 0x%04x: %.9g vs %.9g\n", i, s, r);
            scalar_ok = 0;
        }
    }
    /* Odd lengths exercise every vector width and the scalar tail. */
    xl_convert_to_f32(XL_DT_F16, raw + 1, bulk, 65536);
    for (uint32_t i = 0; i < 65536; i++) bulk_ok &= f32_bits(bulk[i]) == f32_bits(xl_f16_to_f32((uint16_t)i));
    xl_convert_to_f32(XL_DT_F16, raw + 1 + 2 * 3, bulk, 29);
    for (uint32_t i = 0; i < 29; i++) bulk_ok &= f32_bits(bulk[i]) == f32_bits(xl_f16_to_f32((uint16_t)(i + 3)));
    xl_convert_to_f32(XL_DT_BF16, raw + 1, bulk, 65536);
    for (uint32_t i = 0; i < 65536; i++) bf_ok &= f32_bits(bulk[i]) == i << 16;
    CHECK_MSG(scalar_ok, "scalar F16 conversion differs from the IEEE definition");
    CHECK_MSG(bulk_ok, "bulk F16 conversion differs from the scalar one");
    CHECK_MSG(bf_ok, "bulk BF16 conversion is not a 16-bit shift");

    /* F64 and integer dtypes, unaligned. */
    double d[3] = {1.5, -1e300, 0x1.000001p0};
    memcpy(raw + 1, d, sizeof d);
    xl_convert_to_f32(XL_DT_F64, raw + 1, bulk, 3);
    CHECK(bulk[0] == 1.5f && bulk[1] == -INFINITY && bulk[2] == 1.0f);
    int64_t i64[2] = {-7, 1 << 20};
    memcpy(raw + 1, i64, sizeof i64);
    xl_convert_to_f32(XL_DT_I64, raw + 1, bulk, 2);
    CHECK(bulk[0] == -7.0f && bulk[1] == 1048576.0f);
    unsigned char b8[3] = {0, 2, 0xff};
    xl_convert_to_f32(XL_DT_BOOL, b8, bulk, 3);
    CHECK(bulk[0] == 0.0f && bulk[1] == 1.0f && bulk[2] == 1.0f);
    xl_convert_to_f32(XL_DT_I8, b8, bulk, 3);
    CHECK(bulk[2] == -1.0f);
    xl_convert_to_f32(XL_DT_U8, b8, bulk, 3);
    CHECK(bulk[2] == 255.0f);
    free(raw);
    free(bulk);

    CHECK_STR(xl_dtype_name(XL_DT_BF16), "BF16");
    CHECK_EQ_INT(xl_dtype_size(XL_DT_F64), 8);
    CHECK_EQ_INT(xl_dtype_size(XL_DT_BOOL), 1);
}

/* ------------------------------------------------------------------ synthetic files */

/* A valid file with every corner the format allows: metadata, padding spaces, a
 * scalar, an empty tensor, and an F16 tensor at an odd offset in the mapping. */
static void test_valid_synthetic(void) {
    /* Data: [0,4) scalar F32 2.5; [4,4) empty; [4,5) U8; [5,11) F16 x3 at an odd address. */
    unsigned char data[11];
    float two5 = 2.5f;
    memcpy(data, &two5, 4);
    data[4] = 9;
    uint16_t h[3] = {0x3C00, 0xC000, 0x0001};
    memcpy(data + 5, h, 6);
    write_st_full(tmp("ok.safetensors"), UINT64_MAX,
                  "{\"__metadata__\":{\"format\":\"pt\"},"
                  "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                  "\"e\":{\"dtype\":\"F32\",\"shape\":[2,0],\"data_offsets\":[4,4]},"
                  "\"u\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[4,5]},"
                  "\"model.h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[5,11]}}   ",
                  data, sizeof data);
    xl_weights *w;
    xl_status st = xl_weights_open_file(tmp("ok.safetensors"), &w);
    CHECK_MSG(st == XL_OK, "%s", xl_last_error());
    if (st) return;
    CHECK_EQ_INT(xl_weights_count(w), 4);
    const xl_tensor *s = xl_weights_find(w, "s");
    CHECK(s && s->ndim == 0 && s->numel == 1);
    const xl_tensor *e = xl_weights_find(w, "e");
    CHECK(e && e->numel == 0 && e->nbytes == 0 && e->ndim == 2);
    const xl_tensor *t = xl_weights_find(w, "h");  /* stored as "model.h" */
    CHECK(t && strcmp(t->name, "model.h") == 0);
    CHECK(xl_weights_find(w, "bert.h") == t);      /* another prefix, stripped then re-added */
    float *f = NULL;
    if (t && xl_tensor_to_f32(t, &f) == XL_OK) {
        CHECK(f[0] == 1.0f && f[1] == -2.0f && f[2] == ldexpf(1.0f, -24));
        free(f);
    }
    /* Shape and dtype checks in xl_weights_get name the file, tensor and both shapes. */
    const xl_tensor *out;
    int64_t want[2] = {1, 3};
    CHECK_EQ_INT(xl_weights_get(w, "h", 2, want, &out), XL_ERR_FORMAT);
    CHECK(out == NULL);
    CHECK_MSG(strstr(xl_last_error(), "ok.safetensors") && strstr(xl_last_error(), "model.h") &&
                  strstr(xl_last_error(), "[3]") && strstr(xl_last_error(), "[1, 3]"),
              "%s", xl_last_error());
    CHECK_EQ_INT(xl_weights_get(w, "h", -1, NULL, &out), XL_OK);
    CHECK_EQ_INT(xl_weights_get(w, "missing.weight", 1, want, &out), XL_ERR_FORMAT);
    CHECK(strstr(xl_last_error(), "missing.weight") && strstr(xl_last_error(), "ok.safetensors"));
    CHECK_EQ_INT(xl_weights_get(w, "u", -1, NULL, &out), XL_ERR_UNSUPPORTED);
    CHECK(strstr(xl_last_error(), "'u'") && strstr(xl_last_error(), "U8"));
    xl_weights_close(w);
}

#define T1(name, body) "\"" name "\":" body
static void test_hostile(void) {
    write_bytes(tmp("short.safetensors"), "\x10\0\0\0\0", 5);
    expect_fail("short.safetensors", XL_ERR_FORMAT, "too short", NULL);
    write_bytes(tmp("empty.safetensors"), "", 0);
    expect_fail("empty.safetensors", XL_ERR_FORMAT, NULL, NULL);
    write_st_full(tmp("hlen_past.safetensors"), 1000, "{}", NULL, 0);
    expect_fail("hlen_past.safetensors", XL_ERR_FORMAT, "past the end", NULL);
    write_st_full(tmp("hlen_huge.safetensors"), 200000000, "{}", NULL, 16);
    expect_fail("hlen_huge.safetensors", XL_ERR_FORMAT, "100 MB", NULL);
    write_st_full(tmp("hlen_max.safetensors"), UINT64_MAX - 1, "{}", NULL, 16);
    expect_fail("hlen_max.safetensors", XL_ERR_FORMAT, NULL, NULL);
    write_st(tmp("data_past.safetensors"), "{" T1("w.data", "{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}") "}", 8);
    expect_fail("data_past.safetensors", XL_ERR_FORMAT, "w.data", "beyond");
    write_st(tmp("notjson.safetensors"), "{\"w\": {\"dtype\": F32}", 0);
    expect_fail("notjson.safetensors", XL_ERR_FORMAT, "JSON", NULL);
    write_st(tmp("array.safetensors"), "[1, 2]", 0);
    expect_fail("array.safetensors", XL_ERR_FORMAT, "not a JSON object", NULL);
    write_st(tmp("string.safetensors"), "\"x\"", 0);
    expect_fail("string.safetensors", XL_ERR_FORMAT, "not a JSON object", NULL);
    write_st(tmp("entry.safetensors"), "{" T1("w.entry", "[1]") "}", 0);
    expect_fail("entry.safetensors", XL_ERR_FORMAT, "w.entry", NULL);
    write_st(tmp("nodtype.safetensors"), "{" T1("w.a", "{\"shape\":[1],\"data_offsets\":[0,4]}") "}", 4);
    expect_fail("nodtype.safetensors", XL_ERR_FORMAT, "w.a", "dtype");
    write_st(tmp("noshape.safetensors"), "{" T1("w.b", "{\"dtype\":\"F32\",\"data_offsets\":[0,4]}") "}", 4);
    expect_fail("noshape.safetensors", XL_ERR_FORMAT, "w.b", "shape");
    write_st(tmp("nooffs.safetensors"), "{" T1("w.c", "{\"dtype\":\"F32\",\"shape\":[1]}") "}", 4);
    expect_fail("nooffs.safetensors", XL_ERR_FORMAT, "w.c", "data_offsets");
    write_st(tmp("dtype_num.safetensors"), "{" T1("w.d", "{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}") "}", 4);
    expect_fail("dtype_num.safetensors", XL_ERR_FORMAT, "w.d", "dtype");
    write_st(tmp("f8.safetensors"), "{" T1("w.f8", "{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}") "}", 4);
    expect_fail("f8.safetensors", XL_ERR_UNSUPPORTED, "w.f8", "F8_E4M3");
    write_st(tmp("dtype_bad.safetensors"), "{" T1("w.q", "{\"dtype\":\"Q4_K\",\"shape\":[4],\"data_offsets\":[0,4]}") "}", 4);
    expect_fail("dtype_bad.safetensors", XL_ERR_UNSUPPORTED, "w.q", "Q4_K");
    write_st(tmp("shape_neg.safetensors"), "{" T1("w.neg", "{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}") "}", 4);
    expect_fail("shape_neg.safetensors", XL_ERR_FORMAT, "w.neg", "shape");
    write_st(tmp("shape_real.safetensors"), "{" T1("w.real", "{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}") "}", 4);
    expect_fail("shape_real.safetensors", XL_ERR_FORMAT, "w.real", "shape");
    write_st(tmp("shape_str.safetensors"), "{" T1("w.str", "{\"dtype\":\"F32\",\"shape\":\"4\",\"data_offsets\":[0,4]}") "}", 4);
    expect_fail("shape_str.safetensors", XL_ERR_FORMAT, "w.str", "shape");
    write_st(tmp("shape_9d.safetensors"), "{" T1("w.9d", "{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}") "}", 4);
    expect_fail("shape_9d.safetensors", XL_ERR_FORMAT, "w.9d", "dimensions");
    write_st(tmp("shape_ovf.safetensors"),
             "{" T1("w.ovf", "{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}") "}", 4);
    expect_fail("shape_ovf.safetensors", XL_ERR_FORMAT, "w.ovf", "overflow");
    write_st(tmp("bytes_ovf.safetensors"),
             "{" T1("w.bovf", "{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}") "}", 4);
    expect_fail("bytes_ovf.safetensors", XL_ERR_FORMAT, "w.bovf", "overflow");
    write_st(tmp("offs_rev.safetensors"), "{" T1("w.rev", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}") "}", 4);
    expect_fail("offs_rev.safetensors", XL_ERR_FORMAT, "w.rev", "begin");
    write_st(tmp("offs_short.safetensors"), "{" T1("w.os", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}") "}", 4);
    expect_fail("offs_short.safetensors", XL_ERR_FORMAT, "w.os", "data_offsets");
    write_st(tmp("offs_neg.safetensors"), "{" T1("w.on", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}") "}", 4);
    expect_fail("offs_neg.safetensors", XL_ERR_FORMAT, "w.on", "data_offsets");
    write_st(tmp("size.safetensors"), "{" T1("w.size", "{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,12]}") "}", 16);
    expect_fail("size.safetensors", XL_ERR_FORMAT, "w.size", "need 16");
    write_st(tmp("overlap.safetensors"),
             "{" T1("w.first", "{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}") ","
                 T1("w.second", "{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[12,28]}") "}", 28);
    expect_fail("overlap.safetensors", XL_ERR_FORMAT, "w.first", "w.second");
    write_st(tmp("dup.safetensors"),
             "{" T1("w.dup", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}") ","
                 T1("w.dup", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}") "}", 8);
    expect_fail("dup.safetensors", XL_ERR_FORMAT, "w.dup", "duplicate");
    write_st(tmp("meta.safetensors"), "{\"__metadata__\":{\"n\":3}}", 0);
    expect_fail("meta.safetensors", XL_ERR_FORMAT, "__metadata__", NULL);
    write_st(tmp("ctrl.safetensors"), "{" T1("w\\nx", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}") "}", 4);
    expect_fail("ctrl.safetensors", XL_ERR_FORMAT, "name", NULL);
    write_st(tmp("nul.safetensors"), "{" T1("w\\u0000x", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}") "}", 4);
    expect_fail("nul.safetensors", XL_ERR_FORMAT, "NUL", NULL); /* jansson refuses NUL in keys */

    /* Found by fuzz_safetensors: jansson quotes the bytes near a syntax error, here a
     * broken \u escape followed by newlines; the message must stay one line. */
    write_st(tmp("escape_nl.safetensors"), "{\"a\":{\"dtype\":\"\\u00\n\n\n01\"}}", 0);
    expect_fail("escape_nl.safetensors", XL_ERR_FORMAT, "JSON", NULL);

    xl_weights *w = (xl_weights *)1;
    CHECK_EQ_INT(xl_weights_open_file(tmp("absent.safetensors"), &w), XL_ERR_IO);
    CHECK(w == NULL && strstr(xl_last_error(), "absent.safetensors"));
}

/* ------------------------------------------------------------------ folders and shards */

static void make_dir(const char *name) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", tmp(name));
    if (system(cmd) != 0) exit(2);
}

static const char *W_A = "{" T1("embeddings.weight", "{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}") ","
                             T1("norm.weight", "{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[16,20]}") "}";
static const char *W_B = "{" T1("layers.0.weight", "{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]}") "}";

static void test_sharded(void) {
    make_dir("sharded");
    write_st(tmp("sharded/model-00001-of-00002.safetensors"), W_A, 20);
    write_st(tmp("sharded/model-00002-of-00002.safetensors"), W_B, 6);
    const char *index0 = "{\"metadata\":{\"total_size\":26},\"weight_map\":{"
                         "\"model.embeddings.weight\":\"model-00001-of-00002.safetensors\"," /* listed with a prefix: */
                         "\"norm.weight\":\"model-00001-of-00002.safetensors\","
                         "\"layers.0.weight\":\"model-00002-of-00002.safetensors\"}}";
    write_bytes(tmp("sharded/model.safetensors.index.json"), index0, strlen(index0));
    /* The index above lists "model.embeddings.weight", which shard 1 stores without the
     * prefix: that must be reported, as transformers would. Fix it and check the good case. */
    xl_weights *w;
    CHECK_EQ_INT(xl_weights_open_dir(tmp("sharded"), &w), XL_ERR_FORMAT);
    CHECK_MSG(strstr(xl_last_error(), "model.embeddings.weight") && strstr(xl_last_error(), "model-00001-of-00002") &&
                  strstr(xl_last_error(), "index.json"),
              "%s", xl_last_error());
    const char *index = "{\"metadata\":{\"total_size\":26},\"weight_map\":{"
                        "\"embeddings.weight\":\"model-00001-of-00002.safetensors\","
                        "\"norm.weight\":\"model-00001-of-00002.safetensors\","
                        "\"layers.0.weight\":\"model-00002-of-00002.safetensors\"}}";
    write_bytes(tmp("sharded/model.safetensors.index.json"), index, strlen(index));
    xl_status st = xl_weights_open_dir(tmp("sharded"), &w);
    CHECK_MSG(st == XL_OK, "%s", xl_last_error());
    if (st == XL_OK) {
        CHECK_EQ_INT(xl_weights_count(w), 3);
        const xl_tensor *a = xl_weights_find(w, "model.embeddings.weight");
        const xl_tensor *b = xl_weights_find(w, "layers.0.weight");
        CHECK(a && strstr(a->file, "model-00001-of-00002.safetensors"));
        CHECK(b && strstr(b->file, "model-00002-of-00002.safetensors") && b->dtype == XL_DT_F16);
        CHECK(xl_weights_at(w, 0) == a && xl_weights_at(w, 2) == b); /* shard order, then offset */
        CHECK(strstr(xl_weights_path(w), "index.json") != NULL);
        /* Data of the second shard: bytes 0..5 = 0x0100, 0x0302, 0x0504 as halves. */
        float *f = NULL;
        if (b && xl_tensor_to_f32(b, &f) == XL_OK) {
            CHECK(f[0] == xl_f16_to_f32(0x0100) && f[2] == xl_f16_to_f32(0x0504));
            free(f);
        }
        xl_weights_close(w);
    }

    /* A missing shard: named with the index. */
    make_dir("sharded_missing");
    write_st(tmp("sharded_missing/a.safetensors"), W_A, 20);
    const char *idx2 = "{\"weight_map\":{\"embeddings.weight\":\"a.safetensors\",\"norm.weight\":\"a.safetensors\","
                       "\"layers.0.weight\":\"b.safetensors\"}}";
    write_bytes(tmp("sharded_missing/model.safetensors.index.json"), idx2, strlen(idx2));
    CHECK_EQ_INT(xl_weights_open_dir(tmp("sharded_missing"), &w), XL_ERR_IO);
    CHECK_MSG(strstr(xl_last_error(), "b.safetensors") && strstr(xl_last_error(), "index.json") &&
                  strstr(xl_last_error(), "layers.0.weight"),
              "%s", xl_last_error());

    /* A tensor listed for a shard that does not hold it. */
    make_dir("sharded_absent");
    write_st(tmp("sharded_absent/a.safetensors"), W_A, 20);
    write_st(tmp("sharded_absent/b.safetensors"), W_B, 6);
    const char *idx3 = "{\"weight_map\":{\"embeddings.weight\":\"a.safetensors\",\"norm.weight\":\"b.safetensors\","
                       "\"layers.0.weight\":\"b.safetensors\"}}";
    write_bytes(tmp("sharded_absent/model.safetensors.index.json"), idx3, strlen(idx3));
    CHECK_EQ_INT(xl_weights_open_dir(tmp("sharded_absent"), &w), XL_ERR_FORMAT);
    CHECK_MSG(strstr(xl_last_error(), "'norm.weight'") && strstr(xl_last_error(), "'b.safetensors'"), "%s",
              xl_last_error());

    /* The same name in two shards. */
    make_dir("sharded_dup");
    write_st(tmp("sharded_dup/a.safetensors"), W_A, 20);
    write_st(tmp("sharded_dup/b.safetensors"), W_A, 20);
    const char *idx4 = "{\"weight_map\":{\"embeddings.weight\":\"a.safetensors\",\"norm.weight\":\"b.safetensors\"}}";
    write_bytes(tmp("sharded_dup/model.safetensors.index.json"), idx4, strlen(idx4));
    CHECK_EQ_INT(xl_weights_open_dir(tmp("sharded_dup"), &w), XL_ERR_FORMAT);
    CHECK_MSG(strstr(xl_last_error(), "twice") && strstr(xl_last_error(), "a.safetensors") &&
                  strstr(xl_last_error(), "b.safetensors"),
              "%s", xl_last_error());

    /* A shard name leaving the folder; a malformed index. */
    make_dir("sharded_escape");
    const char *idx5 = "{\"weight_map\":{\"x\":\"../sharded/model-00002-of-00002.safetensors\"}}";
    write_bytes(tmp("sharded_escape/model.safetensors.index.json"), idx5, strlen(idx5));
    CHECK_EQ_INT(xl_weights_open_dir(tmp("sharded_escape"), &w), XL_ERR_FORMAT);
    CHECK(strstr(xl_last_error(), "'x'") != NULL);
    write_bytes(tmp("sharded_escape/model.safetensors.index.json"), "{\"weight_map\": [", 16);
    CHECK_EQ_INT(xl_weights_open_dir(tmp("sharded_escape"), &w), XL_ERR_FORMAT);
    CHECK(strstr(xl_last_error(), "index.json") != NULL);
    write_bytes(tmp("sharded_escape/model.safetensors.index.json"), "{\"metadata\":{}}", 15);
    CHECK_EQ_INT(xl_weights_open_dir(tmp("sharded_escape"), &w), XL_ERR_FORMAT);
    CHECK(strstr(xl_last_error(), "weight_map") != NULL);

    /* A broken shard: the error names the shard and the tensor. */
    make_dir("sharded_bad");
    write_st(tmp("sharded_bad/a.safetensors"), W_A, 12);
    const char *idx6 = "{\"weight_map\":{\"embeddings.weight\":\"a.safetensors\"}}";
    write_bytes(tmp("sharded_bad/model.safetensors.index.json"), idx6, strlen(idx6));
    CHECK_EQ_INT(xl_weights_open_dir(tmp("sharded_bad"), &w), XL_ERR_FORMAT);
    CHECK(strstr(xl_last_error(), "a.safetensors") && strstr(xl_last_error(), "weight"));

    /* Folders: only pytorch_model.bin; nothing; not a folder; no config.json. */
    make_dir("binonly");
    write_bytes(tmp("binonly/pytorch_model.bin"), "PK", 2);
    CHECK_EQ_INT(xl_weights_open_dir(tmp("binonly"), &w), XL_ERR_UNSUPPORTED);
    CHECK(strstr(xl_last_error(), "pytorch_model.bin") && strstr(xl_last_error(), "safetensors"));
    make_dir("nothing");
    CHECK_EQ_INT(xl_weights_open_dir(tmp("nothing"), &w), XL_ERR_IO);
    CHECK(strstr(xl_last_error(), "nothing") != NULL);
    CHECK_EQ_INT(xl_weights_open_dir(tmp("no-such-dir"), &w), XL_ERR_IO);
    json_t *cfg;
    CHECK_EQ_INT(xl_config_load(tmp("nothing"), &cfg), XL_ERR_IO);
    CHECK(cfg == NULL && strstr(xl_last_error(), "no config.json (not a Hugging Face model folder)"));
    write_bytes(tmp("nothing/config.json"), "[1]", 3);
    CHECK_EQ_INT(xl_config_load(tmp("nothing"), &cfg), XL_ERR_FORMAT);
    write_bytes(tmp("nothing/config.json"), "{\"hidden_size\": 8", 17);
    CHECK_EQ_INT(xl_config_load(tmp("nothing"), &cfg), XL_ERR_FORMAT);
    CHECK(strstr(xl_last_error(), "config.json") != NULL);
}

/* Inputs found by fuzz/fuzz_safetensors.c, and the in-memory entry point it uses. */
static void test_fuzz_findings(void) {
    /* A header without tensors once sorted a NULL table (NULL + 0: undefined
     * behaviour, reported by `make asan`). It is a valid, empty checkpoint. */
    const char *empties[] = {"{}", "{\"__metadata__\":{\"format\":\"pt\"}}"};
    for (int k = 0; k < 2; k++) {
        write_st(tmp("no_tensors.safetensors"), empties[k], 0);
        xl_weights *w = NULL;
        CHECK_MSG(xl_weights_open_file(tmp("no_tensors.safetensors"), &w) == XL_OK, "%s", xl_last_error());
        CHECK_EQ_INT(xl_weights_count(w), 0);
        CHECK(xl_weights_find(w, "x") == NULL);
        xl_weights_close(w);
    }

    /* xl_weights_open_memory validates like xl_weights_open_file and points into the
     * caller's bytes. */
    static const char good[] = "\x3a\0\0\0\0\0\0\0"
                               "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}     xy";
    CHECK_EQ_INT(sizeof good - 1, 8 + 0x3a + 2);
    xl_weights *w = NULL;
    CHECK_MSG(xl_weights_open_memory("mem.safetensors", good, sizeof good - 1, &w) == XL_OK, "%s", xl_last_error());
    CHECK_EQ_INT(xl_weights_count(w), 1);
    const xl_tensor *t = xl_weights_find(w, "a");
    CHECK(t && t->data == good + 8 + 0x3a && t->nbytes == 2);
    CHECK_STR(xl_weights_path(w), "mem.safetensors");
    xl_weights_close(w);
    w = (xl_weights *)1;
    CHECK_EQ_INT(xl_weights_open_memory("mem.safetensors", good, sizeof good - 2, &w), XL_ERR_FORMAT);
    CHECK(w == NULL);
    CHECK_MSG(strstr(xl_last_error(), "mem.safetensors") && strstr(xl_last_error(), "beyond"), "%s", xl_last_error());
    CHECK_EQ_INT(xl_weights_open_memory("mem.safetensors", NULL, 0, &w), XL_ERR_FORMAT);
    CHECK(strstr(xl_last_error(), "too short") != NULL);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/xl_st_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_conversions();
    test_fixtures();
    test_valid_synthetic();
    test_hostile();
    test_sharded();
    test_fuzz_findings();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_summary("test_safetensors");
}
