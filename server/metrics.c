/* GET /metrics: counters and histograms in Prometheus text format (version 0.0.4),
 * named xling_* (README, "xling serve", lists them). One mutex: updates are a few per
 * request, next to a forward pass. */
#include <pthread.h>
#include <string.h>

#include "server.h"

const char *const srv_endpoint_names[EP_N] = {"/v1/embeddings", "/embed",    "/embed_all", "/embed_sparse",
                                              "/similarity",    "/tokenize", "/rerank",    "/v1/rerank",
                                              "/predict",       "/v1/models", "/info",     "/health",
                                              "/metrics",       "other"};

#define N_STATUS 24
typedef struct {
    int status[N_STATUS];
    unsigned long long count[N_STATUS];
} status_counts;

typedef struct {
    const char *name, *help;
    int n;
    const double *le;
    unsigned long long counts[24]; /* per bucket, not cumulative; [n] = +Inf */
    double sum;
    unsigned long long total;
} histogram;

static const double secs_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
static const double reqs_le[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
static const double toks_le[] = {16, 64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536};
#define N_OF(a) ((int)(sizeof a / sizeof a[0]))

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static status_counts requests[EP_N];
static unsigned long long input_tokens, batches;
static histogram h_queue = {"xling_queue_duration_seconds", "Time a request's inputs waited in the batching queue",
                            N_OF(secs_le), secs_le, {0}, 0, 0};
static histogram h_infer = {"xling_inference_duration_seconds", "Time of one merged forward pass (xl_run)",
                            N_OF(secs_le), secs_le, {0}, 0, 0};
static histogram h_e2e = {"xling_request_duration_seconds", "End-to-end latency of the inference routes, headers in to reply queued",
                          N_OF(secs_le), secs_le, {0}, 0, 0};
static histogram h_breq = {"xling_batch_requests", "Requests merged into one forward pass", N_OF(reqs_le), reqs_le,
                           {0}, 0, 0};
static histogram h_btok = {"xling_batch_tokens", "Input tokens in one forward pass", N_OF(toks_le), toks_le, {0}, 0, 0};

void metrics_init(void) {
    pthread_mutex_lock(&mu);
    memset(requests, 0, sizeof requests);
    pthread_mutex_unlock(&mu);
}

static void observe(histogram *h, double v) {
    int i = 0;
    while (i < h->n && v > h->le[i]) i++;
    h->counts[i]++;
    h->sum += v;
    h->total++;
}

void metrics_request(int ep, int status, double seconds) {
    if (ep < 0 || ep >= EP_N) ep = EP_OTHER;
    pthread_mutex_lock(&mu);
    status_counts *s = &requests[ep];
    for (int i = 0; i < N_STATUS; i++) {
        if (s->status[i] == status || !s->status[i]) {
            s->status[i] = status;
            s->count[i]++;
            break;
        }
    }
    if (ep <= EP_PREDICT) observe(&h_e2e, seconds);
    pthread_mutex_unlock(&mu);
}

void metrics_input_tokens(size_t n) {
    pthread_mutex_lock(&mu);
    input_tokens += n;
    pthread_mutex_unlock(&mu);
}

void metrics_queue_time(double seconds) {
    pthread_mutex_lock(&mu);
    observe(&h_queue, seconds);
    pthread_mutex_unlock(&mu);
}

void metrics_batch(size_t reqs, size_t tokens, double secs) {
    pthread_mutex_lock(&mu);
    batches++;
    observe(&h_breq, (double)reqs);
    observe(&h_btok, (double)tokens);
    observe(&h_infer, secs);
    pthread_mutex_unlock(&mu);
}

static void render_hist(jbuf *b, const histogram *h) {
    jb_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", h->name, h->help, h->name);
    unsigned long long cum = 0;
    for (int i = 0; i < h->n; i++) {
        cum += h->counts[i];
        jb_printf(b, "%s_bucket{le=\"%g\"} %llu\n", h->name, h->le[i], cum);
    }
    jb_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9g\n%s_count %llu\n", h->name, h->total, h->name, h->sum,
              h->name, h->total);
}

void metrics_render(jbuf *b, size_t depth, size_t in_flight) {
    pthread_mutex_lock(&mu);
    jb_puts(b, "# HELP xling_requests_total HTTP requests by endpoint and status code\n"
               "# TYPE xling_requests_total counter\n");
    for (int e = 0; e < EP_N; e++)
        for (int i = 0; i < N_STATUS && requests[e].status[i]; i++)
            jb_printf(b, "xling_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n", srv_endpoint_names[e],
                      requests[e].status[i], requests[e].count[i]);
    jb_printf(b,
              "# HELP xling_input_tokens_total Input tokens of the requests that were run\n"
              "# TYPE xling_input_tokens_total counter\nxling_input_tokens_total %llu\n"
              "# HELP xling_batches_total Merged forward passes\n"
              "# TYPE xling_batches_total counter\nxling_batches_total %llu\n",
              input_tokens, batches);
    render_hist(b, &h_queue);
    render_hist(b, &h_breq);
    render_hist(b, &h_btok);
    render_hist(b, &h_infer);
    render_hist(b, &h_e2e);
    pthread_mutex_unlock(&mu);
    jb_printf(b,
              "# HELP xling_queue_depth Requests waiting in the batching queue\n"
              "# TYPE xling_queue_depth gauge\nxling_queue_depth %zu\n"
              "# HELP xling_requests_in_flight Requests begun and not yet answered\n"
              "# TYPE xling_requests_in_flight gauge\nxling_requests_in_flight %zu\n",
              depth, in_flight);
}
