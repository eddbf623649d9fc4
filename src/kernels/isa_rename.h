/* Forced include (-include) of every kernel object built for one kernel set: renames
 * each public kernel function F to F_<XL_ISA_SUFFIX> so the sets link side by side
 * (see kernels/dispatch.h). Names outside this list (xl_err, xl_alloc64, ...) are
 * shared library functions and keep their names. */
#ifndef XL_ISA_RENAME_H
#define XL_ISA_RENAME_H
#ifndef XL_ISA_SUFFIX
#error "kernel objects are built with -DXL_ISA_SUFFIX=<kernel set>"
#endif
#define XL_ISA_PASTE2(a, b) a##_##b
#define XL_ISA_PASTE(a, b) XL_ISA_PASTE2(a, b)
#define XL_ISA_NAME(f) XL_ISA_PASTE(f, XL_ISA_SUFFIX)

/* the table of this set (kernels/table.c) */
#define xl_kernel_table_of XL_ISA_NAME(xl_kernel_table_of)
#define xl_linear_f32 XL_ISA_NAME(xl_linear_f32)
#define xl_linear_row_invariant XL_ISA_NAME(xl_linear_row_invariant)
#define xl_pack_w XL_ISA_NAME(xl_pack_w)
#define xl_packed_w_free XL_ISA_NAME(xl_packed_w_free)
#define xl_linear_packed XL_ISA_NAME(xl_linear_packed)
#define xl_layernorm XL_ISA_NAME(xl_layernorm)
#define xl_rmsnorm XL_ISA_NAME(xl_rmsnorm)
#define xl_sum_sq_dev XL_ISA_NAME(xl_sum_sq_dev)
#define xl_residual_layernorm XL_ISA_NAME(xl_residual_layernorm)
#define xl_gelu_erf XL_ISA_NAME(xl_gelu_erf)
#define xl_gelu_tanh XL_ISA_NAME(xl_gelu_tanh)
#define xl_relu XL_ISA_NAME(xl_relu)
#define xl_silu XL_ISA_NAME(xl_silu)
#define xl_bias_act XL_ISA_NAME(xl_bias_act)
#define xl_act_block XL_ISA_NAME(xl_act_block)
#define xl_add_inplace XL_ISA_NAME(xl_add_inplace)
#define xl_gated_act XL_ISA_NAME(xl_gated_act)
#define xl_softmax XL_ISA_NAME(xl_softmax)
#define xl_softmax_unnormalized XL_ISA_NAME(xl_softmax_unnormalized)
#define xl_attention XL_ISA_NAME(xl_attention)
#define xl_attention_scratch_bytes XL_ISA_NAME(xl_attention_scratch_bytes)
#define xl_attention_st XL_ISA_NAME(xl_attention_st)
#define xl_rope_inv_freq XL_ISA_NAME(xl_rope_inv_freq)
#define xl_rope_tables XL_ISA_NAME(xl_rope_tables)
#define xl_rope_apply XL_ISA_NAME(xl_rope_apply)
#define xl_linear_half_work XL_ISA_NAME(xl_linear_half_work)
#define xl_linear_half XL_ISA_NAME(xl_linear_half)
#define xl_linear_half_multi XL_ISA_NAME(xl_linear_half_multi)
#define xl_q8_quantize XL_ISA_NAME(xl_q8_quantize)
#define xl_q8_free XL_ISA_NAME(xl_q8_free)
#define xl_q8_bytes XL_ISA_NAME(xl_q8_bytes)
#define xl_q8_work XL_ISA_NAME(xl_q8_work)
#define xl_q8_work_rows XL_ISA_NAME(xl_q8_work_rows)
#define xl_q8_linear XL_ISA_NAME(xl_q8_linear)
#define xl_q8_linear_multi XL_ISA_NAME(xl_q8_linear_multi)
#define xl_q8_linear_portable XL_ISA_NAME(xl_q8_linear_portable)
#define xl_q8_has_vnni XL_ISA_NAME(xl_q8_has_vnni)
#define xl_convert_to_f32 XL_ISA_NAME(xl_convert_to_f32)

#endif
