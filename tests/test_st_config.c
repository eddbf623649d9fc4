/* Tests of the sentence-transformers configuration loader: every fixture folder
 * (pooling, normalize, Dense dimensions and weights, prompts, max_seq_length, as
 * written in the fixture files) and the error cases, built in a temporary folder.
 * Dense weights are compared exactly (tolerance 0): F32 is copied, F16/BF16 widen
 * losslessly. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/model_config.h"
#include "io/st_config.h"
#include "testlib.h"

static char tmpdir[256];
static int ncase;

static const char *tmp(const char *name) { return t_path(tmpdir, name); }

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

static void make_dir(const char *path) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
    if (system(cmd) != 0) exit(2);
}

/* Writes a safetensors file with F32 tensors "linear.weight" [out][in] (value
 * w0 + 0.5 * i) and, if with_bias, "linear.bias" [out] (value -i). dtype "BF16" stores
 * the same values (all exact in bfloat16 for the sizes used here) as bfloat16. */
static void write_dense_weights(const char *path, int out, int in, int with_bias, const char *dtype) {
    int bf = strcmp(dtype, "BF16") == 0;
    size_t es = bf ? 2 : 4, nw = (size_t)out * in, nb = with_bias ? (size_t)out : 0;
    char header[512];
    if (with_bias)
        snprintf(header, sizeof header,
                 "{\"linear.bias\":{\"dtype\":\"%s\",\"shape\":[%d],\"data_offsets\":[0,%zu]},"
                 "\"linear.weight\":{\"dtype\":\"%s\",\"shape\":[%d,%d],\"data_offsets\":[%zu,%zu]}}",
                 dtype, out, nb * es, dtype, out, in, nb * es, (nb + nw) * es);
    else
        snprintf(header, sizeof header, "{\"linear.weight\":{\"dtype\":\"%s\",\"shape\":[%d,%d],\"data_offsets\":[0,%zu]}}",
                 dtype, out, in, nw * es);
    size_t hl = strlen(header), total = 8 + hl + (nb + nw) * es;
    unsigned char *buf = calloc(1, total);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    unsigned char *p = buf + 8 + hl;
    for (size_t i = 0; i < nb + nw; i++) {
        float v = i < nb ? -(float)i : 1.0f + 0.5f * (float)(i - nb);
        uint32_t bits;
        memcpy(&bits, &v, 4);
        if (bf) {
            uint16_t h = (uint16_t)(bits >> 16);
            memcpy(p + 2 * i, &h, 2);
        } else {
            memcpy(p + 4 * i, &bits, 4);
        }
    }
    FILE *f = fopen(path, "wb");
    fwrite(buf, 1, total, f);
    fclose(f);
    free(buf);
}

static const char *POOL_MEAN = "{\"word_embedding_dimension\": 8, \"pooling_mode_mean_tokens\": true}";
static const char *MOD_TPN = "[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
                             "{\"idx\":1,\"name\":\"1\",\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"},"
                             "{\"idx\":2,\"name\":\"2\",\"path\":\"2_Normalize\",\"type\":\"sentence_transformers.models.Normalize\"}]";
static const char *MOD_TPDN = "[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
                              "{\"idx\":1,\"name\":\"1\",\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"},"
                              "{\"idx\":2,\"name\":\"2\",\"path\":\"2_Dense\",\"type\":\"sentence_transformers.models.Dense\"},"
                              "{\"idx\":3,\"name\":\"3\",\"path\":\"3_Normalize\",\"type\":\"sentence_transformers.models.Normalize\"}]";

/* Creates a fresh case folder with modules.json and a Pooling config; returns its path. */
static const char *new_case(const char *modules, const char *pooling) {
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/case%d", tmpdir, ncase++);
    make_dir(dir);
    if (modules) write_text(t_path(dir, "modules.json"), modules);
    if (pooling) {
        make_dir(t_path(dir, "1_Pooling"));
        write_text(t_path(dir, "1_Pooling/config.json"), pooling);
    }
    return dir;
}

static void add_dense(const char *dir, const char *sub, const char *config) {
    make_dir(t_path(dir, sub));
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", sub);
    write_text(t_path(dir, p), config);
}

/* Loads dir (hidden size 8) expecting `want`; the message must contain needle. */
static void expect(const char *dir, xl_status want, const char *needle, const char *label) {
    xl_st_config c;
    xl_status st = xl_st_config_load(dir, 8, &c);
    CHECK_MSG(st == want, "%s: status %s, want %s (%s)", label, xl_status_name(st), xl_status_name(want),
              st ? xl_last_error() : "loaded");
    if (needle) CHECK_MSG(strstr(xl_last_error(), needle) != NULL, "%s: message lacks '%s': %s", label, needle, xl_last_error());
    if (st == XL_OK) xl_st_config_free(&c);
    else CHECK(c.dense == NULL && c.prompt_names == NULL); /* nothing left allocated */
}

/* ------------------------------------------------------------------ fixtures */

static int load_fixture(const char *shared, const char *model, xl_st_config *c) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/fixtures/models/%s", shared, model);
    json_t *cfg;
    if (xl_config_load(dir, &cfg) != XL_OK) {
        CHECK_MSG(0, "%s: %s", model, xl_last_error());
        return 0;
    }
    int hidden = (int)json_integer_value(json_object_get(cfg, "hidden_size"));
    json_decref(cfg);
    xl_status st = xl_st_config_load(dir, hidden, c);
    CHECK_MSG(st == XL_OK, "%s: %s", model, xl_last_error());
    return st == XL_OK;
}

static uint32_t bits(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

static void test_fixtures(void) {
    const char *shared = t_shared_dir();
    if (!shared) {
        t_skip_case("fixture folders", "../shared not found");
        return;
    }
    xl_st_config c;
    if (load_fixture(shared, "bert-tiny", &c)) {
        CHECK_EQ_INT(c.has_modules, 1);
        CHECK_EQ_INT(c.pooling, XL_POOL_CLS);
        CHECK_EQ_INT(c.normalize, 1);
        CHECK_EQ_INT(c.include_prompt, 1);
        CHECK_EQ_INT(c.n_dense, 1);
        CHECK_EQ_INT(c.dense[0].in_features, 32);
        CHECK_EQ_INT(c.dense[0].out_features, 16);
        CHECK_EQ_INT(c.dense[0].act, XL_ACT_TANH);
        CHECK(c.dense[0].bias != NULL);
        if (c.dense[0].bias) CHECK_EQ_INT(bits(c.dense[0].bias[1]), 0xbe094c6f);
        CHECK_EQ_INT(bits(c.dense[0].weight[0]), 0x3ddd4eda);
        CHECK_EQ_INT(c.dim, 16);
        CHECK_EQ_INT(c.max_seq_length, 512);
        CHECK_EQ_INT(c.do_lower_case, 0);
        CHECK_EQ_INT(c.n_prompts, 0);
        CHECK(c.default_prompt_name == NULL);
        CHECK_STR(c.transformer_path, "");
        xl_st_config_free(&c);
    }
    if (load_fixture(shared, "xlmr-tiny", &c)) {
        CHECK_EQ_INT(c.pooling, XL_POOL_MEAN);
        CHECK_EQ_INT(c.normalize, 1);
        CHECK_EQ_INT(c.n_dense, 0);
        CHECK_EQ_INT(c.dim, 16);
        CHECK_EQ_INT(c.max_seq_length, 512);
        CHECK_EQ_INT(c.n_prompts, 2);
        CHECK_STR(xl_st_prompt(&c, "query"), "query: ");
        CHECK_STR(xl_st_prompt(&c, "passage"), "passage: ");
        CHECK(xl_st_prompt(&c, "document") == NULL);
        xl_st_config_free(&c);
    }
    if (load_fixture(shared, "gemma3-tiny", &c)) {
        CHECK_EQ_INT(c.pooling, XL_POOL_MEAN);
        CHECK_EQ_INT(c.normalize, 1);
        CHECK_EQ_INT(c.n_dense, 2);
        if (c.n_dense == 2) {
            CHECK(c.dense[0].in_features == 16 && c.dense[0].out_features == 64 && c.dense[0].bias == NULL);
            CHECK(c.dense[1].in_features == 64 && c.dense[1].out_features == 16 && c.dense[1].bias == NULL);
            CHECK_EQ_INT(c.dense[0].act, XL_ACT_IDENTITY);
            CHECK_EQ_INT(c.dense[1].act, XL_ACT_IDENTITY);
            /* F16 in the file: 0x380c and 0x2cbb. */
            CHECK_NEAR(c.dense[0].weight[0], 0.505859375, 0);
            CHECK_NEAR(c.dense[1].weight[0], 0.07391357421875, 0);
            CHECK_NEAR(c.dense[1].weight[3], -0.0523681640625, 0);
        }
        CHECK_EQ_INT(c.dim, 16);
        CHECK_EQ_INT(c.max_seq_length, 8192);
        CHECK_STR(xl_st_prompt(&c, "query"), "task: search result | query: ");
        CHECK_STR(xl_st_prompt(&c, "document"), "title: none | text: ");
        xl_st_config_free(&c);
    }
    if (load_fixture(shared, "llama-bi-tiny", &c)) {
        CHECK_EQ_INT(c.pooling, XL_POOL_MEAN);
        CHECK_EQ_INT(c.normalize, 1);
        CHECK_EQ_INT(c.dim, 32);
        CHECK_EQ_INT(c.max_seq_length, 8192);
        CHECK_STR(xl_st_prompt(&c, "query"), "Instruct: Given a question, retrieve passages that answer the question\nQuery: ");
        CHECK_STR(xl_st_prompt(&c, "document"), "");
        xl_st_config_free(&c);
    }
    if (load_fixture(shared, "qwen3-tiny", &c)) {
        CHECK_EQ_INT(c.pooling, XL_POOL_LAST);
        CHECK_EQ_INT(c.normalize, 1);
        CHECK_EQ_INT(c.dim, 32);
        CHECK_EQ_INT(c.max_seq_length, 8192);
        CHECK_STR(xl_st_prompt(&c, "query"),
                  "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:");
        xl_st_config_free(&c);
    }
    if (load_fixture(shared, "qwen2-tiny", &c)) {
        CHECK_EQ_INT(c.pooling, XL_POOL_LAST);
        CHECK_EQ_INT(c.dim, 16);
        CHECK_EQ_INT(c.max_seq_length, 32768);
        CHECK_EQ_INT(c.n_prompts, 2);
        xl_st_config_free(&c);
    }
    if (load_fixture(shared, "mistral-tiny", &c)) {
        CHECK_EQ_INT(c.pooling, XL_POOL_LAST);
        CHECK_EQ_INT(c.normalize, 1);
        CHECK_EQ_INT(c.dim, 20);
        CHECK_EQ_INT(c.max_seq_length, 4096);
        CHECK_EQ_INT(c.n_prompts, 3);
        CHECK_STR(xl_st_prompt(&c, "sts_query"), "Instruct: Retrieve semantically similar text.\nQuery: ");
        CHECK(c.default_prompt_name == NULL);
        xl_st_config_free(&c);
    }
    /* The Pooling dimension is checked against the model's hidden size. */
    CHECK_EQ_INT(xl_st_config_load(t_path(shared, "fixtures/models/bert-tiny"), 64, &c), XL_ERR_FORMAT);
    CHECK(strstr(xl_last_error(), "word_embedding_dimension") && strstr(xl_last_error(), "1_Pooling"));
}

/* ------------------------------------------------------------------ synthetic folders */

static void test_valid_synthetic(void) {
    xl_st_config c;
    /* No modules.json: what sentence-transformers does for a plain transformers folder. */
    const char *d = new_case(NULL, NULL);
    write_text(t_path(d, "sentence_bert_config.json"), "{\"max_seq_length\": 77}"); /* not read without modules.json */
    CHECK_EQ_INT(xl_st_config_load(d, 8, &c), XL_OK);
    CHECK(c.has_modules == 0 && c.pooling == XL_POOL_MEAN && c.include_prompt == 1 && c.normalize == 0 &&
          c.n_dense == 0 && c.dim == 8 && c.max_seq_length == 0 && c.n_prompts == 0);
    xl_st_config_free(&c);

    /* Dense with BF16 weights and bias; pooling_mode key overriding the booleans;
     * include_prompt false; lower-casing; a default prompt. */
    d = new_case(MOD_TPDN, "{\"word_embedding_dimension\": 8, \"pooling_mode_cls_token\": true, "
                           "\"pooling_mode\": \"max\", \"include_prompt\": false}");
    add_dense(d, "2_Dense", "{\"in_features\": 8, \"out_features\": 4, \"bias\": true, "
                            "\"activation_function\": \"torch.nn.modules.activation.GELU\"}");
    write_dense_weights(t_path(d, "2_Dense/model.safetensors"), 4, 8, 1, "BF16");
    write_text(t_path(d, "sentence_bert_config.json"), "{\"max_seq_length\": 128, \"do_lower_case\": true}");
    write_text(t_path(d, "config_sentence_transformers.json"),
               "{\"prompts\": {\"q\": \"query: \", \"d\": \"\"}, \"default_prompt_name\": \"q\"}");
    xl_status st = xl_st_config_load(d, 8, &c);
    CHECK_MSG(st == XL_OK, "%s", xl_last_error());
    if (st == XL_OK) {
        CHECK_EQ_INT(c.pooling, XL_POOL_MAX);
        CHECK_EQ_INT(c.include_prompt, 0);
        CHECK_EQ_INT(c.normalize, 1);
        CHECK_EQ_INT(c.n_dense, 1);
        CHECK_EQ_INT(c.dense[0].act, XL_ACT_GELU);
        CHECK_NEAR(c.dense[0].bias[3], -3.0, 0);
        CHECK_NEAR(c.dense[0].weight[0], 1.0, 0);
        CHECK_NEAR(c.dense[0].weight[31], 16.5, 0);
        CHECK_EQ_INT(c.dim, 4);
        CHECK_EQ_INT(c.max_seq_length, 128);
        CHECK_EQ_INT(c.do_lower_case, 1);
        CHECK_STR(c.default_prompt_name, "q");
        CHECK_STR(xl_st_prompt(&c, "d"), "");
        xl_st_config_free(&c);
        CHECK(c.dense == NULL && c.prompt_names == NULL && c.default_prompt_name == NULL);
    }
    xl_st_config_free(&c); /* twice is harmless */

    /* An old-style folder: the Transformer in 0_Transformer, with its sentence_bert_config.json. */
    d = new_case("[{\"idx\":0,\"name\":\"0\",\"path\":\"0_Transformer\",\"type\":\"sentence_transformers.models.Transformer\"},"
                 "{\"idx\":1,\"name\":\"1\",\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"}]",
                 "{\"word_embedding_dimension\": 8, \"pooling_mode_lasttoken\": true}");
    make_dir(t_path(d, "0_Transformer"));
    write_text(t_path(d, "0_Transformer/sentence_bert_config.json"), "{\"max_seq_length\": 256}");
    st = xl_st_config_load(d, 0, &c); /* hidden size unknown: the Pooling config decides */
    CHECK_MSG(st == XL_OK, "%s", xl_last_error());
    if (st == XL_OK) {
        CHECK_STR(c.transformer_path, "0_Transformer");
        CHECK_EQ_INT(c.max_seq_length, 256);
        CHECK_EQ_INT(c.pooling, XL_POOL_LAST);
        CHECK_EQ_INT(c.normalize, 0);
        CHECK_EQ_INT(c.dim, 8);
        xl_st_config_free(&c);
    }
}

static void test_errors(void) {
    const char *d;
    /* Pooling. */
    d = new_case(MOD_TPN, "{\"word_embedding_dimension\": 8, \"pooling_mode_cls_token\": true, \"pooling_mode_mean_tokens\": true}");
    expect(d, XL_ERR_UNSUPPORTED, "pooling_mode_cls_token + pooling_mode_mean_tokens", "cls+mean");
    d = new_case(MOD_TPN, "{\"word_embedding_dimension\": 8, \"pooling_mode_weightedmean_tokens\": true}");
    expect(d, XL_ERR_UNSUPPORTED, "weightedmean", "weightedmean");
    d = new_case(MOD_TPN, "{\"word_embedding_dimension\": 8, \"pooling_mode_mean_sqrt_len_tokens\": true}");
    expect(d, XL_ERR_UNSUPPORTED, "mean_sqrt_len", "mean_sqrt_len");
    d = new_case(MOD_TPN, "{\"word_embedding_dimension\": 8, \"pooling_mode\": \"weightedmean\"}");
    expect(d, XL_ERR_UNSUPPORTED, "weightedmean", "pooling_mode weightedmean");
    d = new_case(MOD_TPN, "{\"word_embedding_dimension\": 8, \"pooling_mode\": \"median\"}");
    expect(d, XL_ERR_FORMAT, "median", "pooling_mode median");
    d = new_case(MOD_TPN, "{\"word_embedding_dimension\": 8}");
    expect(d, XL_ERR_FORMAT, "no pooling mode", "no mode");
    d = new_case(MOD_TPN, "{\"word_embedding_dimension\": 8, \"pooling_mode_mean_tokens\": \"yes\"}");
    expect(d, XL_ERR_FORMAT, "pooling_mode_mean_tokens", "mode not a bool");
    d = new_case(MOD_TPN, "{\"word_embedding_dimension\": 12, \"pooling_mode_mean_tokens\": true}");
    expect(d, XL_ERR_FORMAT, "hidden_size 8", "dimension mismatch");
    d = new_case(MOD_TPN, "{\"pooling_mode_mean_tokens\": true}");
    expect(d, XL_ERR_FORMAT, "word_embedding_dimension", "no dimension");
    d = new_case(MOD_TPN, NULL);
    expect(d, XL_ERR_IO, "1_Pooling", "no pooling config");
    d = new_case(MOD_TPN, "{\"word_embedding_dimension\": 8, ");
    expect(d, XL_ERR_FORMAT, "1_Pooling/config.json", "pooling config not JSON");
    /* Found with fuzz/fuzz_config.c: a float too large for an integer was converted
     * before its range was checked (undefined behaviour, reported by `make asan`). */
    d = new_case(MOD_TPN, "{\"word_embedding_dimension\": 1e300, \"pooling_mode_mean_tokens\": true}");
    expect(d, XL_ERR_FORMAT, "word_embedding_dimension", "dimension 1e300");
    d = new_case(MOD_TPN, "{\"word_embedding_dimension\": -9.3e18, \"pooling_mode_mean_tokens\": true}");
    expect(d, XL_ERR_FORMAT, "word_embedding_dimension", "dimension -9.3e18");
    d = new_case(MOD_TPN, "{\"word_embedding_dimension\": 8.0, \"pooling_mode_mean_tokens\": true}");
    expect(d, XL_OK, NULL, "dimension 8.0");

    /* modules.json itself. */
    d = new_case("[{\"idx\": 0, ", NULL);
    expect(d, XL_ERR_FORMAT, "modules.json", "modules.json not JSON");
    d = new_case("{\"0\": \"Transformer\"}", NULL);
    expect(d, XL_ERR_FORMAT, "modules.json", "modules.json not an array");
    d = new_case("[]", NULL);
    expect(d, XL_ERR_FORMAT, "modules.json", "modules.json empty");
    d = new_case("[{\"idx\":0,\"path\":\"\"}]", NULL);
    expect(d, XL_ERR_FORMAT, "type", "module without type");
    d = new_case("[3]", NULL);
    expect(d, XL_ERR_FORMAT, "module 0", "module not an object");
    d = new_case("[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
                 "{\"idx\":1,\"name\":\"1\",\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"},"
                 "{\"idx\":2,\"name\":\"2\",\"path\":\"2_LayerNorm\",\"type\":\"sentence_transformers.models.LayerNorm\"}]",
                 POOL_MEAN);
    expect(d, XL_ERR_UNSUPPORTED, "sentence_transformers.models.LayerNorm", "LayerNorm module");
    d = new_case("[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_transformers.models.WordEmbeddings\"}]", NULL);
    expect(d, XL_ERR_UNSUPPORTED, "WordEmbeddings", "WordEmbeddings module");
    d = new_case("[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
                 "{\"idx\":1,\"name\":\"1\",\"path\":\"1_CNN\",\"type\":\"sentence_transformers.models.CNN\"}]", NULL);
    expect(d, XL_ERR_UNSUPPORTED, "CNN", "CNN module");
    d = new_case("[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"}]", NULL);
    expect(d, XL_ERR_UNSUPPORTED, "no Pooling", "no Pooling module");
    d = new_case("[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
                 "{\"idx\":1,\"name\":\"1\",\"path\":\"../1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"}]", NULL);
    expect(d, XL_ERR_FORMAT, "../1_Pooling", "path leaving the folder");
    d = new_case("[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
                 "{\"idx\":1,\"name\":\"1\",\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"},"
                 "{\"idx\":2,\"name\":\"2\",\"path\":\"2_Normalize\",\"type\":\"sentence_transformers.models.Normalize\"},"
                 "{\"idx\":3,\"name\":\"3\",\"path\":\"3_Dense\",\"type\":\"sentence_transformers.models.Dense\"}]",
                 POOL_MEAN);
    expect(d, XL_ERR_UNSUPPORTED, "Dense", "Dense after Normalize");

    /* Dense modules. */
    d = new_case(MOD_TPDN, POOL_MEAN);
    add_dense(d, "2_Dense", "{\"in_features\": 8, \"out_features\": 4, \"bias\": true}");
    write_dense_weights(t_path(d, "2_Dense/model.safetensors"), 4, 6, 1, "F32");
    expect(d, XL_ERR_FORMAT, "linear.weight", "dense shape mismatch");
    CHECK(strstr(xl_last_error(), "[4, 6]") && strstr(xl_last_error(), "[4, 8]") && strstr(xl_last_error(), "2_Dense"));
    d = new_case(MOD_TPDN, POOL_MEAN);
    add_dense(d, "2_Dense", "{\"in_features\": 6, \"out_features\": 4, \"bias\": true}");
    write_dense_weights(t_path(d, "2_Dense/model.safetensors"), 4, 6, 1, "F32");
    expect(d, XL_ERR_FORMAT, "in_features 6", "dense chain mismatch");
    d = new_case(MOD_TPDN, POOL_MEAN);
    add_dense(d, "2_Dense", "{\"in_features\": 8, \"out_features\": 4, \"bias\": true}");
    write_dense_weights(t_path(d, "2_Dense/model.safetensors"), 4, 8, 0, "F32");
    expect(d, XL_ERR_FORMAT, "linear.bias", "dense bias missing");
    d = new_case(MOD_TPDN, POOL_MEAN);
    add_dense(d, "2_Dense", "{\"in_features\": 8, \"out_features\": 4, \"bias\": false}");
    write_dense_weights(t_path(d, "2_Dense/model.safetensors"), 4, 8, 1, "F32");
    expect(d, XL_ERR_FORMAT, "linear.bias", "dense unexpected bias");
    d = new_case(MOD_TPDN, POOL_MEAN);
    add_dense(d, "2_Dense", "{\"in_features\": 8, \"out_features\": 4}");
    expect(d, XL_ERR_IO, "2_Dense/model.safetensors", "dense weights missing");
    d = new_case(MOD_TPDN, POOL_MEAN);
    add_dense(d, "2_Dense", "{\"in_features\": 8, \"out_features\": 4}");
    write_text(t_path(d, "2_Dense/pytorch_model.bin"), "PK");
    expect(d, XL_ERR_UNSUPPORTED, "convert", "dense pytorch_model.bin only");
    d = new_case(MOD_TPDN, POOL_MEAN);
    add_dense(d, "2_Dense", "{\"in_features\": 8, \"out_features\": 4, \"activation_function\": \"torch.nn.modules.activation.LeakyReLU\"}");
    write_dense_weights(t_path(d, "2_Dense/model.safetensors"), 4, 8, 1, "F32");
    expect(d, XL_ERR_UNSUPPORTED, "LeakyReLU", "dense activation");
    d = new_case(MOD_TPDN, POOL_MEAN);
    add_dense(d, "2_Dense", "{\"in_features\": 8}");
    expect(d, XL_ERR_FORMAT, "out_features", "dense without out_features");
    d = new_case(MOD_TPDN, POOL_MEAN);
    expect(d, XL_ERR_IO, "2_Dense", "dense without config");
    d = new_case(MOD_TPDN, POOL_MEAN);
    add_dense(d, "2_Dense", "{\"in_features\": 8, \"out_features\": 4}");
    write_text(t_path(d, "2_Dense/model.safetensors"), "garbage!garbage!");
    expect(d, XL_ERR_FORMAT, "2_Dense/model.safetensors", "dense weights corrupt");

    /* Side files. */
    d = new_case(MOD_TPN, POOL_MEAN);
    write_text(t_path(d, "config_sentence_transformers.json"), "{\"prompts\": {\"q\": 3}}");
    expect(d, XL_ERR_FORMAT, "prompt \"q\"", "prompt not a string");
    d = new_case(MOD_TPN, POOL_MEAN);
    write_text(t_path(d, "config_sentence_transformers.json"), "{\"prompts\": {\"q\": \"x\"}, \"default_prompt_name\": \"d\"}");
    expect(d, XL_ERR_FORMAT, "default_prompt_name", "default prompt absent");
    d = new_case(MOD_TPN, POOL_MEAN);
    write_text(t_path(d, "config_sentence_transformers.json"), "{\"prompts\": [\"x\"]}");
    expect(d, XL_ERR_FORMAT, "prompts", "prompts not an object");
    d = new_case(MOD_TPN, POOL_MEAN);
    write_text(t_path(d, "sentence_bert_config.json"), "{\"max_seq_length\": -5}");
    expect(d, XL_ERR_FORMAT, "max_seq_length", "negative max_seq_length");
    d = new_case(MOD_TPN, POOL_MEAN);
    write_text(t_path(d, "sentence_bert_config.json"), "{\"max_seq_length\": \"512\"}");
    expect(d, XL_ERR_FORMAT, "max_seq_length", "string max_seq_length");
    expect(tmp("no-such-folder"), XL_ERR_IO, "no-such-folder", "missing folder");
}

static void test_activations(void) {
    CHECK_EQ_INT(xl_activation_parse("torch.nn.modules.activation.Tanh"), XL_ACT_TANH);
    CHECK_EQ_INT(xl_activation_parse("torch.nn.modules.linear.Identity"), XL_ACT_IDENTITY);
    CHECK_EQ_INT(xl_activation_parse("torch.nn.modules.activation.GELU"), XL_ACT_GELU);
    CHECK_EQ_INT(xl_activation_parse("torch.nn.modules.activation.ReLU"), XL_ACT_RELU);
    CHECK_EQ_INT(xl_activation_parse("torch.nn.modules.activation.Sigmoid"), XL_ACT_SIGMOID);
    CHECK_EQ_INT(xl_activation_parse("torch.nn.modules.activation.SiLU"), XL_ACT_SILU);
    CHECK_EQ_INT(xl_activation_parse("tanh"), XL_ACT_TANH);
    CHECK_EQ_INT(xl_activation_parse("gelu"), XL_ACT_GELU);
    CHECK_EQ_INT(xl_activation_parse("gelu_pytorch_tanh"), XL_ACT_GELU_TANH);
    CHECK_EQ_INT(xl_activation_parse("identity"), XL_ACT_IDENTITY);
    CHECK_EQ_INT(xl_activation_parse("torch.nn.modules.activation.LeakyReLU"), -1);
    CHECK_EQ_INT(xl_activation_parse(""), -1);
    CHECK_EQ_INT(xl_activation_parse(NULL), -1);
    CHECK_STR(xl_activation_name(XL_ACT_TANH), "tanh");
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/xl_stc_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_activations();
    test_fixtures();
    test_valid_synthetic();
    test_errors();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_summary("test_st_config");
}
