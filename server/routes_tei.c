/* The text-embeddings-inference (TEI) routes: POST /embed, /embed_all, /similarity,
 * /tokenize and GET /info, with TEI's request fields and its error shape
 * {"error","error_type"}: 422 for validation, as TEI answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

json_t *tei_load_object(const char *body, size_t len, srv_reply *r) {
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!root) {
        reply_tei_error(r, 422, "Validation", "the body is not valid JSON: %s (line %d, column %d)", jerr.text,
                        jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        reply_tei_error(r, 422, "Validation", "the body must be a JSON object");
        json_decref(root);
        return NULL;
    }
    return root;
}

int tei_get_bool(json_t *o, const char *key, int def, srv_reply *r) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return def;
    if (!json_is_boolean(v)) {
        reply_tei_error(r, 422, "Validation", "%s must be true or false", key);
        return -1;
    }
    return json_is_true(v);
}

/* truncate, truncation_direction and prompt_name of o into p; -1 after a 422 reply. */
static int get_prep(json_t *o, srv_prep *p, srv_reply *r) {
    p->truncate = tei_get_bool(o, "truncate", g_srv.cfg.auto_truncate, r);
    if (p->truncate < 0) return -1;
    p->direction = TRUNC_RIGHT;
    json_t *d = json_object_get(o, "truncation_direction");
    if (d && !json_is_null(d)) {
        const char *s = json_is_string(d) ? json_string_value(d) : "";
        if (!strcmp(s, "Left") || !strcmp(s, "left")) p->direction = TRUNC_LEFT;
        else if (strcmp(s, "Right") && strcmp(s, "right")) {
            reply_tei_error(r, 422, "Validation", "truncation_direction must be \"Left\" or \"Right\"");
            return -1;
        }
    }
    p->prompt_name = NULL;
    json_t *pn = json_object_get(o, "prompt_name");
    if (pn && !json_is_null(pn)) {
        if (!json_is_string(pn)) {
            reply_tei_error(r, 422, "Validation", "prompt_name must be a string");
            return -1;
        }
        p->prompt_name = json_string_value(pn);
        int found = 0;
        for (int k = 0; k < g_srv.info.n_prompts; k++) found |= !strcmp(g_srv.info.prompt_names[k], p->prompt_name);
        if (!found) {
            reply_tei_error(r, 422, "Validation", "prompt_name \"%s\" is not one of the model's prompts",
                            p->prompt_name);
            return -1;
        }
    }
    return 0;
}

/* inputs of o into in: strings, or with ids (the embedding routes, as TEI) also token
 * ids (an array of integers, or an array of such arrays) used as given. p: the request's
 * prompt, which pre-tokenized inputs cannot take. -1 after a 422 reply. */
static int get_inputs(json_t *o, const char *key, int ids, const srv_prep *p, srv_inputs *in, srv_reply *r) {
    json_t *v = json_object_get(o, key);
    if (!v) {
        reply_tei_error(r, 422, "Validation", "%s is required", key);
        return -1;
    }
    char msg[256];
    int rc = srv_inputs_parse(v, ids, in, msg, sizeof msg);
    if (rc) {
        reply_tei_error(r, 422, rc == -2 ? "Empty" : "Validation", "%s: %s", key, msg);
        return -1;
    }
    if (in->is_ids && p->prompt_name) {
        reply_tei_error(r, 422, "Validation", "prompt_name cannot be used with token ids as %s", key);
        srv_inputs_free(in);
        return -1;
    }
    if (reply_tei_batch_too_large(r, in->n)) {
        srv_inputs_free(in);
        return -1;
    }
    return 0;
}

/* srv_compute with its failure in TEI's shape; r->tokens = the input tokens. -1 after
 * the error reply. */
static int compute(const srv_inputs *in, const srv_prep *p, unsigned want, srv_job *job, srv_reply *r) {
    srv_err e;
    size_t tokens;
    if (srv_compute(in, p, want, job, &tokens, &e)) {
        if (e.fail == RQ_TOO_LONG || e.fail == RQ_INPUT) reply_tei_error(r, 422, "Validation", "%s", e.msg);
        else if (e.fail == RQ_UNAVAILABLE) reply_tei_error(r, 503, "Unhealthy", "%s", e.msg);
        else reply_tei_error(r, 500, "Backend", "%s", e.msg);
        return -1;
    }
    r->tokens = tokens;
    return 0;
}

void route_tei_embed(const char *body, size_t len, srv_reply *r) {
    json_t *root = tei_load_object(body, len, r);
    if (!root) return;
    srv_inputs in = {0};
    srv_job job = {0};
    float *row = NULL;
    srv_prep p;
    int normalize = tei_get_bool(root, "normalize", 1, r);
    if (normalize < 0 || get_prep(root, &p, r)) goto done;
    int dim;
    if (srv_json_dimensions(root, &dim)) {
        reply_tei_error(r, 422, "Validation", "dimensions must be an integer from 1 to %d", g_srv.dim);
        goto done;
    }
    if (get_inputs(root, "inputs", 1, &p, &in, r)) goto done;
    if (compute(&in, &p, XL_OUT_EMBEDDING, &job, r)) goto done;
    row = malloc((size_t)g_srv.dim * sizeof *row);
    if (!row) {
        reply_tei_error(r, 500, "Backend", "out of memory");
        goto done;
    }
    jb_puts(&r->body, "[");
    for (size_t i = 0; i < in.n; i++) {
        srv_finish_row(&job, i, dim, normalize, row);
        if (i) jb_puts(&r->body, ",");
        jb_floats(&r->body, row, (size_t)(dim ? dim : g_srv.dim));
    }
    jb_puts(&r->body, "]");
    r->status = 200;
done:
    free(row);
    srv_job_free(&job);
    srv_inputs_free(&in);
    json_decref(root);
}

void route_tei_embed_all(const char *body, size_t len, srv_reply *r) {
    json_t *root = tei_load_object(body, len, r);
    if (!root) return;
    srv_inputs in = {0};
    srv_job job = {0};
    srv_prep p;
    if (get_prep(root, &p, r) || get_inputs(root, "inputs", 1, &p, &in, r)) goto done;
    if (compute(&in, &p, XL_OUT_TOKENS, &job, r)) goto done;
    size_t H = (size_t)g_srv.info.hidden_size;
    jb_puts(&r->body, "[");
    for (size_t i = 0; i < in.n; i++) {
        jb_puts(&r->body, i ? ",[" : "[");
        for (size_t t = 0; t < job.n_tokens[i]; t++) {
            if (t) jb_puts(&r->body, ",");
            jb_floats(&r->body, job.tokens_out[i] + t * H, H);
        }
        jb_puts(&r->body, "]");
    }
    jb_puts(&r->body, "]");
    r->status = 200;
done:
    srv_job_free(&job);
    srv_inputs_free(&in);
    json_decref(root);
}

void route_tei_similarity(const char *body, size_t len, srv_reply *r) {
    json_t *root = tei_load_object(body, len, r);
    if (!root) return;
    srv_inputs in = {0};
    srv_job job = {0};
    float *rows = NULL;
    srv_prep p = {.truncate = g_srv.cfg.auto_truncate};
    json_t *inputs = json_object_get(root, "inputs");
    json_t *src = inputs ? json_object_get(inputs, "source_sentence") : NULL;
    json_t *sents = inputs ? json_object_get(inputs, "sentences") : NULL;
    if (!json_is_object(inputs) || !json_is_string(src) || !json_is_array(sents)) {
        reply_tei_error(r, 422, "Validation",
                        "the body must be {\"inputs\": {\"source_sentence\": string, \"sentences\": [strings]}}");
        goto done;
    }
    json_t *params = json_object_get(root, "parameters");
    if (params && !json_is_null(params)) {
        if (!json_is_object(params)) {
            reply_tei_error(r, 422, "Validation", "parameters must be an object");
            goto done;
        }
        if (get_prep(params, &p, r)) goto done;
    }
    size_t n = json_array_size(sents);
    if (!n) {
        reply_tei_error(r, 422, "Empty", "sentences: the input list is empty");
        goto done;
    }
    if (reply_tei_batch_too_large(r, n)) goto done;
    in.n = n + 1;
    in.texts = malloc(in.n * sizeof *in.texts);
    in.lens = malloc(in.n * sizeof *in.lens);
    rows = malloc(in.n * (size_t)g_srv.dim * sizeof *rows);
    if (!in.texts || !in.lens || !rows) {
        reply_tei_error(r, 500, "Backend", "out of memory");
        goto done;
    }
    in.texts[0] = json_string_value(src);
    in.lens[0] = json_string_length(src);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(sents, i);
        if (!json_is_string(s)) {
            reply_tei_error(r, 422, "Validation", "sentences[%zu] is not a string", i);
            goto done;
        }
        in.texts[i + 1] = json_string_value(s);
        in.lens[i + 1] = json_string_length(s);
    }
    if (compute(&in, &p, XL_OUT_EMBEDDING, &job, r)) goto done;
    for (size_t i = 0; i < in.n; i++) srv_finish_row(&job, i, 0, 1, rows + i * (size_t)g_srv.dim);
    float *scores = malloc(n * sizeof *scores);
    if (!scores) {
        reply_tei_error(r, 500, "Backend", "out of memory");
        goto done;
    }
    xl_cosine_similarity(rows, 1, rows + g_srv.dim, n, (size_t)g_srv.dim, scores);
    jb_floats(&r->body, scores, n);
    free(scores);
    r->status = 200;
done:
    free(rows);
    srv_job_free(&job);
    srv_inputs_free(&in);
    json_decref(root);
}

void route_tei_info(srv_reply *r) {
    const xl_model_info *in = &g_srv.info;
    jbuf *b = &r->body;
    jb_puts(b, "{\"model_id\":");
    jb_string(b, g_srv.cfg.served_name, strlen(g_srv.cfg.served_name));
    jb_puts(b, ",\"model_sha\":null,\"model_dtype\":");
    /* TEI names the dtype the weights run in; xling computes in float32 */
    jb_puts(b, "\"float32\",\"model_stored_dtype\":");
    jb_string(b, in->dtype ? in->dtype : "", in->dtype ? strlen(in->dtype) : 0);
    jb_puts(b, ",\"served_model_name\":");
    jb_string(b, g_srv.cfg.served_name, strlen(g_srv.cfg.served_name));
    const char *pool = in->pooling == XL_POOL_CLS ? "cls" : in->pooling == XL_POOL_MAX ? "max"
                     : in->pooling == XL_POOL_LAST ? "last_token" : "mean";
    if (g_srv.classifier) {
        /* TEI's model_type: a reranker (one label) or a classifier, with the head's labels */
        int L = g_srv.rinfo.n_labels;
        jb_printf(b, ",\"model_type\":{\"%s\":{", g_srv.reranker ? "reranker" : "classifier");
        for (int m = 0; m < 2; m++) {
            jb_puts(b, m ? "},\"label2id\":{" : "\"id2label\":{");
            for (int k = 0; k < L; k++) {
                char buf[32];
                const char *label = srv_label_name(k, buf);
                if (k) jb_puts(b, ",");
                if (m) {
                    jb_string(b, label, strlen(label));
                    jb_printf(b, ":%d", k);
                } else {
                    jb_printf(b, "\"%d\":", k);
                    jb_string(b, label, strlen(label));
                }
            }
        }
        jb_puts(b, "}}}");
    } else {
        jb_printf(b, ",\"model_type\":{\"embedding\":{\"pooling\":\"%s\"}}", pool);
    }
    jb_printf(b,
              ",\"max_concurrent_requests\":%d,"
              "\"max_input_length\":%d,\"max_batch_tokens\":%d,\"max_batch_requests\":null,"
              "\"max_client_batch_size\":%d,\"auto_truncate\":%s,\"tokenization_workers\":%d,"
              "\"version\":\"%s\",\"sha\":null,\"docker_label\":null,\"dimensions\":%d}",
              g_srv.cfg.max_concurrent, g_srv.max_input, g_srv.cfg.max_batch_tokens,
              g_srv.cfg.max_client_batch, g_srv.cfg.auto_truncate ? "true" : "false", g_srv.cfg.max_concurrent,
              XLING_VERSION, g_srv.dim);
    r->status = 200;
}

/* One input's tokens as TEI gives them: special tokens with their token text and null
 * offsets; the others with their byte offsets in the (prompted) input and those bytes as
 * text (invalid UTF-8 replaced). */
static void put_tokens(jbuf *b, const char *text, size_t len, const xl_encoding *enc, const uint32_t *offsets) {
    jb_puts(b, "[");
    for (size_t t = 0; t < enc->n; t++) {
        jb_printf(b, "%s{\"id\":%d,\"text\":", t ? "," : "", (int)enc->ids[t]);
        const char *tok = xl_tokenizer_id_to_token(g_srv.tok, enc->ids[t]);
        if (enc->special[t] || !offsets) {
            jb_string(b, tok ? tok : "", tok ? strlen(tok) : 0);
            jb_printf(b, ",\"special\":%s,\"start\":null,\"stop\":null}", enc->special[t] ? "true" : "false");
            continue;
        }
        size_t s = offsets[2 * t], e = offsets[2 * t + 1];
        if (e > len) e = len;
        if (s > e) s = e;
        jb_string(b, text + s, e - s);
        jb_printf(b, ",\"special\":false,\"start\":%zu,\"stop\":%zu}", s, e);
    }
    jb_puts(b, "]");
}

void route_tei_tokenize(const char *body, size_t len, srv_reply *r) {
    json_t *root = tei_load_object(body, len, r);
    if (!root) return;
    srv_inputs in = {0};
    char *buf = NULL;
    if (!g_srv.tok) {
        reply_tei_error(r, 422, "Tokenizer", "the model folder has no tokenizer");
        goto done;
    }
    int special = tei_get_bool(root, "add_special_tokens", 1, r);
    srv_prep p;
    if (special < 0 || get_prep(root, &p, r) || get_inputs(root, "inputs", 0, &p, &in, r)) goto done;
    /* TEI prepends only a prompt asked for by name */
    const char *prompt = "";
    for (int k = 0; p.prompt_name && k < g_srv.info.n_prompts; k++)
        if (!strcmp(g_srv.info.prompt_names[k], p.prompt_name)) prompt = g_srv.info.prompt_texts[k];
    size_t pl = strlen(prompt), total = 0;
    jbuf *b = &r->body;
    jb_puts(b, "[");
    for (size_t i = 0; i < in.n; i++) {
        free(buf);
        buf = malloc(pl + in.lens[i] + 1);
        if (!buf) {
            reply_tei_error(r, 500, "Backend", "out of memory");
            goto done;
        }
        memcpy(buf, prompt, pl);
        memcpy(buf + pl, in.texts[i], in.lens[i]);
        xl_encoding enc;
        if (xl_tokenize_offsets(g_srv.tok, buf, pl + in.lens[i], special, &enc)) {
            reply_tei_error(r, 422, "Tokenizer", "input %zu: %s", i, xl_last_error());
            goto done;
        }
        if (i) jb_puts(b, ",");
        put_tokens(b, buf, pl + in.lens[i], &enc, enc.offsets);
        total += enc.n;
        xl_encoding_free(&enc);
    }
    jb_puts(b, "]");
    r->tokens = total;
    r->status = 200;
done:
    free(buf);
    srv_inputs_free(&in);
    json_decref(root);
}

/* bge-m3's sparse head as TEI's /embed_sparse: per input [{"index": token id, "value":
 * weight}], ids ascending (weights > 0 only). The token states come from the batcher. */
void route_tei_embed_sparse(const char *body, size_t len, srv_reply *r) {
    json_t *root = tei_load_object(body, len, r);
    if (!root) return;
    srv_inputs in = {0};
    srv_job job = {0};
    srv_prep p;
    if (!g_srv.m3) {
        /* as TEI answers for a model without a sparse head */
        reply_tei_error(r, 424, "Backend", "/embed_sparse needs a bge-m3 folder with sparse_linear.pt");
        goto done;
    }
    if (get_prep(root, &p, r) || get_inputs(root, "inputs", 1, &p, &in, r)) goto done;
    if (compute(&in, &p, XL_OUT_TOKENS, &job, r)) goto done;
    jb_puts(&r->body, "[");
    for (size_t i = 0; i < in.n; i++) {
        xl_m3_vectors v = {0};
        if (xl_m3_compute(g_srv.m3, job.seqs[i].ids, job.seqs[i].n, job.tokens_out[i], XL_M3_SPARSE, &v)) {
            reply_tei_error(r, 500, "Backend", "input %zu: %s", i, xl_last_error());
            goto done;
        }
        jb_puts(&r->body, i ? ",[" : "[");
        for (size_t k = 0; k < v.n_sparse; k++) {
            jb_printf(&r->body, "%s{\"index\":%d,\"value\":", k ? "," : "", (int)v.sparse_ids[k]);
            jb_float(&r->body, v.sparse_weights[k]);
            jb_puts(&r->body, "}");
        }
        jb_puts(&r->body, "]");
        xl_m3_vectors_free(&v);
    }
    jb_puts(&r->body, "]");
    r->status = 200;
done:
    srv_job_free(&job);
    srv_inputs_free(&in);
    json_decref(root);
}
