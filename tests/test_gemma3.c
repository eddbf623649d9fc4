/* Gemma 3 text (xl_arch_gemma3) against the float64 reference fixture gemma3-tiny
 * (EmbeddingGemma-like, F16 weights, bidirectional, two sliding layers and one full):
 * every input alone and the padded batch, hidden states of input 0 per layer.
 *
 * Tolerance: 1e-4 max abs. Weights are converted exactly to float32 and everything is
 * computed in float32 (float64 RoPE angles); the gap to the reference is float32
 * rounding (observed ~1e-6).
 * Then: the sliding window by its defining property (bidirectional: a position after a
 * sliding block depends only on |i - j| <= window / 2; causal: i - window < j <= i),
 * layer kinds from sliding_window_pattern, the attention override, config errors. */
#include "decoder_fixture.h"

#define TOL 1e-4

extern const xl_arch xl_arch_gemma3;

static double max_diff(const float *a, const float *b, size_t n) { return t_max_abs_diff(a, b, n); }

static int32_t *input_tokens(const dfx *f, int i, int *n) {
    const json_t *ids = dfx_input_ids(f, i);
    *n = (int)json_array_size(ids);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)*n);
    for (int t = 0; t < *n; t++) tok[t] = (int32_t)json_integer_value(json_array_get(ids, (size_t)t));
    return tok;
}

/* Loads cfg, runs input 0, returns the max abs diff of last_hidden_state to the reference. */
static double variant_diff(const dfx *f, json_t *cfg) {
    double d = INFINITY;
    dfx g;
    xl_status st = dfx_load(f, cfg, NULL, &g);
    CHECK_MSG(st == XL_OK, "%s", xl_last_error());
    if (!st) {
        int n;
        float *h = dfx_run_single(&g, 0, NULL, 1, &n);
        if (h)
            d = dfx_diff(h, (size_t)n * f->info.hidden_size,
                         json_object_get(json_object_get(f->ref, "first_input"), "last_hidden_state"));
        free(h);
    }
    dfx_unload(&g);
    return d;
}

static void test_windows(const dfx *f) {
    int n, H = f->info.hidden_size, at = 10;
    int32_t *tok = input_tokens(f, 7, &n);
    CHECK(n >= 20);
    json_t *c = json_deep_copy(f->config);
    json_object_set_new(c, "sliding_window", json_integer(8));
    dfx g, gc;
    xl_model_options causal = {.attention = XL_ATTN_FORCE_CAUSAL};
    CHECK(dfx_load(f, c, NULL, &g) == XL_OK);
    CHECK(dfx_load(f, c, &causal, &gc) == XL_OK);
    json_decref(c);
    if (!g.state || !gc.state || n < 20) {
        dfx_unload(&g);
        dfx_unload(&gc);
        free(tok);
        return;
    }
    float *full = malloc(sizeof(float) * (size_t)H), *win = malloc(sizeof(float) * (size_t)H);
    float *wide = malloc(sizeof(float) * (size_t)H);
    /* Bidirectional, window 8: layer 0 (sliding) sees at-4..at+4. */
    dfx_layer1_row(&g, tok, n, at, full);
    dfx_layer1_row(&g, tok + at - 4, 9, 4, win);
    CHECK_MSG(max_diff(full, win, (size_t)H) <= 1e-5, "bidirectional window: row != its window alone (%.3g)",
              max_diff(full, win, (size_t)H));
    dfx_layer1_row(f, tok, n, at, wide);
    CHECK_MSG(max_diff(full, wide, (size_t)H) > 1e-3, "window 8 vs 16 changed nothing");
    /* One token fewer on the right is not the same: the window reaches at+4. */
    dfx_layer1_row(&g, tok + at - 4, 8, 4, win);
    CHECK(max_diff(full, win, (size_t)H) > 1e-4);
    /* Causal, window 8: layer 0 sees at-7..at. */
    dfx_layer1_row(&gc, tok, n, at, full);
    dfx_layer1_row(&gc, tok + at - 7, 8, 7, win);
    CHECK_MSG(max_diff(full, win, (size_t)H) <= 1e-5, "causal window: row != its window alone (%.3g)",
              max_diff(full, win, (size_t)H));
    dfx_unload(&g);
    dfx_unload(&gc);
    free(full);
    free(win);
    free(wide);
    free(tok);
}

static void test_layer_kinds(const dfx *f) {
    /* Without layer_types, sliding_window_pattern 3 gives sliding, sliding, full. */
    json_t *c = json_deep_copy(f->config);
    json_object_del(c, "layer_types");
    double d = variant_diff(f, c);
    CHECK_MSG(d <= TOL, "sliding_window_pattern 3: %.3g", d);
    /* Pattern 1: every layer full (window and local RoPE base gone): a different model. */
    json_object_set_new(c, "sliding_window_pattern", json_integer(1));
    d = variant_diff(f, c);
    CHECK_MSG(d > 1e-3, "all-full layers changed only %.3g", d);
    json_decref(c);
    /* rope_scaling applies to full layers: linear factor 1 is the identity, 4 is not. */
    c = json_deep_copy(f->config);
    json_object_set_new(c, "rope_scaling", json_pack("{s:s,s:f}", "rope_type", "linear", "factor", 1.0));
    d = variant_diff(f, c);
    CHECK_MSG(d <= TOL, "linear factor 1: %.3g", d);
    json_object_set_new(c, "rope_scaling", json_pack("{s:s,s:f}", "rope_type", "linear", "factor", 4.0));
    d = variant_diff(f, c);
    CHECK_MSG(d > 1e-4, "linear factor 4 changed only %.3g", d);
    json_decref(c);
}

static void test_override(const dfx *f) {
    int n, n2, H = f->info.hidden_size;
    float *bi = dfx_run_mode(f, 0, XL_ATTN_DEFAULT, &n);
    float *ca = dfx_run_mode(f, 0, XL_ATTN_FORCE_CAUSAL, &n2);
    if (bi && ca) CHECK(max_diff(bi, ca, (size_t)n * H) > 1e-2);
    xl_arch_info info;
    xl_model_options causal = {.attention = XL_ATTN_FORCE_CAUSAL};
    dfx g;
    CHECK(dfx_load(f, NULL, &causal, &g) == XL_OK);
    CHECK_EQ_INT(g.info.causal, 1);
    dfx_unload(&g);
    f->arch->get_info(f->model, &info);
    CHECK_EQ_INT(info.causal, 0);
    free(bi);
    free(ca);
    /* Without use_bidirectional_attention the config means causal (Gemma 3 LM). */
    json_t *c = json_deep_copy(f->config);
    json_object_del(c, "use_bidirectional_attention");
    void *m = NULL;
    CHECK(f->arch->load(c, f->w, f->dir, NULL, &m) == XL_OK);
    if (m) {
        f->arch->get_info(m, &info);
        CHECK_EQ_INT(info.causal, 1);
        f->arch->free(m);
    }
    json_decref(c);
}

static void expect_error(const dfx *f, json_t *cfg, xl_status want, const char *needle, const char *what) {
    xl_status st = dfx_load_variant(f, cfg);
    CHECK_MSG(st == want, "%s: status %s, want %s (%s)", what, xl_status_name(st), xl_status_name(want), xl_last_error());
    CHECK_MSG(strstr(xl_last_error(), needle) != NULL, "%s: message \"%s\" does not name \"%s\"", what, xl_last_error(), needle);
    json_decref(cfg);
}

static void test_config_errors(const dfx *f) {
    json_t *c = json_deep_copy(f->config);
    json_object_set_new(c, "hidden_activation", json_string("gelu"));
    expect_error(f, c, XL_ERR_UNSUPPORTED, "gelu", "hidden_activation gelu");
    c = json_deep_copy(f->config);
    json_object_set_new(c, "attn_logit_softcapping", json_real(50.0));
    expect_error(f, c, XL_ERR_UNSUPPORTED, "attn_logit_softcapping", "softcapping");
    c = json_deep_copy(f->config);
    json_object_set_new(c, "layer_types", json_pack("[s,s]", "sliding_attention", "full_attention"));
    expect_error(f, c, XL_ERR_FORMAT, "layer_types", "layer_types of the wrong length");
    c = json_deep_copy(f->config);
    json_array_set_new(json_object_get(c, "layer_types"), 1, json_string("chunked_attention"));
    expect_error(f, c, XL_ERR_UNSUPPORTED, "chunked_attention", "unknown layer type");
    c = json_deep_copy(f->config);
    json_object_set_new(c, "rope_scaling", json_pack("{s:s,s:f}", "rope_type", "yarn", "factor", 4.0));
    expect_error(f, c, XL_ERR_UNSUPPORTED, "yarn", "rope_type yarn");
    c = json_deep_copy(f->config);
    json_object_set_new(c, "query_pre_attn_scalar", json_integer(0));
    expect_error(f, c, XL_ERR_FORMAT, "query_pre_attn_scalar", "query_pre_attn_scalar 0");
    c = json_deep_copy(f->config);
    json_object_set_new(c, "head_dim", json_integer(16));
    expect_error(f, c, XL_ERR_FORMAT, "q_proj", "head_dim contradicting q_proj");
    c = json_deep_copy(f->config);
    json_object_set_new(c, "intermediate_size", json_integer(31));
    expect_error(f, c, XL_ERR_FORMAT, "gate_proj", "intermediate_size contradicting the MLP");
    c = json_deep_copy(f->config);
    json_object_set_new(c, "attention_bias", json_true());
    expect_error(f, c, XL_ERR_FORMAT, "q_proj.bias", "attention_bias without biases");
    c = json_deep_copy(f->config);
    json_object_set_new(c, "num_hidden_layers", json_integer(4));
    json_object_del(c, "layer_types");
    expect_error(f, c, XL_ERR_FORMAT, "layers.3.", "a layer missing from the checkpoint");
    c = json_deep_copy(f->config);
    json_object_set_new(c, "sliding_window", json_integer(0));
    expect_error(f, c, XL_ERR_FORMAT, "sliding_window", "sliding_window 0");

    c = json_pack("{s:s}", "model_type", "gemma3");
    CHECK(!xl_arch_gemma3.matches(c)); /* the multimodal wrapper config is not the text model */
    json_decref(c);
}

int main(void) {
    dfx f;
    if (dfx_open(&f, "gemma3-tiny", &xl_arch_gemma3)) {
        CHECK_EQ_INT(f.info.causal, 0);
        CHECK_EQ_INT(f.info.head_dim, 8);
        CHECK_EQ_INT(f.info.num_layers, 3);
        dfx_check_single(&f, TOL);
        dfx_check_batch(&f, TOL);
        dfx_check_state(&f);
        dfx_check_q8(&f, 0.999, TOL); /* q8: cosine >= 0.999 to float32 per input */
        test_windows(&f);
        test_layer_kinds(&f);
        test_override(&f);
        test_config_errors(&f);
    }
    dfx_close(&f);
    return test_summary("test_gemma3");
}
