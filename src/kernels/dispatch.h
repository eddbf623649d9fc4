/* Run-time choice of the kernel set. Every source in src/kernels/ (except dispatch.c)
 * is compiled once per kernel set with that set's flags and a forced include of
 * kernels/isa_rename.h, which renames each public kernel function (xl_linear_packed ->
 * xl_linear_packed_avx2, ...) so the sets link side by side. dispatch.c (built at the
 * portable baseline) defines the public names and forwards them through the table of
 * the set chosen once per process from CPUID, or from XLING_ISA:
 *   generic | avx2-novnni | avx2 | avx512-novnni | avx512
 * (avx2 / avx512: the best set of that family this CPU has, VNNI included where
 * present). A NATIVE=1 build, or a non-x86 target, has a single set ("native" /
 * "generic").
 *
 * Adding a public kernel function: add it to XL_KERNEL_FUNCS below and to
 * isa_rename.h (the build checks that every xl_* symbol of a kernel object is renamed). */
#ifndef XL_KERNELS_DISPATCH_H
#define XL_KERNELS_DISPATCH_H
#include "io/safetensors.h"
#include "kernels/kernels.h"
#include "kernels/linear_half.h"
#include "kernels/q8.h"
#include "kernels/rope.h"

/* V(name, (params), (args)) for functions returning void, R(type, name, (params), (args))
 * for the others; `name` without its xl_ prefix. */
#define XL_KERNEL_FUNCS(V, R)                                                                                        \
    V(linear_f32, (const float *x, int M, int K, const float *W, int N, const float *b, float *y, int threads),    \
      (x, M, K, W, N, b, y, threads))                                                                              \
    R(int, linear_row_invariant, (void), ())                                                                       \
    R(xl_status, pack_w, (const float *W, int N, int K, xl_packed_w *out), (W, N, K, out))                         \
    V(packed_w_free, (xl_packed_w * w), (w))                                                                       \
    V(linear_packed,                                                                                               \
      (const float *x, int M, const xl_packed_w *W, const float *b, xl_kact act, float *y, int threads),           \
      (x, M, W, b, act, y, threads))                                                                               \
    V(layernorm, (float *x, int M, int H, const float *g, const float *b, float eps, int threads),                 \
      (x, M, H, g, b, eps, threads))                                                                               \
    V(rmsnorm, (float *x, int M, int H, const float *w, float w_offset, float eps, int threads),                   \
      (x, M, H, w, w_offset, eps, threads))                                                                        \
    R(double, sum_sq_dev, (const float *x, int n, double c), (x, n, c))                                            \
    V(residual_layernorm,                                                                                          \
      (float *x, const float *y, const float *bias, int M, int H, const float *g, const float *beta, float eps,    \
       int threads),                                                                                               \
      (x, y, bias, M, H, g, beta, eps, threads))                                                                   \
    V(gelu_erf, (float *x, size_t n, int threads), (x, n, threads))                                                \
    V(gelu_tanh, (float *x, size_t n, int threads), (x, n, threads))                                               \
    V(relu, (float *x, size_t n, int threads), (x, n, threads))                                                    \
    V(silu, (float *x, size_t n, int threads), (x, n, threads))                                                    \
    V(bias_act, (float *y, int M, int N, const float *b, xl_kact act, int threads), (y, M, N, b, act, threads))    \
    V(act_block, (float *y, int M, int N, int ld, const float *b, xl_kact act), (y, M, N, ld, b, act))             \
    V(add_inplace, (float *x, const float *y, size_t n, int threads), (x, y, n, threads))                          \
    V(gated_act,                                                                                                   \
      (float *out, const float *gate, const float *up, int M, int F, int ld, xl_kact act, int threads),            \
      (out, gate, up, M, F, ld, act, threads))                                                                     \
    V(softmax, (float *x, int n), (x, n))                                                                          \
    R(float, softmax_unnormalized, (float *x, int n), (x, n))                                                      \
    R(xl_status, attention,                                                                                        \
      (const xl_attn_params *p, const float *q, int q_stride, const float *k, const float *v, int kv_stride,       \
       float *out, int threads),                                                                                   \
      (p, q, q_stride, k, v, kv_stride, out, threads))                                                             \
    R(size_t, attention_scratch_bytes, (const xl_attn_params *p), (p))                                             \
    R(xl_status, attention_st,                                                                                     \
      (const xl_attn_params *p, const float *q, int q_stride, const float *k, const float *v, int kv_stride,       \
       float *out, void *scratch, size_t scratch_bytes),                                                           \
      (p, q, q_stride, k, v, kv_stride, out, scratch, scratch_bytes))                                              \
    V(rope_inv_freq, (const xl_rope_params *p, int head_dim, double *inv_freq), (p, head_dim, inv_freq))           \
    V(rope_tables, (const double *inv_freq, int half, int n_pos, float *cos_t, float *sin_t),                      \
      (inv_freq, half, n_pos, cos_t, sin_t))                                                                       \
    V(rope_apply,                                                                                                  \
      (float *x, int B, int T, int stride, int n_heads, int head_dim, const float *cos_t, const float *sin_t,       \
       int threads),                                                                                               \
      (x, B, T, stride, n_heads, head_dim, cos_t, sin_t, threads))                                                 \
    R(size_t, linear_half_work, (int M, int K, int threads), (M, K, threads))                                      \
    V(linear_half,                                                                                                 \
      (const float *x, int M, int K, const void *W, xl_dtype dt, int N, const float *b, float *y, float *work,     \
       int threads),                                                                                               \
      (x, M, K, W, dt, N, b, y, work, threads))                                                                    \
    V(linear_half_multi,                                                                                           \
      (const float *x, int M, int K, const xl_half_job *jobs, int n_jobs, float *work, int threads),               \
      (x, M, K, jobs, n_jobs, work, threads))                                                                      \
    R(xl_status, q8_quantize, (const void *W, xl_dtype dt, int N, int K, xl_q8_matrix *out, int threads),         \
      (W, dt, N, K, out, threads))                                                                                 \
    V(q8_free, (xl_q8_matrix * m), (m))                                                                            \
    R(size_t, q8_bytes, (const xl_q8_matrix *m), (m))                                                              \
    R(size_t, q8_work, (int M, int K, int threads), (M, K, threads))                                               \
    R(size_t, q8_work_rows, (int M, int K), (M, K))                                                                \
    V(q8_linear,                                                                                                   \
      (const float *x, int M, int K, const xl_q8_matrix *W, const float *b, float *y, void *work, int threads),    \
      (x, M, K, W, b, y, work, threads))                                                                           \
    V(q8_linear_multi, (const float *x, int M, int K, const xl_q8_job *jobs, int n_jobs, void *work, int threads), \
      (x, M, K, jobs, n_jobs, work, threads))                                                                      \
    V(q8_linear_portable,                                                                                          \
      (const float *x, int M, int K, const xl_q8_matrix *W, const float *b, float *y, void *work, int threads),    \
      (x, M, K, W, b, y, work, threads))                                                                           \
    R(int, q8_has_vnni, (void), ())                                                                                \
    V(convert_to_f32, (xl_dtype dt, const void *src, float *dst, size_t n), (dt, src, dst, n))

typedef struct {
    const char *isa; /* "generic", "avx2", ... (what xl_kernel_isa returns) */
#define XL_KT_V(name, params, args) void(*name) params;
#define XL_KT_R(type, name, params, args) type(*name) params;
    XL_KERNEL_FUNCS(XL_KT_V, XL_KT_R)
#undef XL_KT_V
#undef XL_KT_R
} xl_kernel_table;

/* The table of one kernel set by name (as XLING_ISA spells it; "avx2" / "avx512" mean
 * the best of the family), or NULL when this build or this CPU cannot run it (tests
 * compare sets in one process with it). */
const xl_kernel_table *xl_kernels_for(const char *isa);
/* The table in use (chosen once). */
const xl_kernel_table *xl_kernels(void);
/* XL_OK, or the XLING_ISA error (one line, also left in xl_last_error()). Called at
 * model load: an unusable XLING_ISA fails there (the kernels themselves then run the
 * best set the CPU has). */
xl_status xl_kernels_check(void);

#endif
