/* libFuzzer target: arbitrary bytes as the CLI's input file, read by cli/input.c
 * (in_open, in_read_chunk) as JSONL or as plain text lines.
 *
 *   ./fuzz_jsonl [libFuzzer flags] CORPUS...
 *
 * The first input byte picks the format (bit 0: JSONL, else text) and the chunk size
 * (1 to 4 records, so that chunk boundaries fall everywhere); the rest is the file,
 * written to a temporary file because in_open takes a path (the reader's public API).
 * Beyond crashes, each input checks:
 *   - every record's text is valid UTF-8, NUL-terminated at len, and holds no newline;
 *     JSONL ids lie in [0, INT32_MAX];
 *   - line numbers start at 1, increase, and never pass the number of lines in the file;
 *     in text mode there is one record per line;
 *   - an error leaves no records (got = 0) and has a non-empty one-line message naming
 *     the file and a line number within the file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "input.h"
#include "util/utf8.h"

static char path[4096];
static FILE *devnull;

static void fail(const char *what, size_t size) {
    fprintf(stderr, "fuzz_jsonl: %s (input of %zu bytes; last error: %s)\n", what, size, xl_last_error());
    abort();
}

static void cleanup(void) { unlink(path); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(path, sizeof path, "%s/fuzz_jsonl_XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        perror(path);
        exit(2);
    }
    close(fd);
    atexit(cleanup);
    devnull = fopen("/dev/null", "w");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    int jsonl = data[0] & 1;
    size_t chunk = 1 + (data[0] >> 1) % 4;
    data++;
    size--;
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) fail("cannot write the temporary file", size);
    size_t lines = 0; /* what getline sees: newline-terminated lines plus a last unterminated one */
    for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
    if (size && data[size - 1] != '\n') lines++;

    in_reader r;
    if (in_open(&r, path, jsonl ? IN_JSONL : IN_TEXT) != 0) fail("in_open failed on an existing file", size);
    in_record recs[4];
    size_t got, total = 0, last_line = 0;
    int st;
    /* The reader warns on stderr about repaired UTF-8: keep millions of runs quiet
     * (sanitizer and fail() reports go to the real stderr, restored before them). */
    FILE *err = stderr;
    stderr = devnull;
    while ((st = in_read_chunk(&r, recs, chunk, &got)) == 0 && got > 0) {
        stderr = err;
        if (got > chunk) fail("more records than asked for", size);
        for (size_t k = 0; k < got; k++) {
            const in_record *rec = &recs[k];
            if (rec->line <= last_line || rec->line > lines) fail("line numbers out of order or out of range", size);
            last_line = rec->line;
            if (rec->is_ids) {
                if (!rec->ids) fail("an ids record without ids", size);
                for (size_t i = 0; i < rec->n_ids; i++)
                    if (rec->ids[i] < 0) fail("a negative token id", size);
            } else {
                if (!rec->text) fail("a text record without text", size);
                if (rec->text[rec->len] != '\0') fail("text not NUL-terminated at len", size);
                if (!xl_utf8_is_valid(rec->text, rec->len)) fail("text is not valid UTF-8", size);
                if (!jsonl && memchr(rec->text, '\n', rec->len)) fail("a text line holds a newline", size);
            }
        }
        total += got;
        in_records_clear(recs, got);
        stderr = devnull;
    }
    stderr = err;
    if (st != 0) {
        const char *msg = cli_error();
        if (got != 0) fail("an error left records", size);
        if (!*msg || strchr(msg, '\n')) fail("the error message is empty or not one line", size);
        if (!strstr(msg, path)) fail("the error message does not name the file", size);
        const char *l = strstr(msg, " line ");
        if (l) {
            size_t n = strtoul(l + 6, NULL, 10);
            if (n == 0 || n > lines || n <= last_line) fail("the error names a line outside the file", size);
        }
    } else if (!jsonl && total != lines) {
        fail("text mode did not give one record per line", size);
    }
    in_close(&r);
    return 0;
}
