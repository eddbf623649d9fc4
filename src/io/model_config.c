#include "io/model_config.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"

#include <stdlib.h>

xl_status xl_config_load(const char *dir, json_t **out) {
    *out = NULL;
    if (!xl_is_dir(dir)) return xl_err(XL_ERR_IO, "%s: not a folder", dir);
    char *p = xl_path_join(dir, "config.json");
    char *path = p ? xl_resolve_text_link(p) : NULL;
    free(p);
    if (!path) return xl_err(XL_ERR_NOMEM, "%s: out of memory", dir);
    xl_status st;
    if (!xl_file_exists(path)) {
        st = xl_err(XL_ERR_IO, "%s: no config.json (not a Hugging Face model folder)", dir);
    } else if ((st = xl_json_load_file(path, out)) == XL_OK && !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        st = xl_err(XL_ERR_FORMAT, "%s: not a JSON object", path);
    }
    free(path);
    return st;
}
