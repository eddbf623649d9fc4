/* libFuzzer target: arbitrary bytes through xl_tokenize with one tokenizer.
 *
 *   XLING_FUZZ_TOKENIZER=path/to/tokenizer.json ./fuzz_tokenizer [libFuzzer flags] CORPUS...
 *
 * Besides crashes, leaks and hangs (the sanitizers and libFuzzer catch those), each
 * input checks properties that hold for every Hugging Face tokenizer without
 * truncation:
 *   - tokenizing never fails on any bytes (invalid UTF-8 is repaired);
 *   - every id names a token (xl_tokenizer_id_to_token is not NULL);
 *   - tokenizing twice gives the same ids (no state leaks between calls, e.g. caches);
 *   - with special tokens, the ids not marked special are exactly the ids without;
 *   - xl_encoding_truncate keeps every special token and cuts to the limit;
 *   - xl_tokenize_offsets gives xl_tokenize's ids, special tokens (0,0), and every
 *     other token a span start <= end <= size that does not cut into a character
 *     (its ends are boundaries of the units xl_utf8_repair reads). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"
#include "xling.h"

static xl_tokenizer *tok;

static void fail(const char *what, const uint8_t *data, size_t size) {
    fprintf(stderr, "fuzz_tokenizer: %s (input of %zu bytes; last error: %s)\n", what, size, xl_last_error());
    (void)data;
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *path = getenv("XLING_FUZZ_TOKENIZER");
    if (!path || !*path) {
        fprintf(stderr, "fuzz_tokenizer: set XLING_FUZZ_TOKENIZER to a tokenizer.json or a model folder\n");
        exit(2);
    }
    if (xl_tokenizer_load(path, &tok) != XL_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s: %s\n", path, xl_last_error());
        exit(2);
    }
    return 0;
}

static int same_ids(const xl_encoding *a, const xl_encoding *b) {
    return a->n == b->n && (a->n == 0 || memcmp(a->ids, b->ids, a->n * sizeof *a->ids) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    xl_encoding plain = {0}, again = {0}, special = {0};
    if (xl_tokenize(tok, text, size, 0, &plain) != XL_OK) fail("xl_tokenize failed without special tokens", data, size);
    if (xl_tokenize(tok, text, size, 1, &special) != XL_OK) fail("xl_tokenize failed with special tokens", data, size);
    if (xl_tokenize(tok, text, size, 0, &again) != XL_OK) fail("xl_tokenize failed on the second call", data, size);
    if (!same_ids(&plain, &again)) fail("two calls on the same text gave different ids", data, size);

    for (size_t i = 0; i < special.n; i++)
        if (!xl_tokenizer_id_to_token(tok, special.ids[i])) fail("an id has no token string", data, size);
    size_t k = 0, n_special = 0;
    for (size_t i = 0; i < special.n; i++) {
        if (special.special[i]) { n_special++; continue; }
        if (k >= plain.n || special.ids[i] != plain.ids[k]) fail("special-token encoding differs from the plain one", data, size);
        k++;
    }
    if (k != plain.n) fail("special-token encoding lost tokens", data, size);

    xl_encoding offs = {0};
    if (xl_tokenize_offsets(tok, text, size, 1, &offs) != XL_OK) fail("xl_tokenize_offsets failed", data, size);
    if (!same_ids(&offs, &special) || !offs.offsets) fail("xl_tokenize_offsets gave other ids", data, size);
    /* unit boundaries of the input: starts of valid characters and of repaired runs */
    uint8_t *boundary = calloc(size + 1, 1);
    if (!boundary) fail("out of memory", data, size);
    for (size_t i = 0; i < size; i += xl_utf8_unit_len(data + i, size - i)) boundary[i] = 1;
    boundary[size] = 1;
    for (size_t i = 0; i < offs.n; i++) {
        uint32_t a = offs.offsets[2 * i], b = offs.offsets[2 * i + 1];
        if (offs.special[i] ? a || b : a > b || b > size || !boundary[a] || !boundary[b])
            fail("a token offset is out of range or inside a character", data, size);
    }
    free(boundary);
    xl_encoding_free(&offs);

    /* Truncation to a length taken from the input, at least the special tokens. */
    size_t limit = n_special + (size ? data[0] % 8 : 0);
    size_t before = special.n;
    int cut = xl_encoding_truncate(&special, limit);
    size_t kept_special = 0;
    for (size_t i = 0; i < special.n; i++) kept_special += special.special[i] != 0;
    if (kept_special != n_special) fail("truncation dropped a special token", data, size);
    if (special.n > (limit > n_special ? limit : n_special)) fail("truncation left too many tokens", data, size);
    if (cut != (before > limit)) fail("truncation's return value is wrong", data, size);

    xl_encoding_free(&plain);
    xl_encoding_free(&again);
    xl_encoding_free(&special);
    return 0;
}
