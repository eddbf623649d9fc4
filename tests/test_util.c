/* Tests of the util layer: UTF-8 repair (Python's errors="replace" semantics),
 * error messages, text symlinks. */
#include <stdlib.h>
#include <string.h>
#include "testlib.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/utf8.h"
#include "xling.h"

#define repair_case(in, len, want, bad) repair_case_n(in, len, want, sizeof(want) - 1, bad)
static void repair_case_n(const char *in, size_t len, const char *want, size_t want_len, size_t want_bad) {
    size_t olen, bad;
    char *out = xl_utf8_repair(in, len, &olen, &bad);
    CHECK(out != NULL);
    if (!out) return;
    CHECK_EQ_INT(olen, want_len);
    CHECK_MSG(memcmp(out, want, olen) == 0, "repair of %zu bytes differs", len);
    CHECK_EQ_INT(bad, want_bad);
    free(out);
}

int main(void) {
    /* Valid text passes unchanged. */
    repair_case("h\xC3\xA9llo \xF0\x9F\x98\x80", 11, "h\xC3\xA9llo \xF0\x9F\x98\x80", 0);
    /* A lone continuation byte: one U+FFFD per byte. */
    repair_case("a\x80\x80z", 4, "a\xEF\xBF\xBD\xEF\xBF\xBDz", 2);
    /* Truncated 3-byte sequence: its maximal valid prefix becomes one U+FFFD
     * (Python: b'\xe2\x82'.decode(errors='replace') == '\ufffd'). */
    repair_case("\xE2\x82z", 3, "\xEF\xBF\xBDz", 1);
    /* Overlong encodings and surrogates are invalid, byte by byte
     * (b'\xc0\xaf' -> 2 x U+FFFD, b'\xed\xa0\x80' -> 3 x U+FFFD). */
    repair_case("\xC0\xAF", 2, "\xEF\xBF\xBD\xEF\xBF\xBD", 2);
    repair_case("\xED\xA0\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 3);
    /* Above U+10FFFF. */
    repair_case("\xF4\x90\x80\x80", 4, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 4);
    /* NUL is valid and kept. */
    repair_case("a\0b", 3, "a\0b", 0);
    CHECK(xl_utf8_is_valid("abc\xC3\xA9", 5));
    CHECK(!xl_utf8_is_valid("abc\xC3", 4));

    /* Errors carry their message; prefixes add context. */
    xl_status st = xl_err(XL_ERR_FORMAT, "tensor %s: bad shape", "w");
    CHECK_EQ_INT(st, XL_ERR_FORMAT);
    xl_err_prefix("model.safetensors");
    CHECK_STR(xl_last_error(), "model.safetensors: tensor w: bad shape");
    CHECK_STR(xl_status_name(XL_ERR_UNSUPPORTED), "unsupported");

    /* Reading a missing file names it. */
    char *data; size_t len;
    CHECK_EQ_INT(xl_read_file("/nonexistent/x.json", &data, &len), XL_ERR_IO);
    CHECK(strstr(xl_last_error(), "/nonexistent/x.json") != NULL);
    return test_summary("test_util");
}
