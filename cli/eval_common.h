/* What `xling eval`, `align` and `report` share: the data folder, the results folder
 * of a model, model_meta.json, and a progress line with an ETA. */
#ifndef XL_CLI_EVAL_COMMON_H
#define XL_CLI_EVAL_COMMON_H
#include <jansson.h>
#include <stddef.h>
#include "xling.h"

/* --data, else $XLING_DATA, else data/ beside the binary's build folder, else ./data. */
char *evc_data_dir(const char *given);
/* The model's name in the results layout: --name, else the folder's last component. */
char *evc_model_name(const char *model_dir, const char *given);

/* Files and folders. Functions returning int give 0, or -1 with cli_error() set. */
char *evc_join(const char *dir, const char *name);   /* "dir/name", malloc'd */
int evc_is_dir(const char *path);
int evc_exists(const char *path);
/* mkdir -p; an existing non-folder on the way is an error naming it. */
int evc_mkdirs(const char *path);
/* Writes obj to path through cli/outfile.c (a temporary file renamed once complete, so
 * --resume never skips a half-written result), with 2-space indentation and sorted
 * keys as mteb writes its results. */
int evc_write_json(const char *path, json_t *obj);
/* Merges the model's description and `settings` (reference taken) under `key` into
 * OUT/<name>/model_meta.json. */
int evc_write_meta(const char *model_folder, const char *name, const xl_model *m, const char *key,
                   json_t *settings);
double evc_now(void);

/* Progress on stderr (only when it is a terminal): "what: done/total, ETA". */
typedef struct {
    int enabled;
    const char *what;
    double start, last;
    size_t base, total;   /* base: items done before the current call */
} evc_progress;
void evc_progress_init(evc_progress *p, const char *what, size_t total);
/* The xl_embed_options.progress callback (ctx = evc_progress *). */
void evc_progress_cb(void *ctx, size_t done, size_t total);
void evc_progress_end(evc_progress *p);

#endif
