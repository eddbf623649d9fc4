/* Output files that never lose data: a regular file is written to a temporary file in
 * the target's folder and renamed over the target only once complete and synced, so a
 * failed run leaves no file and an existing one untouched. stdout, devices and pipes
 * are written directly. */
#ifndef XL_CLI_OUTFILE_H
#define XL_CLI_OUTFILE_H
#include <stdio.h>

typedef struct {
    FILE *f;
    const char *name;   /* for messages: the path given, or "stdout" */
    char *target;       /* where the temporary file goes on commit (NULL: direct) */
    char *tmp;
    int is_stdout;
} outfile;

/* Opens path (NULL or "-" = stdout). On failure sets cli_error() and returns -1. */
int outfile_open(outfile *o, const char *path);
/* Flushes, syncs, closes and renames into place; -1 with cli_error() on any write error
 * (the temporary file is then removed). */
int outfile_commit(outfile *o);
/* Closes and removes the temporary file (nothing of the run stays); stdout is flushed:
 * returns -1 if that flush failed. */
int outfile_abort(outfile *o);

/* 1 if both paths exist and name the same file (same device and inode, whatever
 * symlinks, hard links or relative paths lead there); NULL or "-" means stdin/stdout
 * (fd 0 for `in`, fd 1 for `out`). */
int cli_same_file(const char *in, const char *out);
/* Refuses an output file (not stdout) that is the input file in_path: prints "xling <cmd>:
 * -o OUT is the input file; choose another output" (cli_usage) and returns 2, else 0. */
int cli_refuse_output_is_input(const char *cmd, const char *in_path, const char *out_path);

#endif
