/* Internal pieces of the Hugging Face Hub support shared by cache.c (layout, resolve,
 * list, rm), select.c (which files a pull takes) and pull.c (libcurl). */
#ifndef XL_HUB_H
#define XL_HUB_H
#include <stddef.h>
#include "xling.h"

/* A parsed id: repo "ORG/NAME", revision ("main" when none was given). */
typedef struct {
    char *repo;
    char *revision;
    int revision_given;
} hub_id;

/* Parses ORG/NAME[@REVISION]; XL_ERR_ARG naming what is wrong. */
xl_status hub_parse_id(const char *s, hub_id *out);
void hub_id_free(hub_id *id);
/* 1 if s is 40 lowercase hex digits (a commit id). */
int hub_is_commit(const char *s);
/* CACHE/models--ORG--NAME (malloc'd). */
char *hub_repo_dir(const char *cache, const char *repo);
/* A revision usable as a path under refs/ (branch names may hold '/', never ".."). */
int hub_revision_ok(const char *rev);
/* A repository file path safe to place under snapshots/<commit>/. */
int hub_rel_path_ok(const char *p);
/* Writes path atomically (temporary file in its folder, fsync, rename), making the
 * folders above it. */
xl_status hub_write_atomic(const char *path, const char *data, size_t len);
/* mkdir -p. */
xl_status hub_mkdirs(const char *path);
/* The loader hook: *resolved = the snapshot folder when path is an uncached-on-disk Hub
 * id (pulling through the miss handler when set), else NULL (use path as given). */
xl_status xl_hub_local(const char *path, char **resolved);

/* File selection of a pull: 1 if the repository path is taken (the defaults, then the
 * include and exclude globs of o). */
int hub_select(const char *path, const xl_hub_pull_options *o);

#endif
