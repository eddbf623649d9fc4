/* Any dtype to float32 in bulk (xl_convert_to_f32). F16 uses F16C (AVX2 sets) or
 * AVX-512's conversion, BF16 a widening shift; both give the same bits as the exact
 * scalar conversions of io/half.c, which handle the tails and the generic set.
 * Sources may sit at any byte offset in a mapped file, so every load is unaligned
 * (memcpy or loadu). */
#include "io/safetensors.h"

#include <string.h>
#if defined(__F16C__) || defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

static void f16_block(const unsigned char *src, float *dst, size_t n) {
    size_t i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const void *)(src + 2 * i))));
#endif
#if defined(__F16C__)
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const void *)(src + 2 * i))));
#endif
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        dst[i] = xl_f16_to_f32(h);
    }
}

static void bf16_block(const unsigned char *src, float *dst, size_t n) {
    size_t i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) {
        __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const void *)(src + 2 * i)));
        _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    }
#endif
#if defined(__AVX2__)
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const void *)(src + 2 * i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
#endif
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        dst[i] = xl_bf16_to_f32(h);
    }
}

void xl_convert_to_f32(xl_dtype dt, const void *src_, float *dst, size_t n) {
    const unsigned char *src = src_;
    switch (dt) {
    case XL_DT_F32:
        if (n) memcpy(dst, src, n * sizeof(float));
        return;
    case XL_DT_F16: f16_block(src, dst, n); return;
    case XL_DT_BF16: bf16_block(src, dst, n); return;
    case XL_DT_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
        }
        return;
    case XL_DT_I64:
        for (size_t i = 0; i < n; i++) {
            int64_t v;
            memcpy(&v, src + 8 * i, 8);
            dst[i] = (float)v;
        }
        return;
    case XL_DT_I32:
        for (size_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, src + 4 * i, 4);
            dst[i] = (float)v;
        }
        return;
    case XL_DT_I8:
        for (size_t i = 0; i < n; i++) dst[i] = (float)(int8_t)src[i];
        return;
    case XL_DT_U8:
        for (size_t i = 0; i < n; i++) dst[i] = (float)src[i];
        return;
    case XL_DT_BOOL:
        for (size_t i = 0; i < n; i++) dst[i] = src[i] ? 1.0f : 0.0f;
        return;
    }
}
