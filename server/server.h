/* xling serve: what the server's files share. The server sees only xling.h (it is
 * built like the CLI, without -Isrc). Files: serve.c (options, startup, signals,
 * drain), http.c (libmicrohttpd glue: bodies, limits, key, routing, responses),
 * routes_openai.c, routes_tei.c, routes_rerank.c and routes_predict.c (the two APIs;
 * reranking; classification), request.c (inputs → sequences →
 * the batcher → vectors, shared by the routes), batcher.c (the queue that merges
 * requests into token-budgeted forward passes), metrics.c (Prometheus text), log.c
 * (one line per request), jsonbuf.c (response text). */
#ifndef XL_SERVER_H
#define XL_SERVER_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "xling.h"

/* ------------------------------------------------------------ configuration */
typedef struct {
    const char *host;
    int port;
    char *api_key;              /* NULL = none */
    const char *served_name;
    int max_batch_tokens, max_concurrent, max_client_batch, max_input_tokens;
    size_t max_body;
    int batch_wait_ms, auto_truncate, threads;
    int shutdown_timeout_s, idle_timeout_s, read_timeout_s;
    int log_json;               /* --log-format json */
    int log_off;                /* --log-format none */
    const char *cors;           /* --cors-allow-origin: "*" or origins separated by commas; NULL = no CORS */
} srv_config;

/* ------------------------------------------------------------ output buffer */
typedef struct {
    char *p;
    size_t len, cap;
    int oom;                    /* an append failed: the text is incomplete */
} jbuf;
void jb_free(jbuf *b);
void jb_put(jbuf *b, const char *s, size_t n);
void jb_puts(jbuf *b, const char *s);
void jb_printf(jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string (invalid UTF-8 replaced as the embedder sees it). */
void jb_string(jbuf *b, const char *s, size_t len);
/* A float as the shortest of %.9g that reads back as the same float32. */
void jb_float(jbuf *b, float v);
void jb_floats(jbuf *b, const float *v, size_t n);   /* [a,b,...] */
/* A base64 string of n little-endian float32 values. */
void jb_base64_floats(jbuf *b, const float *v, size_t n);

/* ------------------------------------------------------------------ metrics */
enum {
    EP_OPENAI = 0, EP_EMBED, EP_EMBED_ALL, EP_EMBED_SPARSE, EP_SIMILARITY, EP_TOKENIZE, EP_RERANK, EP_V1_RERANK,
    EP_PREDICT, EP_MODELS, EP_INFO, EP_HEALTH, EP_METRICS, EP_OTHER, EP_N
};
extern const char *const srv_endpoint_names[EP_N];
void metrics_init(void);
void metrics_request(int endpoint, int status, double seconds);
void metrics_input_tokens(size_t n);
void metrics_queue_time(double seconds);
void metrics_batch(size_t requests, size_t tokens, double inference_seconds);
void metrics_render(jbuf *b, size_t queue_depth, size_t in_flight);

/* ------------------------------------------------------------------ batcher */
typedef struct batcher batcher;

/* One request's sequences, run together with other requests' of the same kind (want:
 * XL_OUT_EMBEDDING, XL_OUT_TOKENS, or the cross-encoder scores' xl_scores_outputs).
 * After batcher_run: per item status/error; embeddings [n][dim] (pooled + head, not cut,
 * not normalized), tokens[i] (n_tokens[i] x hidden), or scores [n][labels] (the
 * activation unless raw_scores). */
typedef struct srv_job {
    const xl_sequence *seqs;    /* the request's sequences (owned: srv_job_free frees them) */
    size_t n, tokens;
    unsigned want;
    xl_status *status;
    char **error;
    float *embeddings;
    float *scores;
    int raw_scores;
    float **tokens_out;
    size_t *n_tokens;
    double t_enqueued;
    int done;
    pthread_cond_t cv;
    struct srv_job *next;
} srv_job;

/* scores_want / labels: the served cross-encoder's outputs and scores per item
 * (g_srv.scores_want, rinfo.n_labels; 0 for an embedding model). */
batcher *batcher_start(const xl_model *m, const srv_config *cfg, unsigned scores_want, int labels);
/* Stops the thread after the queue empties, and frees. */
void batcher_stop(batcher *b);
/* A request is preparing inputs (the batcher may wait --batch-wait-ms for it). */
void batcher_enter(batcher *b);
/* It left without submitting. */
void batcher_leave(batcher *b);
/* Submits (counts as leaving), waits for the results: 0, or -1 when the job could not
 * run (out of memory, cancelled at shutdown) with a message in err. */
int batcher_run(batcher *b, srv_job *job, char *err, size_t err_len);
void srv_job_free(srv_job *job);
size_t batcher_depth(batcher *b);
/* Shutdown timeout passed: the batch in flight stops, queued jobs fail. */
void batcher_cancel(batcher *b);

/* ------------------------------------------------------------- server state */
typedef struct {
    srv_config cfg;
    xl_model *model;
    xl_model_info info;
    const xl_tokenizer *tok;
    batcher *batcher;
    int dim;                    /* full embedding width */
    int reranker;               /* a one-label cross-encoder: /rerank, /v1/rerank */
    int classifier;             /* any cross-encoder / sequence classifier: /predict */
    unsigned scores_want;       /* classifiers: the xl_run outputs their scores come from */
    xl_reranker_info rinfo;
    xl_m3 *m3;                  /* bge-m3 heads with sparse_linear.pt: /embed_sparse */
    int max_input;              /* input limit in tokens */
    long long started;          /* Unix time the server started (/v1/models "created") */
    int shutting_down;          /* atomic */
    size_t in_flight;           /* requests begun and not completed (atomic) */
    size_t admitted;            /* inference requests holding a slot (atomic) */
} srv_state;
extern srv_state g_srv;

/* Fills g_srv's model facts from g_srv.model: info, tokenizer, dimensions, the
 * cross-encoder head (classifier, reranker, scores_want) and bge-m3's sparse head
 * (g_srv.m3, or NULL). Returns xl_m3_load's status (XL_ERR_UNSUPPORTED: not bge-m3). */
xl_status srv_describe_model(void);
/* Label k of the served classifier: config.json's id2label, else "LABEL_k" in buf. */
const char *srv_label_name(int k, char buf[32]);

double srv_now(void);

/* --------------------------------------------------------------- responses */
/* What a route answers: status, body (owned), content type; tokens for the log. */
typedef struct {
    int status;
    jbuf body;
    const char *content_type;
    size_t tokens;
} srv_reply;

/* Error replies in each API's shape: OpenAI {"error":{message,type,param,code}},
 * TEI {"error","error_type"}. */
void reply_openai_error(srv_reply *r, int status, const char *type, const char *param, const char *code,
                        const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void reply_tei_error(srv_reply *r, int status, const char *error_type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* TEI's 422 for a request of more than --max-client-batch-size inputs: 1 after that
 * reply, else 0. */
int reply_tei_batch_too_large(srv_reply *r, size_t n);

/* ------------------------------------------------------------------- routes */
void route_openai_embeddings(const char *body, size_t len, srv_reply *r);
void route_tei_embed(const char *body, size_t len, srv_reply *r);
void route_tei_embed_all(const char *body, size_t len, srv_reply *r);
void route_tei_embed_sparse(const char *body, size_t len, srv_reply *r);
void route_tei_similarity(const char *body, size_t len, srv_reply *r);
void route_tei_tokenize(const char *body, size_t len, srv_reply *r);
void route_tei_info(srv_reply *r);
/* TEI routes' body: a JSON object, or NULL after a 422 reply. */
json_t *tei_load_object(const char *body, size_t len, srv_reply *r);
/* An optional boolean field of a TEI body (absent or null: def); -1 after a 422 reply. */
int tei_get_bool(json_t *o, const char *key, int def, srv_reply *r);
/* GET /v1/models (the served model, as OpenAI lists models) and /v1/models/{id}. */
void route_openai_models(const char *path, srv_reply *r);
void route_tei_rerank(const char *body, size_t len, srv_reply *r);
void route_openai_rerank(const char *body, size_t len, srv_reply *r);
void route_tei_predict(const char *body, size_t len, srv_reply *r);


/* ------------------------------------------------------- shared request work */
/* Inputs of one request: texts (with lengths) or id lists. */
typedef struct {
    size_t n;
    int is_ids;
    const char **texts;
    size_t *lens;
    int32_t **ids;
    size_t *n_ids;
} srv_inputs;
void srv_inputs_free(srv_inputs *in);
/* A string or an array of strings (allow_ids: also an array of token ids, or an array of
 * such arrays) into in (texts point into v). 0; -1 wrong type, -2 empty list, with msg. */
int srv_inputs_parse(json_t *v, int allow_ids, srv_inputs *in, char *msg, size_t msg_len);
/* The optional "dimensions" of o (absent or null: *dim = 0, all of them): 0, or -1 when
 * it is not an integer from 1 to the model's dimension. */
int srv_json_dimensions(json_t *o, int *dim);

typedef enum { TRUNC_RIGHT = 0, TRUNC_LEFT } srv_trunc_dir;
typedef struct {
    const char *prompt_name;
    int truncate;
    srv_trunc_dir direction;
} srv_prep;

/* Why a request failed, for the route to put in its API's shape. */
typedef enum { RQ_OK = 0, RQ_TOO_LONG, RQ_INPUT, RQ_SERVER, RQ_UNAVAILABLE } srv_fail;
typedef struct {
    srv_fail fail;
    char msg[512];
} srv_err;

/* Tokenizes, submits and waits: *job holds the results (srv_job_free); *tokens the
 * input tokens. -1 with e filled. */
int srv_compute(const srv_inputs *in, const srv_prep *p, unsigned want, srv_job *job, size_t *tokens, srv_err *e);

/* Submits n sequences (owned by the job from here on) as one job of kind want (and
 * raw_scores for scores) and waits: 0 with the results in *job (srv_job_free), or -1
 * with e filled and the job freed. Call after batcher_enter. what names the items in
 * messages ("input 3: ..."). */
int srv_submit(xl_sequence *seqs, size_t n, size_t tokens, unsigned want, int raw_scores, const char *what,
               srv_job *job, srv_err *e);

/* Cross-encoder scores through the batcher into scores[n * labels]: with query, xl_rerank's
 * pairs (query, texts[i]); without, xl_score_texts' items (texts[i] with pairs[i], or
 * alone). An encoder input cut to --max-input-tokens is RQ_TOO_LONG unless truncate
 * (decoder rerankers cut the prompt body and are always cut). *tokens: the input tokens. */
int srv_cross_compute(const char *query, size_t qlen, const char *const *texts, const size_t *lens,
                      const char *const *pairs, const size_t *pair_lens, size_t n, int raw, int truncate,
                      const char *what, float *scores, size_t *tokens, srv_err *e);

/* Row i of an embedding job cut to dim (0 = all) and normalized when asked, into dst. */
void srv_finish_row(const srv_job *job, size_t i, int dim, int normalize, float *dst);

/* --------------------------------------------------------------------- log */
void log_request(const char *method, const char *path, int status, size_t tokens, double ms);

/* --------------------------------------------------------------------- http */
struct MHD_Daemon;
struct MHD_Daemon *http_start(const srv_config *cfg, int *port_out, char *err, size_t err_len);

#endif
