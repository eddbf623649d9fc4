/* Reranking routes for a cross-encoder folder: TEI's POST /rerank (query, texts,
 * raw_scores, return_text, truncate → [{"index","score","text"?}] best first) and the
 * Cohere / Jina style POST /v1/rerank (query, documents, top_n, return_documents →
 * {"model","results":[{"index","relevance_score","document"?}],"usage"}), both with
 * xl_rerank's scores (the model's activation unless raw scores are asked for). The pairs
 * are prepared on the request's thread (xl_prepare_rerank) and run by the batcher, merged
 * with other requests' into token-budgeted passes as the embedding routes are. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

int srv_cross_compute(const char *query, size_t qlen, const char *const *texts, const size_t *lens,
                      const char *const *pairs, const size_t *pair_lens, size_t n, int raw, int truncate,
                      const char *what, float *scores, size_t *tokens, srv_err *e) {
    e->fail = RQ_OK;
    *tokens = 0;
    if (!g_srv.scores_want) {
        e->fail = RQ_SERVER;
        snprintf(e->msg, sizeof e->msg, "the served model has no classification head");
        return -1;
    }
    batcher_enter(g_srv.batcher);
    xl_rerank_options o;
    xl_rerank_options_init(&o);
    o.max_length = g_srv.max_input;
    xl_sequence *seqs = NULL;
    xl_status st = query ? xl_prepare_rerank(g_srv.model, query, qlen, texts, lens, n, &o, &seqs)
                         : xl_prepare_scores(g_srv.model, texts, lens, pairs, pair_lens, n, &o, &seqs);
    if (st) {
        batcher_leave(g_srv.batcher);
        e->fail = st == XL_ERR_NOMEM ? RQ_SERVER : RQ_INPUT;
        snprintf(e->msg, sizeof e->msg, "%s", xl_last_error());
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (seqs[i].status) {
            e->fail = RQ_INPUT;
            snprintf(e->msg, sizeof e->msg, "%s %zu: %s", what, i, seqs[i].error ? seqs[i].error : xl_status_name(seqs[i].status));
            rc = -1;
        } else if (seqs[i].truncated && !truncate && g_srv.rinfo.kind == XL_RERANKER_ENCODER) {
            e->fail = RQ_TOO_LONG;
            snprintf(e->msg, sizeof e->msg,
                     "%s %zu%s is longer than the limit of %d tokens; shorten it or ask for truncation", what, i,
                     query ? " with the query" : pairs && pairs[i] ? " with its pair" : "", g_srv.max_input);
            rc = -1;
        }
        *tokens += seqs[i].n;
    }
    if (rc) {
        batcher_leave(g_srv.batcher);
        xl_sequences_free(seqs, n);
        return -1;
    }
    srv_job job;
    if (srv_submit(seqs, n, *tokens, g_srv.scores_want, raw, what, &job, e)) return -1;
    memcpy(scores, job.scores, n * (size_t)g_srv.rinfo.n_labels * sizeof *scores);
    srv_job_free(&job);
    return 0;
}

/* Scores of n documents against the query; tokens = input tokens. */
static int rerank_compute(const char *q, size_t qlen, const char **docs, const size_t *lens, size_t n, int raw,
                          int truncate, float *scores, size_t *tokens, srv_err *e) {
    return srv_cross_compute(q, qlen, docs, lens, NULL, NULL, n, raw, truncate, "document", scores, tokens, e);
}

/* Indices [0, n) best first (ties: input order). */
static size_t *ranked(const float *scores, size_t n) {
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    if (!idx) return NULL;
    for (size_t i = 0; i < n; i++) idx[i] = i;
    /* insertion sort: n is at most --max-client-batch-size */
    for (size_t i = 1; i < n; i++) {
        size_t v = idx[i], k = i;
        while (k > 0 && (scores[idx[k - 1]] < scores[v] || (scores[idx[k - 1]] == scores[v] && idx[k - 1] > v))) {
            idx[k] = idx[k - 1];
            k--;
        }
        idx[k] = v;
    }
    return idx;
}

/* One request's documents (pointing into its JSON) and their scores and ranking. */
typedef struct {
    const char **docs;
    size_t *lens, *order;
    float *scores;
} rr_docs;

/* Room for n documents; -1 when out of memory. */
static int docs_alloc(rr_docs *d, size_t n) {
    d->docs = malloc(n * sizeof *d->docs);
    d->lens = malloc(n * sizeof *d->lens);
    d->scores = malloc(n * sizeof *d->scores);
    return d->docs && d->lens && d->scores ? 0 : -1;
}

/* The n strings of arr into d (text_objects: {"text": string} too): n, or the index of
 * the first element that is neither. */
static size_t docs_take(rr_docs *d, json_t *arr, size_t n, int text_objects) {
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(arr, i);
        if (text_objects && json_is_object(t)) t = json_object_get(t, "text");
        if (!json_is_string(t)) return i;
        d->docs[i] = json_string_value(t);
        d->lens[i] = json_string_length(t);
    }
    return n;
}

static void docs_free(rr_docs *d) {
    free(d->docs);
    free(d->lens);
    free(d->scores);
    free(d->order);
}

void route_tei_rerank(const char *body, size_t len, srv_reply *r) {
    json_t *root = tei_load_object(body, len, r);
    if (!root) return;
    rr_docs d = {0};
    if (!g_srv.reranker) {
        /* as TEI answers for an embedding model */
        reply_tei_error(r, 424, "Backend", "model is not a re-ranker model");
        goto done;
    }
    json_t *q = json_object_get(root, "query"), *texts = json_object_get(root, "texts");
    if (!json_is_string(q) || !json_is_array(texts)) {
        reply_tei_error(r, 422, "Validation", "the body must have \"query\" (a string) and \"texts\" (an array of strings)");
        goto done;
    }
    int flags[3], defs[3] = {0, 0, g_srv.cfg.auto_truncate};
    const char *names[3] = {"raw_scores", "return_text", "truncate"};
    for (int k = 0; k < 3; k++)
        if ((flags[k] = tei_get_bool(root, names[k], defs[k], r)) < 0) goto done;
    size_t n = json_array_size(texts);
    if (!n) {
        reply_tei_error(r, 422, "Empty", "texts: the input list is empty");
        goto done;
    }
    if (reply_tei_batch_too_large(r, n)) goto done;
    if (docs_alloc(&d, n)) {
        reply_tei_error(r, 500, "Backend", "out of memory");
        goto done;
    }
    size_t bad = docs_take(&d, texts, n, 0);
    if (bad < n) {
        reply_tei_error(r, 422, "Validation", "texts[%zu] is not a string", bad);
        goto done;
    }
    srv_err e;
    if (rerank_compute(json_string_value(q), json_string_length(q), d.docs, d.lens, n, flags[0], flags[2], d.scores, &r->tokens, &e)) {
        if (e.fail == RQ_UNAVAILABLE) reply_tei_error(r, 503, "Unhealthy", "%s", e.msg);
        else if (e.fail == RQ_SERVER) reply_tei_error(r, 500, "Backend", "%s", e.msg);
        else reply_tei_error(r, 422, "Validation", "%s", e.msg);
        goto done;
    }
    if (!(d.order = ranked(d.scores, n))) {
        reply_tei_error(r, 500, "Backend", "out of memory");
        goto done;
    }
    jbuf *b = &r->body;
    jb_puts(b, "[");
    for (size_t k = 0; k < n; k++) {
        size_t i = d.order[k];
        jb_printf(b, "%s{\"index\":%zu,", k ? "," : "", i);
        if (flags[1]) {
            jb_puts(b, "\"text\":");
            jb_string(b, d.docs[i], d.lens[i]);
            jb_puts(b, ",");
        }
        jb_puts(b, "\"score\":");
        jb_float(b, d.scores[i]);
        jb_puts(b, "}");
    }
    jb_puts(b, "]");
    r->status = 200;
done:
    docs_free(&d);
    json_decref(root);
}

void route_openai_rerank(const char *body, size_t len, srv_reply *r) {
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    rr_docs d = {0};
    if (!root || !json_is_object(root)) {
        reply_openai_error(r, 400, "invalid_request_error", NULL, NULL, "%s%s",
                           root ? "the body must be a JSON object" : "the body is not valid JSON: ", root ? "" : jerr.text);
        goto done;
    }
    json_t *model = json_object_get(root, "model");
    if (model && !json_is_null(model) && (!json_is_string(model) || strcmp(json_string_value(model), g_srv.cfg.served_name))) {
        reply_openai_error(r, 404, "invalid_request_error", "model", "model_not_found",
                           "The model `%s` does not exist; this server serves `%s`",
                           json_is_string(model) ? json_string_value(model) : "?", g_srv.cfg.served_name);
        goto done;
    }
    if (!g_srv.reranker) {
        reply_openai_error(r, 400, "invalid_request_error", NULL, "model_not_reranker",
                           "the served model `%s` is not a reranker (cross-encoder)", g_srv.cfg.served_name);
        goto done;
    }
    json_t *q = json_object_get(root, "query"), *documents = json_object_get(root, "documents");
    if (!json_is_string(q)) {
        reply_openai_error(r, 400, "invalid_request_error", "query", NULL, "query must be a string");
        goto done;
    }
    if (!json_is_array(documents) || !json_array_size(documents)) {
        reply_openai_error(r, 400, "invalid_request_error", "documents", NULL,
                           "documents must be a non-empty array of strings (or of {\"text\": string})");
        goto done;
    }
    size_t n = json_array_size(documents);
    if (n > (size_t)g_srv.cfg.max_client_batch) {
        reply_openai_error(r, 413, "invalid_request_error", "documents", NULL,
                           "%zu documents in one request; at most %d are allowed (--max-client-batch-size)", n,
                           g_srv.cfg.max_client_batch);
        goto done;
    }
    size_t top_n = n;
    json_t *tn = json_object_get(root, "top_n");
    if (tn && !json_is_null(tn)) {
        if (!json_is_integer(tn) || json_integer_value(tn) < 1) {
            reply_openai_error(r, 400, "invalid_request_error", "top_n", NULL, "top_n must be a positive integer");
            goto done;
        }
        if ((size_t)json_integer_value(tn) < n) top_n = (size_t)json_integer_value(tn);
    }
    json_t *rd = json_object_get(root, "return_documents");
    if (rd && !json_is_null(rd) && !json_is_boolean(rd)) {
        reply_openai_error(r, 400, "invalid_request_error", "return_documents", NULL, "return_documents must be true or false");
        goto done;
    }
    int return_docs = rd && json_is_true(rd);
    if (docs_alloc(&d, n)) {
        reply_openai_error(r, 500, "server_error", NULL, NULL, "out of memory");
        goto done;
    }
    size_t bad = docs_take(&d, documents, n, 1);
    if (bad < n) {
        reply_openai_error(r, 400, "invalid_request_error", "documents", NULL,
                           "documents[%zu] is not a string (or {\"text\": string})", bad);
        goto done;
    }
    srv_err e;
    if (rerank_compute(json_string_value(q), json_string_length(q), d.docs, d.lens, n, 0, g_srv.cfg.auto_truncate, d.scores,
                       &r->tokens, &e)) {
        if (e.fail == RQ_TOO_LONG) reply_openai_error(r, 413, "invalid_request_error", "documents", NULL, "%s", e.msg);
        else if (e.fail == RQ_INPUT) reply_openai_error(r, 400, "invalid_request_error", "documents", NULL, "%s", e.msg);
        else if (e.fail == RQ_UNAVAILABLE) reply_openai_error(r, 503, "server_error", NULL, NULL, "%s", e.msg);
        else reply_openai_error(r, 500, "server_error", NULL, NULL, "%s", e.msg);
        goto done;
    }
    if (!(d.order = ranked(d.scores, n))) {
        reply_openai_error(r, 500, "server_error", NULL, NULL, "out of memory");
        goto done;
    }
    jbuf *b = &r->body;
    jb_puts(b, "{\"model\":");
    jb_string(b, g_srv.cfg.served_name, strlen(g_srv.cfg.served_name));
    jb_puts(b, ",\"results\":[");
    for (size_t k = 0; k < top_n; k++) {
        size_t i = d.order[k];
        jb_printf(b, "%s{\"index\":%zu,\"relevance_score\":", k ? "," : "", i);
        jb_float(b, d.scores[i]);
        if (return_docs) {
            jb_puts(b, ",\"document\":{\"text\":");
            jb_string(b, d.docs[i], d.lens[i]);
            jb_puts(b, "}");
        }
        jb_puts(b, "}");
    }
    jb_printf(b, "],\"usage\":{\"total_tokens\":%zu}}", r->tokens);
    r->status = 200;
done:
    docs_free(&d);
    json_decref(root);
}
