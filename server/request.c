/* The work every embedding route shares: JSON inputs → sequences (tokenized here, on the
 * request's thread, with the prompt and the input limit) → the batcher → rows cut to
 * the asked dimensions and normalized. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

void srv_inputs_free(srv_inputs *in) {
    free(in->texts);
    free(in->lens);
    if (in->ids)
        for (size_t i = 0; i < in->n; i++) free(in->ids[i]);
    free(in->ids);
    free(in->n_ids);
    memset(in, 0, sizeof *in);
}

/* The prompt text a request's inputs get (its prompt_name, else the folder's default). */
static const char *prompt_text(const char *name) {
    if (!name) name = g_srv.info.default_prompt_name;
    if (!name) return "";
    for (int k = 0; k < g_srv.info.n_prompts; k++)
        if (!strcmp(g_srv.info.prompt_names[k], name)) return g_srv.info.prompt_texts[k];
    return "";
}

/* TEI's truncation_direction "Left": keep the end of a text that was cut. The text (after
 * its prompt) is tokenized again in full, then content is dropped from the start, the
 * special tokens at both ends kept. */
static int cut_left(const srv_inputs *in, size_t i, const srv_prep *p, xl_sequence *s, srv_err *e) {
    size_t L = (size_t)g_srv.max_input;
    int32_t *ids;
    size_t n = 0, dropped;
    if (in->is_ids) {
        if (in->n_ids[i] <= L) return 0;
        ids = malloc(L * sizeof *ids);
        if (!ids) goto oom;
        memcpy(ids, in->ids[i] + (in->n_ids[i] - L), L * sizeof *ids);
        n = L;
        dropped = in->n_ids[i] - L;
    } else {
        const char *pt = prompt_text(p->prompt_name);
        size_t pl = strlen(pt), tl = in->lens[i];
        char *full = malloc(pl + tl + 1);
        if (!full) goto oom;
        memcpy(full, pt, pl);
        memcpy(full + pl, in->texts[i], tl);
        xl_encoding enc;
        xl_status st = xl_tokenize(g_srv.tok, full, pl + tl, 1, &enc);
        free(full);
        if (st) {
            e->fail = RQ_INPUT;
            snprintf(e->msg, sizeof e->msg, "input %zu: %s", i, xl_last_error());
            return -1;
        }
        size_t lead = 0, trail = 0;
        while (lead < enc.n && enc.special[lead]) lead++;
        while (trail < enc.n - lead && enc.special[enc.n - 1 - trail]) trail++;
        if (enc.n <= L || lead + trail >= L) {
            xl_encoding_free(&enc);
            return 0; /* the right cut stands */
        }
        size_t keep = L - lead - trail;
        ids = malloc(L * sizeof *ids);
        if (!ids) {
            xl_encoding_free(&enc);
            goto oom;
        }
        memcpy(ids, enc.ids, lead * sizeof *ids);
        memcpy(ids + lead, enc.ids + (enc.n - trail - keep), (keep + trail) * sizeof *ids);
        n = L;
        dropped = enc.n - L;
        xl_encoding_free(&enc);
    }
    free(s->ids);
    free(s->type_ids);
    s->ids = ids;
    s->type_ids = NULL;
    s->n = n;
    /* the prompt's tokens go first */
    s->prompt_len = s->prompt_len > dropped ? s->prompt_len - dropped : 0;
    return 0;
oom:
    e->fail = RQ_SERVER;
    snprintf(e->msg, sizeof e->msg, "out of memory");
    return -1;
}

int srv_compute(const srv_inputs *in, const srv_prep *p, unsigned want, srv_job *job, size_t *tokens, srv_err *e) {
    memset(job, 0, sizeof *job);
    e->fail = RQ_OK;
    e->msg[0] = 0;
    *tokens = 0;
    batcher_enter(g_srv.batcher);
    xl_embed_options o;
    xl_embed_options_init(&o);
    o.prompt_name = p->prompt_name;
    o.max_length = g_srv.max_input;
    xl_sequence *seqs = NULL;
    xl_status st = in->is_ids
                       ? xl_prepare_ids(g_srv.model, (const int32_t *const *)in->ids, in->n_ids, NULL, in->n, &o, &seqs)
                       : xl_prepare_texts(g_srv.model, in->texts, in->lens, NULL, NULL, in->n, &o, &seqs);
    if (st) {
        batcher_leave(g_srv.batcher);
        e->fail = st == XL_ERR_NOMEM ? RQ_SERVER : RQ_INPUT;
        snprintf(e->msg, sizeof e->msg, "%s", xl_last_error());
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < in->n && !rc; i++) {
        xl_sequence *s = &seqs[i];
        if (s->status) {
            e->fail = RQ_INPUT;
            snprintf(e->msg, sizeof e->msg, "input %zu: %s", i, s->error ? s->error : xl_status_name(s->status));
            rc = -1;
        } else if (s->truncated && !p->truncate) {
            e->fail = RQ_TOO_LONG;
            snprintf(e->msg, sizeof e->msg,
                     "input %zu is longer than the limit of %d tokens; shorten it or ask for truncation", i,
                     g_srv.max_input);
            rc = -1;
        } else if (s->truncated && p->direction == TRUNC_LEFT) {
            rc = cut_left(in, i, p, s, e);
        }
        *tokens += s->n;
    }
    if (rc) {
        batcher_leave(g_srv.batcher);
        xl_sequences_free(seqs, in->n);
        return -1;
    }
    return srv_submit(seqs, in->n, *tokens, want, 0, "input", job, e);
}

int srv_submit(xl_sequence *seqs, size_t n, size_t tokens, unsigned want, int raw_scores, const char *what,
               srv_job *job, srv_err *e) {
    memset(job, 0, sizeof *job);
    job->seqs = seqs;
    job->n = n;
    job->tokens = tokens;
    job->want = want;
    job->raw_scores = raw_scores;
    char err[256];
    int rc = 0;
    if (batcher_run(g_srv.batcher, job, err, sizeof err)) {
        e->fail = RQ_SERVER;
        snprintf(e->msg, sizeof e->msg, "%s", err);
        rc = -1;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        if (!job->status[i]) continue;
        xl_status ist = job->status[i];
        e->fail = ist == XL_ERR_CANCELLED ? RQ_UNAVAILABLE : ist == XL_ERR_INPUT || ist == XL_ERR_ARG ? RQ_INPUT : RQ_SERVER;
        if (ist == XL_ERR_CANCELLED) snprintf(e->msg, sizeof e->msg, "the server is shutting down");
        else snprintf(e->msg, sizeof e->msg, "%s %zu: %s", what, i, job->error[i] ? job->error[i] : xl_status_name(ist));
        rc = -1;
    }
    if (rc) srv_job_free(job);
    else metrics_input_tokens(tokens);
    return rc;
}

void srv_finish_row(const srv_job *job, size_t i, int dim, int normalize, float *dst) {
    int full = g_srv.dim;
    if (dim <= 0 || dim > full) dim = full;
    memcpy(dst, job->embeddings + i * (size_t)full, (size_t)dim * sizeof *dst);
    if (!normalize) return;
    double ss = 0;
    for (int k = 0; k < dim; k++) ss += (double)dst[k] * dst[k];
    if (ss <= 0) return;
    float inv = (float)(1.0 / sqrt(ss));
    for (int k = 0; k < dim; k++) dst[k] *= inv;
}

static int is_id_array(json_t *a) {
    if (!json_is_array(a)) return 0;
    for (size_t k = 0; k < json_array_size(a); k++)
        if (!json_is_integer(json_array_get(a, k))) return 0;
    return 1;
}

/* One id list into a malloc'd int32 array; -1 when an id does not fit. */
static int ids_of(json_t *a, int32_t **out, size_t *n) {
    size_t len = json_array_size(a);
    int32_t *ids = malloc((len ? len : 1) * sizeof *ids);
    if (!ids) return -2;
    for (size_t k = 0; k < len; k++) {
        json_int_t v = json_integer_value(json_array_get(a, k));
        if (v < INT32_MIN || v > INT32_MAX) {
            free(ids);
            return -1;
        }
        ids[k] = (int32_t)v;
    }
    *out = ids;
    *n = len;
    return 0;
}

int srv_json_dimensions(json_t *o, int *dim) {
    json_t *dj = json_object_get(o, "dimensions");
    *dim = 0;
    if (!dj || json_is_null(dj)) return 0;
    if (!json_is_integer(dj) || json_integer_value(dj) < 1 || json_integer_value(dj) > g_srv.dim) return -1;
    *dim = (int)json_integer_value(dj);
    return 0;
}

int srv_inputs_parse(json_t *v, int allow_ids, srv_inputs *in, char *msg, size_t msg_len) {
    memset(in, 0, sizeof *in);
    const char *want = allow_ids ? "a string, an array of strings, an array of token ids or an array of such arrays"
                                 : "a string or an array of strings";
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (json_is_array(v) && n == 0) {
        snprintf(msg, msg_len, "the input list is empty");
        return -2;
    }
    if (json_is_string(v) || (json_is_array(v) && json_is_string(json_array_get(v, 0)))) {
        in->texts = malloc(n * sizeof *in->texts);
        in->lens = malloc(n * sizeof *in->lens);
        if (!in->texts || !in->lens) goto oom;
        in->n = n;
        for (size_t i = 0; i < n; i++) {
            json_t *s = json_is_array(v) ? json_array_get(v, i) : v;
            if (!json_is_string(s)) {
                snprintf(msg, msg_len, "input %zu is not a string: the input must be %s", i, want);
                srv_inputs_free(in);
                return -1;
            }
            in->texts[i] = json_string_value(s);
            in->lens[i] = json_string_length(s);
        }
        return 0;
    }
    if (allow_ids && json_is_array(v) && (is_id_array(v) || json_is_array(json_array_get(v, 0)))) {
        int single = is_id_array(v);
        n = single ? 1 : n;
        in->is_ids = 1;
        in->ids = calloc(n, sizeof *in->ids);
        in->n_ids = calloc(n, sizeof *in->n_ids);
        if (!in->ids || !in->n_ids) goto oom;
        in->n = n;
        for (size_t i = 0; i < n; i++) {
            json_t *a = single ? v : json_array_get(v, i);
            int r = is_id_array(a) ? ids_of(a, &in->ids[i], &in->n_ids[i]) : -1;
            if (r == -2) goto oom;
            if (r) {
                snprintf(msg, msg_len, "input %zu is not an array of token ids (integers): the input must be %s", i, want);
                srv_inputs_free(in);
                return -1;
            }
        }
        return 0;
    }
    snprintf(msg, msg_len, "the input must be %s", want);
    return -1;
oom:
    srv_inputs_free(in);
    snprintf(msg, msg_len, "out of memory");
    return -1;
}

const char *srv_label_name(int k, char buf[32]) {
    const char *label = xl_reranker_label(g_srv.model, k);
    if (label) return label;
    snprintf(buf, 32, "LABEL_%d", k); /* as transformers names a label config.json leaves out */
    return buf;
}

xl_status srv_describe_model(void) {
    xl_model_get_info(g_srv.model, &g_srv.info);
    g_srv.tok = xl_model_tokenizer(g_srv.model);
    g_srv.dim = xl_embed_dim(g_srv.model, NULL);
    g_srv.classifier = !xl_reranker_info_get(g_srv.model, &g_srv.rinfo) && g_srv.rinfo.n_labels >= 1;
    g_srv.reranker = g_srv.classifier && g_srv.rinfo.n_labels == 1;
    g_srv.scores_want = g_srv.classifier ? xl_scores_outputs(g_srv.model) : 0;
    /* bge-m3 folders: the sparse head (sparse_linear.pt) serves /embed_sparse */
    xl_status st = xl_m3_load(g_srv.model, &g_srv.m3);
    if (st) g_srv.m3 = NULL;
    else if (!(xl_m3_heads(g_srv.m3) & XL_M3_SPARSE)) {
        xl_m3_free(g_srv.m3);
        g_srv.m3 = NULL;
    }
    return st;
}
