/* Pooling of token hidden states into one vector per sequence, and the
 * sentence-transformers head that follows it (Dense modules, Normalize). */
#ifndef XL_POOLING_H
#define XL_POOLING_H
#include <stddef.h>
#include "io/st_config.h"
#include "xling.h"

/* Pools hidden[T][H] of one right-padded sequence with len real tokens. The first
 * `skip` tokens are excluded (include_prompt: false), as sentence-transformers zeroes
 * their attention mask; if that leaves nothing, all tokens are used for mean/max. */
void xl_pool(xl_pooling mode, const float *hidden, int len, int H, int skip, float *out);

/* Position-weighted mean (SGPT, MEXA): token t of the pooled ones (1-based, after the
 * `skip` prompt tokens) weighs t / sum(1..n). */
void xl_pool_weighted_mean(const float *hidden, int len, int H, int skip, float *out);

/* Applies the Dense chain: in[in_dim] -> out[dense.out_features of the last]
 * (scratch must hold max dim of the chain, twice). */
void xl_dense_apply(const xl_dense *d, int n_dense, const float *in, float *out, float *scratch);

/* x / max(||x||, 1e-12), in place. */
void xl_l2_normalize(float *x, int n);

#endif
