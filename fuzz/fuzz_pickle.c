/* libFuzzer target: arbitrary bytes as the data.pkl of a torch.save file, read by the
 * allow-listed pickle reader (src/io/pickle.c) in memory.
 *
 *   ./fuzz_pickle [libFuzzer flags] CORPUS...
 *
 * The input buffer is exactly the pickle, so ASan reports any read past its end. Beyond
 * crashes, hangs and leaks, each input checks:
 *   - a rejected pickle gets a status other than XL_OK, an empty result, and a one-line,
 *     non-empty message naming the file;
 *   - an accepted one is a state_dict of tensors: distinct non-empty names, storage keys
 *     that are plain names, dtype F16 / F32 / BF16, ndim <= 8, numel = the product of
 *     the shape, and every view inside its storage (offset + sum (size - 1) * stride
 *     < storage size, numel <= storage size), one size and dtype per storage key. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/pickle.h"

#define NAME "fuzz.pkl"

static void fail(const char *what, size_t size) {
    fprintf(stderr, "fuzz_pickle: %s (input of %zu bytes; last error: %s)\n", what, size, xl_last_error());
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    xl_pk_state_dict sd;
    xl_status st = xl_pickle_state_dict(data, size, NAME, &sd);
    if (st != XL_OK) {
        const char *msg = xl_last_error();
        if (sd.t || sd.n) fail("a failed read left a result", size);
        if (!msg || !*msg) fail("a failed read set no message", size);
        if (strchr(msg, '\n')) fail("the error message is not one line", size);
        if (!strstr(msg, NAME)) fail("the error message does not name the file", size);
        return 0;
    }
    for (size_t i = 0; i < sd.n; i++) {
        const xl_pk_tensor *t = &sd.t[i];
        if (!t->name || !*t->name || !t->storage || !*t->storage || strchr(t->storage, '/')) fail("bad name or storage key", size);
        if (t->dtype != XL_DT_F16 && t->dtype != XL_DT_F32 && t->dtype != XL_DT_BF16) fail("dtype", size);
        if (t->ndim < 0 || t->ndim > XL_MAX_DIMS) fail("ndim", size);
        unsigned __int128 numel = 1, last = t->offset;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0 || t->stride[d] < 0) fail("negative size or stride", size);
            numel *= (uint64_t)t->shape[d];
        }
        if (numel != t->numel) fail("numel is not the product of the shape", size);
        if (t->numel) {
            for (int d = 0; d < t->ndim; d++) last += (unsigned __int128)(uint64_t)(t->shape[d] - 1) * (uint64_t)t->stride[d];
            if (last >= t->storage_numel) fail("a view reaches past its storage", size);
            if (t->numel > t->storage_numel) fail("a view larger than its storage", size);
        }
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(sd.t[j].name, t->name)) fail("a name twice", size);
            if (!strcmp(sd.t[j].storage, t->storage) &&
                (sd.t[j].dtype != t->dtype || sd.t[j].storage_numel != t->storage_numel))
                fail("one storage with two sizes or dtypes", size);
        }
    }
    xl_pk_state_dict_free(&sd);
    return 0;
}
