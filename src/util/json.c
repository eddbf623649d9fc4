#include "util/json.h"
#include "util/error.h"
#include "util/fileio.h"

#include <stdlib.h>

json_t *xl_json_loadb(const char *text, size_t len, json_error_t *err) {
    return json_loadb(text, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, err);
}

xl_status xl_json_load_file(const char *path, json_t **out) {
    char *text;
    size_t len;
    *out = NULL;
    xl_status st = xl_read_file(path, &text, &len);
    if (st) return st;
    json_error_t e;
    json_t *j = xl_json_loadb(text, len, &e);
    free(text);
    if (!j) return xl_err(XL_ERR_FORMAT, "%s: invalid JSON at line %d column %d: %s", path, e.line, e.column, e.text);
    *out = j;
    return XL_OK;
}

xl_status xl_json_get_int(const json_t *obj, const char *key, long long def, long long *out, const char *what) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) { *out = def; return XL_OK; }
    if (json_is_integer(v)) { *out = json_integer_value(v); return XL_OK; }
    /* 2.0 counts as 2 (Python writes floats for ints); the range test comes first
     * because converting a double outside long long's range is undefined. */
    double d = json_is_real(v) ? json_real_value(v) : 0.5;
    if (d >= -0x1p63 && d < 0x1p63 && d == (double)(long long)d) {
        *out = (long long)d;
        return XL_OK;
    }
    return xl_err(XL_ERR_FORMAT, "%s: \"%s\" must be an integer", what, key);
}

xl_status xl_json_get_num(const json_t *obj, const char *key, double def, double *out, const char *what) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) { *out = def; return XL_OK; }
    if (json_is_number(v)) { *out = json_number_value(v); return XL_OK; }
    return xl_err(XL_ERR_FORMAT, "%s: \"%s\" must be a number", what, key);
}

xl_status xl_json_get_bool(const json_t *obj, const char *key, int def, int *out, const char *what) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) { *out = def; return XL_OK; }
    if (json_is_boolean(v)) { *out = json_is_true(v); return XL_OK; }
    return xl_err(XL_ERR_FORMAT, "%s: \"%s\" must be true or false", what, key);
}

xl_status xl_json_get_str(const json_t *obj, const char *key, const char *def, const char **out, const char *what) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) { *out = def; return XL_OK; }
    if (json_is_string(v)) { *out = json_string_value(v); return XL_OK; }
    return xl_err(XL_ERR_FORMAT, "%s: \"%s\" must be a string", what, key);
}
