#include "input.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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
            cli_set_error("%s: %s", path, strerror(errno));
            return -1;
        }
        r->owned = 1;
        r->name = path;
    }
    if (fmt == IN_AUTO) fmt = (path && (cli_has_ext(path, ".jsonl") || cli_has_ext(path, ".json"))) ? IN_JSONL : IN_TEXT;
    r->fmt = fmt;
    return 0;
}

void in_open_args(in_reader *r, char **args, size_t n) {
    memset(r, 0, sizeof *r);
    r->args = args;
    r->n_args = n;
    r->fmt = IN_TEXT;
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
        free(recs[i].extra);
        free(recs[i].pair);
        memset(&recs[i], 0, sizeof recs[i]);
    }
}

const char *in_where(const in_reader *r, size_t line, char *buf, size_t n) {
    if (r->name) snprintf(buf, n, "%s line %zu", r->name, line);
    else snprintf(buf, n, "argument %zu", line);
    return buf;
}

/* Makes the line valid UTF-8, warning once per line as the documented repair. */
static char *repaired_copy(in_reader *r, const char *s, size_t len, size_t *out_len) {
    size_t bad = 0;
    char *c = xl_utf8_repair(s, len, out_len, &bad);
    char where[512];
    if (c && bad)
        fprintf(stderr, "xling %s: warning: %s: %zu invalid UTF-8 sequence(s) replaced with U+FFFD\n", r->cmd ? r->cmd : "", in_where(r, r->line, where, sizeof where), bad);
    return c;
}

/* Appends "\"key\":value," to the record's extra members. */
static int add_extra(in_record *rec, const char *key, json_t *v) {
    json_t *k = json_string(key);
    char *ks = k ? json_dumps(k, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    char *vs = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(k);
    size_t old = rec->extra ? strlen(rec->extra) : 0;
    char *p = ks && vs ? realloc(rec->extra, old + strlen(ks) + strlen(vs) + 3) : NULL;
    if (p) {
        sprintf(p + old, "%s:%s,", ks, vs);
        rec->extra = p;
    }
    free(ks);
    free(vs);
    return p ? 0 : -1;
}

static int parse_json_record(in_reader *r, const char *s, size_t len, in_record *rec) {
    char where[512];
    in_where(r, r->line, where, sizeof where);
    json_error_t e;
    json_t *j = json_loadb(s, len, JSON_ALLOW_NUL, &e);
    if (!j) { cli_set_error("%s: invalid JSON: %s", where, e.text); return -1; }
    int rc = -1;
    json_t *text = json_object_get(j, "text"), *ids = json_object_get(j, "input_ids");
    if (!json_is_object(j)) {
        cli_set_error("%s: expected a JSON object with \"text\" or \"input_ids\"", where);
    } else if (text && ids) {
        cli_set_error("%s: the object has both \"text\" and \"input_ids\"; give one", where);
    } else if (text) {
        if (!json_is_string(text)) {
            cli_set_error("%s: \"text\" must be a string", where);
        } else {
            size_t n = json_string_length(text);
            rec->text = malloc(n + 1);
            if (!rec->text) cli_set_error("out of memory");
            else {
                memcpy(rec->text, json_string_value(text), n);
                rec->text[n] = '\0';
                rec->len = n;
                rc = 0;
            }
        }
    } else if (ids) {
        if (!json_is_array(ids)) {
            cli_set_error("%s: \"input_ids\" must be an array of integers", where);
        } else {
            size_t n = json_array_size(ids);
            rec->ids = malloc((n ? n : 1) * sizeof *rec->ids);
            rec->n_ids = n;
            rec->is_ids = 1;
            rc = rec->ids ? 0 : -1;
            if (!rec->ids) cli_set_error("out of memory");
            for (size_t k = 0; !rc && k < n; k++) {
                json_t *v = json_array_get(ids, k);
                if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX) {
                    cli_set_error("%s: \"input_ids\"[%zu] must be a non-negative integer", where, k);
                    rc = -1;
                } else rec->ids[k] = (int32_t)json_integer_value(v);
            }
        }
    } else {
        cli_set_error("%s: the object has neither \"text\" nor \"input_ids\"", where);
    }
    json_t *pair = rc ? NULL : json_object_get(j, "text_pair");
    if (pair && !r->pairs_ok) {
        cli_set_error("%s: \"text_pair\" is not read by this command (xling tokenize reads pairs)", where);
        rc = -1;
    } else if (pair && ids) {
        cli_set_error("%s: \"text_pair\" goes with \"text\", not with \"input_ids\"", where);
        rc = -1;
    } else if (pair && !json_is_string(pair)) {
        cli_set_error("%s: \"text_pair\" must be a string", where);
        rc = -1;
    } else if (pair) {
        size_t n = json_string_length(pair);
        if (!(rec->pair = malloc(n + 1))) {
            cli_set_error("out of memory");
            rc = -1;
        } else {
            memcpy(rec->pair, json_string_value(pair), n + 1);
            rec->pair_len = n;
        }
    }
    /* "id" first, then (--keep-fields) the other fields in their order. */
    json_t *id = rc ? NULL : json_object_get(j, "id");
    if (id && add_extra(rec, "id", id)) { cli_set_error("out of memory"); rc = -1; }
    if (!rc && r->keep_fields) {
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v) {
            if (!strcmp(key, "id") || !strcmp(key, "text") || !strcmp(key, "input_ids") ||
                (r->pairs_ok && !strcmp(key, "text_pair")))
                continue;
            for (int k = 0; k < 8 && r->reserved[k]; k++)
                if (!strcmp(key, r->reserved[k])) {
                    cli_set_error("%s: field \"%s\" would clash with the output's own \"%s\"", where, key, key);
                    rc = -1;
                }
            if (rc) break;
            if (add_extra(rec, key, v)) { cli_set_error("out of memory"); rc = -1; break; }
        }
    }
    json_decref(j);
    return rc;
}

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

int in_read_chunk(in_reader *r, in_record *recs, size_t max, size_t *got) {
    *got = 0;
    while (*got < max) {
        const char *s;
        size_t len;
        if (r->args) {
            if (r->line == r->n_args) break;
            s = r->args[r->line];
            len = strlen(s);
            r->line++;
        } else {
            errno = 0;
            ssize_t n = getline(&r->buf, &r->cap, r->f);
            if (n < 0) {
                if (ferror(r->f)) {
                    in_records_clear(recs, *got);
                    *got = 0;
                    cli_set_error("%s: read error: %s", r->name, strerror(errno));
                    return -1;
                }
                break;
            }
            r->line++;
            s = r->buf;
            len = (size_t)n;
            if (len && s[len - 1] == '\n') len--;
            if (len && s[len - 1] == '\r') len--;
            if (r->line == 1 && len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) s += 3, len -= 3;
            if (r->fmt == IN_JSONL && is_blank(s, len)) continue;
        }
        in_record *rec = &recs[*got];
        memset(rec, 0, sizeof *rec);
        rec->line = r->line;
        size_t clen;
        char *line = repaired_copy(r, s, len, &clen);
        if (!line) {
            in_records_clear(recs, *got);
            *got = 0;
            cli_set_error("out of memory reading %s", r->name ? r->name : "the arguments");
            return -1;
        }
        if (r->fmt == IN_JSONL) {
            int bad = parse_json_record(r, line, clen, rec);
            free(line);
            if (bad) {
                /* Nothing of a failed chunk reaches the caller. */
                in_records_clear(recs, *got + 1);
                *got = 0;
                return -1;
            }
        } else {
            rec->text = line;
            rec->len = clen;
        }
        (*got)++;
    }
    return 0;
}

/* The library numbers the inputs of one call ("input 905: ..."); the message is
 * rewritten to name the line of the whole input that input came from. */
void in_renumber_error(const in_reader *in, const in_record *recs, const size_t *where, size_t n) {
    const char *msg = xl_last_error();
    char *end;
    if (strncmp(msg, "input ", 6) == 0) {
        unsigned long k = strtoul(msg + 6, &end, 10);
        if (end != msg + 6 && k >= 1 && k <= n) {
            char w[512];
            cli_set_error("%s%s", in_where(in, recs[where[k - 1]].line, w, sizeof w), end);
            return;
        }
    }
    cli_take_lib_error();
}

int in_open_cli(in_reader *r, char **args, size_t n_args, const char *path, in_format fmt) {
    if (!n_args) return in_open(r, path, fmt);
    in_open_args(r, args, n_args);
    return 0;
}

int in_refuse_ids(const in_reader *r, const in_record *recs, size_t n, const char *msg) {
    for (size_t i = 0; i < n; i++)
        if (recs[i].is_ids) {
            char w[512];
            cli_set_error("%s: %s", in_where(r, recs[i].line, w, sizeof w), msg);
            return -1;
        }
    return 0;
}
