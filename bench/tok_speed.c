/* Tokenizer speed: loads one tokenizer, encodes every sentence of the Tatoeba test set
 * on one thread (no special tokens), prints one JSON line.
 *
 *   tok_speed TOKENIZER [TATOEBA_DIR] [--special] [--offsets]
 *
 * --offsets times xl_tokenize_offsets (ids plus byte offsets) instead of xl_tokenize.
 * TOKENIZER is a tokenizer.json or a model folder; TATOEBA_DIR (default
 * ../shared/data/tatoeba/v1) holds tatoeba.XXX-eng.{XXX,eng}. The sentences are every
 * non-empty line of every tatoeba.* file, files in byte order of their names, line
 * ends ("\n", "\r\n") removed — the same list bench/tok_speed_js.mjs and
 * bench/tok_speed_spm.py read, so the token totals must agree. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xling.h"

/* CPU time of this process: what a busy machine does not inflate. */
static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct {
    char **s;
    size_t *len;
    size_t n, cap, bytes;
} sentences;

static int add_sentence(sentences *ss, const char *s, size_t len) {
    if (ss->n == ss->cap) {
        size_t nc = ss->cap ? 2 * ss->cap : 4096;
        char **ns = realloc(ss->s, nc * sizeof *ns);
        if (!ns) return 0;
        ss->s = ns;
        size_t *nl = realloc(ss->len, nc * sizeof *nl);
        if (!nl) return 0;
        ss->len = nl;
        ss->cap = nc;
    }
    char *c = malloc(len + 1);
    if (!c) return 0;
    memcpy(c, s, len);
    c[len] = '\0';
    ss->s[ss->n] = c;
    ss->len[ss->n++] = len;
    ss->bytes += len;
    return 1;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_tatoeba(const char *dir, sentences *ss) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "tok_speed: cannot open %s\n", dir);
        return 0;
    }
    char **names = NULL;
    size_t nn = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "tatoeba.", 8) != 0) continue;
        if (nn == cap) {
            cap = cap ? 2 * cap : 256;
            names = realloc(names, cap * sizeof *names);
        }
        names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, nn, sizeof *names, cmp_names);
    char *line = NULL;
    size_t lcap = 0;
    int ok = nn > 0;
    for (size_t i = 0; i < nn; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        if (!f) {
            fprintf(stderr, "tok_speed: cannot open %s\n", path);
            ok = 0;
        }
        ssize_t n;
        while (f && (n = getline(&line, &lcap, f)) > 0) {
            size_t len = (size_t)n;
            if (len && line[len - 1] == '\n') len--;
            if (len && line[len - 1] == '\r') len--;
            if (len && !add_sentence(ss, line, len)) ok = 0;
        }
        if (f) fclose(f);
        free(names[i]);
    }
    free(names);
    free(line);
    return ok;
}

int main(int argc, char **argv) {
    const char *tok_path = NULL, *dir = "../shared/data/tatoeba/v1";
    int special = 0, offsets = 0, npos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--special") == 0) special = 1;
        else if (strcmp(argv[i], "--offsets") == 0) offsets = 1;
        else if (npos == 0) { tok_path = argv[i]; npos++; }
        else if (npos == 1) { dir = argv[i]; npos++; }
        else tok_path = NULL;
    }
    if (!tok_path) {
        fprintf(stderr, "usage: tok_speed TOKENIZER [TATOEBA_DIR] [--special] [--offsets]\n");
        return 2;
    }
    sentences ss = {0};
    if (!read_tatoeba(dir, &ss)) return 1;

    double t0 = now_s();
    xl_tokenizer *tok;
    if (xl_tokenizer_load(tok_path, &tok) != XL_OK) {
        fprintf(stderr, "tok_speed: %s\n", xl_last_error());
        return 1;
    }
    double load_s = now_s() - t0;

    size_t tokens = 0;
    t0 = now_s();
    double c0 = cpu_s();
    for (size_t i = 0; i < ss.n; i++) {
        xl_encoding enc;
        xl_status st = offsets ? xl_tokenize_offsets(tok, ss.s[i], ss.len[i], special, &enc)
                               : xl_tokenize(tok, ss.s[i], ss.len[i], special, &enc);
        if (st != XL_OK) {
            fprintf(stderr, "tok_speed: sentence %zu: %s\n", i, xl_last_error());
            return 1;
        }
        tokens += enc.n;
        xl_encoding_free(&enc);
    }
    double enc_s = now_s() - t0, enc_cpu = cpu_s() - c0;
    printf("{\"impl\": \"xling\", \"type\": \"%s\", \"sentences\": %zu, \"bytes\": %zu, \"tokens\": %zu, "
           "\"special\": %s, \"offsets\": %s, \"load_ms\": %.1f, \"encode_s\": %.4f, \"encode_cpu_s\": %.4f, \"tokens_per_s\": %.0f, \"mb_per_s\": %.3f}\n",
           xl_tokenizer_type(tok), ss.n, ss.bytes, tokens, special ? "true" : "false", offsets ? "true" : "false", load_s * 1e3, enc_s, enc_cpu,
           (double)tokens / enc_s, (double)ss.bytes / enc_s / 1e6);
    xl_tokenizer_free(tok);
    for (size_t i = 0; i < ss.n; i++) free(ss.s[i]);
    free(ss.s);
    free(ss.len);
    return 0;
}
