/* libFuzzer target: arbitrary bytes as a whole safetensors file (8-byte length, JSON
 * header, data), parsed in memory by xl_weights_open_memory, the validator that
 * xl_weights_open_file runs on a mapping.
 *
 *   ./fuzz_safetensors [libFuzzer flags] CORPUS...
 *
 * The input buffer is exactly the file, so ASan reports any read past its end. Beyond
 * crashes, each input checks:
 *   - a rejected file gets a status other than XL_OK, a NULL handle, and a one-line,
 *     non-empty message naming the file;
 *   - an accepted file: every tensor's bytes lie inside the data region (after the
 *     header), nbytes = numel x dtype size, numel = product of the shape, ndim <= 8,
 *     names are non-empty without control bytes, tensors come in offset order and the
 *     non-empty ones do not overlap, each is found by its own name, and converting it
 *     to float32 (which reads every byte) succeeds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

#define NAME "fuzz.safetensors"

static void fail(const char *what, size_t size) {
    fprintf(stderr, "fuzz_safetensors: %s (input of %zu bytes; last error: %s)\n", what, size, xl_last_error());
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    xl_weights *w = (xl_weights *)&w; /* must come back NULL on failure */
    xl_status st = xl_weights_open_memory(NAME, data, size, &w);
    if (st != XL_OK) {
        const char *msg = xl_last_error();
        if (w) fail("a failed open left a handle", size);
        if (!msg || !*msg) fail("a failed open set no message", size);
        if (strchr(msg, '\n')) fail("the error message is not one line", size);
        if (!strstr(msg, NAME)) fail("the error message does not name the file", size);
        return 0;
    }
    if (!w) fail("open succeeded without a handle", size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | data[i];
    const uint8_t *lo = data + 8 + hlen, *hi = data + size;
    const uint8_t *prev_end = NULL, *prev_begin = NULL;
    for (size_t i = 0; i < xl_weights_count(w); i++) {
        const xl_tensor *t = xl_weights_at(w, i);
        const uint8_t *b = t->data;
        if (b < lo || b > hi || t->nbytes > (size_t)(hi - b)) fail("a tensor's bytes lie outside the data region", size);
        if (t->ndim < 0 || t->ndim > XL_MAX_DIMS) fail("ndim out of range", size);
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0) fail("negative dimension", size);
            numel *= (size_t)t->shape[d]; /* no wrap: the parser rejects any overflowing prefix */
        }
        if (numel != t->numel) fail("numel is not the product of the shape", size);
        if (t->nbytes != t->numel * xl_dtype_size(t->dtype)) fail("nbytes is not numel x dtype size", size);
        if (!t->name[0]) fail("empty tensor name", size);
        for (const char *p = t->name; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) fail("control byte in a tensor name", size);
        if (prev_begin && b < prev_begin) fail("tensors not in offset order", size);
        prev_begin = b;
        if (t->nbytes) {
            if (prev_end && b < prev_end) fail("two non-empty tensors overlap", size);
            prev_end = b + t->nbytes;
        }
        if (xl_weights_find(w, t->name) != t) fail("a tensor is not found by its own name", size);
        float *f = NULL;
        if (xl_tensor_to_f32(t, &f) != XL_OK || !f) fail("converting an accepted tensor failed", size);
        /* Use the values so the conversion is not optimised away. */
        volatile float sink = t->numel ? f[t->numel - 1] : 0.0f;
        (void)sink;
        free(f);
    }
    xl_weights_close(w);
    return 0;
}
