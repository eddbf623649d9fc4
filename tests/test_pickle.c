/* The torch.save reader: the fixture .pt files (bge-m3-tiny's heads, F16) load with
 * their shapes and values (values read independently with Python's zipfile + struct),
 * strided views are gathered in C order, and hostile files built here — unknown
 * globals, REDUCE of anything but the allowed rebuild functions, truncated or foreign
 * zips, storages of the wrong size, views that do not fit, memo indices out of range,
 * stack underflow, deep nesting, huge declared sizes — each give a one-line error
 * naming what is wrong, never a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include "io/pickle.h"
#include "io/torch_pt.h"
#include "testlib.h"
#include "xling.h"

/* ---- a pickle builder ---- */
typedef struct {
    uint8_t b[4096];
    size_t n;
} pk;
static void op(pk *p, int c) { p->b[p->n++] = (uint8_t)c; }
static void raw(pk *p, const void *d, size_t n) { memcpy(p->b + p->n, d, n); p->n += n; }
static void str(pk *p, const char *s) {
    uint32_t n = (uint32_t)strlen(s);
    op(p, 'X');
    raw(p, &n, 4);
    raw(p, s, n);
}
static void global(pk *p, const char *mod, const char *name) {
    op(p, 'c');
    raw(p, mod, strlen(mod)); op(p, '\n');
    raw(p, name, strlen(name)); op(p, '\n');
}
static void integer(pk *p, long long v) {
    if (v >= 0 && v < 256) { op(p, 'K'); op(p, (int)v); }
    else if (v >= 0 && v < 65536) { op(p, 'M'); op(p, (int)(v & 255)); op(p, (int)(v >> 8)); }
    else { op(p, 0x8a); op(p, 8); raw(p, &v, 8); }
}

/* A state_dict of one tensor, as torch.save writes it (protocol 2). */
static void tensor_sd(pk *p, const char *name, const char *stype, const char *key, long long numel, long long offset,
                      int ndim, const long long *shape, const long long *stride) {
    p->n = 0;
    op(p, 0x80); op(p, 2);
    global(p, "collections", "OrderedDict"); op(p, ')'); op(p, 'R');
    op(p, '(');
    str(p, name);
    global(p, "torch._utils", "_rebuild_tensor_v2");
    op(p, '(');
    op(p, '('); str(p, "storage"); global(p, "torch", stype); str(p, key); str(p, "cpu"); integer(p, numel); op(p, 't');
    op(p, 'Q');
    integer(p, offset);
    op(p, '('); for (int d = 0; d < ndim; d++) integer(p, shape[d]); op(p, 't');
    op(p, '('); for (int d = 0; d < ndim; d++) integer(p, stride[d]); op(p, 't');
    op(p, 0x89);
    global(p, "collections", "OrderedDict"); op(p, ')'); op(p, 'R');
    op(p, 't');
    op(p, 'R');
    op(p, 'u');
    op(p, '.');
}

static char tmpdir[] = "/tmp/xl_pickle_XXXXXX";

/* Writes a zip at tmpdir/name with the given entries (name, bytes, length; NULL-ended). */
static const char *write_zip(const char *name, const char *const *names, const void *const *data, const size_t *lens) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    int err;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    if (!z) return NULL;
    for (int i = 0; names[i]; i++) {
        zip_source_t *s = zip_source_buffer(z, data[i], lens[i], 0);
        zip_int64_t idx = zip_file_add(z, names[i], s, ZIP_FL_OVERWRITE);
        if (idx >= 0) zip_set_file_compression(z, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
    }
    return zip_close(z) ? NULL : path;
}

/* Loads a .pt made of one pickle and one storage entry; expects failure with each of
 * the words in the one-line message. */
static void expect_fail(const char *label, const pk *p, const void *storage, size_t storage_len, const char *w1,
                        const char *w2) {
    const char *names[] = {"archive/data.pkl", "archive/data/0", "archive/version", NULL};
    const void *data[] = {p->b, storage, "3\n"};
    size_t lens[] = {p->n, storage_len, 2};
    const char *path = write_zip("bad.pt", names, data, lens);
    xl_pt_file f;
    xl_status st = path ? xl_pt_load(path, &f) : XL_ERR_IO;
    const char *e = xl_last_error();
    CHECK_MSG(path && st != XL_OK && f.n == 0 && f.t == NULL, "%s: status %d", label, st);
    CHECK_MSG(strstr(e, w1) && (!w2 || strstr(e, w2)) && !strchr(e, '\n'), "%s: message \"%s\"", label, e);
    /* the pickle reader alone says the same about the pickle part */
    xl_pk_state_dict sd;
    if (!xl_pickle_state_dict(p->b, p->n, "x", &sd)) xl_pk_state_dict_free(&sd);
}

static void fixtures(void) {
    xl_pt_file f;
    const char *colbert = t_path(t_repo_dir(), "tests/fixtures/pt/colbert_linear.pt");
    xl_status st = xl_pt_load(colbert, &f);
    CHECK_MSG(st == XL_OK, "colbert_linear.pt: %s", xl_last_error());
    if (st) return;
    CHECK_EQ_INT(f.n, 2);
    const xl_pt_tensor *w = xl_pt_find(&f, "weight"), *b = xl_pt_find(&f, "bias");
    CHECK(w && b && !xl_pt_find(&f, "nothing"));
    if (w && b) {
        CHECK(w->ndim == 2 && w->shape[0] == 32 && w->shape[1] == 32 && w->numel == 1024 && w->dtype == XL_DT_F16);
        CHECK(b->ndim == 1 && b->shape[0] == 32 && b->numel == 32);
        /* exact F16 values (Python: struct.unpack('<1024e', data/0)) */
        CHECK(w->data[0] == 0.385986328125f && w->data[1] == -0.0268402099609375f && w->data[1023] == 0.049224853515625f);
        CHECK(w->data[5 * 32 + 7] == -0.0178680419921875f && w->data[31 * 32 + 30] == 0.11566162109375f);
        double sum = 0;
        for (size_t i = 0; i < w->numel; i++) sum += w->data[i];
        CHECK_NEAR(sum, -9.418970584869385, 1e-9);
        CHECK(b->data[0] == 0.1292724609375f && b->data[31] == -0.09222412109375f);
    }
    xl_pt_free(&f);
    const char *sparse = t_path(t_repo_dir(), "tests/fixtures/pt/sparse_linear.pt");
    st = xl_pt_load(sparse, &f);
    CHECK_MSG(st == XL_OK, "sparse_linear.pt: %s", xl_last_error());
    if (st) return;
    w = xl_pt_find(&f, "weight");
    b = xl_pt_find(&f, "bias");
    CHECK(w && b && w->ndim == 2 && w->shape[0] == 1 && w->shape[1] == 32 && b->numel == 1);
    if (w && b) CHECK(w->data[0] == -0.35546875f && w->data[31] == 0.31494140625f && b->data[0] == 0.0999755859375f);
    xl_pt_free(&f);
    /* from memory too */
    FILE *fp = fopen(colbert, "rb");
    static uint8_t buf[8192];
    size_t n = fp ? fread(buf, 1, sizeof buf, fp) : 0;
    if (fp) fclose(fp);
    st = xl_pt_load_memory(buf, n, "mem.pt", &f);
    CHECK_MSG(st == XL_OK && f.n == 2, "from memory: %s", xl_last_error());
    xl_pt_free(&f);
    /* truncated zip */
    st = xl_pt_load_memory(buf, n / 2, "half.pt", &f);
    CHECK_MSG(st != XL_OK && strstr(xl_last_error(), "half.pt") && f.n == 0, "truncated: %s", xl_last_error());
    for (size_t cut = 1; cut < n; cut += 97) { /* every cut fails cleanly */
        if (xl_pt_load_memory(buf, cut, "cut.pt", &f) == XL_OK) {
            CHECK_MSG(0, "a zip cut at %zu bytes loaded", cut);
            xl_pt_free(&f);
        }
    }
    /* a missing file, a file that is not a zip (a legacy pickle) */
    st = xl_pt_load(t_path(tmpdir, "absent.pt"), &f);
    CHECK_MSG(st == XL_ERR_IO && strstr(xl_last_error(), "absent.pt"), "missing: %s", xl_last_error());
    st = xl_pt_load_memory("\x80\x02}q\x00.", 6, "legacy.pt", &f);
    CHECK_MSG(st == XL_ERR_FORMAT && strstr(xl_last_error(), "not a zip"), "legacy: %s", xl_last_error());
}

static void strided(void) {
    /* storage of 8 F32 values 0..7; view offset 1, shape (3, 2), stride (1, 3):
     * t[i][j] = s[1 + i + 3j] */
    float s[8];
    for (int i = 0; i < 8; i++) s[i] = (float)i;
    pk p;
    long long shape[2] = {3, 2}, stride[2] = {1, 3};
    tensor_sd(&p, "t", "FloatStorage", "0", 8, 1, 2, shape, stride);
    const char *names[] = {"my_root/data.pkl", "my_root/data/0", NULL};
    const void *data[] = {p.b, s};
    size_t lens[] = {p.n, sizeof s};
    const char *path = write_zip("strided.pt", names, data, lens);
    xl_pt_file f;
    xl_status st = path ? xl_pt_load(path, &f) : XL_ERR_IO;
    CHECK_MSG(st == XL_OK, "strided: %s", xl_last_error());
    if (st) return;
    const xl_pt_tensor *t = xl_pt_find(&f, "t");
    CHECK(t && t->numel == 6 && t->shape[0] == 3 && t->shape[1] == 2 && t->dtype == XL_DT_F32);
    static const float want[6] = {1, 4, 2, 5, 3, 6};
    if (t) CHECK(memcmp(t->data, want, sizeof want) == 0);
    xl_pt_free(&f);
    /* BF16 and a 0-d scalar */
    uint16_t bf[2] = {0x3fc0, 0xc000}; /* 1.5, -2 */
    tensor_sd(&p, "s", "BFloat16Storage", "0", 2, 1, 0, NULL, NULL);
    data[0] = p.b; data[1] = bf; lens[0] = p.n; lens[1] = sizeof bf;
    path = write_zip("bf16.pt", names, data, lens);
    st = path ? xl_pt_load(path, &f) : XL_ERR_IO;
    CHECK_MSG(st == XL_OK && f.n == 1 && f.t[0].ndim == 0 && f.t[0].numel == 1 && f.t[0].data[0] == -2.0f,
              "bf16 scalar: %s", xl_last_error());
    if (!st) xl_pt_free(&f);
}

static void hostile(void) {
    pk p;
    float s[4] = {0};
    long long sh[1] = {4}, st1[1] = {1};
    /* os.system: refused at the GLOBAL, before anything could call it */
    p.n = 0;
    op(&p, 0x80); op(&p, 2); global(&p, "os", "system"); str(&p, "touch /tmp/xl_pwned"); op(&p, 0x85); op(&p, 'R'); op(&p, '.');
    expect_fail("os.system", &p, s, sizeof s, "global os.system is not allowed", NULL);
    CHECK(access("/tmp/xl_pwned", F_OK) != 0);
    /* builtins.eval, through STACK_GLOBAL too */
    p.n = 0;
    op(&p, 0x80); op(&p, 4); global(&p, "builtins", "eval"); str(&p, "1"); op(&p, 0x85); op(&p, 'R'); op(&p, '.');
    expect_fail("builtins.eval", &p, s, sizeof s, "builtins.eval", "not allowed");
    p.n = 0;
    op(&p, 0x80); op(&p, 4); str(&p, "builtins"); str(&p, "eval"); op(&p, 0x93); op(&p, '.');
    expect_fail("STACK_GLOBAL eval", &p, s, sizeof s, "global builtins.eval is not allowed", NULL);
    /* REDUCE of an allowed global that is not a callable here (a storage type) */
    p.n = 0;
    op(&p, 0x80); op(&p, 2); global(&p, "torch", "FloatStorage"); op(&p, ')'); op(&p, 'R'); op(&p, '.');
    expect_fail("REDUCE storage", &p, s, sizeof s, "REDUCE of torch.FloatStorage is not allowed", NULL);
    /* REDUCE of a non-callable (a string) */
    p.n = 0;
    op(&p, 0x80); op(&p, 2); str(&p, "eval"); op(&p, ')'); op(&p, 'R'); op(&p, '.');
    expect_fail("REDUCE string", &p, s, sizeof s, "REDUCE of a value that is not an allowed callable", NULL);
    /* opcodes outside the list: INST, OBJ, NEWOBJ, BINFLOAT */
    const int bad_ops[] = {'i', 'o', 0x81, 'G', ']'};
    for (size_t k = 0; k < sizeof bad_ops / sizeof bad_ops[0]; k++) {
        p.n = 0;
        op(&p, 0x80); op(&p, 2); op(&p, bad_ops[k]); op(&p, '.');
        expect_fail("opcode", &p, s, sizeof s, "is not allowed", "byte 2");
    }
    /* stack underflow, TUPLE without MARK, STOP on an empty stack */
    p.n = 0; op(&p, 0x80); op(&p, 2); op(&p, 'R'); op(&p, '.');
    expect_fail("underflow", &p, s, sizeof s, "stack underflow", NULL);
    p.n = 0; op(&p, 0x80); op(&p, 2); op(&p, 't'); op(&p, '.');
    expect_fail("no mark", &p, s, sizeof s, "no MARK", NULL);
    p.n = 0; op(&p, 0x80); op(&p, 2); op(&p, '.');
    expect_fail("empty stop", &p, s, sizeof s, "stack underflow", NULL);
    /* pops may not reach below a MARK */
    p.n = 0; op(&p, 0x80); op(&p, 2); op(&p, '}'); op(&p, '('); op(&p, 's'); op(&p, '.');
    expect_fail("below mark", &p, s, sizeof s, "stack underflow", NULL);
    /* deep nesting */
    p.n = 0; op(&p, 0x80); op(&p, 2);
    for (int i = 0; i < 40; i++) op(&p, '(');
    op(&p, '.');
    expect_fail("nesting", &p, s, sizeof s, "nested deeper than", NULL);
    /* memo: BINGET of a slot never stored, LONG_BINPUT beyond the bound */
    p.n = 0; op(&p, 0x80); op(&p, 2); op(&p, '}'); op(&p, 'q'); op(&p, 0); op(&p, 'h'); op(&p, 200); op(&p, '.');
    expect_fail("binget", &p, s, sizeof s, "memo index 200 out of range", NULL);
    p.n = 0; op(&p, 0x80); op(&p, 2); op(&p, '}'); op(&p, 'r'); raw(&p, "\xff\xff\xff\x7f", 4); op(&p, '.');
    expect_fail("long_binput", &p, s, sizeof s, "memo index 2147483647 out of range", NULL);
    p.n = 0; op(&p, 0x80); op(&p, 2); op(&p, 'j'); raw(&p, "\x00\x00\x00\x01", 4); op(&p, '.');
    expect_fail("long_binget", &p, s, sizeof s, "out of range", NULL);
    /* truncated pickles: a string longer than the data, no STOP */
    p.n = 0; op(&p, 0x80); op(&p, 2); op(&p, 'X'); raw(&p, "\xff\xff\xff\xff", 4); raw(&p, "abc", 3);
    expect_fail("long string", &p, s, sizeof s, "truncated", NULL);
    tensor_sd(&p, "w", "FloatStorage", "0", 4, 0, 1, sh, st1);
    size_t full = p.n;
    for (size_t cut = 1; cut < full; cut++) {
        p.n = cut;
        xl_pk_state_dict sd;
        if (xl_pickle_state_dict(p.b, p.n, "cut", &sd) == XL_OK) {
            CHECK_MSG(0, "a pickle cut at %zu of %zu bytes was accepted", cut, full);
            xl_pk_state_dict_free(&sd);
        }
    }
    p.n = full - 1;
    expect_fail("no STOP", &p, s, sizeof s, "truncated", NULL);
    /* the good one loads (the baseline of the cases below) */
    p.n = full;
    {
        const char *names[] = {"archive/data.pkl", "archive/data/0", NULL};
        const void *data[] = {p.b, s};
        size_t lens[] = {p.n, sizeof s};
        const char *path = write_zip("good.pt", names, data, lens);
        xl_pt_file f;
        xl_status st = path ? xl_pt_load(path, &f) : XL_ERR_IO;
        CHECK_MSG(st == XL_OK && f.n == 1 && f.t[0].numel == 4, "baseline: %s", xl_last_error());
        if (!st) xl_pt_free(&f);
    }
    /* wrong storage size in the archive */
    expect_fail("storage size", &p, s, 12, "holds 12 bytes, the pickle declares 16", NULL);
    /* shapes and offsets that do not fit the storage */
    long long big[1] = {5};
    tensor_sd(&p, "w", "FloatStorage", "0", 4, 0, 1, big, st1);
    expect_fail("shape", &p, s, sizeof s, "does not fit its storage of 4 elements", NULL);
    tensor_sd(&p, "w", "FloatStorage", "0", 4, 1, 1, sh, st1);
    expect_fail("offset", &p, s, sizeof s, "does not fit", NULL);
    long long sh2[2] = {2, 2}, str2[2] = {3, 1};
    tensor_sd(&p, "w", "FloatStorage", "0", 4, 0, 2, sh2, str2);
    expect_fail("stride", &p, s, sizeof s, "does not fit", NULL);
    long long exp_shape[2] = {1LL << 30, 1LL << 30}, zero[2] = {0, 0};
    tensor_sd(&p, "w", "FloatStorage", "0", 4, 0, 2, exp_shape, zero);
    expect_fail("expanded", &p, s, sizeof s, "larger than its storage", NULL);
    long long huge[2] = {1LL << 40, 1LL << 40}, hstr[2] = {1LL << 40, 1};
    tensor_sd(&p, "w", "FloatStorage", "0", 4, 0, 2, huge, hstr);
    expect_fail("huge shape", &p, s, sizeof s, "overflow", NULL);
    /* huge declared storage: the archive's size disagrees, nothing is allocated */
    tensor_sd(&p, "w", "FloatStorage", "0", 1LL << 60, 0, 1, sh, st1);
    expect_fail("huge storage", &p, s, sizeof s, "the pickle declares", NULL);
    tensor_sd(&p, "w", "FloatStorage", "0", 1LL << 62, 0, 1, sh, st1);
    expect_fail("storage overflow", &p, s, sizeof s, "overflows", NULL);
    /* a storage entry missing; a storage key that is a path */
    tensor_sd(&p, "w", "FloatStorage", "7", 4, 0, 1, sh, st1);
    expect_fail("missing storage", &p, s, sizeof s, "archive/data/7 is missing", NULL);
    tensor_sd(&p, "w", "FloatStorage", "../0", 4, 0, 1, sh, st1);
    expect_fail("key path", &p, s, sizeof s, "not a plain name", NULL);
    /* a dict entry that is not a tensor; not a dict at all; a key twice */
    p.n = 0; op(&p, 0x80); op(&p, 2); op(&p, '}'); str(&p, "w"); integer(&p, 3); op(&p, 's'); op(&p, '.');
    expect_fail("not tensor", &p, s, sizeof s, "entry \"w\" is not a tensor", NULL);
    p.n = 0; op(&p, 0x80); op(&p, 2); integer(&p, 3); op(&p, '.');
    expect_fail("not dict", &p, s, sizeof s, "not a state_dict", NULL);
    {
        /* one tensor, memoized, set under "w" twice */
        pk q;
        q.n = 0;
        op(&q, 0x80); op(&q, 2); op(&q, '}');
        op(&q, '(');
        str(&q, "w");
        global(&q, "torch._utils", "_rebuild_tensor_v2");
        op(&q, '(');
        op(&q, '('); str(&q, "storage"); global(&q, "torch", "FloatStorage"); str(&q, "0"); str(&q, "cpu"); integer(&q, 4); op(&q, 't');
        op(&q, 'Q'); integer(&q, 0); op(&q, '('); integer(&q, 4); op(&q, 't'); op(&q, '('); integer(&q, 1); op(&q, 't');
        op(&q, 0x89); op(&q, '}'); op(&q, 't'); op(&q, 'R');
        op(&q, 'q'); op(&q, 9);
        str(&q, "w"); op(&q, 'h'); op(&q, 9);
        op(&q, 'u'); op(&q, '.');
        expect_fail("duplicate", &q, s, sizeof s, "\"w\" appears twice", NULL);
    }
    /* bytes after STOP */
    tensor_sd(&p, "w", "FloatStorage", "0", 4, 0, 1, sh, st1);
    op(&p, 'N');
    expect_fail("after stop", &p, s, sizeof s, "bytes after STOP", NULL);
    /* zips without data.pkl, with two, and a file that is no zip */
    const char *names[] = {"archive/version", NULL};
    const void *data[] = {"3\n"};
    size_t lens[] = {2};
    const char *path = write_zip("nopkl.pt", names, data, lens);
    xl_pt_file f;
    xl_status st = path ? xl_pt_load(path, &f) : XL_ERR_IO;
    CHECK_MSG(st == XL_ERR_FORMAT && strstr(xl_last_error(), "no <root>/data.pkl"), "no data.pkl: %s", xl_last_error());
    const char *names2[] = {"a/data.pkl", "b/data.pkl", NULL};
    const void *data2[] = {p.b, p.b};
    size_t lens2[] = {p.n, p.n};
    path = write_zip("twopkl.pt", names2, data2, lens2);
    st = path ? xl_pt_load(path, &f) : XL_ERR_IO;
    CHECK_MSG(st == XL_ERR_FORMAT && strstr(xl_last_error(), "two data.pkl"), "two data.pkl: %s", xl_last_error());
}

int main(void) {
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    fixtures();
    strided();
    hostile();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_summary("test_pickle");
}
