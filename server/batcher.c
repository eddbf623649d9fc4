/* The batching queue: request threads tokenize and submit their sequences; one thread
 * owns the xl_context and merges what is queued into xl_run calls of at most
 * --max-batch-tokens tokens (xl_run sorts them by length and runs each batch on all
 * cores). It waits for a batch to fill only while other requests are still preparing
 * their inputs, and never longer than --batch-wait-ms: a lone request runs at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

struct batcher {
    const xl_model *m;
    xl_context *ctx;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* work arrived, a preparer left, or stop */
    srv_job *head, *tail;
    size_t depth, queued_tokens, preparing;
    int stop, cancelled;
    int budget, wait_ms, threads;
    unsigned scores_want;       /* the outputs of cross-encoder scores (0: not a classifier) */
    int labels;                 /* scores per item */
};

double srv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void deadline_after(struct timespec *ts, double secs) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    long long ns = ts->tv_nsec + (long long)(secs * 1e9);
    ts->tv_sec += ns / 1000000000;
    ts->tv_nsec = ns % 1000000000;
}

static void finish(batcher *b, srv_job *j) {
    pthread_mutex_lock(&b->mu);
    j->done = 1;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&b->mu);
}

static void fail_job(srv_job *j, xl_status st, const char *msg) {
    for (size_t i = 0; i < j->n; i++) {
        j->status[i] = st;
        free(j->error[i]);
        j->error[i] = strdup(msg);
    }
}

/* Runs the jobs of one kind (want) among take[0..n) as one xl_run. */
static void run_group(batcher *b, srv_job **take, size_t n, unsigned want) {
    size_t total = 0, tokens = 0, reqs = 0;
    for (size_t k = 0; k < n; k++)
        if (take[k]->want == want) { total += take[k]->n; tokens += take[k]->tokens; reqs++; }
    if (!reqs) return;
    xl_sequence *seqs = malloc((total ? total : 1) * sizeof *seqs);
    if (!seqs) {
        for (size_t k = 0; k < n; k++)
            if (take[k]->want == want) fail_job(take[k], XL_ERR_NOMEM, "out of memory merging a batch");
        return;
    }
    size_t at = 0;
    for (size_t k = 0; k < n; k++)
        if (take[k]->want == want) {
            /* shallow copies: the request still owns the arrays */
            memcpy(seqs + at, take[k]->seqs, take[k]->n * sizeof *seqs);
            at += take[k]->n;
        }
    xl_embed_options o;
    xl_embed_options_init(&o);
    o.normalize = 0; /* each request cuts (dimensions) and normalizes its own rows */
    o.batch_tokens = b->budget;
    o.batch_size = b->budget; /* the token budget is the only limit */
    o.threads = b->threads;
    xl_outputs out;
    double t0 = srv_now();
    xl_status st = xl_run(b->ctx, seqs, total, want, &o, &out);
    metrics_batch(reqs, tokens, srv_now() - t0);
    if (st && st != XL_ERR_CANCELLED) {
        const char *msg = xl_last_error();
        for (size_t k = 0; k < n; k++)
            if (take[k]->want == want) fail_job(take[k], st, msg);
        free(seqs);
        return;
    }
    at = 0;
    for (size_t k = 0; k < n; k++) {
        srv_job *j = take[k];
        if (j->want != want) continue;
        for (size_t i = 0; i < j->n; i++, at++) {
            j->status[i] = out.status[at];
            if (out.error[at]) {
                j->error[i] = out.error[at];
                out.error[at] = NULL;
            }
            if (want == XL_OUT_EMBEDDING) {
                memcpy(j->embeddings + i * (size_t)out.dim, out.embeddings + at * (size_t)out.dim,
                       (size_t)out.dim * sizeof(float));
            } else if (want == b->scores_want) {
                if (!j->status[i] && xl_scores_take(b->m, &out, at, j->raw_scores, j->scores + i * (size_t)b->labels)) {
                    j->status[i] = XL_ERR_INPUT;
                    free(j->error[i]);
                    j->error[i] = strdup(xl_last_error());
                }
            } else {
                j->tokens_out[i] = out.tokens[at];
                j->n_tokens[i] = out.n_tokens[at];
                out.tokens[at] = NULL;
            }
        }
    }
    xl_outputs_free(&out);
    free(seqs);
}

static void *batcher_main(void *arg) {
    batcher *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->head && !b->stop) pthread_cond_wait(&b->cv, &b->mu);
        if (!b->head) break;
        /* Let requests that are still tokenizing join this batch, if the budget has room. */
        double until = b->head->t_enqueued + b->wait_ms * 1e-3;
        while (!b->stop && b->preparing && b->queued_tokens < (size_t)b->budget && srv_now() < until) {
            struct timespec ts;
            deadline_after(&ts, until - srv_now());
            pthread_cond_timedwait(&b->cv, &b->mu, &ts);
        }
        /* FIFO while the budget lasts (the first job always goes, whatever its size). */
        size_t n = 0, tokens = 0;
        srv_job *j = b->head;
        while (j && (!n || tokens + j->tokens <= (size_t)b->budget)) {
            tokens += j->tokens;
            n++;
            j = j->next;
        }
        srv_job **take = malloc(n * sizeof *take);
        srv_job *first = b->head;
        for (size_t k = 0; k < n; k++) {
            srv_job *x = b->head;
            b->head = x->next;
            if (take) take[k] = x;
            b->depth--;
            b->queued_tokens -= x->tokens;
        }
        if (!b->head) b->tail = NULL;
        int cancelled = b->cancelled;
        pthread_mutex_unlock(&b->mu);
        double now = srv_now();
        if (!take) {
            /* out of memory: fail them one by one from the detached list */
            for (size_t k = 0; k < n; k++) {
                srv_job *next = first->next;
                fail_job(first, XL_ERR_NOMEM, "out of memory merging a batch");
                finish(b, first);
                first = next;
            }
        } else {
            for (size_t k = 0; k < n; k++) metrics_queue_time(now - take[k]->t_enqueued);
            if (cancelled)
                for (size_t k = 0; k < n; k++) fail_job(take[k], XL_ERR_CANCELLED, "the server is shutting down");
            else {
                run_group(b, take, n, XL_OUT_EMBEDDING);
                run_group(b, take, n, XL_OUT_TOKENS);
                if (b->scores_want) run_group(b, take, n, b->scores_want);
            }
            for (size_t k = 0; k < n; k++) finish(b, take[k]);
            free(take);
        }
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

batcher *batcher_start(const xl_model *m, const srv_config *cfg, unsigned scores_want, int labels) {
    batcher *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->m = m;
    b->budget = cfg->max_batch_tokens;
    b->wait_ms = cfg->batch_wait_ms;
    b->threads = cfg->threads;
    b->scores_want = scores_want;
    b->labels = scores_want ? labels : 0;
    if (xl_context_new(m, &b->ctx)) {
        free(b);
        return NULL;
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&b->thread, NULL, batcher_main, b)) {
        xl_context_free(b->ctx);
        free(b);
        return NULL;
    }
    return b;
}

void batcher_stop(batcher *b) {
    if (!b) return;
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    xl_context_free(b->ctx);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
}

void batcher_enter(batcher *b) {
    pthread_mutex_lock(&b->mu);
    b->preparing++;
    pthread_mutex_unlock(&b->mu);
}

void batcher_leave(batcher *b) {
    pthread_mutex_lock(&b->mu);
    b->preparing--;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

size_t batcher_depth(batcher *b) {
    pthread_mutex_lock(&b->mu);
    size_t d = b->depth;
    pthread_mutex_unlock(&b->mu);
    return d;
}

void batcher_cancel(batcher *b) {
    pthread_mutex_lock(&b->mu);
    b->cancelled = 1;
    pthread_mutex_unlock(&b->mu);
    xl_context_cancel(b->ctx);
}

void srv_job_free(srv_job *j) {
    xl_sequences_free((xl_sequence *)j->seqs, j->n);
    if (j->error)
        for (size_t i = 0; i < j->n; i++) free(j->error[i]);
    if (j->tokens_out)
        for (size_t i = 0; i < j->n; i++) free(j->tokens_out[i]);
    free(j->status);
    free(j->error);
    free(j->embeddings);
    free(j->scores);
    free(j->tokens_out);
    free(j->n_tokens);
    memset(j, 0, sizeof *j);
}

int batcher_run(batcher *b, srv_job *j, char *err, size_t err_len) {
    size_t n1 = j->n ? j->n : 1;
    j->status = calloc(n1, sizeof *j->status);
    j->error = calloc(n1, sizeof *j->error);
    int ok = j->status && j->error;
    if (j->want == XL_OUT_EMBEDDING) ok = ok && (j->embeddings = calloc(n1 * (size_t)xl_embed_dim(b->m, NULL), sizeof(float)));
    else if (j->want && j->want == b->scores_want) ok = ok && (j->scores = calloc(n1 * (size_t)b->labels, sizeof(float)));
    else ok = ok && (j->tokens_out = calloc(n1, sizeof *j->tokens_out)) && (j->n_tokens = calloc(n1, sizeof *j->n_tokens));
    if (!ok) {
        batcher_leave(b);
        snprintf(err, err_len, "out of memory for the results of %zu inputs", j->n);
        return -1;
    }
    pthread_cond_init(&j->cv, NULL);
    j->done = 0;
    j->next = NULL;
    pthread_mutex_lock(&b->mu);
    j->t_enqueued = srv_now();
    if (b->tail) b->tail->next = j;
    else b->head = j;
    b->tail = j;
    b->depth++;
    b->queued_tokens += j->tokens;
    b->preparing--;
    pthread_cond_signal(&b->cv);
    while (!j->done) pthread_cond_wait(&j->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
    pthread_cond_destroy(&j->cv);
    return 0;
}
