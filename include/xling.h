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
} xl_encoding;

/* Encodes UTF-8 text (len bytes, may contain NUL). Invalid UTF-8 is replaced by
 * U+FFFD as Python's bytes.decode(errors="replace") does (see xl_utf8_repair).
 * add_special: 1 = apply the post-processor's special tokens. */
xl_status xl_tokenize(const xl_tokenizer *tok, const char *text, size_t len,
                      int add_special, xl_encoding *out);
void xl_encoding_free(xl_encoding *enc);

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
 * post-processor added (content is cut from the end). Returns 1 if it cut. */
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
/* (issue 15: rerank / score: declarations go here) */

/* --------------------------------- bge-m3 heads (dense, sparse, ColBERT) */
/* (issue 15: bge-m3: declarations go here) */

/* --------------------------------------------- long documents (chunking) */
/* (issue 15: chunking: declarations go here) */

/* ------------------------------- Hugging Face Hub (resolve, pull, cache) */
/* (issue 14: declarations go here) */

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
/* (issue 16: vocab: declarations go here) */

#ifdef __cplusplus
}
#endif
#endif
