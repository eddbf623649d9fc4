/* Shared decoder pieces: see decoder_common.h. */
#include "models/decoder_common.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "kernels/kernels.h"
#include "kernels/linear_half.h"
#include "util/error.h"
#include "util/json.h"

/* ------------------------------------------------------------ quantization */

static void drop_q8(xl_dec_linear *l) {
    if (!l->q8) return;
    xl_q8_free(l->q8);
    free(l->q8);
    l->q8 = NULL;
}

/* Hands the whole pages inside [p, p + n) back to the kernel. The mapping is read-only
 * and file-backed, so a later read faults them in from the file. */
static void release_pages(const void *p, size_t n) {
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0) return;
    uintptr_t a = ((uintptr_t)p + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
    uintptr_t e = ((uintptr_t)p + n) & ~((uintptr_t)pg - 1);
    if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);
}

xl_status xl_dec_linear_quantize(xl_dec_linear *l, int threads) {
    if (l->q8) return XL_OK;
    xl_q8_matrix *q = malloc(sizeof *q);
    if (!q) return xl_err(XL_ERR_NOMEM, "quantize: out of memory");
    xl_status st = xl_q8_quantize(l->w, l->dtype, l->N, l->K, q, threads);
    if (st) {
        free(q);
        return st;
    }
    l->q8 = q;
    release_pages(l->w, (size_t)l->N * l->K * xl_dtype_size(l->dtype));
    return XL_OK;
}

/* ------------------------------------------------------------ config */

xl_status xl_dec_read_is_causal(const json_t *cfg, const char *what, int *causal, int *present) {
    const json_t *ic = json_object_get(cfg, "is_causal");
    *present = ic && !json_is_null(ic);
    if (!*present) return XL_OK;
    if (!json_is_boolean(ic)) return xl_err(XL_ERR_FORMAT, "%s: \"is_causal\" must be true or false", what);
    *causal = json_is_true(ic);
    return XL_OK;
}

int xl_dec_arch_is(const json_t *cfg, const char *name) {
    const json_t *archs = json_object_get(cfg, "architectures");
    size_t i;
    const json_t *a;
    if (json_is_string(archs)) return strcmp(json_string_value(archs), name) == 0;
    json_array_foreach(archs, i, a) {
        if (json_is_string(a) && strcmp(json_string_value(a), name) == 0) return 1;
    }
    return 0;
}

/* A required positive integer no larger than max. */
static xl_status get_dim(const json_t *cfg, const char *key, long long def, long long max, const char *what, int *out) {
    long long v;
    xl_status st = xl_json_get_int(cfg, key, def, &v, what);
    if (st) return st;
    if (v == -1) return xl_err(XL_ERR_FORMAT, "%s: missing \"%s\"", what, key);
    if (v <= 0 || v > max) return xl_err(XL_ERR_FORMAT, "%s: \"%s\" = %lld is out of range (1..%lld)", what, key, v, max);
    *out = (int)v;
    return XL_OK;
}

xl_status xl_dec_read_dims(const json_t *cfg, const char *what, double eps_default, int head_dim_default,
                           xl_dec_dims *d) {
    xl_status st;
    memset(d, 0, sizeof *d);
    if ((st = get_dim(cfg, "hidden_size", -1, 1 << 16, what, &d->hidden))) return st;
    if ((st = get_dim(cfg, "num_hidden_layers", -1, 1 << 10, what, &d->layers))) return st;
    if ((st = get_dim(cfg, "num_attention_heads", -1, 1 << 10, what, &d->heads))) return st;
    if ((st = get_dim(cfg, "num_key_value_heads", d->heads, 1 << 10, what, &d->kv_heads))) return st;
    if ((st = get_dim(cfg, "intermediate_size", -1, 1 << 20, what, &d->intermediate))) return st;
    if ((st = get_dim(cfg, "vocab_size", -1, 1 << 26, what, &d->vocab))) return st;
    if (d->heads % d->kv_heads)
        return xl_err(XL_ERR_FORMAT, "%s: num_attention_heads (%d) is not a multiple of num_key_value_heads (%d)", what,
                      d->heads, d->kv_heads);
    const json_t *hd = json_object_get(cfg, "head_dim");
    if (hd && !json_is_null(hd)) {
        if ((st = get_dim(cfg, "head_dim", -1, 1 << 12, what, &d->head_dim))) return st;
    } else if (head_dim_default > 0) {
        d->head_dim = head_dim_default;
    } else {
        if (d->hidden % d->heads)
            return xl_err(XL_ERR_FORMAT, "%s: no \"head_dim\" and hidden_size (%d) is not a multiple of num_attention_heads (%d)",
                          what, d->hidden, d->heads);
        d->head_dim = d->hidden / d->heads;
    }
    if (d->head_dim % 2) return xl_err(XL_ERR_FORMAT, "%s: head_dim %d is odd; rotary embeddings need pairs", what, d->head_dim);
    long long mp;
    if ((st = xl_json_get_int(cfg, "max_position_embeddings", 0, &mp, what))) return st;
    if (mp < 0) return xl_err(XL_ERR_FORMAT, "%s: max_position_embeddings %lld is negative", what, mp);
    d->max_pos = mp > INT_MAX ? INT_MAX : (int)mp;
    if ((st = xl_json_get_num(cfg, "rms_norm_eps", eps_default, &d->eps, what))) return st;
    if (!(d->eps > 0 && d->eps < 1)) return xl_err(XL_ERR_FORMAT, "%s: rms_norm_eps %g is out of range", what, d->eps);
    return XL_OK;
}

xl_status xl_dec_read_layer_types(const json_t *cfg, const char *what, int layers, int *sliding, int *present) {
    const json_t *lt = json_object_get(cfg, "layer_types");
    *present = 0;
    if (!lt || json_is_null(lt)) return XL_OK;
    if (!json_is_array(lt) || json_array_size(lt) != (size_t)layers)
        return xl_err(XL_ERR_FORMAT, "%s: \"layer_types\" must be an array of num_hidden_layers (%d) strings", what, layers);
    for (int l = 0; l < layers; l++) {
        const char *t = json_string_value(json_array_get(lt, (size_t)l));
        if (!t) return xl_err(XL_ERR_FORMAT, "%s: layer_types[%d] is not a string", what, l);
        if (strcmp(t, "full_attention") == 0)
            sliding[l] = 0;
        else if (strcmp(t, "sliding_attention") == 0)
            sliding[l] = 1;
        else
            return xl_err(XL_ERR_UNSUPPORTED, "%s: layer_types[%d] = \"%s\" is not supported (full_attention, sliding_attention)",
                          what, l, t);
    }
    *present = 1;
    return XL_OK;
}

static xl_status get_positive(const json_t *obj, const char *key, const char *what, double *out) {
    xl_status st = xl_json_get_num(obj, key, -1, out, what);
    if (st) return st;
    if (!(*out > 0)) return xl_err(XL_ERR_FORMAT, "%s: rope_scaling needs a positive \"%s\"", what, key);
    return XL_OK;
}

xl_status xl_dec_read_rope(const json_t *cfg, const char *what, const char *theta_key, double theta_default,
                           const char *scaling_key, xl_rope_params *out) {
    xl_status st;
    memset(out, 0, sizeof *out);
    out->kind = XL_ROPE_DEFAULT;
    if (!json_object_get(cfg, theta_key) && json_object_get(cfg, "rope_parameters"))
        return xl_err(XL_ERR_UNSUPPORTED, "%s: \"rope_parameters\" (the transformers 5 config layout) without \"%s\" is not supported",
                      what, theta_key);
    if ((st = xl_json_get_num(cfg, theta_key, theta_default, &out->theta, what))) return st;
    if (!(out->theta > 1)) return xl_err(XL_ERR_FORMAT, "%s: \"%s\" = %g must be > 1", what, theta_key, out->theta);
    double partial;
    if ((st = xl_json_get_num(cfg, "partial_rotary_factor", 1.0, &partial, what))) return st;
    if (partial != 1.0)
        return xl_err(XL_ERR_UNSUPPORTED, "%s: partial_rotary_factor %g is not supported (rotary over the whole head only)", what,
                      partial);
    if (!scaling_key) return XL_OK;
    const json_t *rs = json_object_get(cfg, scaling_key);
    if (!rs || json_is_null(rs)) return XL_OK;
    if (!json_is_object(rs)) return xl_err(XL_ERR_FORMAT, "%s: \"%s\" must be an object or null", what, scaling_key);
    const char *type = NULL;
    if ((st = xl_json_get_str(rs, "rope_type", NULL, &type, what))) return st;
    if (!type && (st = xl_json_get_str(rs, "type", NULL, &type, what))) return st;
    if (!type || strcmp(type, "default") == 0) return XL_OK;
    if (strcmp(type, "linear") == 0) {
        out->kind = XL_ROPE_LINEAR;
        return get_positive(rs, "factor", what, &out->factor);
    }
    if (strcmp(type, "llama3") == 0) {
        out->kind = XL_ROPE_LLAMA3;
        if ((st = get_positive(rs, "factor", what, &out->factor))) return st;
        if ((st = get_positive(rs, "low_freq_factor", what, &out->low_freq_factor))) return st;
        if ((st = get_positive(rs, "high_freq_factor", what, &out->high_freq_factor))) return st;
        if ((st = get_positive(rs, "original_max_position_embeddings", what, &out->original_max_pos))) return st;
        if (!(out->high_freq_factor > out->low_freq_factor))
            return xl_err(XL_ERR_FORMAT, "%s: rope_scaling high_freq_factor (%g) must exceed low_freq_factor (%g)", what,
                          out->high_freq_factor, out->low_freq_factor);
        return XL_OK;
    }
    return xl_err(XL_ERR_UNSUPPORTED, "%s: rope_scaling type \"%s\" is not supported (supported: default, linear, llama3)", what,
                  type);
}

/* ------------------------------------------------------------ weights */

static int is_float_weight(xl_dtype dt) { return dt == XL_DT_F32 || dt == XL_DT_F16 || dt == XL_DT_BF16; }

xl_status xl_dec_linear_load(const xl_weights *w, const char *base, int N, int K, xl_bias_rule rule,
                             xl_dec_linear *out) {
    char name[512];
    const xl_tensor *t;
    xl_status st;
    memset(out, 0, sizeof *out);
    snprintf(name, sizeof name, "%s.weight", base);
    int64_t shape[2] = {N, K};
    if ((st = xl_weights_get(w, name, 2, shape, &t))) return st;
    if (!is_float_weight(t->dtype))
        return xl_err(XL_ERR_UNSUPPORTED, "%s: tensor %s has dtype %s; linear weights must be F32, F16 or BF16", t->file,
                      t->name, xl_dtype_name(t->dtype));
    out->N = N;
    out->K = K;
    out->dtype = t->dtype;
    out->w = t->data;
    if (rule == XL_BIAS_NONE) return XL_OK;
    snprintf(name, sizeof name, "%s.bias", base);
    if (rule == XL_BIAS_IF_PRESENT && !xl_weights_find(w, name)) return XL_OK;
    int64_t bshape[1] = {N};
    if ((st = xl_weights_get(w, name, 1, bshape, &t))) return st;
    return xl_tensor_to_f32(t, &out->bias);
}

void xl_dec_linear_free(xl_dec_linear *l) {
    free(l->bias);
    l->bias = NULL;
    drop_q8(l);
}

size_t xl_dec_linear_work(const xl_dec_linear *l, int M, int threads) {
    if (l->q8) return (xl_q8_work(M, l->K, threads) + sizeof(float) - 1) / sizeof(float);
    return xl_linear_half_work(M, l->K, threads);
}

void xl_dec_linear_apply(const xl_dec_linear *l, const float *x, int M, float *y, float *work, int threads) {
    xl_dec_linear_apply_multi(&l, &y, 1, x, M, work, threads);
}

void xl_dec_linear_apply_multi(const xl_dec_linear *const *ls, float *const *ys, int n, const float *x, int M,
                               float *work, int threads) {
    /* Runs of the same kind share one pass over x (one packing, one parallel region). */
    for (int i = 0; i < n;) {
        int q8 = ls[i]->q8 != NULL, e = i + 1;
        while (e < n && (ls[e]->q8 != NULL) == q8 && ls[e]->K == ls[i]->K && e - i < XL_DEC_MAX_MULTI) e++;
        if (q8) {
            xl_q8_job jobs[XL_DEC_MAX_MULTI];
            for (int j = i; j < e; j++) jobs[j - i] = (xl_q8_job){.W = ls[j]->q8, .b = ls[j]->bias, .y = ys[j]};
            xl_q8_linear_multi(x, M, ls[i]->K, jobs, e - i, work, threads);
        } else {
            xl_half_job jobs[XL_DEC_MAX_MULTI];
            for (int j = i; j < e; j++)
                jobs[j - i] = (xl_half_job){.W = ls[j]->w, .dt = ls[j]->dtype, .N = ls[j]->N, .b = ls[j]->bias, .y = ys[j]};
            xl_linear_half_multi(x, M, ls[i]->K, jobs, e - i, work, threads);
        }
        i = e;
    }
}

xl_status xl_dec_embed_load(const xl_weights *w, const xl_dec_dims *d, const xl_tensor **out) {
    int64_t shape[2] = {d->vocab, d->hidden};
    xl_status st = xl_weights_get(w, "embed_tokens.weight", 2, shape, out);
    if (st) return st;
    if (!is_float_weight((*out)->dtype))
        return xl_err(XL_ERR_UNSUPPORTED, "%s: tensor %s has dtype %s; embeddings must be F32, F16 or BF16", (*out)->file,
                      (*out)->name, xl_dtype_name((*out)->dtype));
    return XL_OK;
}

xl_status xl_dec_vector_load(const xl_weights *w, const char *name, int n, float **out) {
    const xl_tensor *t;
    int64_t shape[1] = {n};
    xl_status st = xl_weights_get(w, name, 1, shape, &t);
    if (st) return st;
    return xl_tensor_to_f32(t, out);
}

xl_status xl_dec_attn_load(const xl_weights *w, int layer, const xl_dec_dims *d, xl_bias_rule qkv_bias,
                           xl_bias_rule o_bias, int qk_norm, xl_dec_attn *a) {
    char base[128];
    xl_status st;
    int qd = d->heads * d->head_dim, kd = d->kv_heads * d->head_dim;
    memset(a, 0, sizeof *a);
    snprintf(base, sizeof base, "layers.%d.self_attn.q_proj", layer);
    if ((st = xl_dec_linear_load(w, base, qd, d->hidden, qkv_bias, &a->q))) return st;
    snprintf(base, sizeof base, "layers.%d.self_attn.k_proj", layer);
    if ((st = xl_dec_linear_load(w, base, kd, d->hidden, qkv_bias, &a->k))) return st;
    snprintf(base, sizeof base, "layers.%d.self_attn.v_proj", layer);
    if ((st = xl_dec_linear_load(w, base, kd, d->hidden, qkv_bias, &a->v))) return st;
    snprintf(base, sizeof base, "layers.%d.self_attn.o_proj", layer);
    if ((st = xl_dec_linear_load(w, base, d->hidden, qd, o_bias, &a->o))) return st;
    if (!qk_norm) return XL_OK;
    snprintf(base, sizeof base, "layers.%d.self_attn.q_norm.weight", layer);
    if ((st = xl_dec_vector_load(w, base, d->head_dim, &a->q_norm))) return st;
    snprintf(base, sizeof base, "layers.%d.self_attn.k_norm.weight", layer);
    return xl_dec_vector_load(w, base, d->head_dim, &a->k_norm);
}

xl_status xl_dec_mlp_load(const xl_weights *w, int layer, const xl_dec_dims *d, xl_bias_rule bias, xl_dec_mlp *m) {
    char base[128];
    xl_status st;
    memset(m, 0, sizeof *m);
    snprintf(base, sizeof base, "layers.%d.mlp.gate_proj", layer);
    if ((st = xl_dec_linear_load(w, base, d->intermediate, d->hidden, bias, &m->gate))) return st;
    snprintf(base, sizeof base, "layers.%d.mlp.up_proj", layer);
    if ((st = xl_dec_linear_load(w, base, d->intermediate, d->hidden, bias, &m->up))) return st;
    snprintf(base, sizeof base, "layers.%d.mlp.down_proj", layer);
    return xl_dec_linear_load(w, base, d->hidden, d->intermediate, bias, &m->down);
}

static uint64_t linear_params(const xl_dec_linear *l) { return (uint64_t)l->N * l->K + (l->bias ? (uint64_t)l->N : 0); }

uint64_t xl_dec_attn_params(const xl_dec_attn *a, const xl_dec_dims *d) {
    uint64_t n = linear_params(&a->q) + linear_params(&a->k) + linear_params(&a->v) + linear_params(&a->o);
    if (a->q_norm) n += (uint64_t)d->head_dim;
    if (a->k_norm) n += (uint64_t)d->head_dim;
    return n;
}

uint64_t xl_dec_mlp_params(const xl_dec_mlp *m) {
    return linear_params(&m->gate) + linear_params(&m->up) + linear_params(&m->down);
}

void xl_dec_attn_free(xl_dec_attn *a) {
    xl_dec_linear_free(&a->q);
    xl_dec_linear_free(&a->k);
    xl_dec_linear_free(&a->v);
    xl_dec_linear_free(&a->o);
    free(a->q_norm);
    free(a->k_norm);
    a->q_norm = a->k_norm = NULL;
}

void xl_dec_mlp_free(xl_dec_mlp *m) {
    xl_dec_linear_free(&m->gate);
    xl_dec_linear_free(&m->up);
    xl_dec_linear_free(&m->down);
}

/* ------------------------------------------------------------ scratch */

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

size_t xl_dec_layer_work(const xl_dec_attn *a, const xl_dec_mlp *m, int M, int threads) {
    size_t w = xl_dec_linear_work(&a->q, M, threads);
    w = max_sz(w, xl_dec_linear_work(&a->k, M, threads));
    w = max_sz(w, xl_dec_linear_work(&a->v, M, threads));
    w = max_sz(w, xl_dec_linear_work(&a->o, M, threads));
    w = max_sz(w, xl_dec_linear_work(&m->gate, M, threads));
    w = max_sz(w, xl_dec_linear_work(&m->up, M, threads));
    w = max_sz(w, xl_dec_linear_work(&m->down, M, threads));
    return w;
}

/* ------------------------------------------------------------ blocks */

xl_status xl_dec_attention(const xl_dec_attn *a, const xl_dec_attn_cfg *c, const xl_batch *b, const float *x,
                      xl_dec_scratch *s, int threads) {
    int rows = b->B * b->T;
    int qd = c->n_heads * c->head_dim, kd = c->n_kv_heads * c->head_dim;
    const xl_dec_linear *qkv[3] = {&a->q, &a->k, &a->v};
    float *const qkv_out[3] = {s->q, s->k, s->v};
    xl_dec_linear_apply_multi(qkv, qkv_out, 3, x, rows, s->work, threads);
    /* q/k norms act on each head's head_dim values: [rows][heads*D] is rows*heads rows of D. */
    if (a->q_norm) xl_rmsnorm(s->q, rows * c->n_heads, c->head_dim, a->q_norm, c->qk_norm_offset, c->qk_norm_eps, threads);
    if (a->k_norm) xl_rmsnorm(s->k, rows * c->n_kv_heads, c->head_dim, a->k_norm, c->qk_norm_offset, c->qk_norm_eps, threads);
    xl_rope_apply(s->q, b->B, b->T, qd, c->n_heads, c->head_dim, c->cos_t, c->sin_t, threads);
    xl_rope_apply(s->k, b->B, b->T, kd, c->n_kv_heads, c->head_dim, c->cos_t, c->sin_t, threads);
    xl_attn_params p = {
        .B = b->B,
        .T = b->T,
        .n_heads = c->n_heads,
        .n_kv_heads = c->n_kv_heads,
        .head_dim = c->head_dim,
        .scale = c->scale,
        .window_left = c->window_left,
        .window_right = c->window_right,
        .mask = b->mask,
    };
    xl_status st = xl_attention(&p, s->q, qd, s->k, s->v, kd, s->ctx, threads);
    if (st) return st;
    xl_dec_linear_apply(&a->o, s->ctx, rows, s->out, s->work, threads);
    return XL_OK;
}

int xl_dec_mlp_rows(const xl_dec_dims *d, int rows) {
    /* A multiple of 48 (the linear kernels' micro-tile), at least 48. */
    long long r = (long long)XL_DEC_MLP_BYTES / ((long long)d->intermediate * 2 * (long long)sizeof(float));
    r -= r % 48;
    if (r < 48) r = 48;
    return rows < r ? rows : (int)r;
}

void xl_dec_mlp_forward(const xl_dec_mlp *m, xl_kact act, const float *x, int rows, xl_dec_scratch *s,
                        int threads) {
    /* Rows are independent here: a long batch goes through in chunks, so gate / up
     * hold a bounded number of rows (an 8B model's 14336-wide MLP over 8192 positions
     * would otherwise need 0.9 GB for them). */
    const int F = m->gate.N, H = m->down.N, K = m->gate.K, chunk = s->mlp_rows > 0 ? s->mlp_rows : rows;
    for (int r0 = 0; r0 < rows; r0 += chunk) {
        int n = rows - r0 < chunk ? rows - r0 : chunk;
        const xl_dec_linear *gu[2] = {&m->gate, &m->up};
        float *const gu_out[2] = {s->gate, s->up};
        xl_dec_linear_apply_multi(gu, gu_out, 2, x + (size_t)r0 * K, n, s->work, threads);
        xl_gated_act(s->gate, s->gate, s->up, n, F, F, act, threads);
        xl_dec_linear_apply(&m->down, s->gate, n, s->out + (size_t)r0 * H, s->work, threads);
    }
}

/* ------------------------------------------------------------ batch, embeddings */

xl_status xl_dec_check_batch(const xl_batch *b, int vocab, const char *what) {
    if (!b || b->B <= 0 || b->T <= 0 || !b->ids || !b->mask || !b->lens)
        return xl_err(XL_ERR_ARG, "%s: empty or incomplete batch", what);
    if ((long long)b->B * b->T > INT_MAX / 4) return xl_err(XL_ERR_ARG, "%s: batch of %d x %d positions is too large", what, b->B, b->T);
    for (int i = 0; i < b->B; i++) {
        int len = b->lens[i];
        if (len < 1 || len > b->T)
            return xl_err(XL_ERR_ARG, "%s: sequence %d has length %d (must be 1..%d)", what, i, len, b->T);
        for (int t = 0; t < b->T; t++) {
            size_t at = (size_t)i * b->T + t;
            if ((b->mask[at] != 0) != (t < len))
                return xl_err(XL_ERR_ARG, "%s: sequence %d: mask disagrees with its length %d at position %d (batches are right-padded)",
                              what, i, len, t);
            if (t < len && (b->ids[at] < 0 || b->ids[at] >= vocab))
                return xl_err(XL_ERR_INPUT, "%s: sequence %d position %d: token id %d is outside the vocabulary (0..%d)", what, i,
                              t, (int)b->ids[at], vocab - 1);
        }
    }
    return XL_OK;
}

void xl_dec_embed(const xl_tensor *table, int hidden, const xl_batch *b, float scale, float *out, int threads) {
    long rows = (long)b->B * b->T;
    size_t row_bytes = (size_t)hidden * xl_dtype_size(table->dtype);
#pragma omp parallel for num_threads(threads > 0 ? threads : 1) schedule(static) if (threads > 1 && rows * hidden >= 16384)
    for (long r = 0; r < rows; r++) {
        float *o = out + (size_t)r * hidden;
        if (!b->mask[r]) {
            memset(o, 0, (size_t)hidden * sizeof(float));
            continue;
        }
        xl_convert_to_f32(table->dtype, (const char *)table->data + (size_t)b->ids[r] * row_bytes, o, (size_t)hidden);
        if (scale != 1.0f)
            for (int i = 0; i < hidden; i++) o[i] *= scale;
    }
}
