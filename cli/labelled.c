/* Labelled inputs of the task commands (cluster, classify): every line of a file, as
 * plain text or JSONL with "text", optional "id" and "label" (kept as their JSON text). */
#include "labelled.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void labelled_free(items_t *it) {
    for (size_t i = 0; i < it->n; i++) {
        free(it->text[i]);
        free(it->id[i]);
        free(it->label[i]);
    }
    free(it->text), free(it->len), free(it->id), free(it->label);
}

static int push(items_t *it, char *text, size_t len, char *id, char *label) {
    if (it->n == it->cap) {
        size_t cap = it->cap ? 2 * it->cap : 256;
        char **t = realloc(it->text, cap * sizeof *t);
        if (t) it->text = t;
        size_t *l = realloc(it->len, cap * sizeof *l);
        if (l) it->len = l;
        char **d = realloc(it->id, cap * sizeof *d);
        if (d) it->id = d;
        char **b = realloc(it->label, cap * sizeof *b);
        if (b) it->label = b;
        if (!t || !l || !d || !b) return -1;
        it->cap = cap;
    }
    it->text[it->n] = text;
    it->len[it->n] = len;
    it->id[it->n] = id;
    it->label[it->n++] = label;
    return 0;
}

int labelled_read(const char *cmd, const char *path, int jsonl, items_t *it) {
    FILE *f = path ? fopen(path, "rb") : stdin;
    const char *name = path ? path : "stdin";
    if (!f) {
        fprintf(stderr, "xling %s: cannot read %s: %s\n", cmd, path, strerror(errno));
        return 1;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t k;
    int rc = 0;
    while (!rc && (k = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (k > 0 && line[k - 1] == '\n') k--;
        if (k > 0 && line[k - 1] == '\r') k--;
        char *s = line;
        if (lineno == 1 && k >= 3 && !memcmp(s, "\xef\xbb\xbf", 3)) s += 3, k -= 3; /* BOM */
        if (!jsonl) {
            char *t = malloc((size_t)k + 1);
            if (!t || (memcpy(t, s, (size_t)k), t[k] = '\0', push(it, t, (size_t)k, NULL, NULL))) { free(t); rc = -1; }
            continue;
        }
        size_t sp = strspn(s, " \t");
        if ((ssize_t)sp == k) continue; /* blank JSONL line: skipped, still counted */
        json_error_t e;
        json_t *j = json_loadb(s, (size_t)k, JSON_ALLOW_NUL, &e);
        json_t *text = json_object_get(j, "text"), *id = json_object_get(j, "id"), *label = json_object_get(j, "label");
        if (!json_is_object(j)) {
            fprintf(stderr, "xling %s: %s line %zu: %s\n", cmd, name, lineno, j ? "not a JSON object" : e.text);
            rc = 1;
        } else if (!json_is_string(text)) {
            fprintf(stderr, "xling %s: %s line %zu: \"text\" must be a string\n", cmd, name, lineno);
            rc = 1;
        } else if (label && !json_is_string(label) && !json_is_integer(label)) {
            fprintf(stderr, "xling %s: %s line %zu: \"label\" must be a string or an integer\n", cmd, name, lineno);
            rc = 1;
        } else {
            size_t tl = json_string_length(text);
            char *t = malloc(tl + 1);
            char *ids = id ? json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            char *lab = label ? json_dumps(label, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            if (!t || (id && !ids) || (label && !lab)) rc = -1;
            else {
                memcpy(t, json_string_value(text), tl + 1);
                if (push(it, t, tl, ids, lab)) rc = -1;
            }
            if (rc) free(t), free(ids), free(lab);
        }
        json_decref(j);
    }
    if (rc < 0) fprintf(stderr, "xling %s: out of memory reading %s\n", cmd, name);
    else if (!rc && ferror(f)) { fprintf(stderr, "xling %s: read error on %s\n", cmd, name); rc = 1; }
    free(line);
    if (f != stdin) fclose(f);
    return rc ? 1 : 0;
}

static char **g_labels;
static int cmp_label_idx(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = strcmp(g_labels[x], g_labels[y]);
    return c ? c : (x > y) - (x < y);
}

/* Gold labels as ints (equal JSON text, equal class): 1, 0 when no line has one, -1
 * when only some lines have one. */
int labelled_classes(const items_t *it, int *gold) {
    size_t n_with = 0;
    for (size_t i = 0; i < it->n; i++) n_with += it->label[i] != NULL;
    if (n_with == 0) return 0;
    if (n_with != it->n) return -1;
    size_t *order = malloc(it->n * sizeof *order);
    if (!order) return -2;
    for (size_t i = 0; i < it->n; i++) order[i] = i;
    g_labels = it->label;
    qsort(order, it->n, sizeof *order, cmp_label_idx);
    int cls = -1;
    for (size_t r = 0; r < it->n; r++) {
        if (!r || strcmp(it->label[order[r]], it->label[order[r - 1]])) cls++;
        gold[order[r]] = cls;
    }
    free(order);
    return 1;
}

