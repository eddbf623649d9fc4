/* Tests of the safetensors writer and the output-folder helper: F16 / BF16 rounding
 * (hand-picked ties, NaN, Inf, subnormals; every half value and every midpoint between
 * neighbouring halves; the F16C instruction on random values where the CPU has it),
 * size parsing, files read back by xling's own reader (header padding, metadata, exact
 * values), sharding as transformers does it with its index, misuse of the API, a full
 * disk (RLIMIT_FSIZE: nothing left behind), and folders committed atomically. */
#include <dirent.h>
#include <errno.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "testlib.h"

static char tmpdir[256];

static float bits_f(uint32_t b) {
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* ------------------------------------------------------------------ rounding */

static void test_bf16(void) {
    static const struct {
        uint32_t in;
        uint16_t want;
    } cases[] = {
        {0x3f800000u, 0x3f80u}, /* 1.0 */
        {0x3f808000u, 0x3f80u}, /* tie, 0x3f80 even: down */
        {0x3f818000u, 0x3f82u}, /* tie, 0x3f81 odd: up */
        {0x3f808001u, 0x3f81u}, /* just above the tie */
        {0x3f807fffu, 0x3f80u}, /* just below */
        {0x80000000u, 0x8000u}, /* -0 */
        {0x7f800000u, 0x7f80u}, /* Inf */
        {0xff800000u, 0xff80u}, /* -Inf */
        {0x7f7fffffu, 0x7f80u}, /* FLT_MAX rounds to Inf */
        {0x7f7f7fffu, 0x7f7fu}, /* stays the largest finite */
        {0x00018000u, 0x0002u}, /* subnormal tie, odd: up */
        {0x00008000u, 0x0000u}, /* subnormal tie, even: down to 0 */
        {0x80010001u, 0x8001u}, /* negative subnormal */
        {0x7fc00000u, 0x7fc0u}, /* quiet NaN */
        {0x7f800001u, 0x7fc0u}, /* signalling NaN with a low payload: made quiet, still NaN */
        {0xffc12345u, 0xffc1u}, /* negative NaN: sign and top payload kept */
        {0x7fff8000u, 0x7fffu}, /* NaN whose rounding would carry: not rounded */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = xl_f32_to_bf16(bits_f(cases[i].in));
        CHECK_MSG(got == cases[i].want, "bf16(0x%08x) = 0x%04x, want 0x%04x", cases[i].in, got, cases[i].want);
    }
    /* every bfloat16 survives BF16 -> F32 -> BF16 unchanged (NaNs stay NaN) */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t back = xl_f32_to_bf16(xl_bf16_to_f32((uint16_t)h));
        int nan = (h & 0x7fffu) > 0x7f80u;
        if (nan ? (back & 0x7fffu) <= 0x7f80u || (back & 0x8000u) != (h & 0x8000u) : back != h) bad++;
    }
    CHECK_MSG(bad == 0, "%d bfloat16 values changed on the round trip", bad);
    /* midpoints between neighbours round to the even one, and a hair off them to the nearer */
    bad = 0;
    for (uint32_t h = 0; h < 0x7f7fu; h++) {
        uint32_t lo = h << 16, mid = lo + 0x8000u;
        uint16_t even = (h & 1u) ? (uint16_t)(h + 1) : (uint16_t)h;
        if (xl_f32_to_bf16(bits_f(mid)) != even || xl_f32_to_bf16(bits_f(mid - 1)) != h ||
            xl_f32_to_bf16(bits_f(mid + 1)) != h + 1)
            bad++;
    }
    CHECK_MSG(bad == 0, "%d bfloat16 midpoints rounded wrongly", bad);
}

static void test_f16_cases(void) {
    static const struct {
        float in;
        uint16_t want;
    } cases[] = {
        {1.0f, 0x3c00u},
        {-2.0f, 0xc000u},
        {65504.0f, 0x7bffu},        /* largest half */
        {65519.99f, 0x7bffu},       /* below the midpoint to Inf */
        {65520.0f, 0x7c00u},        /* midpoint, 0x7bff odd: Inf */
        {1e10f, 0x7c00u},
        {-1e10f, 0xfc00u},
        {0x1p-14f, 0x0400u},        /* smallest normal */
        {0x1p-24f, 0x0001u},        /* smallest subnormal */
        {0x1p-25f, 0x0000u},        /* half of it: tie to even (0) */
        {0x1.000002p-25f, 0x0001u}, /* just above: up */
        {0x1.8p-24f, 0x0002u},      /* 1.5 units: tie, 1 odd: up to 2 */
        {0x1.4p-23f, 0x0002u},      /* 2.5 units: tie, 2 even: down */
        {0x1.ffcp-15f, 0x0400u},    /* 1023.5 units: tie, 1023 odd: up into the smallest normal */
        {1.0f + 0x1p-11f, 0x3c00u}, /* normal tie, even: down */
        {1.0f + 0x3p-11f, 0x3c02u}, /* normal tie, odd: up */
        {-0.0f, 0x8000u},
        {INFINITY, 0x7c00u},
        {-INFINITY, 0xfc00u},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = xl_f32_to_f16(cases[i].in);
        CHECK_MSG(got == cases[i].want, "f16(%a) = 0x%04x, want 0x%04x", (double)cases[i].in, got, cases[i].want);
    }
    uint16_t n1 = xl_f32_to_f16(bits_f(0x7fc00000u)), n2 = xl_f32_to_f16(bits_f(0xff800001u));
    CHECK_MSG((n1 & 0x7c00u) == 0x7c00u && (n1 & 0x3ffu) && !(n1 & 0x8000u), "NaN -> 0x%04x", n1);
    CHECK_MSG((n2 & 0x7c00u) == 0x7c00u && (n2 & 0x200u) && (n2 & 0x8000u), "-sNaN -> 0x%04x (quiet, negative)", n2);
    /* exhaustive: every half round-trips; every midpoint between neighbours goes to the even one */
    int bad = 0;
    for (uint32_t h = 0; h < 0x7c00u; h++) {
        for (uint32_t s = 0; s <= 0x8000u; s += 0x8000u) {
            if (xl_f32_to_f16(xl_f16_to_f32((uint16_t)(h | s))) != (h | s)) bad++;
        }
        if (h + 1 < 0x7c00u) {
            float a = xl_f16_to_f32((uint16_t)h), b = xl_f16_to_f32((uint16_t)(h + 1));
            float mid = (a + b) / 2; /* exact in float32 */
            uint16_t even = (h & 1u) ? (uint16_t)(h + 1) : (uint16_t)h;
            if (xl_f32_to_f16(mid) != even || xl_f32_to_f16(nextafterf(mid, 0)) != h ||
                xl_f32_to_f16(nextafterf(mid, INFINITY)) != h + 1)
                bad++;
        }
    }
    CHECK_MSG(bad == 0, "%d half values or midpoints rounded wrongly", bad);
}

/* The hardware conversion as the reference: F16C on x86-64, the FCVT behind _Float16
 * on aarch64 (both round to nearest even). */
#if defined(__x86_64__)
__attribute__((target("f16c"))) static uint16_t f16c_one(float x) {
    return (uint16_t)_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(x), _MM_FROUND_TO_NEAREST_INT), 0);
}
static int have_f16c(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("f16c");
}
#elif defined(__aarch64__)
static uint16_t f16c_one(float x) {
    _Float16 h = (_Float16)x;
    uint16_t u;
    memcpy(&u, &h, sizeof u);
    return u;
}
static int have_f16c(void) { return 1; }
#else
static uint16_t f16c_one(float x) { (void)x; return 0; }
static int have_f16c(void) { return 0; }
#endif

static void test_f16_vs_f16c(void) {
    if (!have_f16c()) {
        t_skip_case("f16 vs F16C", "no hardware half conversion to compare with");
        return;
    }
    uint64_t s = 0x9e3779b97f4a7c15ull;
    int bad = 0;
    for (int i = 0; i < 2000000; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        uint32_t b = (uint32_t)s;
        if (i & 1) b = (b & 0x80000000u) | (0x30000000u + (b & 0x1fffffffu) % 0x18000000u); /* around the half range */
        float x = bits_f(b);
        uint16_t a = xl_f32_to_f16(x), c = f16c_one(x);
        if (isnan(x) ? (a & 0x7c00u) != 0x7c00u || !(a & 0x3ffu) : a != c) {
            if (bad++ < 5) fprintf(stderr, "  f16(%a): 0x%04x, F16C 0x%04x\n", (double)x, a, c);
        }
    }
    CHECK_MSG(bad == 0, "%d of 2M random values differ from the F16C instruction", bad);
}

static void test_parse_size(void) {
    static const struct {
        const char *s;
        uint64_t want;
    } ok[] = {{"5GB", 5000000000ull}, {"500MB", 500000000ull}, {"2MB", 2000000ull}, {"1234", 1234},
              {"1.5GB", 1500000000ull}, {"10GiB", 10737418240ull}, {"64kb", 64000}, {"2 MiB", 2097152}, {"100B", 100}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 0;
        xl_status st = xl_parse_size(ok[i].s, &v);
        CHECK_MSG(st == XL_OK && v == ok[i].want, "%s -> %llu (%s)", ok[i].s, (unsigned long long)v, xl_last_error());
    }
    const char *bad[] = {"", "abc", "5XB", "-1", "0", "0.1", "5 GB extra", "nan", "1e30GB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v;
        xl_status st = xl_parse_size(bad[i], &v);
        CHECK_MSG(st == XL_ERR_ARG && (!*bad[i] || strstr(xl_last_error(), bad[i])), "\"%s\": %s (%s)", bad[i],
                  xl_status_name(st), xl_last_error());
    }
}

/* ------------------------------------------------------------------ files */

static const char *mkdir_in(const char *name) {
    const char *p = t_path(tmpdir, name);
    mkdir(p, 0755);
    return p;
}

/* Entries of a folder (not . and ..), sorted, joined by spaces. */
static const char *listing(const char *dir) {
    static char out[2048];
    char names[64][128];
    int n = 0;
    DIR *d = opendir(dir);
    out[0] = '\0';
    if (!d) return "(missing)";
    struct dirent *e;
    while ((e = readdir(d)) && n < 64)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) snprintf(names[n++], 128, "%.127s", e->d_name);
    closedir(d);
    qsort(names, (size_t)n, 128, (int (*)(const void *, const void *))strcmp);
    for (int i = 0; i < n; i++) {
        strcat(out, i ? " " : "");
        strcat(out, names[i]);
    }
    return out;
}

static void test_single_file(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s", mkdir_in("single"));
    xl_st_writer *w;
    CHECK(xl_st_writer_new(dir, 0, &w) == XL_OK);
    int64_t s23[2] = {2, 3}, s4[1] = {4}, s2[1] = {2};
    CHECK(xl_st_writer_declare(w, "a.weight", "F32", s23, 2) == XL_OK);
    CHECK(xl_st_writer_declare(w, "b", "BF16", s4, 1) == XL_OK);
    CHECK(xl_st_writer_declare(w, "ids", "I64", s2, 1) == XL_OK);
    CHECK(xl_st_writer_declare(w, "scalar", "F16", NULL, 0) == XL_OK);
    CHECK(xl_st_writer_declare(w, "b", "F32", s4, 1) == XL_ERR_ARG); /* twice */
    CHECK(xl_st_writer_declare(w, "c", "F8_E4M3", s4, 1) == XL_ERR_ARG);
    CHECK(xl_st_writer_metadata(w, "source", "test \"q\"") == XL_OK);
    float a[6] = {1, -2, 3.5f, 0, 1e-3f, 7};
    float b[4] = {1.0f, bits_f(0x3f808000u), bits_f(0x3f818000u), -0.0f};
    int64_t ids[2] = {-1, 1234567890123ll};
    CHECK(xl_st_writer_write_f32(w, a) == XL_OK);
    CHECK(xl_st_writer_declare(w, "late", "F32", s4, 1) == XL_ERR_ARG); /* after writing began */
    CHECK(xl_st_writer_append_f32(w, b, 3) == XL_OK);                    /* in two pieces */
    CHECK(xl_st_writer_append_f32(w, b + 3, 1) == XL_OK);
    CHECK(xl_st_writer_write_raw(w, ids, sizeof ids) == XL_OK);
    float one = 0.5f;
    CHECK(xl_st_writer_write_f32(w, &one) == XL_OK);
    CHECK(strcmp(listing(dir), ".model.safetensors.tmp") == 0);
    CHECK(xl_st_writer_finish(w) == XL_OK);
    CHECK_STR(listing(dir), "model.safetensors");

    xl_weights *r;
    const char *path = t_path(dir, "model.safetensors");
    if (!CHECK_MSG(xl_weights_open_file(path, &r) == XL_OK, "%s", xl_last_error())) return;
    CHECK_EQ_INT(xl_weights_count(r), 4);
    /* declaration order is file order */
    CHECK_STR(xl_weights_at(r, 0)->name, "a.weight");
    CHECK_STR(xl_weights_at(r, 3)->name, "scalar");
    const xl_tensor *t = xl_weights_find(r, "a.weight");
    CHECK(t && t->dtype == XL_DT_F32 && t->ndim == 2 && t->shape[1] == 3 && memcmp(t->data, a, sizeof a) == 0);
    t = xl_weights_find(r, "b");
    uint16_t want_b[4] = {0x3f80, 0x3f80, 0x3f82, 0x8000};
    CHECK(t && t->dtype == XL_DT_BF16 && memcmp(t->data, want_b, sizeof want_b) == 0);
    t = xl_weights_find(r, "ids");
    CHECK(t && t->dtype == XL_DT_I64 && memcmp(t->data, ids, sizeof ids) == 0);
    t = xl_weights_find(r, "scalar");
    CHECK(t && t->dtype == XL_DT_F16 && t->ndim == 0 && t->numel == 1 && ((const uint8_t *)t->data)[1] == 0x38);
    xl_weights_close(r);

    /* header: 8 + N a multiple of 8, padded with spaces, __metadata__ first with "format": "pt" */
    FILE *f = fopen(path, "rb");
    unsigned char len8[8];
    CHECK(fread(len8, 1, 8, f) == 8);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | len8[i];
    CHECK_EQ_INT(hl % 8, 0);
    char *h = calloc(1, hl + 1);
    CHECK(fread(h, 1, hl, f) == hl);
    fclose(f);
    const char *pre = "{\"__metadata__\":{\"format\":\"pt\",\"source\":\"test \\\"q\\\"\"}";
    CHECK(strncmp(h, pre, strlen(pre)) == 0);
    CHECK(h[hl - 1] == ' ' || h[hl - 1] == '}');
    json_t *j = json_loads(h, 0, NULL);
    CHECK(j && json_integer_value(json_array_get(json_object_get(json_object_get(j, "b"), "data_offsets"), 0)) == 24);
    json_decref(j);
    free(h);
}

static void test_sharded(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s", mkdir_in("sharded"));
    xl_st_writer *w;
    CHECK(xl_st_writer_new(dir, 100, &w) == XL_OK);
    /* 64, 64, 200, 8, 8 bytes: transformers' rule gives [64] [64] [200] [8 8] */
    int64_t s16[1] = {16}, s50[1] = {50}, s2[1] = {2};
    CHECK(xl_st_writer_declare(w, "t0", "F32", s16, 1) == XL_OK);
    CHECK(xl_st_writer_declare(w, "t1", "F32", s16, 1) == XL_OK);
    CHECK(xl_st_writer_declare(w, "t2", "F32", s50, 1) == XL_OK);
    CHECK(xl_st_writer_declare(w, "t3", "F32", s2, 1) == XL_OK);
    CHECK(xl_st_writer_declare(w, "t4", "F32", s2, 1) == XL_OK);
    float v[50];
    for (int k = 0; k < 5; k++) {
        for (int i = 0; i < 50; i++) v[i] = (float)(k * 100 + i);
        CHECK(xl_st_writer_write_f32(w, v) == XL_OK);
    }
    CHECK_EQ_INT(xl_st_writer_shard_count(w), 4);
    CHECK(xl_st_writer_finish(w) == XL_OK);
    CHECK_STR(listing(dir), "model-00001-of-00004.safetensors model-00002-of-00004.safetensors "
                            "model-00003-of-00004.safetensors model-00004-of-00004.safetensors "
                            "model.safetensors.index.json");
    json_t *idx = json_load_file(t_path(dir, "model.safetensors.index.json"), 0, NULL);
    CHECK(idx && json_integer_value(json_object_get(json_object_get(idx, "metadata"), "total_size")) == 344);
    json_t *map = json_object_get(idx, "weight_map");
    CHECK(map && json_object_size(map) == 5);
    CHECK_STR(json_string_value(json_object_get(map, "t2")), "model-00003-of-00004.safetensors");
    CHECK_STR(json_string_value(json_object_get(map, "t4")), "model-00004-of-00004.safetensors");
    json_decref(idx);
    xl_weights *r;
    if (!CHECK_MSG(xl_weights_open_dir(dir, &r) == XL_OK, "%s", xl_last_error())) return;
    CHECK_EQ_INT(xl_weights_count(r), 5);
    const xl_tensor *t = xl_weights_find(r, "t2");
    float got;
    memcpy(&got, (const char *)t->data + 49 * 4, 4);
    CHECK(t && t->numel == 50 && got == 249.0f);
    xl_weights_close(r);
}

static void test_misuse(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s", mkdir_in("misuse"));
    xl_st_writer *w;
    int64_t s4[1] = {4};
    float v[8] = {0};
    /* a tensor left unwritten: finish fails, nothing stays */
    CHECK(xl_st_writer_new(dir, 0, &w) == XL_OK);
    xl_st_writer_declare(w, "x", "F32", s4, 1);
    xl_st_writer_declare(w, "y", "F32", s4, 1);
    CHECK(xl_st_writer_write_f32(w, v) == XL_OK);
    CHECK(xl_st_writer_finish(w) == XL_ERR_ARG && strstr(xl_last_error(), "'y'"));
    CHECK_STR(listing(dir), "");
    /* past the end of a tensor; floats into an integer tensor; more tensors than declared */
    CHECK(xl_st_writer_new(dir, 0, &w) == XL_OK);
    xl_st_writer_declare(w, "x", "F32", s4, 1);
    CHECK(xl_st_writer_append_f32(w, v, 5) == XL_ERR_ARG);
    xl_st_writer_free(w);
    CHECK(xl_st_writer_new(dir, 0, &w) == XL_OK);
    xl_st_writer_declare(w, "i", "I32", s4, 1);
    CHECK(xl_st_writer_write_f32(w, v) == XL_ERR_ARG && strstr(xl_last_error(), "I32"));
    xl_st_writer_free(w);
    CHECK(xl_st_writer_new(dir, 0, &w) == XL_OK);
    xl_st_writer_declare(w, "x", "F32", s4, 1);
    CHECK(xl_st_writer_write_raw(w, v, 12) == XL_ERR_ARG); /* wrong byte count */
    xl_st_writer_free(w);
    CHECK(xl_st_writer_new(dir, 0, &w) == XL_OK);
    xl_st_writer_declare(w, "x", "F32", s4, 1);
    CHECK(xl_st_writer_write_f32(w, v) == XL_OK);
    CHECK(xl_st_writer_write_f32(w, v) == XL_ERR_ARG);
    xl_st_writer_free(w);
    CHECK_STR(listing(dir), "");
    CHECK(xl_st_writer_new(t_path(dir, "nope"), 0, &w) == XL_ERR_IO);
}

/* In a child (the limit is per process): writes a 1 MB tensor with files limited to
 * 64 KiB and SIGXFSZ ignored, so write() fails with EFBIG as on a full disk. */
static void test_full_disk(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s", mkdir_in("full"));
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {65536, 65536};
        setrlimit(RLIMIT_FSIZE, &rl);
        xl_st_writer *w;
        int64_t shape[1] = {262144};
        float *v = calloc(262144, sizeof *v);
        if (xl_st_writer_new(dir, 0, &w) || xl_st_writer_declare(w, "big", "F32", shape, 1)) _exit(3);
        xl_status st = xl_st_writer_write_f32(w, v);
        int ok = st == XL_ERR_IO && strstr(xl_last_error(), "model.safetensors") && strstr(xl_last_error(), "write failed");
        if (!ok) fprintf(stderr, "  full disk: %s %s\n", xl_status_name(st), xl_last_error());
        st = xl_st_writer_finish(w); /* after a failure: an error, and the temporary file removed */
        _exit(ok && st != XL_OK ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    CHECK_STR(listing(dir), "");
}

/* ------------------------------------------------------------------ folders */

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int skip_config(const char *rel, int is_weight, void *user) {
    (*(int *)user)++;
    return !is_weight && strcmp(rel, "config.json") != 0;
}

static void test_folder(void) {
    char src[512], out[512];
    snprintf(src, sizeof src, "%s", mkdir_in("src"));
    mkdir_in("src/1_Pooling");
    mkdir_in("src/2_Dense");
    mkdir_in("src/.git");
    put(t_path(src, "config.json"), "{\"a\":1}");
    put(t_path(src, "tokenizer.json"), "{}");
    put(t_path(src, "tokenizer.json.xlcache"), "cache");
    put(t_path(src, "model.safetensors"), "w");
    put(t_path(src, "model.safetensors.index.json"), "{}");
    put(t_path(src, "pytorch_model.bin"), "w");
    put(t_path(src, "modules.json"), "[]");
    put(t_path(src, "1_Pooling/config.json"), "{\"pooling_mode_mean_tokens\":true}");
    put(t_path(src, "2_Dense/config.json"), "{}");
    put(t_path(src, "2_Dense/model.safetensors"), "w");
    put(t_path(src, ".git/HEAD"), "x");
    snprintf(out, sizeof out, "%s/out", tmpdir);

    xl_hf_folder *f;
    if (!CHECK(xl_hf_folder_begin(out, 0, &f) == XL_OK)) return;
    CHECK(strstr(xl_hf_folder_path(f), "/.out.tmp-") != NULL);
    CHECK(xl_hf_folder_copy(f, src, NULL, NULL) == XL_OK);
    CHECK(xl_hf_folder_write(f, "2_Dense/extra.txt", "hi", 2) == XL_OK);
    CHECK(xl_hf_folder_write(f, "../escape", "x", 1) == XL_ERR_ARG);
    CHECK(xl_hf_folder_commit(f) == XL_OK);
    CHECK_STR(listing(out), "1_Pooling 2_Dense config.json modules.json tokenizer.json");
    CHECK_STR(listing(t_path(out, "2_Dense")), "config.json extra.txt");
    CHECK_STR(slurp(t_path(out, "1_Pooling/config.json")), "{\"pooling_mode_mean_tokens\":true}");

    /* exists: refused without force (nothing created), replaced with it */
    CHECK(xl_hf_folder_begin(out, 0, &f) == XL_ERR_ARG && strstr(xl_last_error(), "already exists"));
    if (!CHECK(xl_hf_folder_begin(out, 1, &f) == XL_OK)) return;
    int calls = 0;
    CHECK(xl_hf_folder_copy(f, src, skip_config, &calls) == XL_OK);
    CHECK_EQ_INT(calls, 9); /* every file but .git's and the cache, weights included */
    CHECK(xl_hf_folder_write(f, "config.json", "{\"b\":2}", 7) == XL_OK);
    CHECK(xl_hf_folder_commit(f) == XL_OK);
    CHECK_STR(slurp(t_path(out, "config.json")), "{\"b\":2}");
    CHECK_STR(listing(out), "1_Pooling 2_Dense config.json modules.json tokenizer.json");
    CHECK_STR(listing(tmpdir), "full misuse out sharded single src"); /* no temporary folder left */

    /* abort: nothing left; a file as the target is never replaced */
    CHECK(xl_hf_folder_begin(out, 1, &f) == XL_OK);
    xl_hf_folder_write(f, "config.json", "{}", 2);
    xl_hf_folder_abort(f);
    CHECK_STR(slurp(t_path(out, "config.json")), "{\"b\":2}");
    CHECK_STR(listing(tmpdir), "full misuse out sharded single src");
    CHECK(xl_hf_folder_begin(t_path(src, "config.json"), 1, &f) == XL_ERR_ARG);
    CHECK(xl_hf_folder_begin(t_path(tmpdir, "no/such/out"), 0, &f) == XL_ERR_IO);

    /* a full disk while building the new folder: the old one stays as it was */
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {1024, 1024};
        setrlimit(RLIMIT_FSIZE, &rl);
        static char big[4096];
        if (xl_hf_folder_begin(out, 1, &f)) _exit(3);
        xl_status st = xl_hf_folder_write(f, "tokenizer.json", big, sizeof big);
        if (st == XL_OK) _exit(4);
        xl_hf_folder_abort(f);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    CHECK_STR(slurp(t_path(out, "config.json")), "{\"b\":2}");
    CHECK_STR(listing(tmpdir), "full misuse out sharded single src");
}

int main(void) {
    test_bf16();
    test_f16_cases();
    test_f16_vs_f16c();
    test_parse_size();
    snprintf(tmpdir, sizeof tmpdir, "%s/xl_stw_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_single_file();
    test_sharded();
    test_misuse();
    test_full_disk();
    test_folder();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_summary("st_writer");
}
