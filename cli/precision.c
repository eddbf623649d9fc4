#include "precision.h"

#include <math.h>
#include <string.h>

static const char *names[] = {"float32", "float16", "int8", "uint8", "binary", "ubinary"};

int prec_parse(const char *s, precision *out) {
    for (int k = 0; k < 6; k++)
        if (!strcmp(s, names[k])) { *out = (precision)k; return 0; }
    return -1;
}

const char *prec_name(precision p) { return names[p]; }

size_t prec_row_values(precision p, size_t dim) { return p >= PREC_BINARY ? (dim + 7) / 8 : dim; }

size_t prec_value_bytes(precision p) { return p == PREC_FLOAT32 ? 4 : p == PREC_FLOAT16 ? 2 : 1; }

const char *prec_npy_descr(precision p) {
    switch (p) {
    case PREC_FLOAT32: return "<f4";
    case PREC_FLOAT16: return "<f2";
    case PREC_INT8: case PREC_BINARY: return "|i1";
    default: return "|u1";
    }
}

int prec_needs_ranges(precision p) { return p == PREC_INT8 || p == PREC_UINT8; }

int prec_is_integer(precision p) { return p >= PREC_INT8; }

void prec_ranges(const float *rows, size_t n, size_t dim, float *start, float *step) {
    for (size_t j = 0; j < dim; j++) {
        float lo = n ? rows[j] : 0, hi = lo;
        for (size_t i = 1; i < n; i++) {
            float v = rows[i * dim + j];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        start[j] = lo;
        step[j] = (hi - lo) / 255.0f;
    }
}

/* numpy's float32 -> int8/uint8 astype on x86-64: truncate to int32 (NaN and values
 * beyond int32 give INT32_MIN, as cvttss2si does), keep the low byte. */
static uint8_t np_low_byte(float v, size_t *wrapped) {
    int32_t i = (isnan(v) || v >= 2147483648.0f || v < -2147483648.0f) ? INT32_MIN : (int32_t)v;
    if (i < 0 || i > 255) (*wrapped)++;
    return (uint8_t)((uint32_t)i & 0xFF);
}

size_t prec_convert(precision p, const float *row, size_t dim, const float *start, const float *step, void *out) {
    size_t wrapped = 0;
    switch (p) {
    case PREC_FLOAT32: memcpy(out, row, dim * sizeof *row); break;
    case PREC_FLOAT16:
        for (size_t j = 0; j < dim; j++) ((uint16_t *)out)[j] = prec_f32_to_f16(row[j]);
        break;
    case PREC_UINT8:
        for (size_t j = 0; j < dim; j++) ((uint8_t *)out)[j] = np_low_byte((row[j] - start[j]) / step[j], &wrapped);
        break;
    case PREC_INT8:
        for (size_t j = 0; j < dim; j++) {
            /* the low byte of the int32 is the int8 (two's complement) */
            size_t w = 0;
            float v = (row[j] - start[j]) / step[j] - 128.0f;
            ((int8_t *)out)[j] = (int8_t)np_low_byte(v, &w);
            int32_t t = (isnan(v) || v >= 2147483648.0f || v < -2147483648.0f) ? INT32_MIN : (int32_t)v;
            wrapped += t < -128 || t > 127;
        }
        break;
    case PREC_UBINARY:
    case PREC_BINARY:
        for (size_t b = 0; b < (dim + 7) / 8; b++) {
            unsigned byte = 0;
            for (size_t k = 0; k < 8; k++) {
                size_t j = b * 8 + k;
                byte = byte << 1 | (j < dim && row[j] > 0);
            }
            if (p == PREC_UBINARY) ((uint8_t *)out)[b] = (uint8_t)byte;
            else ((int8_t *)out)[b] = (int8_t)((int)byte - 128);
        }
        break;
    }
    return wrapped;
}

uint16_t prec_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)(x >> 16 & 0x8000);
    uint32_t abs = x & 0x7FFFFFFF;
    if (abs > 0x7F800000) return sign | 0x7E00;                 /* NaN */
    if (abs >= 0x477FF000) return sign | 0x7C00;                /* rounds to >= 65520: inf */
    if (abs < 0x38800000) {                                     /* half subnormal or zero */
        if (abs < 0x33000000) return sign;                      /* below half the smallest: 0 */
        uint32_t m = (abs & 0x7FFFFF) | 0x800000;
        int shift = 126 - (int)(abs >> 23);                     /* 14 + (113 - exponent) */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return sign | (uint16_t)q;
    }
    uint32_t m = abs + 0xC8000000u;                             /* rebias exponent 127 -> 15 */
    uint32_t q = m >> 13, rem = m & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (q & 1))) q++;        /* carry may reach inf: right */
    return sign | (uint16_t)q;
}

float prec_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = h >> 10 & 0x1F, m = h & 0x3FF;
    float v;
    if (e == 0) v = ldexpf((float)m, -24);
    else if (e == 31) v = m ? NAN : INFINITY;
    else v = ldexpf((float)(m | 0x400), (int)e - 25);
    uint32_t x;
    memcpy(&x, &v, 4);
    x |= sign;
    memcpy(&v, &x, 4);
    return v;
}
