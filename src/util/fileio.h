/* Whole-file reads, read-only mappings and path helpers. */
#ifndef XL_FILEIO_H
#define XL_FILEIO_H
#include <stddef.h>
#include "xling.h"

/* Reads a whole file into a malloc'd NUL-terminated buffer. */
xl_status xl_read_file(const char *path, char **data, size_t *len);

typedef struct {
    void *data;
    size_t len;
} xl_mmap;

/* Maps a file read-only (MAP_PRIVATE). An empty file maps to data = NULL, len = 0. */
xl_status xl_mmap_open(const char *path, xl_mmap *m);
void xl_mmap_close(xl_mmap *m);
/* For a read-only file mapping read once, front to back: hands the pages covering
 * [p, p + n) back to the kernel (whole pages around the range; a page touched again is
 * simply re-read from the file), so resident memory stays near one window... */
void xl_pages_release(const void *p, size_t n);
/* ...and asks the kernel to start reading [p, p + n) now, overlapping I/O with compute. */
void xl_pages_prefetch(const void *p, size_t n);

/* Joins dir and name with one '/'; malloc'd. */
char *xl_path_join(const char *dir, const char *name);
int xl_file_exists(const char *path);
int xl_is_dir(const char *path);

/* Resolves a "text symlink": a file of fewer than 512 bytes whose whole content is a
 * relative path to an existing file (what a symlink becomes when copied without
 * following it). Returns a malloc'd path to use: the target if `path` is such a file,
 * else a copy of `path`. */
char *xl_resolve_text_link(const char *path);

#endif
