/* The Llama family (xl_arch_llama) against the float64 reference fixtures:
 * llama-bi-tiny (bidirectional, Llama-3 rope_scaling, BF16), qwen3-tiny (q/k norm,
 * explicit head_dim, F16), qwen2-tiny (q/k/v biases, BF16), mistral-tiny (no head_dim
 * key, F16). Every input alone and the padded batch; hidden states of input 0 per layer.
 *
 * Tolerance: 1e-4 max abs. xling converts the F16/BF16 weights to float32 exactly and
 * computes in float32 (float64 RoPE angles), so the only gap to the float64 reference is
 * float32 rounding (observed ~1e-6).
 * Then: the attention-direction override, sliding windows (by their defining property:
 * a windowed position only sees its window), config errors. */
#include "decoder_fixture.h"
#include "kernels/linear_half.h"
#include "kernels/q8.h"
#include "kernels/rope.h"

#define TOL 1e-4

extern const xl_arch xl_arch_llama;

/* q8 (kernels/q8.h): the pooled vector of every input keeps cosine >= 0.999 to float32. */
#define Q8_MIN_COS 0.999

static void check_fixture(const char *name, int causal, int head_dim) {
    dfx f;
    if (dfx_open(&f, name, &xl_arch_llama)) {
        CHECK_EQ_INT(f.info.causal, causal);
        CHECK_EQ_INT(f.info.head_dim, head_dim);
        CHECK_EQ_INT(f.info.has_final_norm, 1);
        CHECK(f.info.n_params > 0);
        dfx_check_single(&f, TOL);
        dfx_check_batch(&f, TOL);
        dfx_check_state(&f);
        dfx_check_q8(&f, Q8_MIN_COS, TOL);
    }
    dfx_close(&f);
}

static double max_diff(const float *a, const float *b, size_t n) { return t_max_abs_diff(a, b, n); }

/* llama-bi-tiny loaded forced causal differs; its first row then equals a run of token
 * 0 alone. qwen3-tiny (causal) forced bidirectional differs; the info follows the
 * option. Option values outside the enums are load errors naming the option. */
static void test_attention_override(void) {
    dfx f;
    if (dfx_open(&f, "llama-bi-tiny", &xl_arch_llama)) {
        int n, n2, n1;
        int H = f.info.hidden_size;
        float *bi = dfx_run_mode(&f, 0, XL_ATTN_DEFAULT, &n);
        float *bi2 = dfx_run_mode(&f, 0, XL_ATTN_FORCE_BIDIRECTIONAL, &n2);
        xl_model_options o = {.attention = XL_ATTN_FORCE_CAUSAL};
        dfx g;
        CHECK(dfx_load(&f, NULL, &o, &g) == XL_OK);
        CHECK_EQ_INT(g.info.causal, 1);
        CHECK_EQ_INT(f.info.causal, 0);
        float *ca = g.model ? dfx_run_single(&g, 0, NULL, 1, &n) : NULL;
        /* Token 0 alone (its row 0 under causal attention sees nothing else). */
        const json_t *ids = dfx_input_ids(&f, 0);
        int32_t tok0 = (int32_t)json_integer_value(json_array_get(ids, 0));
        uint8_t m1 = 1;
        n1 = 1;
        float *one = malloc(sizeof(float) * (size_t)H);
        xl_batch b1 = {.B = 1, .T = 1, .ids = &tok0, .mask = &m1, .lens = &n1};
        CHECK(g.model && f.arch->forward(g.model, g.state, &b1, one, NULL, NULL, 1) == XL_OK);
        /* A state serves only the model it was made for. */
        CHECK(f.arch->forward(g.model, f.state, &b1, one + 0, NULL, NULL, 1) == XL_ERR_ARG);
        CHECK(strstr(xl_last_error(), "state") != NULL);
        CHECK(f.arch->forward(g.model, NULL, &b1, one + 0, NULL, NULL, 1) == XL_ERR_ARG);
        CHECK(g.model && f.arch->forward(g.model, g.state, &b1, one, NULL, NULL, 1) == XL_OK);
        dfx_unload(&g);
        if (bi && bi2 && ca) {
            CHECK(max_diff(bi, bi2, (size_t)n * H) == 0.0);
            double d = max_diff(bi, ca, (size_t)n * H);
            CHECK_MSG(d > 1e-2, "llama-bi-tiny: causal vs bidirectional differ by only %.3g", d);
            CHECK_MSG(max_diff(ca, one, (size_t)H) <= 1e-5, "causal row 0 != token 0 alone (%.3g)", max_diff(ca, one, (size_t)H));
            CHECK(max_diff(bi, one, (size_t)H) > 1e-3);
        }
        free(bi);
        free(bi2);
        free(ca);
        free(one);
        void *m = NULL;
        o = (xl_model_options){.attention = (xl_attention_mode)3};
        CHECK(f.arch->load(f.config, f.w, f.dir, &o, &m) == XL_ERR_ARG && m == NULL);
        CHECK(strstr(xl_last_error(), "attention = 3") != NULL);
        o = (xl_model_options){.attention = (xl_attention_mode)-1};
        CHECK(f.arch->load(f.config, f.w, f.dir, &o, &m) == XL_ERR_ARG && m == NULL);
        o = (xl_model_options){.quantize = (xl_quantize)2};
        CHECK(f.arch->load(f.config, f.w, f.dir, &o, &m) == XL_ERR_ARG && m == NULL);
        CHECK(strstr(xl_last_error(), "quantize = 2") != NULL);
        CHECK(f.arch->state_new(NULL, &m) == XL_ERR_ARG && m == NULL);
    }
    dfx_close(&f);

    if (dfx_open(&f, "qwen3-tiny", &xl_arch_llama)) {
        int n, n2, H = f.info.hidden_size;
        float *ca = dfx_run_mode(&f, 0, XL_ATTN_DEFAULT, &n);
        float *bi = dfx_run_mode(&f, 0, XL_ATTN_FORCE_BIDIRECTIONAL, &n2);
        if (ca && bi) {
            double d = max_diff(ca, bi, (size_t)n * H);
            CHECK_MSG(d > 1e-2, "qwen3-tiny: forcing bidirectional changed the output by only %.3g", d);
        }
        /* Causal: the prefix [0, 10] alone gives the same row 10. */
        const json_t *ids = dfx_input_ids(&f, 0);
        int32_t pre[11];
        for (int t = 0; t < 11; t++) pre[t] = (int32_t)json_integer_value(json_array_get(ids, (size_t)t));
        uint8_t mask[11];
        memset(mask, 1, sizeof mask);
        int len = 11;
        float *hp = malloc(sizeof(float) * 11 * (size_t)H);
        xl_batch b = {.B = 1, .T = 11, .ids = pre, .mask = mask, .lens = &len};
        CHECK(f.arch->forward(f.model, f.state, &b, hp, NULL, NULL, 1) == XL_OK);
        if (ca) CHECK(max_diff(ca + 10 * (size_t)H, hp + 10 * (size_t)H, (size_t)H) <= 1e-5);
        free(hp);
        free(ca);
        free(bi);
    }
    dfx_close(&f);
}

static json_t *variant(const dfx *f) { return json_deep_copy(f->config); }

/* A config error whose message names `needle`. */
static void expect_error(const dfx *f, json_t *cfg, xl_status want, const char *needle, const char *what) {
    xl_status st = dfx_load_variant(f, cfg);
    CHECK_MSG(st == want, "%s: status %s, want %s (%s)", what, xl_status_name(st), xl_status_name(want), xl_last_error());
    CHECK_MSG(strstr(xl_last_error(), needle) != NULL, "%s: message \"%s\" does not name \"%s\"", what, xl_last_error(), needle);
    json_decref(cfg);
}

static void test_config_errors(void) {
    dfx f;
    if (dfx_open(&f, "llama-bi-tiny", &xl_arch_llama)) {
        json_t *c = variant(&f);
        json_object_set_new(json_object_get(c, "rope_scaling"), "rope_type", json_string("yarn"));
        expect_error(&f, c, XL_ERR_UNSUPPORTED, "yarn", "rope_type yarn");
        c = variant(&f);
        json_object_set_new(c, "rope_scaling", json_pack("{s:s,s:f}", "type", "dynamic", "factor", 2.0));
        expect_error(&f, c, XL_ERR_UNSUPPORTED, "dynamic", "rope type dynamic");
        c = variant(&f);
        json_object_del(json_object_get(c, "rope_scaling"), "low_freq_factor");
        expect_error(&f, c, XL_ERR_FORMAT, "low_freq_factor", "llama3 without low_freq_factor");
        c = variant(&f);
        json_object_set_new(c, "intermediate_size", json_integer(65));
        expect_error(&f, c, XL_ERR_FORMAT, "gate_proj", "intermediate_size contradicting the MLP");
        c = variant(&f);
        json_object_set_new(c, "vocab_size", json_integer(1000));
        expect_error(&f, c, XL_ERR_FORMAT, "embed_tokens", "vocab_size contradicting embed_tokens");
        c = variant(&f);
        json_object_set_new(c, "num_key_value_heads", json_integer(3));
        expect_error(&f, c, XL_ERR_FORMAT, "num_key_value_heads", "kv heads not dividing heads");
        c = variant(&f);
        json_object_set_new(c, "hidden_act", json_string("gelu"));
        expect_error(&f, c, XL_ERR_UNSUPPORTED, "gelu", "hidden_act gelu");
        c = variant(&f);
        json_object_set_new(c, "attention_bias", json_true());
        expect_error(&f, c, XL_ERR_FORMAT, "q_proj.bias", "attention_bias without bias tensors");
        c = variant(&f);
        json_object_set_new(c, "partial_rotary_factor", json_real(0.5));
        expect_error(&f, c, XL_ERR_UNSUPPORTED, "partial_rotary_factor", "partial rotary");
        c = variant(&f);
        json_object_set_new(c, "layer_types", json_pack("[s,s]", "full_attention", "sliding_attention"));
        expect_error(&f, c, XL_ERR_UNSUPPORTED, "sliding_attention", "sliding layer in a Llama");
        c = variant(&f);
        json_object_set_new(c, "alibi", json_true());
        expect_error(&f, c, XL_ERR_UNSUPPORTED, "ALiBi", "alibi");
        c = variant(&f);
        json_object_set_new(c, "is_causal", json_string("no"));
        expect_error(&f, c, XL_ERR_FORMAT, "is_causal", "is_causal not a boolean");

        /* is_causal decides over the architecture name. */
        c = variant(&f);
        json_object_set_new(c, "is_causal", json_true());
        void *m = NULL;
        CHECK(f.arch->load(c, f.w, f.dir, NULL, &m) == XL_OK);
        if (m) {
            xl_arch_info info;
            f.arch->get_info(m, &info);
            CHECK_EQ_INT(info.causal, 1);
            f.arch->free(m);
        }
        json_decref(c);

        /* Bad batches. */
        int H = f.info.hidden_size, len = 2;
        int32_t ids[2] = {1, 128256};
        uint8_t mask[2] = {1, 1};
        float out[2 * 64];
        CHECK(H <= 64);
        xl_batch b = {.B = 1, .T = 2, .ids = ids, .mask = mask, .lens = &len};
        CHECK(f.arch->forward(f.model, f.state, &b, out, NULL, NULL, 1) == XL_ERR_INPUT);
        CHECK(strstr(xl_last_error(), "128256") != NULL);
        ids[1] = 5;
        mask[1] = 0;
        CHECK(f.arch->forward(f.model, f.state, &b, out, NULL, NULL, 1) == XL_ERR_ARG);
        len = 3;
        CHECK(f.arch->forward(f.model, f.state, &b, out, NULL, NULL, 1) == XL_ERR_ARG);
    }
    dfx_close(&f);

    if (dfx_open(&f, "qwen3-tiny", &xl_arch_llama)) {
        json_t *c = variant(&f);
        json_object_set_new(c, "head_dim", json_integer(12));
        expect_error(&f, c, XL_ERR_FORMAT, "q_proj", "head_dim contradicting q_proj");
        c = variant(&f);
        json_object_set_new(c, "attention_bias", json_true());
        expect_error(&f, c, XL_ERR_FORMAT, "q_proj.bias", "qwen3 attention_bias without biases");
        c = variant(&f);
        json_object_set_new(c, "head_dim", json_integer(15));
        expect_error(&f, c, XL_ERR_FORMAT, "odd", "odd head_dim");
    }
    dfx_close(&f);

    if (dfx_open(&f, "mistral-tiny", &xl_arch_llama)) {
        json_t *c = variant(&f);
        json_object_set_new(c, "num_hidden_layers", json_integer(3));
        expect_error(&f, c, XL_ERR_FORMAT, "layers.2.", "a layer missing from the checkpoint");
        c = variant(&f);
        json_object_del(c, "hidden_size");
        expect_error(&f, c, XL_ERR_FORMAT, "hidden_size", "no hidden_size");
        c = variant(&f);
        json_object_set_new(c, "hidden_size", json_integer(21));
        expect_error(&f, c, XL_ERR_FORMAT, "head_dim", "hidden not divisible by heads");
    }
    dfx_close(&f);

    /* Architectures this file does not own. */
    json_t *c = json_pack("{s:[s],s:s}", "architectures", "MixtralForCausalLM", "model_type", "mixtral");
    CHECK(!xl_arch_llama.matches(c));
    json_decref(c);
    c = json_pack("{s:[s]}", "architectures", "Qwen2ForCausalLM");
    CHECK(xl_arch_llama.matches(c));
    json_decref(c);
}

/* Causal sliding window w: after one block, position i depends only on tokens
 * i-w+1..i, and RoPE only on position differences, so running those w tokens alone gives
 * the same row. */
static void check_window_property(const dfx *f, json_t *cfg, int w, const char *what) {
    dfx g;
    xl_status st = dfx_load(f, cfg, NULL, &g);
    CHECK_MSG(st == XL_OK, "%s: %s", what, xl_last_error());
    if (st) {
        dfx_unload(&g);
        return;
    }
    const json_t *ids = dfx_input_ids(f, 0);
    int n = (int)json_array_size(ids), H = f->info.hidden_size, at = 12;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)n);
    for (int t = 0; t < n; t++) tok[t] = (int32_t)json_integer_value(json_array_get(ids, (size_t)t));
    float *full = malloc(sizeof(float) * (size_t)H), *win = malloc(sizeof(float) * (size_t)H);
    float *nowin = malloc(sizeof(float) * (size_t)H);
    dfx_layer1_row(&g, tok, n, at, full);
    dfx_layer1_row(&g, tok + at - w + 1, w, w - 1, win);
    dfx_layer1_row(f, tok, n, at, nowin);
    CHECK_MSG(max_diff(full, win, (size_t)H) <= 1e-5, "%s: windowed row != its window alone (%.3g)", what,
              max_diff(full, win, (size_t)H));
    CHECK_MSG(max_diff(full, nowin, (size_t)H) > 1e-3, "%s: the window changed nothing", what);
    free(tok);
    free(full);
    free(win);
    free(nowin);
    dfx_unload(&g);
}

static void test_windows(void) {
    dfx f;
    if (dfx_open(&f, "mistral-tiny", &xl_arch_llama)) {
        json_t *c = variant(&f);
        json_object_set_new(c, "sliding_window", json_integer(4));
        check_window_property(&f, c, 4, "mistral sliding_window 4");
        json_decref(c);
    }
    dfx_close(&f);
    if (dfx_open(&f, "qwen2-tiny", &xl_arch_llama)) {
        json_t *c = variant(&f);
        json_object_set_new(c, "use_sliding_window", json_true());
        json_object_set_new(c, "sliding_window", json_integer(5));
        json_object_set_new(c, "max_window_layers", json_integer(0));
        check_window_property(&f, c, 5, "qwen2 use_sliding_window");
        json_decref(c);
        /* use_sliding_window false: sliding_window is ignored, the reference still holds. */
        c = variant(&f);
        json_object_set_new(c, "sliding_window", json_integer(2));
        json_object_set_new(c, "max_window_layers", json_integer(0));
        dfx g;
        CHECK(dfx_load(&f, c, NULL, &g) == XL_OK);
        if (g.state) {
            int n;
            float *h = dfx_run_single(&g, 0, NULL, 1, &n);
            if (h) {
                double d = dfx_diff(h, (size_t)n * f.info.hidden_size,
                                    json_object_get(json_object_get(f.ref, "first_input"), "last_hidden_state"));
                CHECK_MSG(d <= TOL, "qwen2 with an unused window: %.3g", d);
            }
            free(h);
        }
        dfx_unload(&g);
        json_decref(c);
    }
    dfx_close(&f);
}

static void test_rope_frequencies(void) {
    double def[4], lin[4], l3[4];
    xl_rope_params p = {.kind = XL_ROPE_DEFAULT, .theta = 500000.0};
    xl_rope_inv_freq(&p, 8, def);
    CHECK_NEAR(def[0], 1.0, 0);
    CHECK_NEAR(def[2], 1.0 / sqrt(500000.0), 1e-15);
    p.kind = XL_ROPE_LINEAR;
    p.factor = 4.0;
    xl_rope_inv_freq(&p, 8, lin);
    for (int i = 0; i < 4; i++) CHECK_NEAR(lin[i], def[i] / 4.0, 1e-18);
    /* Llama 3 (factor 8, bands 1 / 4 over 8192): wavelengths 6.3 and 167 stay (< 2048),
     * 4443 is blended, 118725 is divided by 8. */
    p = (xl_rope_params){.kind = XL_ROPE_LLAMA3, .theta = 500000.0, .factor = 8.0, .low_freq_factor = 1.0,
                         .high_freq_factor = 4.0, .original_max_pos = 8192.0};
    xl_rope_inv_freq(&p, 8, l3);
    CHECK_NEAR(l3[0], def[0], 0);
    CHECK_NEAR(l3[1], def[1], 0);
    double wl = 2 * M_PI / def[2], s = (8192.0 / wl - 1.0) / 3.0;
    CHECK_NEAR(l3[2], (1 - s) * def[2] / 8 + s * def[2], 1e-18);
    CHECK(s > 0 && s < 1);
    CHECK_NEAR(l3[3], def[3] / 8, 1e-20);
}

/* Random weights in [-1, 1] stored as dt; returns them as float too. */
static void *random_weights(xl_dtype dt, int N, int K, float *as_f32, unsigned *seed) {
    size_t n = (size_t)N * K;
    void *w = malloc(n * (dt == XL_DT_F32 ? 4 : 2));
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1103515245u + 12345u;
        float v = (float)((*seed >> 8) & 0xffff) / 32768.0f - 1.0f;
        if (dt == XL_DT_F32) {
            ((float *)w)[i] = v;
        } else if (dt == XL_DT_BF16) {
            uint32_t b;
            memcpy(&b, &v, 4);
            ((uint16_t *)w)[i] = (uint16_t)(b >> 16);
        } else { /* an F16 of magnitude 2^-6 .. 2^0: sign, exponent 9..15, mantissa */
            uint16_t sign = (uint16_t)((*seed >> 30) & 1) << 15, e = (uint16_t)(9 + (*seed >> 24) % 6);
            ((uint16_t *)w)[i] = (uint16_t)(sign | (uint16_t)(e << 10) | (uint16_t)((*seed >> 8) & 0x3ff));
        }
    }
    xl_convert_to_f32(dt, w, as_f32, n);
    return w;
}

/* Exact (double) y = x·Wᵀ + b. */
static void reference_linear(const float *x, int M, int K, const float *W, int N, const float *b, double *y) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = b ? b[n] : 0.0;
            for (int k = 0; k < K; k++) s += (double)x[(size_t)m * K + k] * W[(size_t)n * K + k];
            y[(size_t)m * N + n] = s;
        }
}

/* linear_half (F16 / BF16 weights read in place) against the exact product, on shapes
 * with every kind of edge for both kernels: few rows (M < 8: M % 4, N % 4, K % 16
 * nonzero) and batches (M >= 8: partial 16-row panels and 48-row micro-tiles, N % 8
 * nonzero, several tiles per thread, and 150 x 16400 so that x is packed in two
 * chunks). Tolerance 1e-4 relative to the output scale (float32 accumulation over
 * K <= 16400, ~K * 2^-24 relative in the worst case, far less for random signs).
 * q8 against the same product: cosine >= 0.9999 per row, and its VNNI and portable
 * kernels agree to float rounding (1e-5 relative). */
static void test_linear_kernels(void) {
    static const int shapes[][3] = {{7, 37, 300}, {1, 5, 16},     {13, 100, 600}, {4, 64, 128},
                                    {8, 8, 64},   {50, 37, 300},  {100, 72, 129}, {150, 20, 16400}};
    static const xl_dtype dts[] = {XL_DT_BF16, XL_DT_F16, XL_DT_F32};
    unsigned seed = 7;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
        for (size_t di = 0; di < 3; di++) {
            float *Wf = malloc(sizeof(float) * (size_t)N * K), *x = malloc(sizeof(float) * (size_t)M * K);
            float *b = malloc(sizeof(float) * (size_t)N), *y = malloc(sizeof(float) * (size_t)M * N);
            float *y2 = malloc(sizeof(float) * (size_t)M * N);
            double *ref = malloc(sizeof(double) * (size_t)M * N);
            void *W = random_weights(dts[di], N, K, Wf, &seed);
            float *tmp = malloc(sizeof(float) * (size_t)M * K);
            void *xs = random_weights(XL_DT_F32, M, K, tmp, &seed);
            memcpy(x, xs, sizeof(float) * (size_t)M * K);
            free(xs);
            free(tmp);
            for (int n = 0; n < N; n++) b[n] = 0.01f * (float)(n % 7);
            reference_linear(x, M, K, Wf, N, b, ref);
            double scale = 0;
            for (size_t i = 0; i < (size_t)M * N; i++) scale = fmax(scale, fabs(ref[i]));

            float *work = malloc(sizeof(float) * (xl_linear_half_work(M, K, 2) + 1));
            xl_linear_half(x, M, K, W, dts[di], N, b, y, work, 2);
            double d = 0;
            for (size_t i = 0; i < (size_t)M * N; i++) d = fmax(d, fabs(y[i] - ref[i]));
            CHECK_MSG(d <= 1e-4 * scale, "linear_half %s %dx%dx%d: max diff %.3g (scale %.3g)", xl_dtype_name(dts[di]), M, N, K,
                      d, scale);
            free(work);

            xl_q8_matrix q;
            CHECK(xl_q8_quantize(W, dts[di], N, K, &q, 2) == XL_OK);
            CHECK_EQ_INT(q.Kp % XL_Q8_BLOCK, 0);
            void *qwork = malloc(xl_q8_work(M, K, 2));
            void *pwork = malloc(xl_q8_work_rows(M, K));
            xl_q8_linear(x, M, K, &q, b, y, qwork, 2);
            xl_q8_linear_portable(x, M, K, &q, b, y2, pwork, 1);
            double dk = 0;
            for (size_t i = 0; i < (size_t)M * N; i++) dk = fmax(dk, fabs(y[i] - y2[i]));
            CHECK_MSG(dk <= 1e-5 * scale, "q8 VNNI vs portable %dx%dx%d: %.3g", M, N, K, dk);
            for (int m = 0; m < M; m++) {
                double ab = 0, aa = 0, bb = 0;
                for (int n = 0; n < N; n++) {
                    double r = ref[(size_t)m * N + n], v = y[(size_t)m * N + n];
                    ab += r * v;
                    aa += v * v;
                    bb += r * r;
                }
                double c = ab / sqrt(aa * bb);
                CHECK_MSG(c >= 0.9999, "q8 %s %dx%dx%d row %d: cosine %.6f", xl_dtype_name(dts[di]), M, N, K, m, c);
            }
            free(qwork);
            free(pwork);
            xl_q8_free(&q);
            free(W);
            free(Wf);
            free(x);
            free(b);
            free(y);
            free(y2);
            free(ref);
        }
    }
    /* Quantization keeps exact zeros and extremes: a row of one value maps to +-127. */
    float row[3] = {0.5f, -0.5f, 0.0f};
    xl_q8_matrix q;
    CHECK(xl_q8_quantize(row, XL_DT_F32, 1, 3, &q, 1) == XL_OK);
    CHECK_EQ_INT(q.q[0], 127);
    CHECK_EQ_INT(q.q[1], -127);
    CHECK_EQ_INT(q.q[2], 0);
    CHECK_EQ_INT(q.q[3], 0); /* padding */
    CHECK_NEAR(q.scale[0], 0.5 / 127, 1e-9);
    xl_q8_free(&q);
    CHECK(xl_q8_quantize(row, XL_DT_I32, 1, 3, &q, 1) == XL_ERR_UNSUPPORTED);
    printf("    q8 kernel: %s\n", xl_q8_has_vnni() ? "AVX-512 VNNI" : "portable");
}

/* The multi-job forms (q / k / v and gate / up in one pass over x) give exactly what
 * one call per weight gives (same tiles, same order of additions: tolerance 0), for
 * jobs of different widths (a job's tiles straddle the threads' blocks), few rows and
 * batches, BF16 and q8. */
static void test_linear_multi(void) {
    static const int rows[] = {3, 61};
    const int K = 200, Ns[3] = {72, 17, 40};
    unsigned seed = 11;
    for (size_t ri = 0; ri < 2; ri++) {
        int M = rows[ri];
        float *tmp = malloc(sizeof(float) * (size_t)M * K);
        float *x = random_weights(XL_DT_F32, M, K, tmp, &seed);
        void *W[3];
        float *Wf[3], *b[3], *one[3], *multi[3];
        xl_q8_matrix q[3];
        for (int j = 0; j < 3; j++) {
            Wf[j] = malloc(sizeof(float) * (size_t)Ns[j] * K);
            W[j] = random_weights(XL_DT_BF16, Ns[j], K, Wf[j], &seed);
            b[j] = malloc(sizeof(float) * (size_t)Ns[j]);
            for (int n = 0; n < Ns[j]; n++) b[j][n] = 0.1f * (float)(n % 3) - 0.1f;
            one[j] = malloc(sizeof(float) * (size_t)M * Ns[j]);
            multi[j] = malloc(sizeof(float) * (size_t)M * Ns[j]);
            CHECK(xl_q8_quantize(W[j], XL_DT_BF16, Ns[j], K, &q[j], 2) == XL_OK);
        }
        float *work = malloc(sizeof(float) * (xl_linear_half_work(M, K, 2) + 1));
        xl_half_job hj[3];
        for (int j = 0; j < 3; j++) {
            xl_linear_half(x, M, K, W[j], XL_DT_BF16, Ns[j], j == 1 ? NULL : b[j], one[j], work, 2);
            hj[j] = (xl_half_job){.W = W[j], .dt = XL_DT_BF16, .N = Ns[j], .b = j == 1 ? NULL : b[j], .y = multi[j]};
        }
        xl_linear_half_multi(x, M, K, hj, 3, work, 2);
        for (int j = 0; j < 3; j++)
            CHECK_MSG(t_max_abs_diff(one[j], multi[j], (size_t)M * Ns[j]) == 0, "linear_half_multi M=%d job %d differs", M, j);
        void *qwork = malloc(xl_q8_work(M, K, 2));
        xl_q8_job qj[3];
        for (int j = 0; j < 3; j++) {
            xl_q8_linear(x, M, K, &q[j], b[j], one[j], qwork, 2);
            qj[j] = (xl_q8_job){.W = &q[j], .b = b[j], .y = multi[j]};
        }
        xl_q8_linear_multi(x, M, K, qj, 3, qwork, 2);
        for (int j = 0; j < 3; j++)
            CHECK_MSG(t_max_abs_diff(one[j], multi[j], (size_t)M * Ns[j]) == 0, "q8_linear_multi M=%d job %d differs", M, j);
        free(qwork);
        free(work);
        for (int j = 0; j < 3; j++) {
            xl_q8_free(&q[j]);
            free(W[j]);
            free(Wf[j]);
            free(b[j]);
            free(one[j]);
            free(multi[j]);
        }
        free(x);
        free(tmp);
    }
}

/* The MLP over a long batch runs in chunks of rows (bounded gate / up scratch): the
 * chunk size follows XL_DEC_MLP_BYTES (a multiple of 48 rows), and a forward in chunks
 * of 48 rows equals the one-pass forward exactly (rows are independent; tolerance 0). */
static void test_mlp_chunks(void) {
    xl_dec_dims d = {.hidden = 4096, .intermediate = 14336};
    CHECK_EQ_INT(xl_dec_mlp_rows(&d, 8192), 576); /* 64 MiB / (14336 * 8 B) = 585 -> 576 */
    CHECK_EQ_INT(xl_dec_mlp_rows(&d, 100), 100);
    d.intermediate = 1 << 22;
    CHECK_EQ_INT(xl_dec_mlp_rows(&d, 8192), 48);

    const int H = 40, F = 72, rows = 130;
    unsigned seed = 5;
    float *wf = malloc(sizeof(float) * (size_t)F * H);
    xl_dec_mlp m;
    memset(&m, 0, sizeof m);
    void *wg = random_weights(XL_DT_BF16, F, H, wf, &seed), *wu = random_weights(XL_DT_BF16, F, H, wf, &seed);
    float *wdf = malloc(sizeof(float) * (size_t)H * F);
    void *wd = random_weights(XL_DT_BF16, H, F, wdf, &seed);
    m.gate = (xl_dec_linear){.N = F, .K = H, .dtype = XL_DT_BF16, .w = wg};
    m.up = (xl_dec_linear){.N = F, .K = H, .dtype = XL_DT_BF16, .w = wu};
    m.down = (xl_dec_linear){.N = H, .K = F, .dtype = XL_DT_BF16, .w = wd};
    float *tmp = malloc(sizeof(float) * (size_t)rows * H);
    float *x = random_weights(XL_DT_F32, rows, H, tmp, &seed);
    size_t work = xl_linear_half_work(rows, F, 2);
    float *ref = malloc(sizeof(float) * (size_t)rows * H);
    xl_dec_scratch s;
    memset(&s, 0, sizeof s);
    s.gate = malloc(sizeof(float) * (size_t)rows * F);
    s.up = malloc(sizeof(float) * (size_t)rows * F);
    s.out = malloc(sizeof(float) * (size_t)rows * H);
    s.work = malloc(sizeof(float) * work);
    s.mlp_rows = rows;
    xl_dec_mlp_forward(&m, XL_KACT_SILU, x, rows, &s, 2);
    memcpy(ref, s.out, sizeof(float) * (size_t)rows * H);
    s.mlp_rows = 48; /* 48 + 48 + 34 */
    memset(s.out, 0, sizeof(float) * (size_t)rows * H);
    xl_dec_mlp_forward(&m, XL_KACT_SILU, x, rows, &s, 2);
    CHECK_MSG(t_max_abs_diff(ref, s.out, (size_t)rows * H) == 0, "MLP in chunks of 48 rows differs");
    double mag = 0;
    for (size_t i = 0; i < (size_t)rows * H; i++) mag = fmax(mag, fabs(ref[i]));
    CHECK(mag > 0.1); /* a real product, not zeros */
    free(s.gate);
    free(s.up);
    free(s.out);
    free(s.work);
    free(ref);
    free(x);
    free(tmp);
    free(wg);
    free(wu);
    free(wd);
    free(wf);
    free(wdf);
}

int main(void) {
    test_rope_frequencies();
    test_linear_kernels();
    test_linear_multi();
    test_mlp_chunks();
    check_fixture("llama-bi-tiny", 0, 8);
    check_fixture("qwen3-tiny", 1, 16);
    check_fixture("qwen2-tiny", 1, 4);
    check_fixture("mistral-tiny", 1, 10);
    test_attention_override();
    test_windows();
    test_config_errors();
    return test_summary("test_llama");
}
