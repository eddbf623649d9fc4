/* The evaluation data in data/: LASER's Tatoeba pairs and the multilingual STS-B test
 * split (CSV with excel quoting), and the hash that names a task's data revision. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xling.h"
#include "util/error.h"
#include "util/fileio.h"

void xl_lines_free(xl_lines *l) {
    for (size_t i = 0; l->v && i < l->n; i++) free(l->v[i]);
    free(l->v);
    free(l->len);
    memset(l, 0, sizeof *l);
}

xl_status xl_lines_read(const char *path, size_t max, xl_lines *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return xl_err(XL_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    size_t cap = 0, lcap = 0;
    char *line = NULL;
    ssize_t k;
    xl_status st = XL_OK;
    while ((!max || out->n < max) && (k = getline(&line, &lcap, f)) >= 0) {
        if (k > 0 && line[k - 1] == '\n') k--;
        if (k > 0 && line[k - 1] == '\r') k--;
        if (out->n == cap) {
            cap = cap ? 2 * cap : 1024;
            char **v = realloc(out->v, cap * sizeof *v);
            if (v) out->v = v;
            size_t *len = v ? realloc(out->len, cap * sizeof *len) : NULL;
            if (len) out->len = len;
            if (!v || !len) { st = xl_err(XL_ERR_NOMEM, "out of memory reading %s", path); break; }
        }
        char *s = malloc((size_t)k + 1);
        if (!s) { st = xl_err(XL_ERR_NOMEM, "out of memory reading %s", path); break; }
        memcpy(s, line, (size_t)k);
        s[k] = '\0';
        out->v[out->n] = s;
        out->len[out->n++] = (size_t)k;
    }
    if (!st && ferror(f)) st = xl_err(XL_ERR_IO, "read error on %s", path);
    free(line);
    fclose(f);
    if (st) xl_lines_free(out);
    return st;
}

/* ------------------------------------------------------------- Tatoeba */

static int cmp_code(const void *a, const void *b) { return strcmp(a, b); }

xl_status xl_tatoeba_codes(const char *data_dir, char (**codes)[8], size_t *n) {
    *codes = NULL;
    *n = 0;
    char *dir = xl_path_join(data_dir, "tatoeba/v1");
    if (!dir) return xl_err(XL_ERR_NOMEM, "out of memory");
    DIR *d = opendir(dir);
    if (!d) {
        xl_status st = xl_err(XL_ERR_IO, "no Tatoeba data: cannot open %s: %s (give the data folder with --data)", dir,
                              strerror(errno));
        free(dir);
        return st;
    }
    size_t cap = 0;
    char (*c)[8] = NULL;
    struct dirent *e;
    xl_status st = XL_OK;
    while ((e = readdir(d))) {
        /* tatoeba.XXX-eng.XXX: one file per pair names the language */
        const char *s = e->d_name;
        size_t L = strlen(s);
        if (L < 17 || strncmp(s, "tatoeba.", 8) || strncmp(s + L - 8, "-eng.", 5) || L != 8 + 3 + 5 + 3) continue;
        if (strncmp(s + 8, s + L - 3, 3) || !strcmp(s + L - 3, "eng")) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 128;
            char (*p)[8] = realloc(c, cap * sizeof *p);
            if (!p) { st = xl_err(XL_ERR_NOMEM, "out of memory"); break; }
            c = p;
        }
        memcpy(c[*n], s + 8, 3);
        c[(*n)++][3] = '\0';
    }
    closedir(d);
    if (!st && !*n) st = xl_err(XL_ERR_IO, "no Tatoeba files (tatoeba.XXX-eng.XXX) in %s", dir);
    free(dir);
    if (st) { free(c); *n = 0; return st; }
    qsort(c, *n, sizeof *c, cmp_code);
    *codes = c;
    return XL_OK;
}

char *xl_tatoeba_path(const char *data_dir, const char *code, int english) {
    char name[64];
    snprintf(name, sizeof name, "tatoeba/v1/tatoeba.%s-eng.%s", code, english ? "eng" : code);
    return xl_path_join(data_dir, name);
}

xl_status xl_tatoeba_load(const char *data_dir, const char *code, size_t max, xl_lines *xx, xl_lines *en) {
    memset(en, 0, sizeof *en);
    char *px = xl_tatoeba_path(data_dir, code, 0), *pe = xl_tatoeba_path(data_dir, code, 1);
    xl_status st = !px || !pe ? xl_err(XL_ERR_NOMEM, "out of memory") : xl_lines_read(px, max, xx);
    if (!st) st = xl_lines_read(pe, max, en);
    if (!st && xx->n != en->n)
        st = xl_err(XL_ERR_FORMAT, "%s has %zu lines but %s has %zu: the pair's files must be aligned", px, xx->n, pe,
                    en->n);
    if (st) { xl_lines_free(xx); xl_lines_free(en); }
    free(px);
    free(pe);
    return st;
}

/* mteb's Tatoeba language names (ISO 639-3 + ISO 15924); every other code is Latin. */
static const char *const scripts[][2] = {
    {"amh", "Ethi"}, {"ara", "Arab"}, {"arq", "Arab"}, {"arz", "Arab"}, {"awa", "Deva"}, {"bel", "Cyrl"},
    {"ben", "Beng"}, {"ber", "Tfng"}, {"bul", "Cyrl"}, {"cmn", "Hans"}, {"ell", "Grek"}, {"heb", "Hebr"},
    {"hin", "Deva"}, {"hye", "Armn"}, {"jpn", "Jpan"}, {"kat", "Geor"}, {"kaz", "Cyrl"}, {"khm", "Khmr"},
    {"kor", "Hang"}, {"mal", "Mlym"}, {"mar", "Deva"}, {"mhr", "Cyrl"}, {"mkd", "Cyrl"}, {"mon", "Cyrl"},
    {"orv", "Cyrl"}, {"pes", "Arab"}, {"rus", "Cyrl"}, {"srp", "Cyrl"}, {"tam", "Taml"}, {"tat", "Cyrl"},
    {"tel", "Telu"}, {"tha", "Thai"}, {"uig", "Arab"}, {"ukr", "Cyrl"}, {"urd", "Arab"}, {"wuu", "Hans"},
    {"yid", "Hebr"}, {"yue", "Hant"},
};

const char *xl_tatoeba_script(const char *code) {
    for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++)
        if (!strcmp(scripts[i][0], code)) return scripts[i][1];
    return "Latn";
}

/* ---------------------------------------------------------------- STS-B */

const char *const xl_stsb_langs[] = {"en", "de", "es", "fr", "it", "ja", "nl", "pl", "pt", "ru", "zh", NULL};
const char *const xl_stsb_iso3[] = {"eng-Latn", "deu-Latn", "spa-Latn", "fra-Latn", "ita-Latn", "jpn-Jpan",
                                    "nld-Latn", "pol-Latn", "por-Latn", "rus-Cyrl", "cmn-Hans", NULL};

int xl_stsb_lang_index(const char *code) {
    for (int i = 0; xl_stsb_langs[i]; i++)
        if (!strcmp(xl_stsb_langs[i], code)) return i;
    return -1;
}

char *xl_stsb_path(const char *data_dir, const char *lang) {
    char name[64];
    snprintf(name, sizeof name, "stsb-multi-mt/data/stsb-%s-test.csv", lang);
    return xl_path_join(data_dir, name);
}

void xl_sts_set_free(xl_sts_set *s) {
    xl_lines_free(&s->s1);
    xl_lines_free(&s->s2);
    free(s->score);
    s->score = NULL;
}

/* One CSV field starting at *p (excel dialect: "..." with "" for a quote), unquoted
 * into out; *comma = 1 when a comma ends it. Returns 0 at a malformed quote. */
static int csv_field(const char **p, const char *end, char *out, size_t *olen, int *comma) {
    const char *s = *p;
    size_t k = 0;
    if (s < end && *s == '"') {
        s++;
        for (;;) {
            if (s >= end) return 0;
            if (*s == '"') {
                if (s + 1 < end && s[1] == '"') { out[k++] = '"'; s += 2; continue; }
                s++;
                break;
            }
            out[k++] = *s++;
        }
        if (s < end && *s != ',') return 0;
    } else {
        while (s < end && *s != ',') out[k++] = *s++;
    }
    out[k] = '\0';
    *olen = k;
    *comma = s < end;
    *p = s < end ? s + 1 : s;
    return 1;
}

static xl_status lines_push(xl_lines *l, const char *s, size_t len) {
    char *c = malloc(len + 1);
    if (!c) return xl_err(XL_ERR_NOMEM, "out of memory");
    memcpy(c, s, len + 1);
    l->v[l->n] = c;
    l->len[l->n++] = len;
    return XL_OK;
}

xl_status xl_stsb_load(const char *data_dir, const char *lang, xl_sts_set *out) {
    memset(out, 0, sizeof *out);
    char *path = xl_stsb_path(data_dir, lang);
    if (!path) return xl_err(XL_ERR_NOMEM, "out of memory");
    xl_lines raw;
    xl_status st = xl_lines_read(path, 0, &raw);
    if (st) { free(path); return st; }
    size_t n = raw.n;
    out->s1.v = calloc(n + 1, sizeof(char *));
    out->s2.v = calloc(n + 1, sizeof(char *));
    out->s1.len = malloc((n + 1) * sizeof(size_t));
    out->s2.len = malloc((n + 1) * sizeof(size_t));
    out->score = malloc((n + 1) * sizeof(double));
    if (!out->s1.v || !out->s2.v || !out->s1.len || !out->s2.len || !out->score) st = xl_err(XL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < n; i++) {
        const char *p = raw.v[i], *end = raw.v[i] + raw.len[i];
        char *f[3];
        size_t fl[3];
        char *buf = malloc(3 * (raw.len[i] + 1));
        if (!buf) { st = xl_err(XL_ERR_NOMEM, "out of memory"); break; }
        int ok = 1, comma = 1;
        for (int k = 0; k < 3 && ok; k++) {
            f[k] = buf + k * (raw.len[i] + 1);
            ok = comma && csv_field(&p, end, f[k], &fl[k], &comma) && (k == 2 ? !comma : comma);
        }
        char *e = NULL;
        double sc = ok ? strtod(f[2], &e) : 0;
        if (!ok || p != end || e == f[2] || *e || sc < 0 || sc > 5)
            st = xl_err(XL_ERR_FORMAT, "%s line %zu: expected sentence1,sentence2,score (0-5)", path, i + 1);
        if (!st) st = lines_push(&out->s1, f[0], fl[0]);
        if (!st) st = lines_push(&out->s2, f[1], fl[1]);
        if (!st) out->score[i] = sc;
        free(buf);
    }
    xl_lines_free(&raw);
    if (!st && !n) st = xl_err(XL_ERR_FORMAT, "%s is empty", path);
    free(path);
    if (st) xl_sts_set_free(out);
    return st;
}

/* ---------------------------------------------------------------- hash */

xl_status xl_files_hash(const char *const *paths, size_t n, char out[17]) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        const char *base = strrchr(paths[i], '/');
        base = base ? base + 1 : paths[i];
        for (const char *c = base; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ULL;
        FILE *f = fopen(paths[i], "rb");
        if (!f) return xl_err(XL_ERR_IO, "cannot read %s: %s", paths[i], strerror(errno));
        unsigned char buf[65536];
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, f)) > 0)
            for (size_t j = 0; j < k; j++) h = (h ^ buf[j]) * 1099511628211ULL;
        int bad = ferror(f);
        fclose(f);
        if (bad) return xl_err(XL_ERR_IO, "read error on %s", paths[i]);
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
    return XL_OK;
}
