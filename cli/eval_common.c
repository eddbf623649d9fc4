#include "eval_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eval/eval.h"
#include "util/error.h"
#include "util/fileio.h"

char *evc_data_dir(const char *given) {
    if (given) return strdup(given);
    const char *env = getenv("XLING_DATA");
    if (env && *env) return strdup(env);
    /* build/xling -> ../data: a binary run from its build folder finds the repo's data */
    char exe[4096];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 16);
    if (k > 0) {
        exe[k] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            strcpy(slash, "/../data");
            if (xl_is_dir(exe)) return strdup(exe);
        }
    }
    return strdup("data");
}

char *evc_model_name(const char *model_dir, const char *given) {
    if (given) return strdup(given);
    size_t L = strlen(model_dir);
    while (L > 1 && model_dir[L - 1] == '/') L--;
    size_t s = L;
    while (s > 0 && model_dir[s - 1] != '/') s--;
    char *n = strndup(model_dir + s, L - s);
    if (n && (!*n || !strcmp(n, ".") || !strcmp(n, ".."))) { free(n); n = strdup("model"); }
    return n;
}

xl_status evc_write_meta(const char *model_folder, const char *name, const xl_model *m, const char *key,
                         json_t *settings) {
    char *path = xl_path_join(model_folder, "model_meta.json");
    if (!path) return xl_err(XL_ERR_NOMEM, "out of memory");
    json_error_t je;
    json_t *o = xl_file_exists(path) ? json_load_file(path, 0, &je) : NULL;
    if (!o || !json_is_object(o)) { json_decref(o); o = json_object(); }
    xl_model_info in;
    xl_model_get_info(m, &in);
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "xling_version", json_string(XLING_VERSION));
    json_object_set_new(o, "architecture", in.architecture ? json_string(in.architecture) : json_null());
    json_object_set_new(o, "model_type", in.model_type ? json_string(in.model_type) : json_null());
    json_object_set_new(o, "num_layers", json_integer(in.num_layers));
    json_object_set_new(o, "hidden_size", json_integer(in.hidden_size));
    json_object_set_new(o, "embed_dim", json_integer(in.dim));
    json_object_set_new(o, "n_parameters", json_integer((json_int_t)in.n_params));
    json_object_set_new(o, "dtype", in.dtype ? json_string(in.dtype) : json_null());
    json_object_set_new(o, "max_tokens", json_integer(in.max_seq_length));
    json_object_set_new(o, "normalize", json_boolean(in.normalize));
    json_object_set_new(o, key, settings);
    xl_status st = xl_json_write_atomic(path, o);
    json_decref(o);
    free(path);
    return st;
}

double evc_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void evc_progress_init(evc_progress *p, const char *what, size_t total) {
    p->enabled = isatty(2);
    p->what = what;
    p->start = p->last = evc_now();
    p->base = 0;
    p->total = total;
}

void evc_progress_cb(void *ctx, size_t done, size_t total) {
    evc_progress *p = ctx;
    (void)total;
    if (!p->enabled) return;
    double t = evc_now();
    size_t d = p->base + done;
    if (t - p->last < 0.2 && d < p->total) return;
    p->last = t;
    double el = t - p->start, eta = d ? el * (double)(p->total - d) / (double)d : 0;
    fprintf(stderr, "\r%s: %zu/%zu texts, %.0fs elapsed, ETA %.0fs   ", p->what, d, p->total, el, eta);
}

void evc_progress_end(evc_progress *p) {
    if (p->enabled) fprintf(stderr, "\r%s: %zu texts in %.1fs%30s\n", p->what, p->total, evc_now() - p->start, "");
}
