/* TEI's POST /predict for a sequence-classification folder (any cross-encoder xling
 * scores: NLI and other multi-label classifiers, one-label rerankers): `inputs` is a
 * text, a pair [text, text_pair], or a batch of [text] and [text, text_pair] items;
 * `raw_scores`, `truncate`. Reply per item: every label as {"score","label"}, best first
 * (a single item: that list; a batch: a list of them), the scores `xling score` gives
 * (xl_score_texts: softmax over several labels, the activation for one; raw_scores: the
 * logits), prepared here and run by the batcher with other requests' items. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

/* One request's items (pointing into its JSON). */
typedef struct {
    size_t n;
    const char **texts, **pairs;
    size_t *lens, *pair_lens;
} pr_items;

static void items_free(pr_items *it) {
    free(it->texts);
    free(it->pairs);
    free(it->lens);
    free(it->pair_lens);
}

/* Item i from a string or an array of one or two strings; -1 when it is neither. */
static int item_set(pr_items *it, size_t i, json_t *v) {
    if (json_is_string(v)) {
        it->texts[i] = json_string_value(v);
        it->lens[i] = json_string_length(v);
        return 0;
    }
    size_t k = json_is_array(v) ? json_array_size(v) : 0;
    if (k < 1 || k > 2) return -1;
    for (size_t j = 0; j < k; j++)
        if (!json_is_string(json_array_get(v, j))) return -1;
    it->texts[i] = json_string_value(json_array_get(v, 0));
    it->lens[i] = json_string_length(json_array_get(v, 0));
    if (k == 2) {
        it->pairs[i] = json_string_value(json_array_get(v, 1));
        it->pair_lens[i] = json_string_length(json_array_get(v, 1));
    }
    return 0;
}

/* inputs into it (*batch: a list of items); -1 after a 422 reply. */
static int items_parse(json_t *v, pr_items *it, int *batch, srv_reply *r) {
    static const char *want = "inputs must be a string, a pair [string, string], or a batch of [string] and "
                              "[string, string] items";
    if (!v) {
        reply_tei_error(r, 422, "Validation", "inputs is required");
        return -1;
    }
    *batch = json_is_array(v) && json_array_size(v) > 0 && json_is_array(json_array_get(v, 0));
    if (json_is_array(v) && json_array_size(v) == 0) {
        reply_tei_error(r, 422, "Empty", "inputs: the input list is empty");
        return -1;
    }
    size_t n = *batch ? json_array_size(v) : 1;
    if (*batch && reply_tei_batch_too_large(r, n)) return -1;
    it->texts = calloc(n, sizeof *it->texts);
    it->pairs = calloc(n, sizeof *it->pairs);
    it->lens = calloc(n, sizeof *it->lens);
    it->pair_lens = calloc(n, sizeof *it->pair_lens);
    if (!it->texts || !it->pairs || !it->lens || !it->pair_lens) {
        reply_tei_error(r, 500, "Backend", "out of memory");
        return -1;
    }
    it->n = n;
    for (size_t i = 0; i < n; i++) {
        if (item_set(it, i, *batch ? json_array_get(v, i) : v)) {
            if (*batch) reply_tei_error(r, 422, "Validation", "inputs[%zu]: %s", i, want);
            else reply_tei_error(r, 422, "Validation", "%s", want);
            return -1;
        }
    }
    return 0;
}

/* The labels of one item's scores, best first (ties: label order); order: room for
 * n_labels. */
static void put_predictions(jbuf *b, const float *scores, int n_labels, int *order) {
    for (int k = 0; k < n_labels; k++) {
        int j = k;
        while (j > 0 && scores[order[j - 1]] < scores[k]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = k;
    }
    jb_puts(b, "[");
    for (int j = 0; j < n_labels; j++) {
        int k = order[j];
        jb_puts(b, j ? ",{\"score\":" : "{\"score\":");
        jb_float(b, scores[k]);
        jb_puts(b, ",\"label\":");
        char buf[32];
        const char *label = srv_label_name(k, buf);
        jb_string(b, label, strlen(label));
        jb_puts(b, "}");
    }
    jb_puts(b, "]");
}

void route_tei_predict(const char *body, size_t len, srv_reply *r) {
    json_t *root = tei_load_object(body, len, r);
    if (!root) return;
    pr_items it = {0};
    float *scores = NULL;
    int *order = NULL;
    if (!g_srv.classifier) {
        /* as TEI answers for an embedding model */
        reply_tei_error(r, 424, "Backend", "model is not a classifier model");
        goto done;
    }
    int raw = tei_get_bool(root, "raw_scores", 0, r);
    if (raw < 0) goto done;
    int truncate = tei_get_bool(root, "truncate", g_srv.cfg.auto_truncate, r);
    if (truncate < 0) goto done;
    int batch;
    if (items_parse(json_object_get(root, "inputs"), &it, &batch, r)) goto done;
    int L = g_srv.rinfo.n_labels;
    scores = malloc(it.n * (size_t)L * sizeof *scores);
    order = malloc((size_t)L * sizeof *order);
    if (!scores || !order) {
        reply_tei_error(r, 500, "Backend", "out of memory");
        goto done;
    }
    srv_err e;
    if (srv_cross_compute(NULL, 0, it.texts, it.lens, it.pairs, it.pair_lens, it.n, raw, truncate, "input", scores,
                          &r->tokens, &e)) {
        if (e.fail == RQ_UNAVAILABLE) reply_tei_error(r, 503, "Unhealthy", "%s", e.msg);
        else if (e.fail == RQ_SERVER) reply_tei_error(r, 500, "Backend", "%s", e.msg);
        else reply_tei_error(r, 422, "Validation", "%s", e.msg);
        goto done;
    }
    if (batch) jb_puts(&r->body, "[");
    for (size_t i = 0; i < it.n; i++) {
        if (i) jb_puts(&r->body, ",");
        put_predictions(&r->body, scores + i * (size_t)L, L, order);
    }
    if (batch) jb_puts(&r->body, "]");
    r->status = 200;
done:
    free(order);
    free(scores);
    items_free(&it);
    json_decref(root);
}
