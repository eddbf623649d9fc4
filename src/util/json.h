/* Thin helpers over jansson for reading config files with typed, named errors. */
#ifndef XL_JSON_H
#define XL_JSON_H
#include <jansson.h>
#include "xling.h"

/* Parses a JSON file (strings may contain \u0000). The error names the file, line and column. */
xl_status xl_json_load_file(const char *path, json_t **out);
/* Parses JSON text of len bytes (NUL allowed inside strings). */
json_t *xl_json_loadb(const char *text, size_t len, json_error_t *err);

/* Typed getters: if the key is absent or null, *out = def and XL_OK; if present with
 * the wrong type, an error naming `what` (e.g. the file) and the key. */
xl_status xl_json_get_int(const json_t *obj, const char *key, long long def, long long *out, const char *what);
xl_status xl_json_get_num(const json_t *obj, const char *key, double def, double *out, const char *what);
xl_status xl_json_get_bool(const json_t *obj, const char *key, int def, int *out, const char *what);
/* String: *out points into obj (valid while obj lives), or def. */
xl_status xl_json_get_str(const json_t *obj, const char *key, const char *def, const char **out, const char *what);

#endif
