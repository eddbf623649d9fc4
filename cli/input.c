#include "input.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/utf8.h"

static int has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

int in_parse_format(const char *s, in_format *out) {
    if (!strcmp(s, "text")) *out = IN_TEXT;
    else if (!strcmp(s, "jsonl")) *out = IN_JSONL;
    else return -1;
    return 0;
}

int in_open(in_reader *r, const char *path, in_format fmt) {
    memset(r, 0, sizeof *r);
    if (!path || !strcmp(path, "-")) {
        r->f = stdin;
        r->name = "stdin";
    } else {
        r->f = fopen(path, "rb");
        if (!r->f) {
            xl_err(XL_ERR_IO, "%s: %s", path, strerror(errno));
            return -1;
        }
        r->owned = 1;
        r->name = path;
    }
    if (fmt == IN_AUTO) fmt = (path && (has_suffix(path, ".jsonl") || has_suffix(path, ".json"))) ? IN_JSONL : IN_TEXT;
    r->fmt = fmt;
    return 0;
}

void in_close(in_reader *r) {
    if (r->owned && r->f) fclose(r->f);
    free(r->buf);
    memset(r, 0, sizeof *r);
}

void in_records_clear(in_record *recs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(recs[i].text);
        free(recs[i].ids);
        memset(&recs[i], 0, sizeof recs[i]);
    }
}

/* Makes the line valid UTF-8, warning once per line as the documented repair. */
static char *repaired_copy(in_reader *r, const char *s, size_t len, size_t *out_len) {
    if (xl_utf8_is_valid(s, len)) {
        char *c = malloc(len + 1);
        if (!c) return NULL;
        memcpy(c, s, len);
        c[len] = '\0';
        *out_len = len;
        return c;
    }
    size_t bad = 0;
    char *c = xl_utf8_repair(s, len, out_len, &bad);
    if (c) fprintf(stderr, "xling: warning: %s line %zu: %zu invalid UTF-8 sequence(s) replaced with U+FFFD\n", r->name, r->line, bad);
    return c;
}

static xl_status parse_json_record(in_reader *r, const char *s, size_t len, in_record *rec) {
    json_error_t e;
    json_t *j = json_loadb(s, len, JSON_ALLOW_NUL, &e);
    if (!j) return xl_err(XL_ERR_INPUT, "%s line %zu: invalid JSON: %s", r->name, r->line, e.text);
    xl_status st = XL_OK;
    json_t *text = json_object_get(j, "text"), *ids = json_object_get(j, "input_ids");
    if (!json_is_object(j)) {
        st = xl_err(XL_ERR_INPUT, "%s line %zu: expected a JSON object with \"text\" or \"input_ids\"", r->name, r->line);
    } else if (text) {
        if (!json_is_string(text)) {
            st = xl_err(XL_ERR_INPUT, "%s line %zu: \"text\" must be a string", r->name, r->line);
        } else {
            size_t n = json_string_length(text);
            rec->text = malloc(n + 1);
            if (!rec->text) st = xl_err(XL_ERR_NOMEM, "out of memory");
            else {
                memcpy(rec->text, json_string_value(text), n);
                rec->text[n] = '\0';
                rec->len = n;
            }
        }
    } else if (ids) {
        if (!json_is_array(ids)) {
            st = xl_err(XL_ERR_INPUT, "%s line %zu: \"input_ids\" must be an array of integers", r->name, r->line);
        } else {
            size_t n = json_array_size(ids);
            rec->ids = malloc((n ? n : 1) * sizeof *rec->ids);
            rec->n_ids = n;
            rec->is_ids = 1;
            if (!rec->ids) st = xl_err(XL_ERR_NOMEM, "out of memory");
            for (size_t k = 0; !st && k < n; k++) {
                json_t *v = json_array_get(ids, k);
                if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
                    st = xl_err(XL_ERR_INPUT, "%s line %zu: \"input_ids\"[%zu] must be a non-negative integer", r->name, r->line, k);
                else rec->ids[k] = (int32_t)json_integer_value(v);
            }
        }
    } else {
        st = xl_err(XL_ERR_INPUT, "%s line %zu: the object has neither \"text\" nor \"input_ids\"", r->name, r->line);
    }
    json_decref(j);
    return st;
}

xl_status in_read_chunk(in_reader *r, in_record *recs, size_t max, size_t *got) {
    *got = 0;
    while (*got < max) {
        errno = 0;
        ssize_t n = getline(&r->buf, &r->cap, r->f);
        if (n < 0) {
            if (ferror(r->f)) {
                in_records_clear(recs, *got);
                *got = 0;
                return xl_err(XL_ERR_IO, "%s: read error: %s", r->name, strerror(errno));
            }
            break;
        }
        r->line++;
        size_t len = (size_t)n;
        if (len && r->buf[len - 1] == '\n') len--;
        if (len && r->buf[len - 1] == '\r') len--;
        in_record *rec = &recs[*got];
        memset(rec, 0, sizeof *rec);
        rec->line = r->line;
        size_t clen;
        char *line = repaired_copy(r, r->buf, len, &clen);
        if (!line) {
            in_records_clear(recs, *got);
            *got = 0;
            return xl_err(XL_ERR_NOMEM, "out of memory reading %s line %zu", r->name, r->line);
        }
        if (r->fmt == IN_JSONL) {
            xl_status st = parse_json_record(r, line, clen, rec);
            free(line);
            if (st) {
                /* Nothing of a failed chunk reaches the caller. */
                in_records_clear(recs, *got + 1);
                *got = 0;
                return st;
            }
        } else {
            rec->text = line;
            rec->len = clen;
        }
        (*got)++;
    }
    return XL_OK;
}
