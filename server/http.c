/* libmicrohttpd glue: one thread per connection (a slow client holds only its own
 * thread; a request waiting for its batch blocks nothing else), the checks made as soon
 * as the headers are in (shutdown, route, method, API key, body size, the
 * --max-concurrent-requests slots), the body collected up to --max-body-bytes, the
 * route called, the reply sent; the completion callback logs, counts and frees.
 * Timeouts: an idle connection is closed after --idle-timeout (libmicrohttpd's
 * connection timeout); a body still arriving after --read-timeout is dropped. */
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "server.h"

typedef enum { API_TEI = 0, API_OPENAI } api_kind;

typedef struct {
    const char *path, *method;
    int ep;
    api_kind api;
    int inference;      /* takes a --max-concurrent-requests slot */
} route;

static const route routes[] = {
    {"/v1/embeddings", "POST", EP_OPENAI, API_OPENAI, 1},
    {"/embeddings", "POST", EP_OPENAI, API_OPENAI, 1},
    {"/embed", "POST", EP_EMBED, API_TEI, 1},
    {"/embed_all", "POST", EP_EMBED_ALL, API_TEI, 1},
    {"/embed_sparse", "POST", EP_EMBED_SPARSE, API_TEI, 1},
    {"/similarity", "POST", EP_SIMILARITY, API_TEI, 1},
    {"/tokenize", "POST", EP_TOKENIZE, API_TEI, 1},
    {"/rerank", "POST", EP_RERANK, API_TEI, 1},
    {"/v1/rerank", "POST", EP_V1_RERANK, API_OPENAI, 1},
    {"/predict", "POST", EP_PREDICT, API_TEI, 1},
    {"/v1/models", "GET", EP_MODELS, API_OPENAI, 0},
    {"/info", "GET", EP_INFO, API_TEI, 0},
    {"/health", "GET", EP_HEALTH, API_TEI, 0},
    {"/metrics", "GET", EP_METRICS, API_TEI, 0},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

typedef struct {
    char method[16];
    char *path;
    const route *rt;
    api_kind api;
    double t0;
    jbuf body;
    int too_large, admitted, replied;
    int preflight;              /* a CORS preflight (OPTIONS) answered with 204 */
    int status;
    size_t tokens;
} request;

/* ------------------------------------------------------------- error shapes */
static void verror(srv_reply *r, int status, api_kind api, const char *type, const char *param, const char *code,
                   const char *fmt, va_list ap) {
    char msg[768];
    vsnprintf(msg, sizeof msg, fmt, ap);
    jb_free(&r->body);
    r->status = status;
    r->content_type = "application/json";
    jbuf *b = &r->body;
    if (api == API_OPENAI) {
        jb_puts(b, "{\"error\":{\"message\":");
        jb_string(b, msg, strlen(msg));
        jb_puts(b, ",\"type\":");
        jb_string(b, type, strlen(type));
        jb_puts(b, ",\"param\":");
        if (param) jb_string(b, param, strlen(param));
        else jb_puts(b, "null");
        jb_puts(b, ",\"code\":");
        if (code) jb_string(b, code, strlen(code));
        else jb_puts(b, "null");
        jb_puts(b, "}}");
    } else {
        jb_puts(b, "{\"error\":");
        jb_string(b, msg, strlen(msg));
        jb_puts(b, ",\"error_type\":");
        jb_string(b, type, strlen(type));
        jb_puts(b, "}");
    }
}

void reply_openai_error(srv_reply *r, int status, const char *type, const char *param, const char *code,
                        const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verror(r, status, API_OPENAI, type, param, code, fmt, ap);
    va_end(ap);
}

void reply_tei_error(srv_reply *r, int status, const char *error_type, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verror(r, status, API_TEI, error_type, NULL, NULL, fmt, ap);
    va_end(ap);
}

int reply_tei_batch_too_large(srv_reply *r, size_t n) {
    if (n <= (size_t)g_srv.cfg.max_client_batch) return 0;
    reply_tei_error(r, 422, "Validation", "batch size %zu > maximum allowed batch size %d", n, g_srv.cfg.max_client_batch);
    return 1;
}

/* The errors the HTTP layer itself answers, in the API of the path. */
static void layer_error(srv_reply *r, api_kind api, int status, const char *fmt, ...) {
    const char *otype = "invalid_request_error", *ocode = NULL, *ttype = "Validation";
    switch (status) {
    case 401: ocode = "invalid_api_key"; ttype = "Unauthorized"; break;
    case 404: ocode = "unknown_url"; ttype = "NotFound"; break;
    case 405: ocode = "method_not_allowed"; ttype = "MethodNotAllowed"; break;
    case 413: ocode = "payload_too_large"; ttype = "PayloadTooLarge"; break;
    case 429: otype = "rate_limit_error"; ocode = "rate_limit_exceeded"; ttype = "Overloaded"; break;
    case 503: otype = "server_error"; ocode = "service_unavailable"; ttype = "Unhealthy"; break;
    }
    va_list ap;
    va_start(ap, fmt);
    if (api == API_OPENAI) verror(r, status, api, otype, NULL, ocode, fmt, ap);
    else verror(r, status, api, ttype, NULL, NULL, fmt, ap);
    va_end(ap);
}

/* ----------------------------------------------------------------- helpers */
/* Constant-time comparison of the Authorization header with "Bearer KEY": the time does
 * not depend on where the first difference is. */
static int auth_ok(struct MHD_Connection *c) {
    const char *key = g_srv.cfg.api_key;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7)) return 0;
    h += 7;
    size_t hl = strlen(h), kl = strlen(key);
    unsigned char diff = (unsigned char)(hl != kl);
    for (size_t i = 0; i < kl; i++) diff |= (unsigned char)(key[i] ^ (i < hl ? h[i] : 0));
    return diff == 0;
}

/* The Access-Control-Allow-Origin a reply gets: "*", the request's Origin when
 * --cors-allow-origin lists it, else NULL (no CORS headers: the browser blocks the page). */
static const char *cors_origin(struct MHD_Connection *c) {
    const char *list = g_srv.cfg.cors;
    const char *origin = list ? MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin") : NULL;
    if (!origin) return NULL;
    if (!strcmp(list, "*")) return "*";
    size_t n = strlen(origin);
    for (const char *p = list;;) {
        const char *end = strchr(p, ',');
        size_t k = end ? (size_t)(end - p) : strlen(p);
        if (k == n && !strncasecmp(p, origin, n)) return origin;
        if (!end) return NULL;
        p = end + 1;
    }
}

static void send_reply(struct MHD_Connection *c, request *q, srv_reply *r) {
    if (r->body.oom) {
        jb_free(&r->body);
        r->status = 500;
        r->content_type = "text/plain";
        jb_puts(&r->body, "out of memory\n");
    }
    size_t len = r->body.len;
    char *p = r->body.p;
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, len ? p : (void *)"", len ? MHD_RESPMEM_MUST_FREE
                                                                                               : MHD_RESPMEM_PERSISTENT);
    if (!len) free(p);
    r->body.p = NULL;
    q->replied = 1;
    q->status = r->status;
    q->tokens = r->tokens;
    if (!resp) return;
    if (r->content_type) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    if (r->status == 405 && q->rt) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, q->rt->method);
    if (r->status == 401) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    const char *allow = cors_origin(c);
    if (allow) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", allow);
        if (strcmp(allow, "*")) MHD_add_response_header(resp, "Vary", "Origin");
        if (q->preflight && q->rt) {
            char methods[32];
            snprintf(methods, sizeof methods, "%s, OPTIONS", q->rt->method);
            MHD_add_response_header(resp, "Access-Control-Allow-Methods", methods);
            MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
            MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
        }
    }
    /* during shutdown keep-alive connections are closed after their reply */
    if (__atomic_load_n(&g_srv.shutting_down, __ATOMIC_ACQUIRE)) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
}

static const route *find_route(const char *path, int *path_known) {
    *path_known = 0;
    for (size_t i = 0; i < N_ROUTES; i++)
        if (!strcmp(routes[i].path, path)) {
            *path_known = 1;
            return &routes[i];
        }
    /* /v1/models/{id}: the id may hold a slash (ORG/NAME) */
    if (!strncmp(path, "/v1/models/", 11)) return find_route("/v1/models", path_known);
    return NULL;
}

/* The reply to a request whose headers are in, or status 0 to read its body. */
static void early_checks(struct MHD_Connection *c, request *q, srv_reply *r) {
    int known;
    q->rt = find_route(q->path, &known);
    q->api = (q->rt && q->rt->api == API_OPENAI) || !strncmp(q->path, "/v1/", 4) ? API_OPENAI : API_TEI;
    if (__atomic_load_n(&g_srv.shutting_down, __ATOMIC_ACQUIRE)) {
        layer_error(r, q->api, 503, "the server is shutting down");
        return;
    }
    if (!q->rt) {
        layer_error(r, q->api, 404, "no route %s %s", q->method, q->path);
        return;
    }
    if (g_srv.cfg.cors && !strcmp(q->method, "OPTIONS")) {
        /* a browser's preflight: no key (it cannot send one), no slot; the CORS headers
         * say what the real request may carry */
        q->preflight = 1;
        r->status = 204;
        return;
    }
    if (strcmp(q->method, q->rt->method)) {
        layer_error(r, q->api, 405, "%s %s is not allowed; use %s", q->method, q->path, q->rt->method);
        return;
    }
    if (g_srv.cfg.api_key && q->rt->ep != EP_HEALTH && !auth_ok(c)) {
        layer_error(r, q->api, 401, "missing or wrong API key (send \"Authorization: Bearer KEY\")");
        return;
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > g_srv.cfg.max_body) {
        layer_error(r, q->api, 413, "the body has %s bytes; at most %zu are accepted (--max-body-bytes)", cl,
                    g_srv.cfg.max_body);
        return;
    }
    if (q->rt->inference) {
        size_t held = __atomic_add_fetch(&g_srv.admitted, 1, __ATOMIC_ACQ_REL);
        if (held > (size_t)g_srv.cfg.max_concurrent) {
            __atomic_sub_fetch(&g_srv.admitted, 1, __ATOMIC_ACQ_REL);
            layer_error(r, q->api, 429, "too many requests in progress (%d, --max-concurrent-requests); retry later",
                        g_srv.cfg.max_concurrent);
            return;
        }
        q->admitted = 1;
    }
}

static void dispatch(request *q, srv_reply *r) {
    const char *b = q->body.p ? q->body.p : "";
    size_t n = q->body.len;
    r->content_type = "application/json";
    switch (q->rt->ep) {
    case EP_OPENAI: route_openai_embeddings(b, n, r); break;
    case EP_EMBED: route_tei_embed(b, n, r); break;
    case EP_EMBED_ALL: route_tei_embed_all(b, n, r); break;
    case EP_EMBED_SPARSE: route_tei_embed_sparse(b, n, r); break;
    case EP_SIMILARITY: route_tei_similarity(b, n, r); break;
    case EP_TOKENIZE: route_tei_tokenize(b, n, r); break;
    case EP_RERANK: route_tei_rerank(b, n, r); break;
    case EP_V1_RERANK: route_openai_rerank(b, n, r); break;
    case EP_PREDICT: route_tei_predict(b, n, r); break;
    case EP_MODELS: route_openai_models(q->path, r); break;
    case EP_INFO: route_tei_info(r); break;
    case EP_HEALTH:
        r->status = 200;
        r->content_type = NULL;
        break;
    case EP_METRICS:
        r->status = 200;
        r->content_type = "text/plain; version=0.0.4; charset=utf-8";
        metrics_render(&r->body, batcher_depth(g_srv.batcher), __atomic_load_n(&g_srv.in_flight, __ATOMIC_ACQUIRE));
        break;
    }
    if (!r->status) reply_tei_error(r, 500, "Backend", "internal error: the route gave no reply");
}

/* ---------------------------------------------------------------- callbacks */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)cls;
    (void)version;
    request *q = *con_cls;
    srv_reply r = {0};
    if (!q) {
        q = calloc(1, sizeof *q);
        if (!q || !(q->path = strdup(url))) {
            free(q);
            return MHD_NO;
        }
        *con_cls = q;
        q->t0 = srv_now();
        snprintf(q->method, sizeof q->method, "%s", method);
        __atomic_add_fetch(&g_srv.in_flight, 1, __ATOMIC_ACQ_REL);
        early_checks(c, q, &r);
        if (r.status) send_reply(c, q, &r);
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t got = *upload_data_size;
        *upload_data_size = 0;
        if (q->replied || q->too_large) return MHD_YES; /* discarded */
        if (g_srv.cfg.read_timeout_s > 0 && srv_now() - q->t0 > g_srv.cfg.read_timeout_s) {
            q->status = 408;
            return MHD_NO; /* a body that trickles in for too long: drop the connection */
        }
        if (q->body.len + got > g_srv.cfg.max_body) {
            q->too_large = 1; /* chunked bodies have no Content-Length to check first */
            jb_free(&q->body);
            return MHD_YES;
        }
        jb_put(&q->body, upload_data, got);
        return MHD_YES;
    }
    if (q->replied) return MHD_YES;
    if (q->too_large) layer_error(&r, q->api, 413, "the body is larger than %zu bytes (--max-body-bytes)", g_srv.cfg.max_body);
    else if (q->body.oom) layer_error(&r, q->api, 413, "no memory for a body of this size");
    else dispatch(q, &r);
    /* the work is done: free the --max-concurrent-requests slot before the reply goes out,
     * so a client that sends its next request on receiving this one is not refused */
    if (q->admitted) {
        __atomic_sub_fetch(&g_srv.admitted, 1, __ATOMIC_ACQ_REL);
        q->admitted = 0;
    }
    send_reply(c, q, &r);
    jb_free(&r.body);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    request *q = *con_cls;
    if (!q) return;
    *con_cls = NULL;
    /* 499: the client went away (or timed out) before its reply was sent */
    int status = q->replied && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? q->status : q->status == 408 ? 408 : 499;
    double secs = srv_now() - q->t0;
    metrics_request(q->rt ? q->rt->ep : EP_OTHER, status, secs);
    log_request(q->method, q->path, status, q->tokens, secs * 1e3);
    if (q->admitted) __atomic_sub_fetch(&g_srv.admitted, 1, __ATOMIC_ACQ_REL);
    __atomic_sub_fetch(&g_srv.in_flight, 1, __ATOMIC_ACQ_REL);
    jb_free(&q->body);
    free(q->path);
    free(q);
}

struct MHD_Daemon *http_start(const srv_config *cfg, int *port_out, char *err, size_t err_len) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    int gr = getaddrinfo(cfg->host, port, &hints, &ai);
    if (gr) {
        snprintf(err, err_len, "--host %s: %s", cfg->host, gai_strerror(gr));
        return NULL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->idle_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)(cfg->max_concurrent + 64), MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned int)1024, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d) {
        snprintf(err, err_len, "cannot listen on %s port %d (in use, or not an address of this machine)", cfg->host,
                 cfg->port);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port_out = info ? info->port : cfg->port;
    return d;
}
