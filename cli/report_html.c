/* The HTML report of a results folder: one self-contained page (inline CSS and SVG, no
 * script, a Content-Security-Policy that forbids every fetch) with per-language bar
 * charts sorted by score and a table for each task, MEXA's per-layer curves, and the
 * model's description and run settings from model_meta.json. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "eval_common.h"
#include "outfile.h"

static void esc(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A JSON value as short text (numbers %.4g, strings escaped). */
static void put_value(FILE *f, const json_t *v) {
    if (json_is_string(v)) esc(f, json_string_value(v));
    else if (json_is_integer(v)) fprintf(f, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) fprintf(f, "%.4g", json_real_value(v));
    else if (json_is_true(v)) fputs("true", f);
    else if (json_is_false(v)) fputs("false", f);
    else if (json_is_null(v)) fputs("&mdash;", f);
    else {
        char *s = json_dumps(v, JSON_COMPACT);
        esc(f, s);
        free(s);
    }
}

/* Key/value rows; nested objects are skipped (skip_objects: they get their own table)
 * or shown as compact JSON. */
static void kv_table(FILE *f, const json_t *o, const char *cls, int skip_objects) {
    fprintf(f, "<table class=\"%s\">\n", cls);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        if (skip_objects && json_is_object(v)) continue;
        fputs("<tr><th>", f);
        esc(f, k);
        fputs("</th><td>", f);
        put_value(f, v);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

typedef struct {
    const char *label;
    double v;
} bar;

static int by_score_desc(const void *a, const void *b) {
    double x = ((const bar *)a)->v, y = ((const bar *)b)->v;
    if (isnan(x)) return isnan(y) ? 0 : 1;
    if (isnan(y)) return -1;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Horizontal bars, best first, scores x100 on a 0-100 axis. */
static void bar_chart(FILE *f, bar *b, size_t n, const char *title) {
    qsort(b, n, sizeof *b, by_score_desc);
    const int lw = 110, w = 560, bh = 14, gap = 4, top = 24;
    int H = top + (int)n * (bh + gap) + 24;
    fprintf(f, "<svg class=\"bars\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\">\n",
            lw + w + 60, H);
    fputs("<title>", f);
    esc(f, title);
    fputs("</title>\n", f);
    for (int t = 0; t <= 100; t += 20) {
        int x = lw + w * t / 100;
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>", x, top - 6, x, H - 20);
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%d</text>\n", x, H - 6, t);
    }
    for (size_t i = 0; i < n; i++) {
        int y = top + (int)i * (bh + gap);
        double v = isnan(b[i].v) ? 0 : b[i].v * 100;
        if (v < 0) v = 0;
        if (v > 100) v = 100;
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">", lw - 6, y + bh - 3);
        esc(f, b[i].label);
        fprintf(f, "</text><rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#3b6fb6\"/>", lw, y,
                w * v / 100, bh);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\">%.2f</text>\n", lw + w * v / 100 + 4, y + bh - 3,
                isnan(b[i].v) ? NAN : b[i].v * 100);
    }
    fputs("</svg>\n", f);
}

/* One task's result file: mean, bar chart of main_score per subset, a table of every metric. */
static void task_section(FILE *f, const json_t *res, const char *file) {
    const char *task = json_string_value(json_object_get(res, "task_name"));
    json_t *test = json_object_get(json_object_get(res, "scores"), "test");
    if (!json_is_array(test)) return;
    size_t n = json_array_size(test);
    bar *b = calloc(n ? n : 1, sizeof *b);
    if (!b) return;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(test, i);
        b[i].label = json_string_value(json_object_get(e, "hf_subset"));
        if (!b[i].label) b[i].label = "?";
        b[i].v = json_number_value(json_object_get(e, "main_score"));
        sum += b[i].v;
    }
    fputs("<section class=\"task\">\n<h3>", f);
    esc(f, task ? task : file);
    fprintf(f, "</h3>\n<p>%zu subset%s, mean main_score <b>%.2f</b> (x100); data revision <code>", n, n == 1 ? "" : "s",
            n ? 100 * sum / (double)n : 0.0);
    esc(f, json_string_value(json_object_get(res, "dataset_revision")));
    fprintf(f, "</code>, %.1f s.</p>\n", json_number_value(json_object_get(res, "evaluation_time")));
    bar_chart(f, b, n, task ? task : file);
    /* table: the union of metric names in the first entry, x100 */
    fputs("<details><summary>table</summary>\n<table class=\"scores\"><tr><th>subset</th>", f);
    json_t *first = json_array_get(test, 0);
    const char *k;
    json_t *v;
    json_object_foreach(first, k, v) {
        if (!json_is_number(v)) continue;
        fputs("<th>", f);
        esc(f, k);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(test, i);
        fputs("<tr><td>", f);
        esc(f, json_string_value(json_object_get(e, "hf_subset")));
        fputs("</td>", f);
        json_object_foreach(first, k, v) {
            if (!json_is_number(v)) continue;
            fprintf(f, "<td>%.2f</td>", 100 * json_number_value(json_object_get(e, k)));
        }
        fputs("</tr>\n", f);
    }
    fputs("</table></details>\n</section>\n", f);
    free(b);
}

/* Per-layer curves of one MEXA pooling: one line per pair, the average in black. */
static void mexa_chart(FILE *f, const json_t *mexa, const char *kind) {
    json_t *pairs = json_object_get(mexa, "pairs");
    json_t *avg = json_object_get(json_object_get(mexa, "average"), kind);
    size_t NL = json_array_size(avg);
    if (NL == 0) return;
    const int L = 50, W = 520, T = 16, Hh = 240;
    fprintf(f, "<figure><figcaption>%s</figcaption>\n", kind);
    fprintf(f, "<svg class=\"curves\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\">\n",
            L + W + 20, T + Hh + 36);
    for (int t = 0; t <= 100; t += 25) {
        int y = T + Hh - Hh * t / 100;
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/><text x=\"%d\" y=\"%d\" font-size=\"10\" "
                   "text-anchor=\"end\">%d</text>\n", L, y, L + W, y, L - 4, y + 3, t);
    }
    for (size_t l = 0; l < NL; l++) {
        double x = L + (NL > 1 ? W * (double)l / (double)(NL - 1) : W / 2.0);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%zu</text>\n", x, T + Hh + 14, l);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">layer</text>\n", L + W / 2, T + Hh + 30);
    size_t np = json_object_size(pairs), i = 0;
    const char *name;
    json_t *po;
    json_object_foreach(pairs, name, po) {
        json_t *a = json_object_get(po, kind);
        fprintf(f, "<polyline class=\"pair\" fill=\"none\" stroke=\"hsl(%zu,60%%,50%%)\" stroke-width=\"1.2\" points=\"",
                np ? 360 * i / np : 0);
        for (size_t l = 0; l < json_array_size(a); l++) {
            double x = L + (NL > 1 ? W * (double)l / (double)(NL - 1) : W / 2.0);
            fprintf(f, "%.1f,%.1f ", x, T + Hh - Hh * json_number_value(json_array_get(a, l)));
        }
        fputs("\"><title>", f);
        esc(f, name);
        fputs("</title></polyline>\n", f);
        i++;
    }
    fputs("<polyline class=\"average\" fill=\"none\" stroke=\"#000\" stroke-width=\"2.5\" points=\"", f);
    for (size_t l = 0; l < NL; l++) {
        double x = L + (NL > 1 ? W * (double)l / (double)(NL - 1) : W / 2.0);
        fprintf(f, "%.1f,%.1f ", x, T + Hh - Hh * json_number_value(json_array_get(avg, l)));
    }
    fputs("\"><title>average</title></polyline>\n</svg></figure>\n", f);
}

static void mexa_section(FILE *f, const json_t *mexa) {
    json_t *pairs = json_object_get(mexa, "pairs");
    fputs("<section class=\"mexa\">\n<h3>MEXA alignment with English per layer</h3>\n<p>", f);
    fprintf(f, "%zu pairs, up to %lld sentences each; black: the average over pairs. Pairs: ", json_object_size(pairs),
            (long long)json_integer_value(json_object_get(mexa, "n")));
    size_t np = json_object_size(pairs), i = 0;
    const char *name;
    json_t *po;
    json_object_foreach(pairs, name, po) {
        fprintf(f, "<span style=\"color:hsl(%zu,60%%,40%%)\">", np ? 360 * i / np : 0);
        esc(f, name);
        fputs("</span> ", f);
        i++;
    }
    fputs("</p>\n<div class=\"charts\">\n", f);
    mexa_chart(f, mexa, "mean");
    mexa_chart(f, mexa, "weighted_mean");
    mexa_chart(f, mexa, "last");
    fputs("</div>\n</section>\n", f);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names of the entries of dir that are JSON files (or folders when folders = 1). */
static char **list_dir(const char *dir, int folders, size_t *n) {
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char **v = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *p = evc_join(dir, e->d_name);
        int ok = p && (folders ? evc_is_dir(p) : (strlen(e->d_name) > 5 && !strcmp(e->d_name + strlen(e->d_name) - 5, ".json") && !evc_is_dir(p)));
        free(p);
        if (!ok) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            char **q = realloc(v, cap * sizeof *q);
            if (!q) break;
            v = q;
        }
        v[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    if (v) qsort(v, *n, sizeof *v, cmp_str);
    return v;
}

static void free_names(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

static json_t *load_in(const char *dir, const char *file) {
    char *p = evc_join(dir, file);
    json_error_t je;
    json_t *o = p ? json_load_file(p, 0, &je) : NULL;
    free(p);
    return o;
}

/* One model's folder: description and settings, each task, MEXA. Returns how many
 * result files it showed (0: nothing written). */
static int model_section(FILE *f, const char *mdir, const char *label) {
    size_t nf;
    char **files = list_dir(mdir, 0, &nf);
    json_t *meta = load_in(mdir, "model_meta.json"), *mexa = load_in(mdir, "MEXA.json");
    int shown = 0;
    for (size_t i = 0; i < nf; i++)
        shown += strcmp(files[i], "model_meta.json") != 0;
    if (shown) {
        fputs("<section class=\"model\">\n<h2>", f);
        esc(f, label);
        fputs("</h2>\n<details open><summary>model and run settings</summary>\n", f);
        if (meta) {
            kv_table(f, meta, "info", 1);
            const char *k;
            json_t *v;
            json_object_foreach(meta, k, v) {
                if (!json_is_object(v)) continue;
                fputs("<h4>", f);
                esc(f, k);
                fputs("</h4>\n", f);
                kv_table(f, v, "settings", 0);
            }
        } else {
            fputs("<p>no model_meta.json</p>\n", f);
        }
        fputs("</details>\n", f);
        for (size_t i = 0; i < nf; i++) {
            if (!strcmp(files[i], "model_meta.json") || !strcmp(files[i], "MEXA.json")) continue;
            json_t *o = load_in(mdir, files[i]);
            if (o) task_section(f, o, files[i]);
            json_decref(o);
        }
        if (mexa) mexa_section(f, mexa);
        fputs("</section>\n", f);
    }
    json_decref(meta);
    json_decref(mexa);
    free_names(files, nf);
    return shown;
}

int report_write(const char *results_dir, const char *out_path) {
    struct stat sb;
    if (stat(results_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "xling report: %s is not a results folder (%s)\n", results_dir,
                stat(results_dir, &sb) != 0 ? strerror(errno) : "not a folder");
        return 1;
    }
    /* a temporary file renamed once complete (cli/outfile.c): no half page, and no file
     * at all when there is nothing to show */
    outfile of;
    if (outfile_open(&of, out_path)) return cli_report("report");
    FILE *f = of.f;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
          "<title>xling evaluation report</title>\n<style>\n"
          "body{font-family:sans-serif;margin:1.5em;max-width:1200px;color:#222}\n"
          "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px;text-align:left}\n"
          "td{font-variant-numeric:tabular-nums}section.model{border-top:2px solid #3b6fb6;margin-top:2em}\n"
          ".charts{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}figcaption{font-weight:bold}\n"
          "</style></head><body>\n<h1>xling evaluation report</h1>\n<p>Scores x100. Generated by xling " XLING_VERSION
          " from <code>", f);
    esc(f, results_dir);
    fputs("</code>.</p>\n", f);
    size_t nm;
    char **models = list_dir(results_dir, 1, &nm);
    int shown = 0;
    for (size_t i = 0; i < nm; i++) {
        char *p = evc_join(results_dir, models[i]);
        if (p) shown += model_section(f, p, models[i]) > 0;
        free(p);
    }
    /* a model's own folder given directly */
    if (!shown) {
        const char *base = strrchr(results_dir, '/');
        shown += model_section(f, results_dir, base && base[1] ? base + 1 : results_dir) > 0;
    }
    free_names(models, nm);
    fputs("</body></html>\n", f);
    if (!shown) {
        outfile_abort(&of);
        fprintf(stderr, "xling report: no results (DIR/<model>/<Task>.json or MEXA.json) in %s\n", results_dir);
        return 1;
    }
    return outfile_commit(&of) ? cli_report("report") : 0;
}
