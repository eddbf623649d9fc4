/* libFuzzer target: arbitrary bytes as the body of a request to one of xling serve's
 * routes, through the route handlers, the batcher and a real model (the HTTP layer
 * itself is libmicrohttpd's).
 *
 *   XLING_FUZZ_SERVE_MODEL=DIR ./fuzz_serve [libFuzzer flags] CORPUS...
 *
 * DIR defaults to tests/fixtures/models/xlmr-tiny (an embedding model: the embedding
 * routes run, the cross-encoder ones answer 424); fuzz/run.sh also runs it on a
 * cross-encoder fixture. The first byte picks the route, the rest is the body. Beyond
 * crashes, each input checks:
 *   - the status is one a client error or a success may have (200, 400, 404, 413, 422,
 *     424): never 500, never none;
 *   - the body is complete, valid JSON;
 *   - an error is in its API's shape: OpenAI {"error": {"message": string, "type":
 *     string}} for /v1/embeddings and /v1/rerank, TEI {"error": string, "error_type":
 *     string} for the others. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

srv_state g_srv; /* serve.c's, which this target leaves out (options, signals, HTTP) */

typedef void (*route_fn)(const char *body, size_t len, srv_reply *r);
static const struct {
    const char *name;
    route_fn fn;
    int openai;
} routes[] = {
    {"/v1/embeddings", route_openai_embeddings, 1}, {"/embed", route_tei_embed, 0},
    {"/embed_all", route_tei_embed_all, 0},         {"/embed_sparse", route_tei_embed_sparse, 0},
    {"/similarity", route_tei_similarity, 0},       {"/tokenize", route_tei_tokenize, 0},
    {"/rerank", route_tei_rerank, 0},               {"/v1/rerank", route_openai_rerank, 1},
    {"/predict", route_tei_predict, 0},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

static void fail(const char *route, const char *what, const srv_reply *r, size_t size) {
    fprintf(stderr, "fuzz_serve: %s: %s (status %d, body of %zu bytes from an input of %zu: %.300s)\n", route, what,
            r->status, r->body.len, size, r->body.p ? r->body.p : "");
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    setenv("XLING_TOKENIZER_CACHE", "0", 1); /* nothing written next to the fixtures */
    const char *dir = getenv("XLING_FUZZ_SERVE_MODEL");
    if (!dir || !*dir) dir = "tests/fixtures/models/xlmr-tiny";
    xl_model_options mo = {.threads = 1};
    if (xl_model_load(dir, &mo, &g_srv.model)) {
        fprintf(stderr, "fuzz_serve: %s: %s\n", dir, xl_last_error());
        exit(1);
    }
    /* small limits, so that inputs of a few KB reach them */
    g_srv.cfg = (srv_config){.host = "127.0.0.1", .served_name = "fuzz-model", .max_batch_tokens = 2048,
                             .max_concurrent = 64, .max_client_batch = 8, .max_body = 1 << 20, .batch_wait_ms = 0,
                             .threads = 1, .log_off = 1};
    srv_describe_model();
    g_srv.max_input = 128;
    metrics_init();
    if (!(g_srv.batcher = batcher_start(g_srv.model, &g_srv.cfg, g_srv.scores_want, g_srv.rinfo.n_labels))) {
        fprintf(stderr, "fuzz_serve: cannot start the batcher: %s\n", xl_last_error());
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!size) return 0;
    size_t k = data[0] % N_ROUTES;
    const char *route = routes[k].name;
    srv_reply r = {0};
    routes[k].fn((const char *)data + 1, size - 1, &r);
    int s = r.status;
    if (s != 200 && s != 400 && s != 404 && s != 413 && s != 422 && s != 424) fail(route, "unexpected status", &r, size);
    if (r.body.oom) fail(route, "the reply body is incomplete", &r, size);
    json_error_t e;
    json_t *j = r.body.len ? json_loadb(r.body.p, r.body.len, 0, &e) : NULL;
    if (!j) fail(route, "the reply is not JSON", &r, size);
    if (s != 200) {
        json_t *err = json_object_get(j, "error");
        int ok = routes[k].openai ? json_is_object(err) && json_is_string(json_object_get(err, "message")) &&
                                        json_is_string(json_object_get(err, "type"))
                                  : json_is_string(err) && json_is_string(json_object_get(j, "error_type"));
        if (!ok) fail(route, "the error is not in the API's shape", &r, size);
    }
    json_decref(j);
    jb_free(&r.body);
    return 0;
}
