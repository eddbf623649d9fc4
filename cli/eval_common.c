#include "eval_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "outfile.h"

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
            if (evc_is_dir(exe)) return strdup(exe);
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

char *evc_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

int evc_is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int evc_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

int evc_mkdirs(const char *path) {
    char *p = strdup(path);
    if (!p) { cli_set_error("out of memory"); return -1; }
    size_t L = strlen(p);
    int rc = 0;
    for (size_t i = 1; i <= L && !rc; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        char c = p[i];
        p[i] = '\0';
        struct stat sb;
        if (stat(p, &sb) == 0) {
            if (!S_ISDIR(sb.st_mode)) { cli_set_error("output folder %s: %s exists and is not a folder", path, p); rc = -1; }
        } else if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            cli_set_error("cannot create folder %s: %s", p, strerror(errno));
            rc = -1;
        }
        p[i] = c;
    }
    free(p);
    return rc;
}

int evc_write_json(const char *path, json_t *obj) {
    outfile of;
    if (outfile_open(&of, path)) return -1;
    if (json_dumpf(obj, of.f, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17)) != 0 ||
        fputc('\n', of.f) == EOF) {
        outfile_abort(&of);
        cli_set_error("%s: write failed", path);
        return -1;
    }
    return outfile_commit(&of);
}

int evc_write_meta(const char *model_folder, const char *name, const xl_model *m, const char *key,
                   json_t *settings) {
    char *path = evc_join(model_folder, "model_meta.json");
    if (!path) { json_decref(settings); cli_set_error("out of memory"); return -1; }
    json_error_t je;
    json_t *o = evc_exists(path) ? json_load_file(path, 0, &je) : NULL;
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
    int rc = evc_write_json(path, o);
    json_decref(o);
    free(path);
    return rc;
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
