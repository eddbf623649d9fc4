/* xling — multilingual and cross-lingual text embeddings in C.
 *
 * The one public header of libxling. Handles are opaque; every function that can
 * fail returns an xl_status and leaves a one-line message in xl_last_error()
 * (thread-local), naming the file, tensor, field or input that is wrong.
 * Every object returned by a *_load / *_new is released by the matching *_free.
 *
 * Thread safety
 * - An xl_model (and the xl_tokenizer it holds) is immutable once xl_model_load has
 *   returned: any number of threads may use one model at the same time (info,
 *   tokenizing, xl_context_new, xl_prepare_*, xl_embed_*). xl_model_free must wait until
 *   every call on the model has returned and every context made from it is freed.
 * - An xl_context is the per-worker part: run state and scratch buffers kept between
 *   calls. One thread at a time uses a context (one context per worker thread), except
 *   xl_context_cancel, which any thread, or a signal handler, may call.
 * - Compute: transformer forwards pass one at a time through a process-wide gate, in
 *   arrival order, batch by batch: concurrent calls take turns, each batch using all
 *   the threads its options ask for (xl_embed_options.threads, else
 *   xl_model_options.threads, else all cores), so N callers never run N thread teams
 *   on the same cores at once. A batch runs on the calling thread as the master of its
 *   OpenMP team (libgomp keeps that team between calls: no threads are started per
 *   call). Tokenizing, pooling and the sentence-transformers head run outside the gate.
 *   A process forked after forwards ran may run forwards too, on one thread (OpenMP
 *   teams do not survive a fork).
 * - xl_last_error() is per thread: it describes the caller's own last failure.
 */
#ifndef XLING_H
#define XLING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XLING_VERSION "0.1.0"

typedef enum {
    XL_OK = 0,
    XL_ERR_IO,          /* a file is missing or unreadable */
    XL_ERR_FORMAT,      /* a file is malformed (bad JSON, bad safetensors header, ...) */
    XL_ERR_UNSUPPORTED, /* valid input that xling does not support (architecture, dtype, component) */
    XL_ERR_ARG,         /* an invalid argument from the caller */
    XL_ERR_NOMEM,       /* out of memory, or a size that would not fit */
    XL_ERR_INPUT,       /* bad user input (text, ids out of range, ...) */
    XL_ERR_CANCELLED    /* stopped by xl_context_cancel before this item ran */
} xl_status;

/* Message of the last error on this thread ("" if none). */
const char *xl_last_error(void);
/* Short name of a status code ("ok", "io", "format", ...). */
const char *xl_status_name(xl_status st);

/* ---------------------------------------------------------------- tokenizer */

typedef struct xl_tokenizer xl_tokenizer;

/* Loads a Hugging Face tokenizer from a `tokenizer.json` file or from a folder
 * holding one (plus an optional `tokenizer_config.json`). Symlinks are followed;
 * a tiny file whose text is a relative path (a symlink copied as text) is followed too. */
xl_status xl_tokenizer_load(const char *path, xl_tokenizer **out);
void xl_tokenizer_free(xl_tokenizer *tok);

/* The result of encoding one text. */
typedef struct {
    int32_t *ids;       /* token ids */
    uint8_t *special;   /* 1 where the token was added by the post-processor */
    int32_t *type_ids;  /* token type (segment) ids: 0 for a single text; for a pair as
                           the post-processor's pair template says (BERT: 0 then 1) */
    size_t n;
    uint32_t *offsets;  /* NULL unless asked (xl_tokenize_offsets); 2*n byte offsets: token i
                           covers [offsets[2i], offsets[2i+1]) of the input text; tokens the
                           post-processor added: (0,0) */
} xl_encoding;

/* Encodes UTF-8 text (len bytes, may contain NUL). Invalid UTF-8 is replaced by
 * U+FFFD as Python's bytes.decode(errors="replace") does (see xl_utf8_repair).
 * add_special: 1 = apply the post-processor's special tokens. */
xl_status xl_tokenize(const xl_tokenizer *tok, const char *text, size_t len,
                      int add_special, xl_encoding *out);
void xl_encoding_free(xl_encoding *enc);
/* xl_tokenize plus the byte offsets of every token in `text` (out->offsets), as the
 * Hugging Face crate's Encoding::get_offsets gives them for encode(): through the
 * normalizer's alignments (a character the normalizer produced points at the input
 * character it came from), the pre-tokenizer's splits and the model's pieces; added
 * tokens cover the text they matched (lstrip/rstrip whitespace included); tokens of
 * one input character (byte-level or byte-fallback pieces of a multi-byte character)
 * all cover that whole character; special tokens of the post-processor are (0,0).
 * Invalid UTF-8 is repaired as xl_tokenize does, and offsets point into the ORIGINAL
 * bytes: a U+FFFD covers the invalid bytes it replaced. */
xl_status xl_tokenize_offsets(const xl_tokenizer *tok, const char *text, size_t len, int add_special,
                              xl_encoding *out);

/* Encodes a text pair (a query and a document, a premise and a hypothesis) with the
 * post-processor's pair template, as the Hugging Face crate's encode(a, b) does:
 * BERT `[CLS] a [SEP] b [SEP]` with type ids 0 then 1, XLM-R `<s> a </s></s> b </s>`,
 * Llama 3 / Gemma 3 `<bos> a <bos> b`, Qwen3 `a b`. max_len > 0 truncates the two
 * texts "longest_first" as the crate does so that the result, special tokens
 * included, has at most max_len tokens; below the pair's special tokens it is an
 * error (XL_ERR_ARG). */
xl_status xl_tokenize_pair(const xl_tokenizer *tok, const char *a, size_t alen, const char *b, size_t blen,
                           int add_special, size_t max_len, xl_encoding *out);
/* Special tokens the post-processor adds to one text (pair = 0) or to a pair. */
size_t xl_tokenizer_num_special(const xl_tokenizer *tok, int pair);

/* Truncates to at most max_len tokens, keeping the special tokens the
 * post-processor added (content is cut from the end; offsets, when present, follow
 * their tokens). Returns 1 if it cut. */
int xl_encoding_truncate(xl_encoding *enc, size_t max_len);

size_t xl_tokenizer_vocab_size(const xl_tokenizer *tok);
/* Token string of an id (NULL if out of range). Valid while tok lives. */
const char *xl_tokenizer_id_to_token(const xl_tokenizer *tok, int32_t id);
/* Id of an exact token string, or -1. */
int32_t xl_tokenizer_token_to_id(const xl_tokenizer *tok, const char *token);
/* Model type: "WordPiece", "Unigram", "BPE". */
const char *xl_tokenizer_type(const xl_tokenizer *tok);
/* `model_max_length` from tokenizer_config.json (0 when absent or huge). */
size_t xl_tokenizer_model_max_length(const xl_tokenizer *tok);

/* ------------------------------------------------------------------- model */

typedef struct xl_model xl_model;

typedef enum {
    XL_POOL_DEFAULT = 0, /* what the model folder says */
    XL_POOL_CLS,
    XL_POOL_MEAN,
    XL_POOL_MAX,
    XL_POOL_LAST
} xl_pooling;

typedef enum {
    XL_ATTN_DEFAULT = 0,       /* what the folder says (decoders: see README, "Attention direction") */
    XL_ATTN_FORCE_BIDIRECTIONAL,
    XL_ATTN_FORCE_CAUSAL
} xl_attention_mode;

typedef enum {
    XL_QUANTIZE_NONE = 0,      /* weights as stored (F16/BF16 read from the mapping by decoders) */
    XL_QUANTIZE_Q8             /* block int8 weights made at load (decoders) */
} xl_quantize;

/* The CPUs this process may run on (sched_getaffinity: taskset, cpusets): the most
 * threads xling runs; larger requests in the options below are capped to it. */
int xl_usable_cpus(void);
/* The default thread count: xl_usable_cpus(), or OMP_NUM_THREADS when set and smaller.
 * Forwards of little work run on one thread whatever the count (README, "Threads"). On
 * a machine shared with other work, run programs with OMP_WAIT_POLICY=passive (the
 * xling CLI sets it for itself): spinning OpenMP threads collapse there. */
int xl_default_threads(void);

typedef struct {
    int threads;            /* 0 = xl_default_threads() */
    xl_attention_mode attention; /* decoders only; XL_ERR_ARG for encoders when forced */
    xl_quantize quantize;   /* decoders only; XL_ERR_UNSUPPORTED for encoders */
} xl_model_options;

/* Loads a Hugging Face / sentence-transformers model folder. A folder without
 * tokenizer files loads too (then only xl_embed_ids works). */
xl_status xl_model_load(const char *dir, const xl_model_options *opts, xl_model **out);
void xl_model_free(xl_model *m);

typedef struct {
    const char *architecture;   /* config.json architectures[0] */
    const char *model_type;
    int hidden_size, num_layers, num_heads, num_kv_heads, intermediate_size;
    int vocab_size, max_position_embeddings;
    int dim;                    /* output embedding dimension (after Dense modules) */
    const char *dtype;          /* stored dtype of the weights: "F32", "F16", "BF16", mixed as "F16+F32" */
    uint64_t n_params;          /* parameters in the transformer weights (+ Dense modules) */
    xl_pooling pooling;
    int include_prompt;
    int normalize;
    int n_dense;
    int max_seq_length;         /* the truncation length embed uses by default (0 = none) */
    const char *tokenizer_type; /* NULL when the folder has no tokenizer */
    int n_prompts;
    const char *const *prompt_names;
    const char *const *prompt_texts;
    const char *default_prompt_name; /* NULL if none */
} xl_model_info;

/* Fills info; pointers stay valid while the model lives. */
void xl_model_get_info(const xl_model *m, xl_model_info *info);
const xl_tokenizer *xl_model_tokenizer(const xl_model *m);

typedef struct {
    xl_pooling pooling;     /* XL_POOL_DEFAULT = from the folder */
    int normalize;          /* -1 = from the folder, 0 = off, 1 = on */
    int max_length;         /* 0 = default truncation length (see xl_model_info.max_seq_length) */
    const char *prompt_name;/* a prompt of config_sentence_transformers.json, or NULL */
    const char *prefix;     /* a literal prefix (overrides prompt_name and instruct), or NULL */
    /* A task description for instruction-tuned embedders: the folder's query prompt of
     * the form "Instruct: ...\nQuery:..." gets its task text replaced (spacing kept),
     * else "Instruct: {instruct}\nQuery: " is used. NULL = none. */
    const char *instruct;
    int dim;                /* Matryoshka: keep the first dim values, renormalize (0 = all) */
    int batch_size;         /* at most this many sequences per forward batch (0 = 32) */
    int batch_tokens;       /* and at most this many padded tokens (0 = 8192) */
    int threads;            /* 0 = the model's; capped at xl_usable_cpus() */
    /* progress: called after each batch with (done, total) inputs; may be NULL */
    void (*progress)(void *ctx, size_t done, size_t total);
    void *progress_ctx;
} xl_embed_options;

void xl_embed_options_init(xl_embed_options *o);

/* -------------------------------------------------------- sequence layer
 *
 * Texts become sequences (xl_prepare_texts / xl_prepare_ids: prompt or instruction,
 * lowercasing, special tokens, truncation, token types, text pairs); sequences run in
 * length-sorted, token-budgeted batches on a context (xl_run), each item with its own
 * status: one bad item does not fail the others. xl_embed_* below do both steps. */

typedef struct xl_context xl_context;

/* A context for running m (which must outlive it). */
xl_status xl_context_new(const xl_model *m, xl_context **out);
void xl_context_free(xl_context *ctx);
/* Asks the xl_run in progress on ctx (or, if none, the next one) to stop at the next
 * batch boundary: items not yet run get XL_ERR_CANCELLED and xl_run returns
 * XL_ERR_CANCELLED. The request is consumed by the run it stops. Async-signal-safe. */
void xl_context_cancel(xl_context *ctx);

/* One input ready to run. xl_prepare_* fill these; a caller may also build them (status
 * XL_OK, error NULL) and must then free its own arrays. */
typedef struct {
    int32_t *ids;          /* n token ids, special tokens included */
    int32_t *type_ids;     /* n segment ids (token_type_ids), or NULL = all 0 */
    size_t n;
    size_t prompt_len;     /* leading prompt tokens, left out of pooling when the model's
                              include_prompt is false (sentence-transformers' prompt_length) */
    int truncated;         /* 1 when cut to the length limit */
    xl_status status;      /* XL_OK, or why this input cannot run (xl_run passes it on) */
    char *error;           /* one-line message when status != XL_OK, else NULL */
} xl_sequence;

/* Tokenizes n texts (lens may be NULL for NUL-terminated texts) with the options' prompt
 * (prefix / instruct / prompt_name) and max_length into *out[n]. pairs (may be NULL, or
 * hold NULL for single items) makes item i the pair (texts[i], pairs[i]) encoded with
 * the post-processor's pair template and its token types; the prompt goes before the
 * first text only. Fails as a whole only for call-level errors (no tokenizer, unknown
 * prompt, max_length beyond the position table, out of memory). */
xl_status xl_prepare_texts(const xl_model *m, const char *const *texts, const size_t *lens, const char *const *pairs,
                           const size_t *pair_lens, size_t n, const xl_embed_options *o, xl_sequence **out);
/* Copies n id sequences as given (no prompt, no special tokens added), cut to max_length;
 * type_ids may be NULL or hold NULL for all 0. Ids are checked by xl_run. */
xl_status xl_prepare_ids(const xl_model *m, const int32_t *const *ids, const size_t *lens,
                         const int32_t *const *type_ids, size_t n, const xl_embed_options *o, xl_sequence **out);
void xl_sequences_free(xl_sequence *seqs, size_t n);

/* What xl_run computes (bits, combined with |). */
enum {
    XL_OUT_EMBEDDING = 1u,  /* pooled, head, Matryoshka dim, normalized: embeddings[n][dim] */
    XL_OUT_TOKENS = 2u,     /* last hidden state of every token, unpadded: tokens[i][n_tokens[i]][hidden]
                               (ColBERT-style and sparse heads, late chunking); no head, no norm */
    XL_OUT_LAYER_MEAN = 4u, /* per-layer mean over tokens (prompt left out per include_prompt):
                               layer_mean[n][n_layers][hidden], as xl_embed_*_layers */
    XL_OUT_LAYER_LAST = 8u, /* per-layer last token: layer_last[n][n_layers][hidden] */
    XL_OUT_LAYER_WMEAN = 32u, /* per-layer position-weighted mean (weights proportional to the
                               1-based position among the pooled tokens, as SGPT / MEXA):
                               layer_wmean[n][n_layers][hidden] */
    XL_OUT_SCORES = 16u     /* head outputs: the raw scores (logits) of a sequence
                               classification head, scores[n][n_scores] — BERT's pooler +
                               classifier (BertForSequenceClassification), XLM-R's
                               classifier.dense + out_proj (XLMRobertaForSequenceClassification),
                               on the first token; n_scores = the labels (config id2label).
                               No activation (sentence-transformers' CrossEncoder applies
                               one on top). A model without a head: XL_ERR_UNSUPPORTED. */
};

/* Results of xl_run, in input order, allocated by the library (xl_outputs_free). Rows
 * of failed items are 0 and their tokens NULL. */
typedef struct {
    size_t n;
    xl_status *status;     /* [n] per item */
    char **error;          /* [n] one-line message of a failed item, else NULL */
    size_t n_failed;
    int dim;               /* embedding width (xl_embed_dim) */
    float *embeddings;     /* XL_OUT_EMBEDDING */
    int hidden;            /* hidden size */
    float **tokens;        /* XL_OUT_TOKENS: [n] arrays of n_tokens[i] * hidden */
    size_t *n_tokens;
    int n_layers;          /* xl_model_num_layer_outputs */
    float *layer_mean, *layer_last, *layer_wmean;
    int n_scores;
    float *scores;
} xl_outputs;

/* Runs n sequences on ctx's model. Returns XL_OK when every item ran or failed on its
 * own (see out->status, out->n_failed), XL_ERR_CANCELLED when xl_context_cancel stopped
 * it (finished items keep their results), another status for call-level errors
 * (options, out of memory), with *out then empty. Uses o's pooling, normalize, dim,
 * batch_size, batch_tokens, threads and progress (o may be NULL; progress is called on
 * the calling thread after each batch, with done counting failed items too). */
xl_status xl_run(xl_context *ctx, const xl_sequence *seqs, size_t n, unsigned outputs, const xl_embed_options *o,
                 xl_outputs *out);
void xl_outputs_free(xl_outputs *out);

/* ------------------------------------------------------ one-call wrappers
 * Prepare + run on a context of their own; they fail as a whole at the first failed
 * item ("input N: ..."). Safe to call from many threads on one model. */

/* Embeds n texts into out[n * dim] (row-major, input order).
 * n_truncated (may be NULL) receives how many inputs were cut to the length limit. */
xl_status xl_embed_texts(const xl_model *m, const char *const *texts, const size_t *lens, size_t n,
                         const xl_embed_options *opts, float *out, size_t *n_truncated);

/* Embeds n sequences of token ids given as is (no prompt, no special tokens added). */
xl_status xl_embed_ids(const xl_model *m, const int32_t *const *ids, const size_t *lens, size_t n,
                       const xl_embed_options *opts, float *out, size_t *n_truncated);

/* Output dimension of xl_embed_* for these options (info.dim, or opts->dim). */
int xl_embed_dim(const xl_model *m, const xl_embed_options *opts);

/* Hidden states of every layer, pooled per input (for alignment analyses such as MEXA),
 * following transformers' output_hidden_states: L + 1 entries, [0] the embedding output,
 * [l] the output of block l, the last one after the final norm where the model has one.
 * mean[n][L+1][hidden] is the mean over the tokens (prompt excluded per include_prompt),
 * last[n][L+1][hidden] the last token; either may be NULL. No Dense, no normalization. */
int xl_model_num_layer_outputs(const xl_model *m);
xl_status xl_embed_texts_layers(const xl_model *m, const char *const *texts, const size_t *lens, size_t n,
                                const xl_embed_options *opts, float *mean, float *last, size_t *n_truncated);
/* As xl_embed_texts_layers, plus wmean[n][L+1][hidden]: the position-weighted mean
 * (weights proportional to the 1-based position among the pooled tokens, as SGPT and
 * MEXA use for decoders). Each of mean, wmean, last may be NULL. */
xl_status xl_embed_texts_layers_weighted(const xl_model *m, const char *const *texts, const size_t *lens, size_t n,
                                         const xl_embed_options *opts, float *mean, float *wmean, float *last,
                                         size_t *n_truncated);
xl_status xl_embed_ids_layers(const xl_model *m, const int32_t *const *ids, const size_t *lens, size_t n,
                              const xl_embed_options *opts, float *mean, float *last, size_t *n_truncated);

/* ------------------------------------------------------------------- tasks */

/* out[i][j] = cosine(a[i], b[j]) for a[na][dim], b[nb][dim] (0 where a norm is 0). */
void xl_cosine_similarity(const float *a, size_t na, const float *b, size_t nb, size_t dim, float *out);

/* Progress of a long computation: done in [0, 1]. */
typedef void (*xl_progress_fn)(void *ctx, double done);

/* Exact k nearest neighbours by inner product (cosine on L2-normalised rows): for each
 * of q[nq][dim], the k rows of d[nd][dim] with the largest dot products, best first,
 * into idx[nq][k] and sim[nq][k]. Blocked GEMMs with a running top-k: memory is a
 * fixed score block plus the results. 1 <= k <= nd. progress may be NULL. */
xl_status xl_knn(const float *q, size_t nq, const float *d, size_t nd, size_t dim, int k, int64_t *idx, float *sim,
                 int threads, xl_progress_fn progress, void *progress_ctx);
/* Scales each row to unit L2 norm (zero rows stay zero). */
void xl_l2_normalize_rows(float *x, size_t n, size_t dim);

/* Bitext mining with margin scoring, exactly LASER's mine_bitexts.py: k-NN both ways
 * (k capped at the other side's size), fwd_mean / bwd_mean = mean cosine to the k
 * neighbours, margin(cos(x, y), (fwd_mean[x] + bwd_mean[y]) / 2), each side's best
 * candidate by margin. Modes: MINE = forward and backward best pairs together, by
 * score, kept greedily when neither side was kept before; INTERSECT = pairs that are
 * each other's best; FORWARD / BACKWARD = one direction. Every mode keeps pairs with
 * score > threshold (default -inf) and returns them by score, best first. Inputs must
 * be L2-normalised (xl_l2_normalize_rows); a NaN or inf is an error naming the row. */
typedef enum { XL_MARGIN_RATIO = 0, XL_MARGIN_DISTANCE, XL_MARGIN_ABSOLUTE } xl_margin;
typedef enum { XL_MINE_MINE = 0, XL_MINE_INTERSECT, XL_MINE_FORWARD, XL_MINE_BACKWARD } xl_mine_mode;
typedef struct {
    int k;              /* neighbours (default 4) */
    xl_margin margin;   /* ratio: cos / mean; distance: cos - mean; absolute: cos */
    xl_mine_mode mode;
    double threshold;   /* keep score > threshold (default -inf) */
    int threads;
    xl_progress_fn progress;
    void *progress_ctx;
} xl_mine_options;
typedef struct {
    double score;
    int64_t src, tgt;   /* 0-based rows of x and y */
} xl_mine_pair;
void xl_mine_options_init(xl_mine_options *o);
/* *pairs is malloc'd (free it). */
xl_status xl_mine(const float *x, size_t nx, const float *y, size_t ny, size_t dim, const xl_mine_options *o,
                  xl_mine_pair **pairs, size_t *n_pairs);

/* k-means with greedy k-means++ seeding (as scikit-learn's KMeans): labels[n] in
 * 0..k-1, centroids[k][dim] (may be NULL), the inertia (sum of squared distances to
 * the centres; may be NULL). The best of `restarts` runs; deterministic for a seed. */
typedef struct {
    uint64_t seed;
    int restarts;   /* default 1 */
    int max_iter;   /* default 300 */
    int threads;
} xl_kmeans_options;
xl_status xl_kmeans(const float *x, size_t n, size_t dim, int k, const xl_kmeans_options *o, int *labels,
                    float *centroids, double *inertia);

/* L2-regularised logistic regression trained by liblinear (one-vs-rest for several
 * classes, as liblinear does it; an intercept learned as a bias feature). labels[c] are
 * the class values; w holds n_weights rows of dim + 1 values (weights, then the bias):
 * one row for two classes (the decision value of labels[0]), else one per class. */
typedef struct {
    int n_classes, n_weights, dim;
    int *labels;
    double *w;
} xl_logreg;
/* y[n] are class values (any ints). C: inverse regularisation strength (1.0 is usual). */
xl_status xl_logreg_train(const float *x, size_t n, size_t dim, const int *y, double C, xl_logreg *out);
/* prob[n_classes] (in the order of labels) for one row x[dim], as liblinear's
 * predict_probability: sigmoid of the decision values, normalised to sum 1. */
void xl_logreg_predict(const xl_logreg *c, const float *x, double *prob);
void xl_logreg_free(xl_logreg *c);

/* ----------------------------------------------------------------- metrics */
/* Computed as the tools published scores come from compute them: scikit-learn
 * (classification, v_measure_score), scipy (pearsonr, spearmanr), trec_eval /
 * pytrec_eval (retrieval, what mteb reports). */

/* Accuracy; precision, recall, F1 averaged "macro" (mean over the labels) and
 * "weighted" (by each label's support); labels = every value in y_true or y_pred;
 * a ratio with a zero denominator counts 0 (zero_division=0). */
typedef struct {
    double accuracy;
    double precision_macro, recall_macro, f1_macro;
    double precision_weighted, recall_weighted, f1_weighted;
} xl_cls_metrics;
xl_status xl_metrics_classification(const int *y_true, const int *y_pred, size_t n, xl_cls_metrics *out);

/* Pearson's r; Spearman's rho (Pearson of the ranks, ties ranked by their average).
 * NaN for n < 2 or a constant input, as scipy. */
double xl_metric_pearson(const double *x, const double *y, size_t n);
double xl_metric_spearman(const double *x, const double *y, size_t n);

/* One query's ranking: rel_ranked[i] = relevance grade of the i-th retrieved document
 * (0 = not relevant), best first; k = cut-off (<= 0: none). nDCG uses the grades as
 * gains and log2(rank + 1) discounts, the ideal ranking being rels[n_rels] (the grades
 * of every relevant document) sorted; MRR = 1 / rank of the first relevant one;
 * recall = relevant retrieved / n_relevant; MAP = mean over the n_relevant documents
 * of the precision at each one's rank (0 for the ones not retrieved). */
double xl_metric_ndcg(const double *rel_ranked, size_t n_ranked, const double *rels, size_t n_rels, int k);
double xl_metric_mrr(const double *rel_ranked, size_t n_ranked, int k);
double xl_metric_recall(const double *rel_ranked, size_t n_ranked, size_t n_relevant, int k);
double xl_metric_map(const double *rel_ranked, size_t n_ranked, size_t n_relevant, int k);

/* V-measure of a clustering against gold classes (harmonic mean of homogeneity and
 * completeness, scikit-learn's v_measure_score with beta = 1). */
xl_status xl_metric_v_measure(const int *labels_true, const int *labels_pred, size_t n, double *v);

/* ----------------------------------------------------------- search index */
/* A persistent search index in one SQLite file (see README, "xling index"): texts, ids,
 * JSON metadata and unit vectors, the model's identity and prompts; exact search (one
 * GEMM pass over the vectors, loaded once per handle) or an HNSW graph kept beside it
 * in DB.hnsw. Every add is one transaction: a killed process loses only the batch in
 * flight and never corrupts the file. */

/* A model folder's fingerprint (16 hex digits): a hash of config.json and of every
 * .safetensors header in the folder and its module subfolders, not of the location. */
xl_status xl_model_fingerprint(const char *dir, char out[17]);

typedef enum { XL_ANN_NONE = 0, XL_ANN_HNSW } xl_ann;
typedef struct {
    const char *model_path;     /* may be NULL (vectors-only index) */
    const char *architecture;   /* may be NULL */
    const char *fingerprint;    /* xl_model_fingerprint, or NULL */
    int dim;
    /* prompt names and texts for documents and queries, the instruction for queries;
     * NULL = none */
    const char *doc_prompt_name, *doc_prompt, *query_prompt_name, *query_prompt, *instruct;
    xl_ann ann;
    int hnsw_m, hnsw_ef_construction, hnsw_ef_search; /* 0 = 16, 200, 256 */
} xl_index_settings;

typedef struct xl_index xl_index;
/* Creates a new index file (an error if path exists). */
xl_status xl_index_create(const char *path, const xl_index_settings *s);
/* Opens an index; a missing file, a file that is not SQLite, an SQLite file that is
 * not an xling index, or a corrupt one is an error naming the file. */
xl_status xl_index_open(const char *path, int writable, xl_index **out);
void xl_index_close(xl_index *ix);
/* Settings stored at creation (strings valid while ix is open). */
const xl_index_settings *xl_index_get_settings(const xl_index *ix);
/* Checks that a model (architecture, dim, fingerprint, loaded from dir) is the one
 * the index was made with; else XL_ERR_INPUT naming both. */
xl_status xl_index_check_model(const xl_index *ix, const char *dir, const char *architecture, int dim,
                               const char *fingerprint);

typedef struct {
    const char *text;
    /* NULL: a new integer id. id_is_int: the id is an integer (its decimal text) */
    const char *id;
    int id_is_int;
    const char *meta;   /* a JSON object's text, or NULL */
    /* for items without an id: a nonzero key of the input line (its position and the
     * text before it) so that rerunning the same input skips what was stored */
    uint64_t line_key;
} xl_index_item;

/* 1 if the item's id (or, without an id, its line_key) is stored, else 0; -1 on error. */
int xl_index_contains(xl_index *ix, const xl_index_item *item);
/* Stores n items with their vectors v[n][dim] (normalised here; NaN or inf is an error
 * naming the item) in one transaction. Items already stored are skipped unless
 * replace. added / replaced / skipped may be NULL. The HNSW graph, if any, is updated
 * in memory; xl_index_flush writes it. */
xl_status xl_index_add(xl_index *ix, const xl_index_item *items, size_t n, const float *v, int replace,
                       size_t *added, size_t *replaced, size_t *skipped);
/* Writes the HNSW graph if adds changed it (atomically, then records its state). */
xl_status xl_index_flush(xl_index *ix);

typedef struct { const char *key, *value; } xl_index_where;
typedef struct {
    int k;                          /* default 10 */
    int exact;                      /* 1: exact search even when the index has HNSW */
    int ef;                         /* HNSW search breadth (0: the stored setting) */
    const xl_index_where *where;    /* meta[key] equals value (string, or number / bool text) */
    size_t n_where;
    int threads;
} xl_index_search_options;
/* For each query q[nq][dim] (normalised here): up to k rows into rows[nq][k] and cosine
 * scores into scores[nq][k], best first; n_hits[nq] = how many were found. */
xl_status xl_index_search(xl_index *ix, const float *q, size_t nq, const xl_index_search_options *o, int64_t *rows,
                          float *scores, int *n_hits);
/* Number of stored items. */
xl_status xl_index_count(xl_index *ix, size_t *n);
/* A stored row: id (text; *id_is_int for integer ids), text and meta (NULL if none);
 * valid until the next call on ix. */
xl_status xl_index_row(xl_index *ix, int64_t row, const char **id, int *id_is_int, const char **text,
                       const char **meta);
/* Every stored vector in row order: *v[n][dim] and their rows (owned by ix). */
xl_status xl_index_vectors(xl_index *ix, const float **v, const int64_t **rows, size_t *n);
/* State of the HNSW graph on disk: rows it lacks (0 = in step; -1 = none or unreadable). */
long long xl_index_ann_lag(xl_index *ix);

/* -------------------------------------------------------------- evaluation */
/* Offline evaluation as `xling eval` / `xling align` run it: readers for the benchmark
 * data in the repository's data/ folder (LASER's Tatoeba v1, multilingual STS-B test
 * split; see data/README.md), the scoring of each task on embeddings as mteb computes
 * it, MEXA alignment, and the hash that names a dataset revision. Scores are in [0, 1]. */

/* Lines of text, owned (free with xl_lines_free). */
typedef struct {
    char **v;
    size_t *len;
    size_t n;
} xl_lines;
void xl_lines_free(xl_lines *l);
/* Every line of a text file, "\n" / "\r\n" removed; at most max lines (0 = all). */
xl_status xl_lines_read(const char *path, size_t max, xl_lines *out);

/* The Tatoeba language codes (ISO 639-3, as the file names use) found in
 * DATA/tatoeba/v1, sorted; *codes is one malloc'd block (free it). */
xl_status xl_tatoeba_codes(const char *data_dir, char (**codes)[8], size_t *n);
/* One pair's two aligned files, language `code` and English (the first max lines;
 * 0 = all); files of unequal length are an error naming them. */
xl_status xl_tatoeba_load(const char *data_dir, const char *code, size_t max, xl_lines *xx, xl_lines *en);
/* Path of a pair's file, the English one when english = 1 (malloc'd; NULL if out of memory). */
char *xl_tatoeba_path(const char *data_dir, const char *code, int english);
/* The ISO 15924 script mteb names a Tatoeba language with ("Latn" when not listed). */
const char *xl_tatoeba_script(const char *code);

/* Multilingual STS-B test split. */
extern const char *const xl_stsb_langs[];   /* two-letter codes, NULL-terminated, "en" first */
extern const char *const xl_stsb_iso3[];    /* mteb's language names, same order */
int xl_stsb_lang_index(const char *code);   /* -1 if not one of them */
typedef struct {
    xl_lines s1, s2;
    double *score;   /* gold similarity per pair, 0..5 */
} xl_sts_set;
xl_status xl_stsb_load(const char *data_dir, const char *lang, xl_sts_set *out);
void xl_sts_set_free(xl_sts_set *s);
/* Path of a language's file (malloc'd). */
char *xl_stsb_path(const char *data_dir, const char *lang);

/* FNV-1a 64 over each file's name (without folder) and bytes, in the given order, as 16
 * hex digits into out[17]: the dataset_revision of a task's result. */
xl_status xl_files_hash(const char *const *paths, size_t n, char out[17]);

/* Distinct texts, to embed each once: adding a text already held (same bytes) gives
 * its first id; ids count from 0 in order of first appearance. */
typedef struct xl_textset xl_textset;
xl_textset *xl_textset_new(void);   /* NULL if out of memory */
void xl_textset_free(xl_textset *t);
xl_status xl_textset_add(xl_textset *t, const char *s, size_t len, size_t *id);
size_t xl_textset_count(const xl_textset *t);
/* The texts and their lengths by id; valid until the next add or the free. */
const char *const *xl_textset_texts(const xl_textset *t);
const size_t *xl_textset_lens(const xl_textset *t);

/* Bitext mining as mteb's BitextMiningEvaluator: for each x[i] the nearest y[j] by
 * cosine (ties: lowest j); gold label of x[i] is i; accuracy and sklearn's weighted
 * precision/recall/F1 over the labels. LASER error rates: the fraction of x[i] whose
 * nearest y is not y[i] (xx_en), and of y[i] whose nearest x is not x[i] (en_xx).
 * x, y: L2-normalised rows; n >= 1. */
typedef struct {
    double accuracy, precision, recall, f1;
    double laser_error_xx_en, laser_error_en_xx;
} xl_bitext_scores;
xl_status xl_eval_bitext(const float *x, const float *y, size_t n, size_t dim, int threads, xl_bitext_scores *out);

/* STS as mteb's STSEvaluator: Pearson and Spearman of the gold scores against cosine
 * similarity, and against minus the Manhattan and Euclidean distances (vectors as
 * given, not normalised); n >= 2. */
typedef struct {
    double cosine_pearson, cosine_spearman;
    double manhattan_pearson, manhattan_spearman;
    double euclidean_pearson, euclidean_spearman;
} xl_sts_scores;
xl_status xl_eval_sts(const float *a, const float *b, size_t n, size_t dim, const double *gold, xl_sts_scores *out);

/* Retrieval with one relevant document per query (rel[i], a row of d): nDCG@10,
 * MRR@10, recall@1/10/100 averaged over the queries, as trec_eval. q, d: normalised. */
typedef struct {
    double ndcg_at_10, mrr_at_10, recall_at_1, recall_at_10, recall_at_100;
} xl_retrieval_scores;
xl_status xl_eval_retrieval(const float *q, size_t nq, const float *d, size_t nd, size_t dim, const size_t *rel,
                            int threads, xl_retrieval_scores *out);

/* MEXA alignment (Kargaran et al. 2024) of n parallel rows x[i] <-> y[i]: the fraction
 * of i whose cosine C[i][i] is larger than every other entry of row i and of column i
 * of C = cos(x, y) (a tie is not a win). Rows need not be normalised. With
 * xl_embed_texts_layers_weighted it gives the per-layer alignment `xling align` prints. */
xl_status xl_eval_mexa(const float *x, const float *y, size_t n, size_t dim, int threads, double *score);

/* ------------------------------------------------------------------- utils */

/* Reads a NumPy .npy array of shape [rows, cols] (or [rows]: cols = 1), little-endian
 * float16 / float32 / float64 in C order, into a malloc'd float32 array. Anything
 * else (another dtype, Fortran order, a size that does not match the file) is an
 * error naming the file. */
xl_status xl_npy_load(const char *path, float **data, size_t *rows, size_t *cols);
/* The kernel set this process runs: "generic", "avx2-novnni", "avx2", "avx512-novnni"
 * or "avx512" ("native" in a `make NATIVE=1` build), chosen once from the CPU, or from
 * the XLING_ISA environment variable (a set name, or "avx2" / "avx512" for the best set
 * of that family this CPU has). NULL when XLING_ISA names an unknown set or one this
 * CPU cannot run; xl_last_error() then says why (xl_model_load fails the same way). */
const char *xl_kernel_isa(void);
/* The kernel sets this build can run on this CPU, space-separated, most portable first. */
const char *xl_kernel_isas(void);

/* Replaces invalid UTF-8 in s[0..len) by U+FFFD the way Python's
 * bytes.decode("utf-8", errors="replace") does. Returns a malloc'd NUL-terminated
 * copy and its length in *out_len; *n_bad receives how many replacements were made. */
char *xl_utf8_repair(const char *s, size_t len, size_t *out_len, size_t *n_bad);

/* ------------------------------------------ reranking and cross-encoders */
/* Cross-encoders score a (query, document) pair in one forward; rerankers order
 * documents by that score. Kinds (xl_reranker_info.kind), from config.json:
 * - XL_RERANKER_ENCODER: BertForSequenceClassification (pooler + classifier),
 *   XLMRobertaForSequenceClassification (classifier.dense + out_proj): pairs through the
 *   tokenizer's pair template with token types.
 * - XL_RERANKER_DECODER_SEQCLS: Llama / Mistral / Qwen2 / Qwen3 / Gemma 3
 *   ...ForSequenceClassification: `score` [labels, hidden] on the last token (the
 *   Qwen3-Reranker "seq-cls" conversions).
 * - XL_RERANKER_DECODER_YESNO: a ...ForCausalLM folder (Llama family) without
 *   sentence-transformers modules.json whose vocabulary has the tokens "yes" and "no"
 *   (Qwen3-Reranker; sentence-transformers' CrossEncoder reads such a folder the same
 *   way): score = softmax(logit_yes, logit_no)[yes] at the last position, only those two
 *   rows of the output embedding multiplied. The same folder still embeds as before.
 * Decoder rerankers expect the Qwen3-Reranker prompt: xl_rerank applies it (prefix,
 * "<Instruct>: {instruct}\n<Query>: {query}\n<Document>: {doc}", suffix; the body is
 * what truncation cuts), xl_score_texts scores texts as given.
 * Activation as sentence-transformers' CrossEncoder: config.json
 * `sentence_transformers.activation_fn` (or the older `sbert_ce_default_activation_function`)
 * when present, else sigmoid for one label and, for several, the softmax over the
 * logits (also when the config names Identity); other named activations apply per label. */
typedef enum {
    XL_RERANKER_NONE = 0,         /* no classification head: not a cross-encoder */
    XL_RERANKER_ENCODER,
    XL_RERANKER_DECODER_SEQCLS,
    XL_RERANKER_DECODER_YESNO
} xl_reranker_kind;

typedef enum {
    XL_SCORE_IDENTITY = 0,
    XL_SCORE_SIGMOID,
    XL_SCORE_TANH,
    XL_SCORE_RELU,
    XL_SCORE_SOFTMAX              /* over the labels */
} xl_score_activation;

typedef struct {
    xl_reranker_kind kind;
    int n_labels;                 /* scores per input (1 for the yes/no reranker) */
    xl_score_activation activation; /* what turns the raw scores (logits) into scores */
    int prompted;                 /* 1: xl_rerank applies the Qwen3-Reranker prompt */
    int32_t yes_id, no_id;        /* XL_RERANKER_DECODER_YESNO: the two tokens, else -1 */
    const char *default_instruct; /* prompted kinds: the model card's instruction, else NULL */
} xl_reranker_info;

/* What kind of cross-encoder m is. XL_ERR_UNSUPPORTED (message naming the architecture)
 * when it has no head; XL_ERR_UNSUPPORTED / XL_ERR_FORMAT for an activation xling does
 * not know or a malformed sentence_transformers entry. */
xl_status xl_reranker_info_get(const xl_model *m, xl_reranker_info *info);
/* config.json id2label[k] (valid while m lives), or NULL when absent (transformers
 * then names it "LABEL_k"). The yes/no reranker has none. */
const char *xl_reranker_label(const xl_model *m, int k);

typedef struct {
    const char *instruct;   /* prompted rerankers: the instruction (NULL = default_instruct) */
    int raw_scores;         /* 1: the raw scores (logits; yes/no: logit_yes - logit_no), no activation */
    int max_length;         /* tokens per input, special and prompt tokens included (0 = the
                               model's default, xl_model_info.max_seq_length); pairs are cut
                               longest-first, prompted inputs in the body */
    int batch_size;         /* sequences per forward batch (0 = 32) */
    int threads;            /* 0 = the model's */
    void (*progress)(void *ctx, size_t done, size_t total); /* after each batch; may be NULL */
    void *progress_ctx;
} xl_rerank_options;

void xl_rerank_options_init(xl_rerank_options *o);

/* Scores n documents against one query into scores[n], in input order (higher = more
 * relevant): the one-label score with the activation applied unless o->raw_scores.
 * doc_lens / qlen may be given as (size_t)-1 for NUL-terminated texts; doc_lens may be
 * NULL. A model with several labels is XL_ERR_UNSUPPORTED (use xl_score_texts). Runs on
 * a context of its own (safe from many threads on one model); fails as a whole at the
 * first failed item ("input N: ...", N counting documents from 1). o may be NULL. */
xl_status xl_rerank(const xl_model *m, const char *query, size_t qlen, const char *const *docs,
                    const size_t *doc_lens, size_t n, const xl_rerank_options *o, float *scores);

/* Scores n inputs as given into scores[n * n_labels] (xl_reranker_info.n_labels): texts[i]
 * paired with pairs[i] through the pair template (pairs NULL, or pairs[i] NULL: the text
 * alone). Decoder rerankers take the whole formatted input as texts[i]: a pair is
 * XL_ERR_INPUT. Scores: one label: the activation; several: the softmax (or the named
 * activation per label); raw logits with o->raw_scores. lens / pair_lens may be NULL
 * (NUL-terminated). Fails as a whole at the first failed item ("input N: ..."). */
xl_status xl_score_texts(const xl_model *m, const char *const *texts, const size_t *lens, const char *const *pairs,
                         const size_t *pair_lens, size_t n, const xl_rerank_options *o, float *scores);

/* The same scores in steps, for callers that merge the sequences of many calls into one
 * xl_run (a server batching concurrent requests): xl_prepare_scores / xl_prepare_rerank
 * build the sequences xl_score_texts / xl_rerank run (pair template and token types, or
 * the reranker prompt; cut to o->max_length, seqs[i].truncated set — decoder rerankers
 * cut the prompt body, so a cut never fails them); xl_run them with the output bits of
 * xl_scores_outputs(m) (any pooling, normalize and dim options); then xl_scores_take
 * writes item i's xl_reranker_info.n_labels scores (the activation unless raw_scores).
 * xl_prepare_rerank also refuses a model with several labels, as xl_rerank does. */
xl_status xl_prepare_scores(const xl_model *m, const char *const *texts, const size_t *lens, const char *const *pairs,
                            const size_t *pair_lens, size_t n, const xl_rerank_options *o, xl_sequence **out);
xl_status xl_prepare_rerank(const xl_model *m, const char *query, size_t qlen, const char *const *docs,
                            const size_t *doc_lens, size_t n, const xl_rerank_options *o, xl_sequence **out);
unsigned xl_scores_outputs(const xl_model *m);
/* XL_ERR_ARG when item i has no outputs of the kind (not run with xl_scores_outputs, or
 * failed: see out->status[i]). */
xl_status xl_scores_take(const xl_model *m, const xl_outputs *out, size_t i, int raw_scores, float *scores);

/* --------------------------------- bge-m3 heads (dense, sparse, ColBERT) */
/* BGE-M3 as FlagEmbedding's BGEM3 model computes it, from a folder holding
 * colbert_linear.pt and/or sparse_linear.pt (torch.save files, read by an allow-listed
 * pickle reader that executes nothing) beside the XLM-R weights. From the last hidden
 * states h_t of one unpadded sequence:
 *   dense   = normalize(h[CLS])
 *   sparse  = relu(sparse_linear(h_t)) per token, the max per token id; the tokenizer's
 *             cls, eos, pad and unk ids and weights <= 0 left out
 *   colbert = normalize(colbert_linear(h_t)) for every token after CLS (the final </s>
 *             included)
 * A handle is read-only once loaded: share it among threads as the model. */
typedef struct xl_m3 xl_m3;
enum { XL_M3_DENSE = 1u, XL_M3_SPARSE = 2u, XL_M3_COLBERT = 4u, XL_M3_ALL = 7u };

/* Loads the heads of m's folder (m must outlive the handle). XL_ERR_UNSUPPORTED when
 * the folder has neither .pt file; a damaged or hostile file, or heads whose shapes
 * do not fit the model (colbert_linear [D][hidden], sparse_linear [1][hidden]), is an
 * error naming the file. */
xl_status xl_m3_load(const xl_model *m, xl_m3 **out);
void xl_m3_free(xl_m3 *h);
/* The heads it can compute: XL_M3_DENSE, plus SPARSE / COLBERT when their file is there. */
unsigned xl_m3_heads(const xl_m3 *h);
/* Width of the ColBERT vectors (0 without colbert_linear.pt); dense vectors have the
 * model's hidden size. */
int xl_m3_colbert_dim(const xl_m3 *h);

/* One text's outputs; arrays malloc'd (xl_m3_vectors_free), NULL for heads not asked. */
typedef struct {
    float *dense;               /* [dense_dim], unit length */
    int dense_dim;
    int32_t *sparse_ids;        /* n_sparse distinct ids, ascending */
    float *sparse_weights;      /* their weights, > 0 */
    size_t n_sparse;
    float *colbert;             /* [n_colbert][colbert_dim], unit rows */
    size_t n_colbert;
    int colbert_dim;
} xl_m3_vectors;
/* Frees the arrays of v (not v itself) and zeroes it. */
void xl_m3_vectors_free(xl_m3_vectors *v);

/* The heads (a mask of XL_M3_*) of one sequence from its ids[n] and last hidden states
 * hidden[n][hidden size] (xl_run with XL_OUT_TOKENS: out.tokens[i], seqs[i].ids). A
 * head the folder lacks: XL_ERR_UNSUPPORTED. */
xl_status xl_m3_compute(const xl_m3 *h, const int32_t *ids, size_t n, const float *hidden, unsigned heads,
                        xl_m3_vectors *out);
/* Prepare, run and compute in one call, into out[n] (zeroed first; freed again on
 * failure); fails as a whole at the first failed item ("input N: ..."). Uses o's
 * prompt / prefix, max_length, batch, threads and progress; the heads fix pooling and
 * normalization (dim, pooling, normalize are ignored). */
xl_status xl_m3_embed_texts(const xl_m3 *h, const char *const *texts, const size_t *lens, size_t n, unsigned heads,
                            const xl_embed_options *o, xl_m3_vectors *out, size_t *n_truncated);
/* Token ids used as given (no prompt, no special tokens added). */
xl_status xl_m3_embed_ids(const xl_m3 *h, const int32_t *const *ids, const size_t *lens, size_t n, unsigned heads,
                          const xl_embed_options *o, xl_m3_vectors *out, size_t *n_truncated);

/* Scores of a query against a document, as FlagEmbedding's compute_score: dense = q.d;
 * lexical = sum over shared ids of q_w * d_w; colbert = mean over the query's vectors
 * of the max dot product with the document's vectors (its own, unpadded);
 * combined = (w0 dense + w1 lexical + w2 colbert) / (w0 + w1 + w2). */
typedef struct {
    double dense, lexical, colbert, combined;
} xl_m3_scores;
double xl_m3_dense_score(const xl_m3_vectors *q, const xl_m3_vectors *d);
double xl_m3_lexical_score(const xl_m3_vectors *q, const xl_m3_vectors *d);
double xl_m3_colbert_score(const xl_m3_vectors *q, const xl_m3_vectors *d);
/* weights: dense, lexical, colbert (NULL = 0.4, 0.2, 0.4; each >= 0, sum > 0). A head
 * with a nonzero weight missing from q or d, or unequal widths: XL_ERR_ARG. */
xl_status xl_m3_score(const xl_m3_vectors *q, const xl_m3_vectors *d, const double *weights, xl_m3_scores *out);

/* --------------------------------------------- long documents (chunking) */
/* Texts longer than the model's window, embedded window by window. A text's tokens
 * (tokenized alone, without special tokens) are cut into windows of at most `size`
 * tokens, a new one every size - overlap tokens, the last ending at the text's end
 * (it may be shorter). Each window is the prompt's tokens (as the prompt tokenizes in
 * front of this text; the prompt alone when the two merge at the boundary) and the
 * window's tokens, wrapped in the tokenizer's special tokens, and embedded as the model
 * embeds a text (pooling, head, dim, normalization of the embed options). A text whose
 * tokens fit in one window gets exactly its xl_embed_texts vector (prompt and text
 * tokenized together), as one window.
 * Combined per text: MEAN = sum_k n_k e_k / sum_k n_k with n_k the window's text
 * tokens, renormalised when the embedding is normalised; MAX = element-wise max,
 * renormalised likewise; FIRST = the first window's vector.
 * Late chunking (Jina's): one forward over the prompt and the whole text (an input
 * error when that exceeds the length limit: max_length or the model's max_seq_length,
 * and the position table); each window's vector is the mean of its text tokens' final
 * hidden states (special tokens and the prompt belong to no window), through the
 * folder's Dense modules when it has them, cut to dim, normalised when the embedding is.
 * There is no combined vector then. Jina's late chunking uses windows without overlap
 * (the CLI sets overlap 0); the library takes any overlap. */
typedef enum { XL_CHUNK_POOL_MEAN = 0, XL_CHUNK_POOL_MAX, XL_CHUNK_POOL_FIRST } xl_chunk_pooling;

typedef struct {
    int size;                   /* text tokens per window, >= 1 */
    int overlap;                /* tokens consecutive windows share, 0 <= overlap < size */
    xl_chunk_pooling pooling;   /* how the windows of a text combine */
    int late;                   /* 1: late chunking */
} xl_chunk_options;

/* One window of one text. */
typedef struct {
    size_t input;               /* 0-based text number */
    size_t index;               /* 0-based window number within the text */
    size_t token_start, token_end; /* [start, end) among the text's own tokens */
    size_t byte_start, byte_end;   /* the bytes of the text it covers: the start of its first
                                      token to the end of its last, as xl_tokenize_offsets
                                      gives them, in the text as passed (before the folder's
                                      lowercasing); 0, 0 for no tokens */
} xl_chunk_span;

typedef struct {
    size_t n;                   /* texts */
    int dim;
    xl_status *status;          /* [n] per text */
    char **error;               /* [n] one-line message of a failed text, else NULL */
    size_t n_failed;
    float *embeddings;          /* [n][dim] combined per text (NULL for late chunking) */
    size_t n_chunks;
    xl_chunk_span *chunks;      /* [n_chunks], text by text, window by window */
    float *chunk_embeddings;    /* [n_chunks][dim] */
    size_t *first;              /* [n + 1]: text i's windows are first[i] .. first[i + 1] - 1
                                   (none for a failed text) */
} xl_chunk_outputs;

/* size 512, overlap 0, MEAN, not late. */
void xl_chunk_options_init(xl_chunk_options *o);
/* The windows of a text of n_tokens tokens: returns their number (at least 1) and,
 * when starts / ends are not NULL, their token spans; 0 when the options are invalid. */
size_t xl_chunk_windows(size_t n_tokens, const xl_chunk_options *o, size_t *starts, size_t *ends);
/* Embeds n texts window by window on ctx's model: the windows of all texts run together
 * through xl_run (length-sorted, token-budgeted batches), late chunking one forward per
 * text. Per-text failures are in out->status (see xl_run); invalid options, no
 * tokenizer, a window that cannot fit the length limit fail the call. eo may be NULL;
 * its progress callback counts the sequences run (windows, or texts when late). */
xl_status xl_embed_chunked(xl_context *ctx, const char *const *texts, const size_t *lens, size_t n,
                           const xl_embed_options *eo, const xl_chunk_options *co, xl_chunk_outputs *out);
void xl_chunk_outputs_free(xl_chunk_outputs *out);

/* ------------------------------- Hugging Face Hub (resolve, pull, cache) */
/* Models by Hub id ("ORG/NAME" or "ORG/NAME@REVISION": a branch, a tag or a 40-hex
 * commit), kept in the Hugging Face cache layout that huggingface_hub writes, so that
 * each tool reuses the other's downloads: CACHE/models--ORG--NAME/{blobs/<etag>,
 * snapshots/<commit>/<path> (relative symlinks into blobs/), refs/<revision> (a commit)}.
 * CACHE = HF_HUB_CACHE, else HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
 * ~/.cache/huggingface/hub.
 *
 * xl_model_load, xl_model_fingerprint and xl_tokenizer_load accept a Hub id wherever
 * they take a folder: a path that exists is always used as a path; otherwise an id is
 * looked up in the cache (no network), and on a miss the handler set with
 * xl_hub_set_miss_handler runs (the xling CLI pulls there); without one, or with
 * HF_HUB_OFFLINE=1, the error says how to pull. */

/* 1 if s has the form of a Hub id (ORG/NAME[@REVISION], Hub naming rules). */
int xl_hub_is_id(const char *s);
/* The cache folder as above (malloc'd; NULL when out of memory). */
char *xl_hub_cache_dir(void);
/* 1 when HF_HUB_OFFLINE is set to a true value (1, ON, YES, TRUE). */
int xl_hub_offline(void);
/* Resolves a Hub id through the cache without the network: *dir = malloc'd snapshot
 * folder (inside the cache: nothing is copied). A revision that is not a commit goes
 * through refs/ (default "main"). Not cached: XL_ERR_IO, the message names the cache
 * and says how to pull. cache_dir NULL = xl_hub_cache_dir(). */
xl_status xl_hub_resolve(const char *cache_dir, const char *id, char **dir);
/* What the loaders do with an uncached id: the handler fetches it (return XL_OK to
 * have the lookup repeated) or fails with a message. Process-wide; set it once at
 * start-up, before other threads load models. NULL (the default) = no fetching. */
typedef xl_status (*xl_hub_miss_fn)(const char *id, void *user);
void xl_hub_set_miss_handler(xl_hub_miss_fn fn, void *user);
/* What the loaders do with a folder argument, for functions that read folders
 * themselves: *dir = NULL when path is to be used as given (it exists, or is not an
 * id), else the malloc'd snapshot folder of the Hub id (through the miss handler when
 * not cached). */
xl_status xl_hub_locate(const char *path, char **dir);

/* Progress of a pull, reported from the downloading threads (one call at a time). */
typedef struct {
    uint64_t bytes_done, bytes_total;   /* of the files being downloaded (resumed parts count as done) */
    int files_done, files_total;        /* files of the selection, cached ones included */
    const char *file;                   /* the file this call is about, or NULL */
} xl_hub_progress;

typedef struct {
    const char *endpoint;   /* NULL: HF_ENDPOINT, else https://huggingface.co */
    const char *token;      /* NULL: HF_TOKEN, else the file HF_TOKEN_PATH or HF_HOME/token */
    const char *cache_dir;  /* NULL: xl_hub_cache_dir() */
    /* Globs (fnmatch, '*' also crosses '/', a trailing '/' means the whole folder) on
     * repository paths: include adds files to the default selection (what xling reads:
     * configs, tokenizer, *.safetensors, sentence-transformers module folders, *.pt
     * heads), exclude removes files from it. */
    const char *const *include;
    size_t n_include;
    const char *const *exclude;
    size_t n_exclude;
    int jobs;               /* parallel file downloads; 0 = 4 */
    int retries;            /* retries of a failed request (network, 5xx, 429), with
                               backoff 1 s, 2 s, 4 s...; < 0 = none, 0 = 5 */
    void (*progress)(void *user, const xl_hub_progress *p);
    void *user;
} xl_hub_pull_options;

/* Downloads what a Hub model needs into the cache (or finds it there) and returns its
 * snapshot folder in *dir (malloc'd; dir may be NULL). Interrupted downloads resume
 * from blobs/<etag>.incomplete with a Range request; LFS files are checked against
 * their sha256 (a mismatch leaves nothing of the file); refs/<revision> is written
 * once every file is in place (not for a commit id). Fails with XL_ERR_IO for network,
 * HTTP and disk errors (gated, not found, checksum...), XL_ERR_ARG for a bad id,
 * XL_ERR_UNSUPPORTED when the revision has no .safetensors weights. */
xl_status xl_hub_pull(const char *id, const xl_hub_pull_options *opts, char **dir);

/* The cached models xling can run (a snapshot with config.json and .safetensors). */
typedef struct {
    char *id;               /* ORG/NAME */
    char *revision;         /* the refs naming this snapshot, comma-separated; NULL if none */
    char *commit;
    char *architecture;     /* config.json architectures[0]; NULL if absent */
    uint64_t parameters;    /* elements of every tensor in the .safetensors headers */
    uint64_t size_bytes;    /* the snapshot's files on disk (each blob counted once) */
    char *path;             /* the snapshot folder */
} xl_hub_model;
/* Lists them sorted by id, then commit. A damaged entry is skipped, not an error. */
xl_status xl_hub_list(const char *cache_dir, xl_hub_model **out, size_t *n);
void xl_hub_list_free(xl_hub_model *models, size_t n);

/* Removes a cached model: "ORG/NAME" the whole repository folder; "ORG/NAME@REVISION"
 * that snapshot, the refs naming it and the blobs no other snapshot uses. *freed gets
 * the bytes removed (may be NULL). XL_ERR_IO when it is not cached. */
xl_status xl_hub_rm(const char *cache_dir, const char *id, uint64_t *freed);

/* ----------------------------- safetensors writer and checkpoint merging */
/* Writing safetensors checkpoints (src/adapt/st_writer.c). Declare every tensor first
 * (name, dtype, shape; the file order is the declaration order), then write their data
 * in that order, whole (write_*) or in consecutive pieces (append_*). Shards: with
 * max_shard_bytes > 0 the tensors go into model-00001-of-0000N.safetensors files as
 * transformers fills them (a new shard when the next tensor would pass the limit, a
 * tensor bigger than the limit alone), plus model.safetensors.index.json
 * ({"metadata": {"total_size"}, "weight_map"}); one shard is model.safetensors. Files
 * are written under temporary names in dir and renamed by finish, after fsync; any
 * failure (a full disk included) leaves no file behind once the writer is freed.
 * The header is padded with spaces to a multiple of 8 bytes (8-byte aligned data). */
typedef struct xl_st_writer xl_st_writer;
/* dir must exist. max_shard_bytes: 0 = one file (model.safetensors). */
xl_status xl_st_writer_new(const char *dir, uint64_t max_shard_bytes, xl_st_writer **out);
/* Same, one file named file_name in dir (for modules: "2_Dense/model.safetensors" is
 * dir "2_Dense", file "model.safetensors"). */
xl_status xl_st_writer_new_file(const char *dir, const char *file_name, xl_st_writer **out);
/* dtype: "F32", "F16", "BF16", "F64" (write_f32 converts to them) or, raw only, "I64",
 * "I32", "I8", "U8", "BOOL". Names must be unique; ndim 0..8. Before the first write. */
xl_status xl_st_writer_declare(xl_st_writer *w, const char *name, const char *dtype, const int64_t *shape, int ndim);
/* A "__metadata__" entry of every file ({"format": "pt"} unless replaced). Before the first write. */
xl_status xl_st_writer_metadata(xl_st_writer *w, const char *key, const char *value);
/* The next declared tensor, whole: float32 values converted to its dtype (F16 / BF16:
 * round to nearest even; NaN stays NaN, quiet, sign kept; overflow gives Inf). */
xl_status xl_st_writer_write_f32(xl_st_writer *w, const float *data);
/* The next declared tensor, whole: nbytes (= numel x dtype size) bytes already in its dtype. */
xl_status xl_st_writer_write_raw(xl_st_writer *w, const void *data, size_t nbytes);
/* Streaming: the next n values / nbytes bytes of the current tensor (the next declared
 * one once the previous is complete). Passing a tensor's end is an error. */
xl_status xl_st_writer_append_f32(xl_st_writer *w, const float *data, size_t n);
xl_status xl_st_writer_append_raw(xl_st_writer *w, const void *data, size_t nbytes);
/* Checks every tensor was written, syncs, writes the index when sharded, renames the
 * files into place, frees w (also on failure: then nothing is left). */
xl_status xl_st_writer_finish(xl_st_writer *w);
/* Abandons a writer: its temporary files are removed. NULL is fine. */
void xl_st_writer_free(xl_st_writer *w);
/* How many files finish writes (1: model.safetensors, or the file name given; N > 1:
 * model-0000i-of-0000N.safetensors). Known from the first write on (0 before). */
int xl_st_writer_shard_count(const xl_st_writer *w);

/* float32 -> IEEE half / bfloat16, round to nearest even (NaN: quiet, sign kept). */
uint16_t xl_f32_to_f16(float x);
uint16_t xl_f32_to_bf16(float x);
/* A size as transformers' max_shard_size writes it: a byte count, or a number with
 * KB/MB/GB/TB (decimal: 5GB = 5e9) or KiB/MiB/GiB/TiB (binary). Fractions allowed
 * ("1.5GB"). XL_ERR_ARG naming the text if it is anything else or zero. */
xl_status xl_parse_size(const char *s, uint64_t *out);

/* Output model folders (src/adapt/hf_folder.c): everything is written into a fresh
 * temporary folder next to out_dir, which commit renames into place in one step
 * (replacing an existing out_dir only when forced: the old folder is swapped out
 * atomically, then removed). abort (or any failure) removes the temporary folder, so
 * out_dir is either untouched or complete. */
typedef struct xl_hf_folder xl_hf_folder;
/* out_dir's parent must exist; out_dir must not, unless force (then it must be a folder). */
xl_status xl_hf_folder_begin(const char *out_dir, int force, xl_hf_folder **out);
/* The temporary folder to write into. */
const char *xl_hf_folder_path(const xl_hf_folder *f);
/* Decides for each file of the source folder (relpath like "config.json" or
 * "2_Dense/config.json") whether to copy it: 1 = copy. is_weight: a checkpoint file
 * (*.safetensors, its index, *.bin, *.pt, *.pth, *.h5, *.onnx, *.gguf, *.msgpack, *.ckpt). */
typedef int (*xl_hf_filter)(const char *relpath, int is_weight, void *user);
/* Copies src_dir's files into the temporary folder, recursing into subfolders
 * (1_Pooling/, 2_Dense/...; symlinks followed; .git, .cache and xling's tokenizer
 * caches are never copied). filter NULL = every file that is not a weight file. */
xl_status xl_hf_folder_copy(xl_hf_folder *f, const char *src_dir, xl_hf_filter filter, void *user);
/* Writes a whole file into the temporary folder (relpath; its folders are created). */
xl_status xl_hf_folder_write(xl_hf_folder *f, const char *relpath, const void *data, size_t len);
/* Syncs and renames into place; frees f (on failure too, removing the temporary folder). */
xl_status xl_hf_folder_commit(xl_hf_folder *f);
void xl_hf_folder_abort(xl_hf_folder *f);
/* 1 if relpath names a checkpoint file (see xl_hf_filter). */
int xl_hf_is_weight_file(const char *relpath);

/* Merging checkpoints (src/adapt/merge.c), tensor by tensor over the memory-mapped
 * inputs: memory stays at a few MB of buffers plus the pages of the piece in flight
 * (read pages are handed back as it goes), whatever the model size. Every checkpoint
 * of a folder is merged: the model's (model.safetensors or its shards) and those of
 * its module subfolders (sentence-transformers' 2_Dense/...). OUT is a complete model
 * folder: the other files (config, tokenizer, modules.json, Pooling...) are copied
 * from the first / base folder (config.json's torch_dtype follows `dtype` when one is
 * given), through xl_hf_folder (atomic; an existing OUT only with force). */
typedef struct {
    const float *weights;     /* average: one per input, >= 0, normalised to sum 1; NULL = uniform */
    const char *dtype;        /* NULL: each tensor keeps its dtype (the first / base model's);
                                 "F32", "F16" or "BF16": every float tensor */
    uint64_t max_shard_bytes; /* model checkpoint shards; 0 = 5 GB (transformers' default) */
    int force;                /* replace an existing out_dir */
    int dry_run;              /* check and report every tensor's source, write nothing */
    volatile int *cancel;     /* optional: set to nonzero (a signal handler may) to stop at the
                                 next piece; XL_ERR_CANCELLED, and nothing is left behind */
    /* Optional reports: each output tensor ("2_Dense/linear.weight" for modules) with
     * its source (an input folder, or "average"); one-line notes (a non-float tensor
     * copied from the first input, a pickle file left out); bytes of tensors done. */
    void (*on_tensor)(void *user, const char *name, const char *source);
    void (*on_note)(void *user, const char *message);
    void (*on_progress)(void *user, uint64_t done_bytes, uint64_t total_bytes);
    void *user;
} xl_merge_options;

/* The weighted average of n >= 2 model folders, accumulated in float32. Refuses
 * folders whose architectures (config.json), module checkpoints, tensor names or
 * shapes differ, naming the first tensor that does. Non-float tensors (I64
 * position_ids buffers...) are copied from the first folder; where they differ a
 * note says so. */
xl_status xl_merge_average(const char *out_dir, const char *const *dirs, int n, const xl_merge_options *opts);

/* base_dir with the transformer layers listed in layers[0..n_layers) taken from
 * donor_dir: every tensor named `layers.N.` / `layer.N.` (encoder.layer.N.,
 * model.layers.N., with or without a prefix such as roberta.). swap_embeddings also
 * takes the embeddings: encoders' embeddings.* (word, position, token type, LayerNorm),
 * decoders' embed_tokens, final norm and lm_head when stored (untied). Layers must lie
 * inside the model (config.json's num_hidden_layers); the donor must have the same
 * architecture and each swapped tensor with the same shape. */
xl_status xl_merge_swap(const char *out_dir, const char *base_dir, const char *donor_dir, const int *layers,
                        int n_layers, int swap_embeddings, const xl_merge_options *opts);

/* --------------------------------------------------- vocabulary transfer */
/* A model with a new tokenizer, without training (`xling vocab transfer`): the new
 * tokenizer's tokenizer.json (+ tokenizer_config.json, special_tokens_map.json) and new
 * rows for every vocabulary-sized tensor (input embeddings; an untied lm_head; an MLM
 * decoder and its bias), each a mean of source rows:
 * - copy: a new piece that means what a source piece means (same text, and word-initial
 *   or continuation alike: "▁x" = "Ġx" = WordPiece "x"; "x" = "##x") takes its row;
 *   special tokens by role ([CLS] = <s>, [SEP] = </s>, pad, unk, mask);
 * - fvt: the mean of the rows of the source tokenizer's pieces of the new token's text
 *   (word-initial pieces with a leading space), unknown pieces left out;
 * - align: the alignment-weighted mean of the source tokens the new token aligns to in
 *   a parallel corpus (IBM Model 1 both ways); tokens seen fewer than min_count times
 *   get fvt;
 * - fallback: no source piece at all: the mean of all source rows.
 * config.json's vocab_size and special token ids follow the new tokenizer; XLM-R's
 * position rows move with pad_token_id (positions count from it) so that every token
 * keeps its position vector. The output folder is written next to OUT and renamed into
 * place when complete (an existing OUT only with force). */
typedef enum { XL_VOCAB_FVT = 0, XL_VOCAB_ALIGN = 1 } xl_vocab_method;

typedef struct {
    xl_vocab_method method;
    const char *parallel;   /* align: UTF-8 text, one "source<TAB>target" pair a line */
    int min_count;          /* align: fewer occurrences fall back to fvt (0 = 3) */
    int iterations;         /* align: EM iterations of each direction (0 = 5) */
    int force;              /* replace an existing output folder */
    int threads;            /* 0 = xl_default_threads() */
    /* progress of the long steps, may be NULL: stage ("tokens", "corpus", "tensors") */
    void (*progress)(void *ctx, const char *stage, size_t done, size_t total);
    void *progress_ctx;
} xl_vocab_options;
void xl_vocab_options_init(xl_vocab_options *o);

typedef struct {
    size_t n_tokens;                /* rows of the new vocabulary */
    size_t n_copy, n_align, n_fvt, n_fallback; /* how each row was made (they sum to n_tokens) */
    size_t n_added, n_skipped;      /* extend: tokens added; lines skipped (already known / repeated) */
    size_t n_pairs;                 /* align: sentence pairs read */
    int old_pad, new_pad;           /* pad_token_id before and after (-1: none) */
    int positions_shifted;          /* 1 when XLM-R position rows were moved */
    size_t n_tensors_changed;       /* tensors given new rows (or shifted) */
    char source_kind[96], new_kind[96]; /* the piece conventions, e.g. "WordPiece (##)" */
} xl_vocab_report;

/* Writes out_dir: the model folder model_dir with the tokenizer `tokenizer` (a folder
 * holding tokenizer.json, or the file). rep may be NULL. */
xl_status xl_vocab_transfer(const char *model_dir, const char *tokenizer, const char *out_dir,
                            const xl_vocab_options *o, xl_vocab_report *rep);
/* Writes out_dir: model_dir with the tokens of tokens_file (UTF-8, one a line; blank
 * lines, repeats and tokens the vocabulary has are skipped) added to tokenizer.json as
 * regular added tokens ("special": false, "normalized": true, as transformers'
 * add_tokens writes them), new ids after the largest one, and fvt rows appended (or
 * written over the unused rows of a matrix larger than the vocabulary). */
xl_status xl_vocab_extend(const char *model_dir, const char *tokens_file, const char *out_dir,
                          const xl_vocab_options *o, xl_vocab_report *rep);

#ifdef __cplusplus
}
#endif
#endif
