/* Cross-encoders and rerankers (xl_reranker_info_get, xl_score_texts, xl_rerank) against
 * the float64 references of ../shared's fixtures: xlmr-reranker-tiny (XLM-R, 1 label,
 * sigmoid), bert-nli-tiny (BERT + pooler, 3 labels, softmax), qwen3-reranker-seqcls-tiny
 * (Qwen3ForSequenceClassification) and qwen3-reranker-tiny (Qwen3ForCausalLM yes/no).
 * Tolerances as the fixtures state: 1e-4 for F32 weights, 2e-3 for F16. Also: the kinds
 * and activations read from config.json, the Qwen3-Reranker prompt (default and given
 * instruction), truncation, and the errors (no head, several labels in rerank, a pair
 * on a decoder reranker, an unknown activation), and the scores in steps (xl_prepare_rerank /
 * xl_prepare_scores, several calls' sequences in one xl_run, xl_scores_take). */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"
#include "xling.h"

static char g_dir[4096];

static const char *fixture(const char *name) {
    const char *shared = t_shared_dir();
    if (!shared) return NULL;
    snprintf(g_dir, sizeof g_dir, "%s/fixtures/models/%s", shared, name);
    return g_dir;
}

static json_t *load_ref(const char *dir) {
    json_error_t e;
    json_t *j = json_load_file(t_path(dir, "reference.json"), 0, &e);
    CHECK_MSG(j != NULL, "%s/reference.json: %s", dir, e.text);
    return j;
}

static const char *str_at(const json_t *arr, size_t i, const char *key) {
    return json_string_value(json_object_get(json_array_get(arr, i), key));
}
static double num_at(const json_t *arr, size_t i, const char *key) {
    return json_number_value(json_object_get(json_array_get(arr, i), key));
}

/* max |got[i] - want[i]| over a JSON number array */
static double worst_vs(const float *got, const json_t *want, size_t n) {
    double w = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - json_number_value(json_array_get(want, i)));
        if (d > w || isnan(d)) w = isnan(d) ? INFINITY : d;
    }
    return w;
}

static int load(const char *dir, xl_model **m) {
    return CHECK_MSG(xl_model_load(dir, NULL, m) == XL_OK, "%s: %s", dir, xl_last_error());
}

/* The shared fixture NAME loaded, with its reference and reranker info; NULL when the
 * fixtures are absent (skipped) or a check failed. */
static xl_model *open_reranker(const char *name, json_t **ref, xl_reranker_info *info) {
    const char *dir = fixture(name);
    if (!dir) { t_skip_case(name, "../shared (fixtures) not found"); return NULL; }
    *ref = load_ref(dir);
    xl_model *m;
    if (!*ref || !load(dir, &m)) { json_decref(*ref); return NULL; }
    CHECK(xl_reranker_info_get(m, info) == XL_OK);
    return m;
}

/* Scores of rerank[r] with xl_rerank (documents as given; the query) vs scores / raw. */
static void check_rerank(const xl_model *m, const char *name, const char *query, const char *const *docs, size_t n,
                         const char *instruct, const json_t *want, const json_t *want_raw, const json_t *order,
                         double tol) {
    float *s = calloc(n, sizeof *s), *raw = calloc(n, sizeof *raw);
    xl_rerank_options o;
    xl_rerank_options_init(&o);
    o.instruct = instruct;
    if (CHECK_MSG(xl_rerank(m, query, (size_t)-1, docs, NULL, n, &o, s) == XL_OK, "%s: %s", name, xl_last_error())) {
        double w = worst_vs(s, want, n);
        CHECK_MSG(w <= tol, "%s rerank scores: max abs %.3g (tolerance %g)", name, w, tol);
        printf("%s: rerank of %zu documents, max abs %.3g vs the reference scores\n", name, n, w);
        /* best first: the reference order is the order of our scores */
        for (size_t k = 0; k + 1 < json_array_size(order); k++) {
            size_t a = (size_t)json_integer_value(json_array_get(order, k));
            size_t b = (size_t)json_integer_value(json_array_get(order, k + 1));
            CHECK_MSG(a < n && b < n && s[a] >= s[b], "%s: order %zu before %zu", name, a, b);
        }
    }
    o.raw_scores = 1;
    if (CHECK_MSG(xl_rerank(m, query, strlen(query), docs, NULL, n, &o, raw) == XL_OK, "%s: %s", name, xl_last_error())) {
        double w = worst_vs(raw, want_raw, n);
        CHECK_MSG(w <= tol, "%s rerank raw scores: max abs %.3g (tolerance %g)", name, w, tol);
    }
    free(s);
    free(raw);
}

/* XLM-R cross-encoder, one label, Sigmoid from sentence_transformers.activation_fn. */
static void test_xlmr(void) {
    json_t *ref;
    xl_reranker_info info;
    xl_model *m = open_reranker("xlmr-reranker-tiny", &ref, &info);
    if (!m) return;
    CHECK_EQ_INT(info.kind, XL_RERANKER_ENCODER);
    CHECK_EQ_INT(info.n_labels, 1);
    CHECK_EQ_INT(info.activation, XL_SCORE_SIGMOID);
    CHECK_EQ_INT(info.prompted, 0);
    const json_t *pairs = json_object_get(ref, "pairs");
    size_t n = json_array_size(pairs);
    const char **a = calloc(n, sizeof *a), **b = calloc(n, sizeof *b);
    float *s = calloc(n, sizeof *s), *raw = calloc(n, sizeof *raw);
    json_t *want = json_array(), *want_raw = json_array();
    for (size_t i = 0; i < n; i++) {
        a[i] = str_at(pairs, i, "text");
        b[i] = str_at(pairs, i, "text_pair");
        json_array_append_new(want, json_real(num_at(pairs, i, "score")));
        json_array_append(want_raw, json_array_get(json_object_get(json_array_get(pairs, i), "logits"), 0));
    }
    xl_rerank_options o;
    xl_rerank_options_init(&o);
    if (CHECK_MSG(xl_score_texts(m, a, NULL, b, NULL, n, &o, s) == XL_OK, "%s", xl_last_error())) {
        double w = worst_vs(s, want, n);
        CHECK_MSG(w <= 2e-3, "xlmr-reranker-tiny scores: %.3g", w);
        printf("xlmr-reranker-tiny: %zu pairs (one of 507 tokens), max abs %.3g vs the reference scores\n", n, w);
    }
    o.raw_scores = 1;
    if (CHECK(xl_score_texts(m, a, NULL, b, NULL, n, &o, raw) == XL_OK))
        CHECK_MSG(worst_vs(raw, want_raw, n) <= 2e-3, "logits: %.3g", worst_vs(raw, want_raw, n));
    /* the activation is the sigmoid of the raw score */
    for (size_t i = 0; i < n; i++) CHECK_NEAR(s[i], 1.0 / (1.0 + exp(-raw[i])), 1e-6);
    /* truncation: a max_length cut still scores (the 507-token pair gets shorter) */
    o.raw_scores = 0;
    o.max_length = 64;
    CHECK_MSG(xl_score_texts(m, a, NULL, b, NULL, n, &o, s) == XL_OK, "%s", xl_last_error());
    o.max_length = 2; /* below the pair's 4 special tokens */
    CHECK(xl_score_texts(m, a, NULL, b, NULL, n, &o, s) == XL_ERR_ARG);

    const json_t *rr = json_array_get(json_object_get(ref, "rerank"), 0);
    const json_t *docs = json_object_get(rr, "documents");
    size_t nd = json_array_size(docs);
    const char **d = calloc(nd, sizeof *d);
    for (size_t i = 0; i < nd; i++) d[i] = json_string_value(json_array_get(docs, i));
    check_rerank(m, "xlmr-reranker-tiny", json_string_value(json_object_get(rr, "query")), d, nd, NULL,
                 json_object_get(rr, "scores"), json_object_get(rr, "raw_scores"), json_object_get(rr, "order"), 2e-3);
    /* the document lengths are honoured (a prefix of each document) */
    size_t *lens = calloc(nd, sizeof *lens);
    float *s1 = calloc(nd, sizeof *s1), *s2 = calloc(nd, sizeof *s2);
    char **cut = calloc(nd, sizeof *cut);
    for (size_t i = 0; i < nd; i++) {
        lens[i] = strlen(d[i]) / 2;
        cut[i] = strndup(d[i], lens[i]);
    }
    const char *q = json_string_value(json_object_get(rr, "query"));
    CHECK(xl_rerank(m, q, (size_t)-1, d, lens, nd, NULL, s1) == XL_OK);
    CHECK(xl_rerank(m, q, (size_t)-1, (const char *const *)cut, NULL, nd, NULL, s2) == XL_OK);
    CHECK(t_max_abs_diff(s1, s2, nd) == 0);
    for (size_t i = 0; i < nd; i++) free(cut[i]);
    free(cut); free(lens); free(s1); free(s2);
    /* no documents: nothing to do */
    CHECK(xl_rerank(m, q, (size_t)-1, NULL, NULL, 0, NULL, NULL) == XL_OK);
    CHECK(xl_rerank(m, NULL, 0, d, NULL, nd, NULL, s) == XL_ERR_ARG);
    free(d);
    free(a); free(b); free(s); free(raw);
    json_decref(want); json_decref(want_raw);
    xl_model_free(m);
    json_decref(ref);
}

/* BERT NLI: three labels named by id2label, softmax probabilities. */
static void test_bert_nli(void) {
    json_t *ref;
    xl_reranker_info info;
    xl_model *m = open_reranker("bert-nli-tiny", &ref, &info);
    if (!m) return;
    CHECK_EQ_INT(info.kind, XL_RERANKER_ENCODER);
    CHECK_EQ_INT(info.n_labels, 3);
    CHECK_EQ_INT(info.activation, XL_SCORE_SOFTMAX);
    CHECK_STR(xl_reranker_label(m, 0), "contradiction");
    CHECK_STR(xl_reranker_label(m, 1), "entailment");
    CHECK_STR(xl_reranker_label(m, 2), "neutral");
    CHECK(xl_reranker_label(m, 3) == NULL);
    const json_t *pairs = json_object_get(ref, "pairs");
    size_t n = json_array_size(pairs);
    const char **a = calloc(n, sizeof *a), **b = calloc(n, sizeof *b);
    float *p = calloc(n * 3, sizeof *p), *lg = calloc(n * 3, sizeof *lg);
    for (size_t i = 0; i < n; i++) {
        a[i] = str_at(pairs, i, "text");
        b[i] = str_at(pairs, i, "text_pair");
    }
    xl_rerank_options o;
    xl_rerank_options_init(&o);
    double wp = 0, wl = 0;
    if (CHECK_MSG(xl_score_texts(m, a, NULL, b, NULL, n, &o, p) == XL_OK, "%s", xl_last_error())) {
        o.raw_scores = 1;
        CHECK(xl_score_texts(m, a, NULL, b, NULL, n, &o, lg) == XL_OK);
        for (size_t i = 0; i < n; i++) {
            const json_t *pi = json_array_get(pairs, i);
            const json_t *probs = json_object_get(pi, "probabilities");
            int best = 0;
            for (int k = 0; k < 3; k++) {
                double d = fabs(p[i * 3 + k] - json_number_value(json_object_get(probs, xl_reranker_label(m, k))));
                wp = d > wp ? d : wp;
                d = fabs(lg[i * 3 + k] - json_number_value(json_array_get(json_object_get(pi, "logits"), (size_t)k)));
                wl = d > wl ? d : wl;
                if (p[i * 3 + k] > p[i * 3 + best]) best = k;
            }
            CHECK_STR(xl_reranker_label(m, best), json_string_value(json_object_get(pi, "label")));
        }
        CHECK_MSG(wp <= 1e-4, "bert-nli-tiny probabilities: %.3g", wp);
        CHECK_MSG(wl <= 1e-4, "bert-nli-tiny logits: %.3g", wl);
        printf("bert-nli-tiny: %zu pairs, max abs %.3g (probabilities), %.3g (logits)\n", n, wp, wl);
    }
    /* reranking needs one label */
    float s[1];
    CHECK(xl_rerank(m, "q", (size_t)-1, a, NULL, 1, NULL, s) == XL_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(xl_last_error(), "3 labels") != NULL, "message: %s", xl_last_error());
    free(a); free(b); free(p); free(lg);
    xl_model_free(m);
    json_decref(ref);
}

/* A copy of bert-nli-tiny with another config.json (weights and tokenizer linked). */
static int make_variant(const char *src, const char *tmp, const char *config_text, int with_tokenizer) {
    char path[4200], target[4200];
    if (mkdir(tmp, 0700) && !CHECK(0)) return 0;
    static const char *const files[] = {"model.safetensors", "tokenizer.json"};
    for (int k = 0; k < 1 + with_tokenizer; k++) {
        snprintf(path, sizeof path, "%s/%s", tmp, files[k]);
        snprintf(target, sizeof target, "%s/%s", src, files[k]);
        if (symlink(target, path)) return 0;
    }
    snprintf(path, sizeof path, "%s/config.json", tmp);
    FILE *f = fopen(path, "w");
    if (!f) return 0;
    fputs(config_text, f);
    return fclose(f) == 0;
}

static void remove_variant(const char *tmp) {
    static const char *const files[] = {"model.safetensors", "tokenizer.json", "config.json", "tokenizer.json.xlcache"};
    char path[4200];
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "%s/%s", tmp, files[k]);
        unlink(path);
    }
    rmdir(tmp);
}

/* The activation from config.json: sentence_transformers.activation_fn, the older
 * sbert_ce_default_activation_function, an unknown one. */
static void test_activations(void) {
    const char *src = fixture("bert-nli-tiny");
    if (!src) { t_skip_case("activations", "../shared (fixtures) not found"); return; }
    char srcdir[4096];
    if (!CHECK(realpath(src, srcdir) != NULL)) return; /* the links must work from /tmp */
    json_error_t e;
    json_t *cfg = json_load_file(t_path(srcdir, "config.json"), 0, &e);
    if (!CHECK(cfg != NULL)) return;
    static const struct {
        const char *key, *value;
        xl_status st;
        xl_score_activation a;
    } cases[] = {
        {"st", "torch.nn.modules.activation.Sigmoid", XL_OK, XL_SCORE_SIGMOID},
        {"sbert_ce_default_activation_function", "torch.nn.modules.activation.Tanh", XL_OK, XL_SCORE_TANH},
        {"st", "torch.nn.modules.linear.Identity", XL_OK, XL_SCORE_SOFTMAX}, /* several labels: softmax */
        {"st", "torch.nn.modules.activation.GELU", XL_ERR_UNSUPPORTED, 0},
    };
    const char *texts[] = {"A man plays.", "Un uomo sta andando in skateboard."};
    const char *pairs[] = {"Nobody plays.", "Autobomben töten Menschen."};
    float raw[6], s[6];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "/tmp/xling_test_rerank_%d_%zu", (int)getpid(), c);
        json_t *v = json_deep_copy(cfg);
        if (!strcmp(cases[c].key, "st")) json_object_set_new(v, "sentence_transformers", json_pack("{ss}", "activation_fn", cases[c].value));
        else json_object_set_new(v, cases[c].key, json_string(cases[c].value));
        char *text = json_dumps(v, 0);
        xl_model *m = NULL;
        if (CHECK(make_variant(srcdir, tmp, text, 1)) && load(tmp, &m)) {
            xl_reranker_info info;
            xl_status st = xl_reranker_info_get(m, &info);
            CHECK_MSG(st == cases[c].st, "%s: status %d (%s)", cases[c].value, (int)st, xl_last_error());
            if (st == XL_OK) {
                CHECK_EQ_INT(info.activation, cases[c].a);
                xl_rerank_options o;
                xl_rerank_options_init(&o);
                o.raw_scores = 1;
                CHECK(xl_score_texts(m, texts, NULL, pairs, NULL, 2, &o, raw) == XL_OK);
                o.raw_scores = 0;
                CHECK(xl_score_texts(m, texts, NULL, pairs, NULL, 2, &o, s) == XL_OK);
                for (int k = 0; k < 6; k++) {
                    double want = cases[c].a == XL_SCORE_SIGMOID ? 1 / (1 + exp(-raw[k])) : cases[c].a == XL_SCORE_TANH ? tanh(raw[k]) : s[k];
                    CHECK_NEAR(s[k], want, 1e-6);
                }
                if (cases[c].a == XL_SCORE_SOFTMAX) CHECK_NEAR(s[0] + s[1] + s[2], 1.0, 1e-6);
            } else {
                CHECK_MSG(strstr(xl_last_error(), "GELU") != NULL, "message: %s", xl_last_error());
                float one[3];
                CHECK(xl_score_texts(m, texts, NULL, pairs, NULL, 1, NULL, one) == XL_ERR_UNSUPPORTED);
            }
        }
        xl_model_free(m);
        free(text);
        json_decref(v);
        remove_variant(tmp);
    }
    json_decref(cfg);
}

/* A ...ForSequenceClassification decoder folder without its score.weight: a load error
 * naming the tensor. */
static void test_missing_score(void) {
    const char *src = fixture("qwen3-reranker-tiny");
    if (!src) { t_skip_case("missing score.weight", "../shared (fixtures) not found"); return; }
    char srcdir[4096], tmp[4096];
    if (!CHECK(realpath(src, srcdir) != NULL)) return;
    json_error_t e;
    json_t *cfg = json_load_file(t_path(srcdir, "config.json"), 0, &e);
    if (!CHECK(cfg != NULL)) return;
    json_object_set_new(cfg, "architectures", json_pack("[s]", "Qwen3ForSequenceClassification"));
    char *text = json_dumps(cfg, 0);
    snprintf(tmp, sizeof tmp, "/tmp/xling_test_rerank_%d_noscore", (int)getpid());
    xl_model *m = NULL;
    if (CHECK(make_variant(srcdir, tmp, text, 0))) {
        CHECK(xl_model_load(tmp, NULL, &m) == XL_ERR_FORMAT);
        CHECK_MSG(strstr(xl_last_error(), "score.weight") != NULL, "message: %s", xl_last_error());
    }
    xl_model_free(m);
    free(text);
    json_decref(cfg);
    remove_variant(tmp);
}

/* The body between "<Document>: " and the suffix of a seq-cls reference document. */
static char *strip_doc(const char *s, const char *suffix) {
    const char *p = strncmp(s, "<Document>: ", 12) == 0 ? s + 12 : s;
    size_t n = strlen(p), k = strlen(suffix);
    if (n >= k && !strcmp(p + n - k, suffix)) n -= k;
    return strndup(p, n);
}

/* Qwen3ForSequenceClassification: the score head on the last token; xl_rerank applies
 * the Qwen3-Reranker prompt to the raw query and documents. */
static void test_qwen3_seqcls(void) {
    json_t *ref;
    xl_reranker_info info;
    xl_model *m = open_reranker("qwen3-reranker-seqcls-tiny", &ref, &info);
    if (!m) return;
    CHECK_EQ_INT(info.kind, XL_RERANKER_DECODER_SEQCLS);
    CHECK_EQ_INT(info.n_labels, 1);
    CHECK_EQ_INT(info.activation, XL_SCORE_SIGMOID);
    CHECK_EQ_INT(info.prompted, 1);
    const json_t *fmt = json_object_get(ref, "input_format");
    CHECK_STR(info.default_instruct, json_string_value(json_object_get(fmt, "default_instruction")));
    const json_t *pairs = json_object_get(ref, "pairs");
    size_t n = json_array_size(pairs);
    char **whole = calloc(n, sizeof *whole);
    const char **a = calloc(n, sizeof *a), **b = calloc(n, sizeof *b);
    float *s = calloc(n, sizeof *s), *raw = calloc(n, sizeof *raw);
    json_t *want = json_array(), *want_raw = json_array();
    for (size_t i = 0; i < n; i++) {
        a[i] = str_at(pairs, i, "text");
        b[i] = str_at(pairs, i, "text_pair");
        whole[i] = malloc(strlen(a[i]) + strlen(b[i]) + 1);
        strcat(strcpy(whole[i], a[i]), b[i]);
        json_array_append_new(want, json_real(num_at(pairs, i, "score")));
        json_array_append(want_raw, json_array_get(json_object_get(json_array_get(pairs, i), "logits"), 0));
    }
    xl_rerank_options o;
    xl_rerank_options_init(&o);
    /* score: the whole formatted input as one text */
    if (CHECK_MSG(xl_score_texts(m, (const char *const *)whole, NULL, NULL, NULL, n, &o, s) == XL_OK, "%s", xl_last_error())) {
        double w = worst_vs(s, want, n);
        CHECK_MSG(w <= 2e-3, "qwen3-reranker-seqcls-tiny scores: %.3g", w);
        printf("qwen3-reranker-seqcls-tiny: %zu inputs, max abs %.3g vs the reference scores\n", n, w);
    }
    o.raw_scores = 1;
    if (CHECK(xl_score_texts(m, (const char *const *)whole, NULL, NULL, NULL, n, &o, raw) == XL_OK))
        CHECK_MSG(worst_vs(raw, want_raw, n) <= 2e-3, "logits: %.3g", worst_vs(raw, want_raw, n));
    /* the last token that is not padding, as HF: trailing pad ids (<|endoftext|>) change nothing */
    if (n) {
        char *padded = malloc(strlen(whole[0]) + 64);
        strcat(strcpy(padded, whole[0]), "<|endoftext|><|endoftext|>");
        const char *two[2] = {whole[0], padded};
        float r2[2] = {0, 1};
        CHECK(xl_score_texts(m, two, NULL, NULL, NULL, 2, &o, r2) == XL_OK);
        CHECK_MSG(r2[0] == r2[1], "trailing pads: %.9g vs %.9g", r2[0], r2[1]);
        free(padded);
    }
    /* a pair is refused */
    CHECK(xl_score_texts(m, a, NULL, b, NULL, n, &o, raw) == XL_ERR_INPUT);
    CHECK_MSG(strstr(xl_last_error(), "input 1") && strstr(xl_last_error(), "pair"), "message: %s", xl_last_error());

    const json_t *rr = json_array_get(json_object_get(ref, "rerank"), 0);
    const json_t *docs = json_object_get(rr, "documents");
    size_t nd = json_array_size(docs);
    char **d = calloc(nd, sizeof *d);
    const char *suffix = json_string_value(json_object_get(fmt, "suffix"));
    for (size_t i = 0; i < nd; i++) d[i] = strip_doc(json_string_value(json_array_get(docs, i)), suffix);
    check_rerank(m, "qwen3-reranker-seqcls-tiny", json_string_value(json_object_get(rr, "raw_query")),
                 (const char *const *)d, nd, NULL, json_object_get(rr, "scores"), json_object_get(rr, "raw_scores"),
                 json_object_get(rr, "order"), 2e-3);
    /* max_length that leaves no room for the prompt */
    xl_rerank_options_init(&o);
    o.max_length = 20;
    float one;
    CHECK(xl_rerank(m, "q", (size_t)-1, (const char *const *)d, NULL, 1, &o, &one) == XL_ERR_ARG);
    CHECK_MSG(strstr(xl_last_error(), "prompt") != NULL, "message: %s", xl_last_error());
    for (size_t i = 0; i < nd; i++) free(d[i]);
    free(d);
    for (size_t i = 0; i < n; i++) free(whole[i]);
    free(whole); free(a); free(b); free(s); free(raw);
    json_decref(want); json_decref(want_raw);
    xl_model_free(m);
    json_decref(ref);
}

/* Qwen3ForCausalLM (Qwen3-Reranker): P(yes) from the yes / no logits. */
static void test_qwen3_yesno(void) {
    json_t *ref;
    xl_reranker_info info;
    xl_model *m = open_reranker("qwen3-reranker-tiny", &ref, &info);
    if (!m) return;
    CHECK_EQ_INT(info.kind, XL_RERANKER_DECODER_YESNO);
    CHECK_EQ_INT(info.n_labels, 1);
    CHECK_EQ_INT(info.prompted, 1);
    CHECK_EQ_INT(info.yes_id, json_integer_value(json_object_get(ref, "yes_token_id")));
    CHECK_EQ_INT(info.no_id, json_integer_value(json_object_get(ref, "no_token_id")));
    const json_t *prompt = json_object_get(ref, "prompt");
    CHECK_STR(info.default_instruct, json_string_value(json_object_get(prompt, "default_instruction")));
    CHECK(xl_reranker_label(m, 0) == NULL);
    /* the prompt the library applies, token for token: a one-document rerank equals
     * scoring the reference's full text */
    const json_t *ps = json_object_get(ref, "prompts");
    size_t n = json_array_size(ps);
    const char **t = calloc(n, sizeof *t);
    float *s = calloc(n, sizeof *s), *raw = calloc(n, sizeof *raw);
    json_t *want = json_array(), *want_raw = json_array();
    for (size_t i = 0; i < n; i++) {
        t[i] = str_at(ps, i, "text");
        json_array_append_new(want, json_real(num_at(ps, i, "score")));
        json_array_append_new(want_raw, json_real(num_at(ps, i, "logit_yes") - num_at(ps, i, "logit_no")));
    }
    xl_rerank_options o;
    xl_rerank_options_init(&o);
    if (CHECK_MSG(xl_score_texts(m, t, NULL, NULL, NULL, n, &o, s) == XL_OK, "%s", xl_last_error())) {
        double w = worst_vs(s, want, n);
        CHECK_MSG(w <= 2e-3, "qwen3-reranker-tiny scores: %.3g", w);
        printf("qwen3-reranker-tiny: %zu prompts (up to 318 tokens), max abs %.3g vs the reference scores\n", n, w);
    }
    o.raw_scores = 1;
    if (CHECK(xl_score_texts(m, t, NULL, NULL, NULL, n, &o, raw) == XL_OK))
        CHECK_MSG(worst_vs(raw, want_raw, n) <= 2e-3, "logit differences: %.3g", worst_vs(raw, want_raw, n));
    for (size_t i = 0; i < n; i++) {
        const char *instr = str_at(ps, i, "instruction");
        float one, one_text;
        const char *doc = str_at(ps, i, "document");
        xl_rerank_options_init(&o);
        o.instruct = instr;
        o.raw_scores = 1;
        CHECK(xl_rerank(m, str_at(ps, i, "query"), (size_t)-1, &doc, NULL, 1, &o, &one) == XL_OK);
        CHECK(xl_score_texts(m, &t[i], NULL, NULL, NULL, 1, &o, &one_text) == XL_OK);
        CHECK_MSG(fabs(one - one_text) <= 1e-5, "prompt %zu: rerank %.7g, formatted text %.7g", i, one, one_text);
    }
    const json_t *rrs = json_object_get(ref, "rerank");
    for (size_t r = 0; r < json_array_size(rrs); r++) {
        const json_t *rr = json_array_get(rrs, r);
        const json_t *docs = json_object_get(rr, "documents");
        size_t nd = json_array_size(docs);
        const char **d = calloc(nd, sizeof *d);
        for (size_t i = 0; i < nd; i++) d[i] = json_string_value(json_array_get(docs, i));
        check_rerank(m, "qwen3-reranker-tiny", json_string_value(json_object_get(rr, "query")), d, nd,
                     json_string_value(json_object_get(rr, "instruction")), json_object_get(rr, "scores"),
                     json_object_get(rr, "logit_differences"), json_object_get(rr, "order"), 2e-3);
        free(d);
    }
    /* truncation cuts the body, keeps the prompt: a long document cut to 120 tokens
     * scores as its formatted text cut the same way would; here: it runs and differs */
    const char *longdoc = str_at(ps, 6, "document");
    float full, cut;
    xl_rerank_options_init(&o);
    CHECK(xl_rerank(m, "I need love.", (size_t)-1, &longdoc, NULL, 1, &o, &full) == XL_OK);
    o.max_length = 120;
    CHECK(xl_rerank(m, "I need love.", (size_t)-1, &longdoc, NULL, 1, &o, &cut) == XL_OK);
    CHECK(fabs(full - cut) > 1e-7 && cut > 0 && cut < 1);
    free(t); free(s); free(raw);
    json_decref(want); json_decref(want_raw);
    xl_model_free(m);
    json_decref(ref);
}

/* Models without a head: an encoder embedder, and a Qwen3ForCausalLM embedder with
 * modules.json (Qwen3-Embedding's layout), which stays an embedder. */
static void test_no_head(void) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/models/bert-tiny", t_repo_dir());
    xl_model *m;
    if (load(dir, &m)) {
        xl_reranker_info info;
        CHECK(xl_reranker_info_get(m, &info) == XL_ERR_UNSUPPORTED);
        CHECK_MSG(strstr(xl_last_error(), "no classification head") != NULL, "message: %s", xl_last_error());
        const char *doc = "x";
        float s;
        CHECK(xl_rerank(m, "q", (size_t)-1, &doc, NULL, 1, NULL, &s) == XL_ERR_UNSUPPORTED);
        CHECK(xl_score_texts(m, &doc, NULL, NULL, NULL, 1, NULL, &s) == XL_ERR_UNSUPPORTED);
        xl_model_free(m);
    }
    const char *q = fixture("qwen3-tiny");
    if (!q) { t_skip_case("qwen3-tiny (no head)", "../shared (fixtures) not found"); return; }
    if (load(q, &m)) {
        xl_reranker_info info;
        CHECK(xl_reranker_info_get(m, &info) == XL_ERR_UNSUPPORTED);
        xl_model_free(m);
    }
}

/* The scores in steps (xl_prepare_rerank / xl_prepare_scores, one xl_run over the
 * sequences of several calls, xl_scores_take) = xl_rerank / xl_score_texts, activation
 * and raw; a failed item, outputs of another kind and bad calls are errors. */
static void check_steps(const char *name) {
    json_t *ref;
    xl_reranker_info info;
    xl_model *m = open_reranker(name, &ref, &info);
    if (!m) return;
    static const char *q = "Where is the Eiffel Tower?";
    static const char *docs[4] = {"The Eiffel Tower is in Paris.", "Bananas are yellow.", "",
                                  "Der Eiffelturm steht in Paris."};
    const char *pairs[4] = {docs[0], NULL, docs[2], docs[3]}; /* item 1: the text alone */
    const char *texts[4] = {q, docs[1], q, q};
    int L = info.n_labels, one = L == 1;
    size_t nr = one ? 4 : 0, ns = 4, n = nr + ns;
    float want[8 * 4], want_raw[8 * 4], got[4];
    xl_rerank_options o;
    xl_rerank_options_init(&o);
    /* the references, in one call each */
    if (one) {
        CHECK_MSG(xl_rerank(m, q, (size_t)-1, docs, NULL, 4, &o, want) == XL_OK, "%s: %s", name, xl_last_error());
        o.raw_scores = 1;
        CHECK(xl_rerank(m, q, (size_t)-1, docs, NULL, 4, &o, want_raw) == XL_OK);
        o.raw_scores = 0;
    }
    const char *const *sp = info.prompted ? NULL : pairs; /* decoders score formatted text alone */
    CHECK_MSG(xl_score_texts(m, texts, NULL, sp, NULL, ns, &o, want + nr * L) == XL_OK, "%s: %s", name, xl_last_error());
    o.raw_scores = 1;
    CHECK(xl_score_texts(m, texts, NULL, sp, NULL, ns, &o, want_raw + nr * L) == XL_OK);
    o.raw_scores = 0;
    /* two calls' sequences (and an item that fails) in one xl_run */
    xl_sequence *a = NULL, *b = NULL, *bad = NULL;
    if (one) CHECK(xl_prepare_rerank(m, q, (size_t)-1, docs, NULL, 4, &o, &a) == XL_OK);
    else CHECK(xl_prepare_rerank(m, q, (size_t)-1, docs, NULL, 4, &o, &a) == XL_ERR_UNSUPPORTED && a == NULL);
    CHECK(xl_prepare_scores(m, texts, NULL, sp, NULL, ns, &o, &b) == XL_OK);
    int32_t oov[3] = {1, INT32_MAX - 1, 2};
    const int32_t *ov = oov;
    size_t ovn = 3;
    CHECK(xl_prepare_ids(m, &ov, &ovn, NULL, 1, NULL, &bad) == XL_OK);
    xl_sequence *all = calloc(n + 1, sizeof *all);
    if (all && b && bad && (!one || a)) {
        if (nr) memcpy(all, a, nr * sizeof *all);
        memcpy(all + nr, bad, sizeof *all);
        memcpy(all + nr + 1, b, ns * sizeof *all);
        xl_context *ctx;
        xl_outputs out;
        CHECK(xl_scores_outputs(m) == (info.kind == XL_RERANKER_DECODER_YESNO ? (unsigned)XL_OUT_LAYER_LAST
                                                                               : (unsigned)XL_OUT_SCORES));
        if (CHECK(xl_context_new(m, &ctx) == XL_OK)) {
            if (CHECK_MSG(xl_run(ctx, all, n + 1, xl_scores_outputs(m), NULL, &out) == XL_OK, "%s", xl_last_error())) {
                double worst = 0, worst_raw = 0;
                for (size_t i = 0; i < n; i++) {
                    size_t k = i < nr ? i : i + 1, w = i * (size_t)L;
                    if (!CHECK_MSG(xl_scores_take(m, &out, k, 0, got) == XL_OK, "%s item %zu: %s", name, k, xl_last_error()))
                        continue;
                    for (int l = 0; l < L; l++) worst = fmax(worst, fabs(got[l] - want[w + l]));
                    CHECK(xl_scores_take(m, &out, k, 1, got) == XL_OK);
                    for (int l = 0; l < L; l++) worst_raw = fmax(worst_raw, fabs(got[l] - want_raw[w + l]));
                }
                CHECK_MSG(worst <= 1e-5 && worst_raw <= 1e-5, "%s: merged run vs one call: %.3g, raw %.3g", name, worst,
                          worst_raw);
                printf("%s: %zu items of %d calls in one xl_run, max abs %.3g (raw %.3g) vs one call each\n", name,
                       n + 1, one ? 3 : 2, worst, worst_raw);
                CHECK(out.status[nr] != XL_OK);
                CHECK(xl_scores_take(m, &out, nr, 0, got) == XL_ERR_ARG);   /* the failed item */
                CHECK(xl_scores_take(m, &out, n + 1, 0, got) == XL_ERR_ARG); /* beyond the outputs */
                CHECK(xl_scores_take(NULL, &out, 0, 0, got) == XL_ERR_ARG);
                CHECK(xl_scores_take(m, &out, 0, 0, NULL) == XL_ERR_ARG);
                xl_outputs_free(&out);
            }
            /* outputs of another kind */
            if (CHECK(xl_run(ctx, all + nr + 1, 1, XL_OUT_EMBEDDING, NULL, &out) == XL_OK)) {
                CHECK(xl_scores_take(m, &out, 0, 0, got) == XL_ERR_ARG);
                xl_outputs_free(&out);
            }
            xl_context_free(ctx);
        }
    }
    free(all);
    xl_sequences_free(a, nr);
    xl_sequences_free(b, ns);
    xl_sequences_free(bad, 1);
    if (info.prompted) {
        xl_sequence *none = NULL;
        CHECK(xl_prepare_scores(m, texts, NULL, pairs, NULL, ns, &o, &none) == XL_ERR_INPUT && none == NULL);
    }
    xl_sequence *z = (xl_sequence *)1;
    CHECK(xl_prepare_scores(m, texts, NULL, NULL, NULL, 0, &o, &z) == XL_OK && z == NULL);
    CHECK(xl_prepare_scores(m, texts, NULL, NULL, NULL, 1, &o, NULL) == XL_ERR_ARG);
    CHECK(xl_prepare_rerank(m, NULL, 0, docs, NULL, 1, &o, &z) == XL_ERR_ARG);
    xl_model_free(m);
    json_decref(ref);
}

static void test_steps(void) {
    check_steps("xlmr-reranker-tiny");
    check_steps("bert-nli-tiny");
    check_steps("qwen3-reranker-seqcls-tiny");
    check_steps("qwen3-reranker-tiny");
}

int main(void) {
    test_xlmr();
    test_bert_nli();
    test_activations();
    test_missing_score();
    test_qwen3_seqcls();
    test_qwen3_yesno();
    test_no_head();
    test_steps();
    return test_summary("test_rerank");
}
