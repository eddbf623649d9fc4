/* Labelled inputs of the task commands (cluster, classify): whole files read at once,
 * one text per line or JSONL lines with "text", optional "id" and "label". */
#ifndef XL_CLI_LABELLED_H
#define XL_CLI_LABELLED_H
#include <stddef.h>

typedef struct {
    char **text;
    size_t *len;
    char **id;     /* JSON text of "id", or NULL */
    char **label;  /* JSON text of "label" (a string or an integer), or NULL */
    size_t n, cap;
} items_t;

/* Reads every line of path (NULL = stdin; JSONL when jsonl: blank lines skipped, a BOM
 * dropped); 1 with a one-line message "xling CMD: ..." printed on error. */
int labelled_read(const char *cmd, const char *path, int jsonl, items_t *it);
void labelled_free(items_t *it);
/* Class numbers 0..C-1 of the labels (equal JSON text, equal class; numbered in the
 * labels' sorted order) into gold[n]: 1; 0 when no line has a label; -1 when only some
 * lines have one; -2 out of memory. */
int labelled_classes(const items_t *it, int *gold);

#endif
