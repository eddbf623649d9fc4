/* Tests of the util layer: UTF-8 repair (Python's errors="replace" semantics),
 * error messages, text symlinks, page release of file mappings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testlib.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"
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
    /* Integers in JSON: 2.0 is 2; a float outside long long's range is an error
     * naming the key, never a conversion (undefined behaviour; found by fuzz_config). */
    json_t *o = json_loads("{\"a\": 3.0, \"b\": 1e300, \"c\": -1e19, \"d\": 2.5, \"e\": -9.2e18}", 0, NULL);
    long long v = 0;
    CHECK(o != NULL);
    CHECK_EQ_INT(xl_json_get_int(o, "a", 0, &v, "cfg"), XL_OK);
    CHECK_EQ_INT(v, 3);
    CHECK_EQ_INT(xl_json_get_int(o, "b", 0, &v, "cfg"), XL_ERR_FORMAT);
    CHECK(strstr(xl_last_error(), "cfg") && strstr(xl_last_error(), "\"b\""));
    CHECK_EQ_INT(xl_json_get_int(o, "c", 0, &v, "cfg"), XL_ERR_FORMAT);
    CHECK_EQ_INT(xl_json_get_int(o, "d", 0, &v, "cfg"), XL_ERR_FORMAT);
    CHECK_EQ_INT(xl_json_get_int(o, "e", 0, &v, "cfg"), XL_OK);
    CHECK_EQ_INT(v, -9200000000000000000LL);
    json_decref(o);

    /* A message quoting input bytes stays one line (control bytes become '?'). */
    xl_err(XL_ERR_INPUT, "near '%s'", "a\nb\tc\x7f");
    CHECK_STR(xl_last_error(), "near 'a?b?c?'");
    xl_err_prefix("x\ny");
    CHECK_STR(xl_last_error(), "x?y: near 'a?b?c?'");

    /* Released pages of a read-only file mapping read back the file's bytes (the
     * unaligned range covers parts of three pages); prefetch changes nothing either. */
    {
        char path[] = "/tmp/xl_test_pagesXXXXXX";
        int fd = mkstemp(path);
        CHECK(fd >= 0);
        size_t n = 3 * 65536 + 123;
        unsigned char *buf = malloc(n);
        for (size_t i = 0; buf && i < n; i++) buf[i] = (unsigned char)(i * 131 + 7);
        FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
        CHECK(f && buf && fwrite(buf, 1, n, f) == n);
        if (f) fclose(f);
        xl_mmap m;
        CHECK_EQ_INT(xl_mmap_open(path, &m), XL_OK);
        const unsigned char *d = m.data;
        CHECK(m.len == n && memcmp(d, buf, n) == 0);
        xl_pages_release(d + 100, 2 * 65536);
        xl_pages_release(d, 0);
        xl_pages_prefetch(d + 7, n - 7);
        CHECK_MSG(memcmp(d, buf, n) == 0, "a released page read back other bytes");
        xl_mmap_close(&m);
        free(buf);
        remove(path);
    }
    return test_summary("test_util");
}
