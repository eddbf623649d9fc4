/* Offline evaluation (xling eval / align): the benchmark data in data/, the scoring of
 * each task on embeddings, and mteb-layout result files. Internal to libxling and the CLI. */
#ifndef XL_EVAL_H
#define XL_EVAL_H
#include <stddef.h>
#include <stdint.h>
#include "xling.h"

/* ------------------------------------------------------------------ data */

/* Lines of text, owned. */
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
/* One pair's two aligned files (the first max lines; 0 = all). */
xl_status xl_tatoeba_load(const char *data_dir, const char *code, size_t max, xl_lines *xx, xl_lines *en);
/* Paths of the pair's files (malloc'd). */
char *xl_tatoeba_path(const char *data_dir, const char *code, int english);
/* The ISO 15924 script mteb names a Tatoeba language with ("Latn" when not listed). */
const char *xl_tatoeba_script(const char *code);

/* Multilingual STS-B test split. */
extern const char *const xl_stsb_langs[];   /* two-letter codes, NULL-terminated */
extern const char *const xl_stsb_iso3[];    /* mteb's language names, same order */
int xl_stsb_lang_index(const char *code);   /* -1 if not one of them */
typedef struct {
    xl_lines s1, s2;
    double *score;
} xl_sts_set;
xl_status xl_stsb_load(const char *data_dir, const char *lang, xl_sts_set *out);
void xl_sts_set_free(xl_sts_set *s);
char *xl_stsb_path(const char *data_dir, const char *lang);

/* FNV-1a 64 over each file's name (without folder) and bytes, in the given order, as 16
 * hex digits into out[17]: the dataset_revision of a task's result. */
xl_status xl_files_hash(const char *const *paths, size_t n, char out[17]);

/* --------------------------------------------------------------- texts */

/* Distinct texts: adding a text already held returns its first id. */
typedef struct xl_textset xl_textset;
xl_textset *xl_textset_new(void);
void xl_textset_free(xl_textset *t);
xl_status xl_textset_add(xl_textset *t, const char *s, size_t len, size_t *id);
size_t xl_textset_count(const xl_textset *t);
const char *const *xl_textset_texts(const xl_textset *t);
const size_t *xl_textset_lens(const xl_textset *t);

/* ------------------------------------------------------------- scoring */

/* Bitext mining as mteb's BitextMiningEvaluator: for each x[i] the nearest y[j] by
 * cosine (ties: lowest j); gold label of x[i] is i; accuracy and sklearn's weighted
 * precision/recall/F1 over the labels. LASER error rates: the fraction of x[i] whose
 * nearest y is not y[i] (xx_en), and of y[i] whose nearest x is not x[i] (en_xx).
 * x, y: L2-normalised rows. */
typedef struct {
    double accuracy, precision, recall, f1;
    double laser_error_xx_en, laser_error_en_xx;
} xl_bitext_scores;
xl_status xl_eval_bitext(const float *x, const float *y, size_t n, size_t dim, int threads, xl_bitext_scores *out);

/* STS as mteb's STSEvaluator: Pearson and Spearman of the gold scores against cosine
 * similarity, and against minus the Manhattan and Euclidean distances (vectors as
 * given, not normalised). */
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

/* MEXA alignment of n parallel rows x[i] <-> y[i]: the fraction of i whose cosine
 * C[i][i] is larger than every other entry of row i and of column i of C = cos(x, y).
 * Rows need not be normalised. */
xl_status xl_mexa_score(const float *x, const float *y, size_t n, size_t dim, int threads, double *score);

/* ------------------------------------------------------------- results */

/* Writes PATH atomically (temporary file in the same folder, then rename). The object
 * is dumped with 2-space indentation and sorted keys, as mteb writes its results. */
struct json_t;
xl_status xl_json_write_atomic(const char *path, struct json_t *obj);
/* mkdir -p; an existing non-folder on the way is an error naming it. */
xl_status xl_mkdirs(const char *path);

#endif
