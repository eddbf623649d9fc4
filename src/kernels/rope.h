/* Rotary position embeddings in the Hugging Face `rotate_half` layout: within a head of
 * D dimensions, dimension i (i < D/2) rotates together with dimension i + D/2 by the
 * angle pos * inv_freq[i]. The frequencies follow rope_theta and an optional
 * `rope_scaling` (linear, or Llama 3's three-band rescaling). */
#ifndef XL_ROPE_H
#define XL_ROPE_H

typedef enum {
    XL_ROPE_DEFAULT = 0, /* inv_freq[i] = theta^(-2i/D) */
    XL_ROPE_LINEAR,      /* inv_freq / factor (positions interpolated) */
    XL_ROPE_LLAMA3       /* Llama 3.1: low frequencies / factor, high kept, a smooth band between */
} xl_rope_kind;

typedef struct {
    xl_rope_kind kind;
    double theta;            /* rope_theta (base) */
    double factor;           /* linear and llama3 */
    double low_freq_factor;  /* llama3 */
    double high_freq_factor; /* llama3 */
    double original_max_pos; /* llama3: original_max_position_embeddings */
} xl_rope_params;

/* inv_freq[i] for i < head_dim / 2, computed in double. */
void xl_rope_inv_freq(const xl_rope_params *p, int head_dim, double *inv_freq);

/* cos_t / sin_t: [n_pos][half] tables of cos/sin(pos * inv_freq[i]), angles in double. */
void xl_rope_tables(const double *inv_freq, int half, int n_pos, float *cos_t, float *sin_t);

/* Rotates, in place, n_heads heads of head_dim floats at the start of each of the
 * B*T rows of x (row stride `stride` floats). Row b*T + t has position t (sequences
 * are right-padded, so real tokens sit at positions 0..len-1). Tables come from
 * xl_rope_tables with n_pos >= T and half = head_dim / 2. */
void xl_rope_apply(float *x, int B, int T, int stride, int n_heads, int head_dim, const float *cos_t,
                   const float *sin_t, int threads);

#endif
