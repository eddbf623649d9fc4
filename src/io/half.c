/* Half-precision (IEEE F16 and bfloat16) to float32, one value at a time: exact bit
 * manipulations. The bulk conversion (xl_convert_to_f32) is a kernel, built per
 * kernel set: src/kernels/convert.c. */
#include "io/safetensors.h"

#include <string.h>

static float bits_to_f32(uint32_t b) {
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

float xl_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f) /* inf, or NaN with its payload kept and the quiet bit set */
        return bits_to_f32(sign | 0x7f800000u | (mant << 13) | (mant ? 0x400000u : 0));
    if (exp == 0) {
        if (mant == 0) return bits_to_f32(sign); /* +-0 */
        /* Subnormal: mant * 2^-24. Shift the leading 1 up to bit 10; each shift
         * lowers the exponent by one below the smallest normal's 2^-14. */
        uint32_t e = 113; /* 127 - 14: float32 exponent field of 2^-14 */
        while (!(mant & 0x400u)) {
            mant <<= 1;
            e--;
        }
        return bits_to_f32(sign | (e << 23) | ((mant & 0x3ffu) << 13));
    }
    return bits_to_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

float xl_bf16_to_f32(uint16_t h) { return bits_to_f32((uint32_t)h << 16); }
