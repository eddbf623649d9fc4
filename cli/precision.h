/* Output precisions of `xling embed --precision`, as sentence-transformers'
 * quantize_embeddings defines them (float16 as numpy's astype(float16)):
 *   int8 / uint8: start = min, step = (max - min) / 255 per dimension (float32), from the
 *     run's embeddings or a calibration set; uint8 = (x - start) / step, int8 = that - 128,
 *     converted as numpy's astype does (truncation; values outside the range wrap);
 *   ubinary: numpy packbits of x > 0 (first dimension in the high bit), uint8;
 *   binary: ubinary - 128 as int8. */
#ifndef XL_CLI_PRECISION_H
#define XL_CLI_PRECISION_H
#include <stddef.h>
#include <stdint.h>

typedef enum { PREC_FLOAT32 = 0, PREC_FLOAT16, PREC_INT8, PREC_UINT8, PREC_BINARY, PREC_UBINARY } precision;

int prec_parse(const char *s, precision *out);
const char *prec_name(precision p);
/* Values per row for dim input floats (binary kinds: dim / 8) and bytes per value. */
size_t prec_row_values(precision p, size_t dim);
size_t prec_value_bytes(precision p);
/* numpy dtype string for the .npy header. */
const char *prec_npy_descr(precision p);
int prec_needs_ranges(precision p);
int prec_is_integer(precision p);

/* Per-dimension start and step from n rows of dim floats. */
void prec_ranges(const float *rows, size_t n, size_t dim, float *start, float *step);
/* One row of dim floats into prec_row_values() values of the precision's type at out.
 * Returns how many values fell outside [0, 255] before the wrap (int8 / uint8). */
size_t prec_convert(precision p, const float *row, size_t dim, const float *start, const float *step, void *out);
/* IEEE half-precision conversions (round to nearest even). */
uint16_t prec_f32_to_f16(float f);
float prec_f16_to_f32(uint16_t h);

#endif
