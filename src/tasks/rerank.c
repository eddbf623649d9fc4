/* Cross-encoders and rerankers on top of the sequence layer: which kind of head a model
 * folder has and its activation (as sentence-transformers' CrossEncoder reads them),
 * the Qwen3-Reranker prompt for decoder rerankers, and the scores (xl_rerank,
 * xl_score_texts). The heads themselves are the architectures' (models/bert.c,
 * models/decoder.c): XL_OUT_SCORES, or the two vocabulary rows of the yes/no reranker
 * applied to the final-normed last token. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "embed/model_internal.h"
#include "util/error.h"

/* The Qwen3-Reranker model card's prompt. */
static const char k_prefix[] =
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct "
    "provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n";
static const char k_suffix[] = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";
static const char k_default_instruct[] = "Given a web search query, retrieve relevant passages that answer the query";

void xl_rerank_options_init(xl_rerank_options *o) { memset(o, 0, sizeof *o); }

static int ends_with(const char *s, const char *suffix) {
    size_t n = s ? strlen(s) : 0, k = strlen(suffix);
    return s && n >= k && !strcmp(s + n - k, suffix);
}

/* "torch.nn.modules.activation.Sigmoid" → the class name after the last '.', any case. */
static xl_status parse_activation(const char *name, const char *what, xl_score_activation *out) {
    const char *dot = strrchr(name, '.'), *cls = dot ? dot + 1 : name;
    static const struct {
        const char *name;
        xl_score_activation a;
    } known[] = {{"sigmoid", XL_SCORE_SIGMOID}, {"identity", XL_SCORE_IDENTITY}, {"tanh", XL_SCORE_TANH},
                 {"relu", XL_SCORE_RELU},       {"softmax", XL_SCORE_SOFTMAX}};
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
        if (!strcasecmp(cls, known[k].name)) {
            *out = known[k].a;
            return XL_OK;
        }
    return xl_err(XL_ERR_UNSUPPORTED, "%s: activation \"%s\" is not supported (Sigmoid, Identity, Tanh, ReLU, Softmax)",
                  what, name);
}

/* The activation the folder names, or *present = 0. */
static xl_status config_activation(const xl_model *m, xl_score_activation *a, int *present) {
    char what[512];
    snprintf(what, sizeof what, "%s/config.json", m->dir);
    *present = 0;
    const json_t *st = json_object_get(m->config, "sentence_transformers"), *fn = NULL;
    if (st && !json_is_null(st)) {
        if (!json_is_object(st)) return xl_err(XL_ERR_FORMAT, "%s: \"sentence_transformers\" is not an object", what);
        fn = json_object_get(st, "activation_fn");
    }
    if (!fn || json_is_null(fn)) fn = json_object_get(m->config, "sbert_ce_default_activation_function");
    if (!fn || json_is_null(fn)) return XL_OK;
    if (!json_is_string(fn)) return xl_err(XL_ERR_FORMAT, "%s: the activation function is not a string", what);
    *present = 1;
    return parse_activation(json_string_value(fn), what, a);
}

xl_status xl_reranker_info_get(const xl_model *m, xl_reranker_info *info) {
    memset(info, 0, sizeof *info);
    info->yes_id = info->no_id = -1;
    if (!m) return xl_err(XL_ERR_ARG, "no model");
    const char *arch = m->ainfo.architecture;
    if (m->arch->num_scores && m->arch->num_scores(m->impl) > 0) {
        info->n_labels = m->arch->num_scores(m->impl);
        info->kind = m->arch == &xl_arch_bert ? XL_RERANKER_ENCODER : XL_RERANKER_DECODER_SEQCLS;
    } else if (ends_with(arch, "ForCausalLM") && !m->st.has_modules && m->arch->vocab_logits && m->tok &&
               xl_tokenizer_token_to_id(m->tok, "yes") >= 0 && xl_tokenizer_token_to_id(m->tok, "no") >= 0) {
        info->kind = XL_RERANKER_DECODER_YESNO;
        info->n_labels = 1;
        info->yes_id = xl_tokenizer_token_to_id(m->tok, "yes");
        info->no_id = xl_tokenizer_token_to_id(m->tok, "no");
    } else {
        return xl_err(XL_ERR_UNSUPPORTED,
                      "%s: %s has no classification head (a cross-encoder is a ...ForSequenceClassification "
                      "folder, or a Qwen3-Reranker ...ForCausalLM folder without modules.json)",
                      m->dir, arch && *arch ? arch : "the model");
    }
    info->prompted = info->kind != XL_RERANKER_ENCODER;
    info->default_instruct = info->prompted ? k_default_instruct : NULL;
    if (info->kind == XL_RERANKER_DECODER_YESNO) {
        /* softmax over (no, yes) = sigmoid of the difference */
        info->activation = XL_SCORE_SIGMOID;
        return XL_OK;
    }
    int present;
    xl_status st = config_activation(m, &info->activation, &present);
    if (st) return st;
    if (!present) info->activation = info->n_labels == 1 ? XL_SCORE_SIGMOID : XL_SCORE_SOFTMAX;
    /* several labels with no activation: the probabilities are the softmax */
    if (info->n_labels > 1 && info->activation == XL_SCORE_IDENTITY) info->activation = XL_SCORE_SOFTMAX;
    return XL_OK;
}

const char *xl_reranker_label(const xl_model *m, int k) {
    char key[32];
    snprintf(key, sizeof key, "%d", k);
    return json_string_value(json_object_get(json_object_get(m->config, "id2label"), key));
}

/* Applies the activation to one input's n raw scores in place. */
static void activate(xl_score_activation a, float *s, int n) {
    if (a == XL_SCORE_SOFTMAX) {
        double mx = s[0], sum = 0;
        for (int k = 1; k < n; k++) mx = s[k] > mx ? s[k] : mx;
        for (int k = 0; k < n; k++) sum += exp((double)s[k] - mx);
        for (int k = 0; k < n; k++) s[k] = (float)(exp((double)s[k] - mx) / sum);
        return;
    }
    for (int k = 0; k < n; k++) {
        double x = s[k];
        switch (a) {
        case XL_SCORE_SIGMOID: x = 1.0 / (1.0 + exp(-x)); break;
        case XL_SCORE_TANH: x = tanh(x); break;
        case XL_SCORE_RELU: x = x > 0 ? x : 0; break;
        default: break;
        }
        s[k] = (float)x;
    }
}

static void to_embed_options(const xl_rerank_options *o, xl_embed_options *eo) {
    xl_embed_options_init(eo);
    eo->prefix = ""; /* no sentence-transformers prompt: the pair (or the formatted text) as given */
    if (!o) return;
    eo->max_length = o->max_length;
    eo->batch_size = o->batch_size;
    eo->threads = o->threads;
    eo->progress = o->progress;
    eo->progress_ctx = o->progress_ctx;
}

/* Hugging Face's decoder ...ForSequenceClassification scores the last token whose id is
 * not pad_token_id. Causal attention leaves earlier states unchanged when trailing
 * tokens are dropped, so dropping trailing pad ids gives exactly that token (all pads:
 * HF takes position 0). */
static void drop_trailing_pads(const xl_model *m, const xl_reranker_info *info, xl_sequence *seqs, size_t n) {
    const json_t *pad = json_object_get(m->config, "pad_token_id");
    if (info->kind != XL_RERANKER_DECODER_SEQCLS || !m->ainfo.causal || !json_is_integer(pad)) return;
    int32_t id = (int32_t)json_integer_value(pad);
    for (size_t i = 0; i < n; i++)
        while (seqs[i].n > 1 && seqs[i].ids && seqs[i].ids[seqs[i].n - 1] == id) seqs[i].n--;
}

unsigned xl_scores_outputs(const xl_model *m) {
    xl_reranker_info info;
    /* the yes/no head needs the final-normed state of the last token only: the last
     * entry of the per-layer last-token states */
    if (m && !xl_reranker_info_get(m, &info) && info.kind == XL_RERANKER_DECODER_YESNO) return XL_OUT_LAYER_LAST;
    return XL_OUT_SCORES;
}

/* Item i's raw scores (n_labels) from outputs of xl_scores_outputs(m). */
static xl_status take_raw(const xl_model *m, const xl_reranker_info *info, const xl_outputs *out, size_t i, float *raw) {
    if (i >= out->n || (out->status && out->status[i]))
        return xl_err(XL_ERR_ARG, "xl_scores_take: item %zu has no scores (it failed or does not exist)", i + 1);
    if (info->kind == XL_RERANKER_DECODER_YESNO) {
        if (!out->layer_last || out->n_layers < 1)
            return xl_err(XL_ERR_ARG, "xl_scores_take: the outputs lack the last-token states (run with xl_scores_outputs)");
        const float *h = out->layer_last + ((i + 1) * (size_t)out->n_layers - 1) * (size_t)out->hidden;
        int32_t rows[2] = {info->yes_id, info->no_id};
        float lg[2];
        xl_status st = m->arch->vocab_logits(m->impl, h, rows, 2, lg);
        if (st) return st;
        raw[0] = lg[0] - lg[1];
        return XL_OK;
    }
    if (!out->scores || out->n_scores < info->n_labels)
        return xl_err(XL_ERR_ARG, "xl_scores_take: the outputs lack the head's scores (run with xl_scores_outputs)");
    memcpy(raw, out->scores + i * (size_t)out->n_scores, (size_t)info->n_labels * sizeof(float));
    return XL_OK;
}

xl_status xl_scores_take(const xl_model *m, const xl_outputs *out, size_t i, int raw_scores, float *scores) {
    if (!m || !out || !scores) return xl_err(XL_ERR_ARG, "xl_scores_take: NULL argument");
    xl_reranker_info info;
    xl_status st = xl_reranker_info_get(m, &info);
    if (!st) st = take_raw(m, &info, out, i, scores);
    if (!st && !raw_scores) activate(info.activation, scores, info.n_labels);
    return st;
}

/* Runs the sequences and writes each one's raw scores (n_labels per input). */
static xl_status run_raw(const xl_model *m, const xl_reranker_info *info, const xl_sequence *seqs, size_t n,
                         const xl_embed_options *eo, float *raw) {
    xl_context *ctx;
    xl_status st = xl_context_new(m, &ctx);
    if (st) return st;
    xl_outputs out;
    st = xl_run(ctx, seqs, n, xl_scores_outputs(m), eo, &out);
    xl_context_free(ctx);
    if (st) return st;
    for (size_t i = 0; i < n && !st; i++)
        if (out.status[i]) {
            const char *sep = strncmp(out.error[i], "has ", 4) == 0 ? " " : ": ";
            st = xl_err(out.status[i], "input %zu%s%s", i + 1, sep, out.error[i]);
        }
    for (size_t i = 0; i < n && !st; i++) st = take_raw(m, info, &out, i, raw + i * (size_t)info->n_labels);
    xl_outputs_free(&out);
    return st;
}

static void finish(const xl_reranker_info *info, const xl_rerank_options *o, float *scores, size_t n) {
    if (o && o->raw_scores) return;
    for (size_t i = 0; i < n; i++) activate(info->activation, scores + i * (size_t)info->n_labels, info->n_labels);
}

static size_t len_of(const char *s, const size_t *lens, size_t i) {
    return lens && lens[i] != (size_t)-1 ? lens[i] : strlen(s);
}

/* Appends enc's ids to seq's. */
static int append_ids(int32_t *dst, size_t *at, const xl_encoding *e) {
    memcpy(dst + *at, e->ids, e->n * sizeof *dst);
    *at += e->n;
    return 0;
}

/* The Qwen3-Reranker input of each document as the model card builds it: prefix and
 * suffix encoded without special tokens, the body "<Instruct>: ...\n<Query>: ...\n
 * <Document>: ..." encoded as the tokenizer does, cut (from its end) so that the whole
 * fits in max_length. */
static xl_status prepare_prompted(const xl_model *m, const char *instruct, const char *query, size_t qlen,
                                  const char *const *docs, const size_t *doc_lens, size_t n, const xl_embed_options *eo,
                                  xl_sequence **out) {
    *out = NULL;
    if (!m->tok) return xl_err(XL_ERR_ARG, "%s: the model folder has no tokenizer.json", m->dir);
    size_t max_len = eo->max_length > 0 ? (size_t)eo->max_length : (size_t)(m->max_seq_length > 0 ? m->max_seq_length : 0);
    if (m->ainfo.max_tokens > 0 && eo->max_length > m->ainfo.max_tokens)
        return xl_err(XL_ERR_ARG, "max_length %d is beyond the model's position table (%d)", eo->max_length,
                      m->ainfo.max_tokens);
    xl_encoding pre = {0}, suf = {0};
    xl_status st = xl_tokenize(m->tok, k_prefix, sizeof k_prefix - 1, 0, &pre);
    if (!st) st = xl_tokenize(m->tok, k_suffix, sizeof k_suffix - 1, 0, &suf);
    if (!st && max_len && max_len <= pre.n + suf.n)
        st = xl_err(XL_ERR_ARG, "max_length %zu leaves no room for the reranker prompt (%zu tokens)", max_len,
                    pre.n + suf.n);
    xl_sequence *seqs = st ? NULL : calloc(n ? n : 1, sizeof *seqs);
    if (!st && !seqs) st = xl_err(XL_ERR_NOMEM, "out of memory");
    size_t ilen = strlen(instruct);
    char *body = NULL;
    size_t cap = 0;
    for (size_t i = 0; !st && i < n; i++) {
        size_t dlen = len_of(docs[i], doc_lens, i);
        size_t need = ilen + qlen + dlen + 64;
        if (need > cap) {
            char *b = realloc(body, need);
            if (!b) { st = xl_err(XL_ERR_NOMEM, "out of memory"); break; }
            body = b;
            cap = need;
        }
        size_t at = 0;
#define PUT(s, l) (memcpy(body + at, (s), (l)), at += (l))
        PUT("<Instruct>: ", 12); PUT(instruct, ilen);
        PUT("\n<Query>: ", 10); PUT(query, qlen);
        PUT("\n<Document>: ", 13); PUT(docs[i], dlen);
#undef PUT
        xl_encoding e = {0};
        st = xl_tokenize(m->tok, body, at, 1, &e);
        if (st) break;
        if (max_len) seqs[i].truncated = xl_encoding_truncate(&e, max_len - pre.n - suf.n);
        size_t total = pre.n + e.n + suf.n, k = 0;
        seqs[i].ids = malloc(total * sizeof *seqs[i].ids);
        if (!seqs[i].ids) { xl_encoding_free(&e); st = xl_err(XL_ERR_NOMEM, "out of memory"); break; }
        append_ids(seqs[i].ids, &k, &pre);
        append_ids(seqs[i].ids, &k, &e);
        append_ids(seqs[i].ids, &k, &suf);
        seqs[i].n = total;
        xl_encoding_free(&e);
    }
    free(body);
    xl_encoding_free(&pre);
    xl_encoding_free(&suf);
    if (st) { xl_sequences_free(seqs, n); return st; }
    *out = seqs;
    return XL_OK;
}

xl_status xl_prepare_rerank(const xl_model *m, const char *query, size_t qlen, const char *const *docs,
                            const size_t *doc_lens, size_t n, const xl_rerank_options *o, xl_sequence **out) {
    if (!out) return xl_err(XL_ERR_ARG, "xl_prepare_rerank: out is NULL");
    *out = NULL;
    if (!m || !query || (n && !docs)) return xl_err(XL_ERR_ARG, "xl_rerank: NULL argument");
    for (size_t i = 0; i < n; i++)
        if (!docs[i]) return xl_err(XL_ERR_ARG, "xl_rerank: document %zu is NULL", i + 1);
    if (qlen == (size_t)-1) qlen = strlen(query);
    xl_reranker_info info;
    xl_status st = xl_reranker_info_get(m, &info);
    if (st) return st;
    if (info.n_labels != 1)
        return xl_err(XL_ERR_UNSUPPORTED, "%s: the model has %d labels; reranking needs a one-label cross-encoder "
                      "(score pairs with xl_score_texts / `xling score`)", m->dir, info.n_labels);
    if (!n) return XL_OK;
    xl_embed_options eo;
    to_embed_options(o, &eo);
    xl_sequence *seqs = NULL;
    if (info.prompted) {
        const char *instruct = o && o->instruct ? o->instruct : info.default_instruct;
        st = prepare_prompted(m, instruct, query, qlen, docs, doc_lens, n, &eo, &seqs);
    } else {
        const char **qs = malloc(n * sizeof *qs);
        size_t *ql = malloc(n * sizeof *ql), *dl = malloc(n * sizeof *dl);
        if (!qs || !ql || !dl) st = xl_err(XL_ERR_NOMEM, "out of memory");
        for (size_t i = 0; !st && i < n; i++) {
            qs[i] = query;
            ql[i] = qlen;
            dl[i] = len_of(docs[i], doc_lens, i);
        }
        if (!st) st = xl_prepare_texts(m, qs, ql, docs, dl, n, &eo, &seqs);
        free(qs); free(ql); free(dl);
    }
    if (st) return st;
    drop_trailing_pads(m, &info, seqs, n);
    *out = seqs;
    return XL_OK;
}

xl_status xl_prepare_scores(const xl_model *m, const char *const *texts, const size_t *lens, const char *const *pairs,
                            const size_t *pair_lens, size_t n, const xl_rerank_options *o, xl_sequence **out) {
    if (!out) return xl_err(XL_ERR_ARG, "xl_prepare_scores: out is NULL");
    *out = NULL;
    if (!m || (n && !texts)) return xl_err(XL_ERR_ARG, "xl_score_texts: NULL argument");
    xl_reranker_info info;
    xl_status st = xl_reranker_info_get(m, &info);
    if (st) return st;
    for (size_t i = 0; i < n; i++) {
        if (!texts[i]) return xl_err(XL_ERR_ARG, "xl_score_texts: input %zu is NULL", i + 1);
        if (info.prompted && pairs && pairs[i])
            return xl_err(XL_ERR_INPUT, "input %zu: a decoder reranker scores the whole formatted input as one "
                          "text, not a pair", i + 1);
    }
    if (!n) return XL_OK;
    xl_embed_options eo;
    to_embed_options(o, &eo);
    xl_sequence *seqs;
    if ((st = xl_prepare_texts(m, texts, lens, info.prompted ? NULL : pairs, pair_lens, n, &eo, &seqs))) return st;
    drop_trailing_pads(m, &info, seqs, n);
    *out = seqs;
    return XL_OK;
}

/* Runs prepared sequences (seqs freed here) into scores. */
static xl_status score_prepared(const xl_model *m, xl_sequence *seqs, size_t n, const xl_rerank_options *o,
                                float *scores) {
    xl_reranker_info info;
    xl_status st = xl_reranker_info_get(m, &info);
    xl_embed_options eo;
    to_embed_options(o, &eo);
    if (!st) st = run_raw(m, &info, seqs, n, &eo, scores);
    xl_sequences_free(seqs, n);
    if (!st) finish(&info, o, scores, n);
    return st;
}

xl_status xl_rerank(const xl_model *m, const char *query, size_t qlen, const char *const *docs, const size_t *doc_lens,
                    size_t n, const xl_rerank_options *o, float *scores) {
    if (n && !scores) return xl_err(XL_ERR_ARG, "xl_rerank: NULL argument");
    xl_sequence *seqs;
    xl_status st = xl_prepare_rerank(m, query, qlen, docs, doc_lens, n, o, &seqs);
    if (st || !n) return st;
    return score_prepared(m, seqs, n, o, scores);
}

xl_status xl_score_texts(const xl_model *m, const char *const *texts, const size_t *lens, const char *const *pairs,
                         const size_t *pair_lens, size_t n, const xl_rerank_options *o, float *scores) {
    if (n && !scores) return xl_err(XL_ERR_ARG, "xl_score_texts: NULL argument");
    xl_sequence *seqs;
    xl_status st = xl_prepare_scores(m, texts, lens, pairs, pair_lens, n, o, &seqs);
    if (st || !n) return st;
    return score_prepared(m, seqs, n, o, scores);
}
