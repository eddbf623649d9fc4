/* Result files: folders made on demand and JSON written atomically, so that an
 * interrupted run never leaves a half-written result that --resume would skip. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval/eval.h"
#include "util/error.h"

xl_status xl_mkdirs(const char *path) {
    size_t L = strlen(path);
    char *p = malloc(L + 1);
    if (!p) return xl_err(XL_ERR_NOMEM, "out of memory");
    memcpy(p, path, L + 1);
    xl_status st = XL_OK;
    for (size_t i = 1; i <= L && !st; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        char c = p[i];
        p[i] = '\0';
        struct stat sb;
        if (stat(p, &sb) == 0) {
            if (!S_ISDIR(sb.st_mode)) st = xl_err(XL_ERR_IO, "output folder %s: %s exists and is not a folder", path, p);
        } else if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            st = xl_err(XL_ERR_IO, "cannot create folder %s: %s", p, strerror(errno));
        }
        p[i] = c;
    }
    free(p);
    return st;
}

xl_status xl_json_write_atomic(const char *path, json_t *obj) {
    size_t L = strlen(path);
    char *tmp = malloc(L + 32);
    if (!tmp) return xl_err(XL_ERR_NOMEM, "out of memory");
    snprintf(tmp, L + 32, "%s.tmp.%ld", path, (long)getpid());
    xl_status st = XL_OK;
    FILE *f = fopen(tmp, "w");
    if (!f) st = xl_err(XL_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    else {
        int bad = json_dumpf(obj, f, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17)) != 0;
        bad |= fputc('\n', f) == EOF;
        bad |= fclose(f) != 0;
        if (bad) st = xl_err(XL_ERR_IO, "cannot write %s", tmp);
        else if (rename(tmp, path) != 0) st = xl_err(XL_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        if (st) unlink(tmp);
    }
    free(tmp);
    return st;
}
