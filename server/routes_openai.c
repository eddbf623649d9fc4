/* POST /v1/embeddings, as OpenAI's embeddings API: input (string, strings, token ids or
 * lists of them), model (must be the served name), encoding_format float | base64,
 * dimensions (Matryoshka), user (ignored). Errors in OpenAI's shape. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

static void bad(srv_reply *r, const char *param, const char *msg) {
    reply_openai_error(r, 400, "invalid_request_error", param, NULL, "%s", msg);
}

void route_openai_embeddings(const char *body, size_t len, srv_reply *r) {
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!root) {
        reply_openai_error(r, 400, "invalid_request_error", NULL, NULL,
                           "the body is not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
        return;
    }
    srv_inputs in = {0};
    srv_job job = {0};
    float *row = NULL;
    if (!json_is_object(root)) {
        bad(r, NULL, "the body must be a JSON object");
        goto done;
    }
    json_t *model = json_object_get(root, "model");
    if (model && !json_is_null(model)) {
        if (!json_is_string(model)) {
            bad(r, "model", "model must be a string");
            goto done;
        }
        if (strcmp(json_string_value(model), g_srv.cfg.served_name)) {
            reply_openai_error(r, 404, "invalid_request_error", "model", "model_not_found",
                               "The model `%s` does not exist; this server serves `%s`", json_string_value(model),
                               g_srv.cfg.served_name);
            goto done;
        }
    }
    int base64 = 0;
    json_t *fmt = json_object_get(root, "encoding_format");
    if (fmt && !json_is_null(fmt)) {
        const char *f = json_is_string(fmt) ? json_string_value(fmt) : "";
        if (!strcmp(f, "base64")) base64 = 1;
        else if (strcmp(f, "float")) {
            bad(r, "encoding_format", "encoding_format must be \"float\" or \"base64\"");
            goto done;
        }
    }
    int dim;
    if (srv_json_dimensions(root, &dim)) {
        reply_openai_error(r, 400, "invalid_request_error", "dimensions", NULL,
                           "dimensions must be an integer from 1 to %d (the model's dimensions)", g_srv.dim);
        goto done;
    }
    json_t *input = json_object_get(root, "input");
    if (!input) {
        bad(r, "input", "input is required");
        goto done;
    }
    char msg[256];
    if (srv_inputs_parse(input, 1, &in, msg, sizeof msg)) {
        bad(r, "input", msg);
        goto done;
    }
    if (in.n > (size_t)g_srv.cfg.max_client_batch) {
        reply_openai_error(r, 413, "invalid_request_error", "input", NULL,
                           "%zu inputs in one request; at most %d are allowed (--max-client-batch-size)", in.n,
                           g_srv.cfg.max_client_batch);
        goto done;
    }
    srv_prep p = {.prompt_name = NULL, .truncate = g_srv.cfg.auto_truncate, .direction = TRUNC_RIGHT};
    srv_err e;
    size_t tokens;
    if (srv_compute(&in, &p, XL_OUT_EMBEDDING, &job, &tokens, &e)) {
        if (e.fail == RQ_TOO_LONG) reply_openai_error(r, 413, "invalid_request_error", "input", NULL, "%s", e.msg);
        else if (e.fail == RQ_INPUT) reply_openai_error(r, 400, "invalid_request_error", "input", NULL, "%s", e.msg);
        else if (e.fail == RQ_UNAVAILABLE) reply_openai_error(r, 503, "server_error", NULL, NULL, "%s", e.msg);
        else reply_openai_error(r, 500, "server_error", NULL, NULL, "%s", e.msg);
        goto done;
    }
    r->tokens = tokens;
    int out_dim = dim ? dim : g_srv.dim;
    row = malloc((size_t)g_srv.dim * sizeof *row);
    if (!row) {
        reply_openai_error(r, 500, "server_error", NULL, NULL, "out of memory");
        goto done;
    }
    jbuf *b = &r->body;
    jb_puts(b, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < in.n; i++) {
        srv_finish_row(&job, i, dim, g_srv.info.normalize, row);
        jb_printf(b, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i ? "," : "", i);
        if (base64) jb_base64_floats(b, row, (size_t)out_dim);
        else jb_floats(b, row, (size_t)out_dim);
        jb_puts(b, "}");
    }
    jb_puts(b, "],\"model\":");
    jb_string(b, g_srv.cfg.served_name, strlen(g_srv.cfg.served_name));
    jb_printf(b, ",\"usage\":{\"prompt_tokens\":%zu,\"total_tokens\":%zu}}", tokens, tokens);
    r->status = 200;
done:
    free(row);
    srv_job_free(&job);
    srv_inputs_free(&in);
    json_decref(root);
}

static void model_object(jbuf *b) {
    jb_puts(b, "{\"id\":");
    jb_string(b, g_srv.cfg.served_name, strlen(g_srv.cfg.served_name));
    jb_printf(b, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"xling\"}", g_srv.started);
}

void route_openai_models(const char *path, srv_reply *r) {
    const char *id = path[strlen("/v1/models")] == '/' ? path + strlen("/v1/models/") : NULL;
    if (!id) {
        jb_puts(&r->body, "{\"object\":\"list\",\"data\":[");
        model_object(&r->body);
        jb_puts(&r->body, "]}");
    } else if (!strcmp(id, g_srv.cfg.served_name)) {
        model_object(&r->body);
    } else {
        reply_openai_error(r, 404, "invalid_request_error", "model", "model_not_found",
                           "The model `%s` does not exist; this server serves `%s`", id, g_srv.cfg.served_name);
        return;
    }
    r->status = 200;
}
