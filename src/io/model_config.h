/* The Hugging Face `config.json` of a model folder. */
#ifndef XL_MODEL_CONFIG_H
#define XL_MODEL_CONFIG_H
#include <jansson.h>
#include "xling.h"

/* Loads <dir>/config.json (symlinks and text links followed) into *out (a JSON
 * object; release with json_decref). A folder without one gets XL_ERR_IO
 * "<dir>: no config.json (not a Hugging Face model folder)"; invalid JSON or a
 * non-object gets XL_ERR_FORMAT naming the file. */
xl_status xl_config_load(const char *dir, json_t **out);

#endif
