#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Ctrl-C or a kill during a run must not leave the temporary file behind either: the
 * handler removes it (unlink is async-signal-safe) and dies of the same signal. */
static char *volatile g_pending;

static void on_signal(int sig) {
    char *p = g_pending;
    if (p) unlink(p);
    signal(sig, SIG_DFL);
    raise(sig);
}

static const int watched_sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};

/* Blocks (how = SIG_BLOCK) or restores the watched signals: a signal that arrives
 * between mkstemp and watch() is delivered once the handler knows the file. */
static void hold_signals(int how, sigset_t *old) {
    sigset_t set;
    sigemptyset(&set);
    for (size_t k = 0; k < sizeof watched_sigs / sizeof *watched_sigs; k++) sigaddset(&set, watched_sigs[k]);
    if (how == SIG_BLOCK) sigprocmask(SIG_BLOCK, &set, old);
    else sigprocmask(SIG_SETMASK, old, NULL);
}

static void watch(char *tmp) {
    g_pending = tmp;
    if (tmp) {
        const int *sigs = watched_sigs;
        for (size_t k = 0; k < sizeof watched_sigs / sizeof *watched_sigs; k++) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_signal;
            sigaction(sigs[k], &sa, NULL);
        }
    }
}

static int is_std(const char *p) { return !p || !strcmp(p, "-"); }

int cli_same_file(const char *in, const char *out) {
    struct stat a, b;
    int ra = is_std(in) ? fstat(0, &a) : stat(in, &a);
    int rb = is_std(out) ? fstat(1, &b) : stat(out, &b);
    /* Only regular files can be clobbered that way (a terminal on both ends is fine). */
    return ra == 0 && rb == 0 && S_ISREG(a.st_mode) && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int cli_refuse_output_is_input(const char *cmd, const char *in_path, const char *out_path) {
    if (!out_path || !strcmp(out_path, "-") || !cli_same_file(in_path, out_path)) return 0;
    return cli_usage(cmd, "-o %s is the input file; choose another output", out_path);
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

int outfile_open(outfile *o, const char *path) {
    memset(o, 0, sizeof *o);
    if (is_std(path)) {
        o->f = stdout;
        o->name = "stdout";
        o->is_stdout = 1;
        return 0;
    }
    o->name = path;
    struct stat st;
    /* A symlink is written through: the file it points to is replaced, not the link. */
    char *target = NULL;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) target = realpath(path, NULL);
    if (!target) target = strdup(path);
    if (!target) { cli_set_error("out of memory"); return -1; }
    int exists = stat(target, &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) {
        cli_set_error("%s is a folder", path);
        free(target);
        return -1;
    }
    if (exists && !S_ISREG(st.st_mode)) {
        /* A device or a pipe (/dev/null, /dev/full, a FIFO): nothing to protect. */
        free(target);
        o->f = fopen(path, "wb");
        if (!o->f) { cli_set_error("%s: %s", path, strerror(errno)); return -1; }
        return 0;
    }
    char *dir = dir_of(target);
    const char *base = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
    size_t n = (dir ? strlen(dir) : 0) + strlen(base) + 32;
    char *tmp = dir ? malloc(n) : NULL;
    if (!tmp) { free(dir); free(target); cli_set_error("out of memory"); return -1; }
    snprintf(tmp, n, "%s/.%s.xling-XXXXXX", dir, base);
    free(dir);
    sigset_t held;
    hold_signals(SIG_BLOCK, &held);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        hold_signals(SIG_SETMASK, &held);
        cli_set_error("%s: cannot create a file in its folder: %s", path, strerror(e));
        free(tmp); free(target);
        return -1;
    }
    watch(tmp);
    hold_signals(SIG_SETMASK, &held);
    /* mkstemp makes 0600; give the file what a plain fopen would (or the old file's mode). */
    mode_t um = umask(0);
    umask(um);
    fchmod(fd, exists ? (st.st_mode & 07777) : (0666 & ~um));
    o->f = fdopen(fd, "wb");
    if (!o->f) {
        cli_set_error("%s: %s", path, strerror(errno));
        g_pending = NULL;
        close(fd); unlink(tmp); free(tmp); free(target);
        return -1;
    }
    o->tmp = tmp;
    o->target = target;
    return 0;
}

static void release(outfile *o) {
    if (o->tmp && g_pending == o->tmp) g_pending = NULL;
    free(o->tmp);
    free(o->target);
    memset(o, 0, sizeof *o);
}

int outfile_commit(outfile *o) {
    int bad = fflush(o->f) != 0 || ferror(o->f);
    int err = errno;
    if (o->is_stdout) {
        if (bad) cli_set_error("write error on stdout: %s", strerror(err ? err : EIO));
        release(o);
        return bad ? -1 : 0;
    }
    if (!bad && o->tmp && fsync(fileno(o->f)) != 0) bad = 1, err = errno;
    if (fclose(o->f) != 0 && !bad) bad = 1, err = errno;
    if (bad) {
        cli_set_error("%s: write failed: %s", o->name, strerror(err ? err : EIO));
        if (o->tmp) unlink(o->tmp);
        release(o);
        return -1;
    }
    if (o->tmp) {
        if (rename(o->tmp, o->target) != 0) {
            cli_set_error("%s: cannot rename the finished file into place: %s", o->name, strerror(errno));
            unlink(o->tmp);
            release(o);
            return -1;
        }
        /* The rename itself survives a crash only once the folder is synced. */
        char *dir = dir_of(o->target);
        int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY) : -1;
        if (dfd >= 0) { fsync(dfd); close(dfd); }
        free(dir);
    }
    release(o);
    return 0;
}

int outfile_abort(outfile *o) {
    if (!o->f) return 0;
    int rc = 0;
    if (o->is_stdout) rc = fflush(o->f) != 0 || ferror(o->f) ? -1 : 0;
    else {
        fclose(o->f);
        if (o->tmp) unlink(o->tmp);
    }
    release(o);
    return rc;
}
