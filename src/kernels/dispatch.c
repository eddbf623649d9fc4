/* The public kernel functions: each forwards to the kernel set chosen once per
 * process (see kernels/dispatch.h). Built at the portable baseline, without the
 * rename header: it only reads CPUID and calls through the table. */
#include "kernels/dispatch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define XL_TABLE_PASTE(s) xl_kernel_table_of_##s
#define XL_TABLE(s) XL_TABLE_PASTE(s)

typedef struct {
    const char *name;             /* as XLING_ISA and xl_kernel_isa spell it */
    const char *family;           /* what XLING_ISA=<family> picks the best of */
    const xl_kernel_table *table;
    int (*runs)(void);            /* 1 when this CPU can run the set */
} isa_set;

#if defined(XL_ISA_SINGLE)
/* One set for the host (NATIVE=1) or for a target without variants (aarch64...). */
extern const xl_kernel_table XL_TABLE(XL_ISA_SINGLE);
static int runs_always(void) { return 1; }
static const isa_set sets[] = {{XL_ISA_SINGLE_LABEL, XL_ISA_SINGLE_LABEL, &XL_TABLE(XL_ISA_SINGLE), runs_always}};
#define XL_ISA_NAMES XL_ISA_SINGLE_LABEL
#else
extern const xl_kernel_table xl_kernel_table_of_generic, xl_kernel_table_of_avx2_novnni, xl_kernel_table_of_avx2,
    xl_kernel_table_of_avx512_novnni, xl_kernel_table_of_avx512;
/* The sets are built with -march=x86-64-v3 / -v4 (plus VNNI), so the compiler may
 * use anything those levels include (BMI2, MOVBE, AVX-512 BW/DQ/VL...): test the
 * levels, not just AVX2 / AVX512F. libgcc also checks that the OS saves the registers. */
static int runs_generic(void) { return 1; }
static int runs_v3(void) { return __builtin_cpu_supports("x86-64-v3"); }
static int runs_v3_vnni(void) { return runs_v3() && __builtin_cpu_supports("avxvnni"); }
static int runs_v4(void) { return __builtin_cpu_supports("x86-64-v4"); }
static int runs_v4_vnni(void) {
    return runs_v4() && __builtin_cpu_supports("avx512vnni");
}
/* Ordered from the most portable to the fastest. */
static const isa_set sets[] = {
    {"generic", "generic", &xl_kernel_table_of_generic, runs_generic},
    {"avx2-novnni", "avx2", &xl_kernel_table_of_avx2_novnni, runs_v3},
    {"avx2", "avx2", &xl_kernel_table_of_avx2, runs_v3_vnni},
    {"avx512-novnni", "avx512", &xl_kernel_table_of_avx512_novnni, runs_v4},
    {"avx512", "avx512", &xl_kernel_table_of_avx512, runs_v4_vnni},
};
#define XL_ISA_NAMES "generic, avx2-novnni, avx2, avx512-novnni, avx512"
#endif
#define N_SETS ((int)(sizeof sets / sizeof sets[0]))

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const xl_kernel_table *chosen; /* set once, read lock-free afterwards */
static char isa_error[256];           /* the XLING_ISA problem, "" if none */
static char available[128];           /* names of the sets this CPU runs */

/* XLING_TEST_CPU=<set> (tests only): the sets after it count as missing, as on a CPU
 * without them, so the choice and the refusals can be tested on any machine. */
static int test_cpu_limit = N_SETS - 1;

static int runs(int i) { return i <= test_cpu_limit && sets[i].runs(); }

static int best_set(void) {
    int b = 0;
    for (int i = 0; i < N_SETS; i++)
        if (runs(i)) b = i;
    return b;
}

/* Resolves a name: a family ("avx2", "avx512", "generic": its best set this CPU runs)
 * or a set ("avx2-novnni"...), '_' taken for '-'. Returns the index, -1 for an unknown
 * name, -2 when this CPU cannot run it (*family tells which family was asked for). */
static int resolve(const char *name, const char **family) {
    char n[32];
    size_t len = strlen(name);
    if (len >= sizeof n) return -1;
    for (size_t i = 0; i <= len; i++) n[i] = name[i] == '_' ? '-' : name[i];
    int known = 0, pick = -1;
    for (int i = 0; i < N_SETS; i++)
        if (!strcmp(n, sets[i].family)) {
            known = 1;
            *family = sets[i].family;
            if (runs(i)) pick = i;
        }
    for (int i = 0; !known && i < N_SETS; i++)
        if (!strcmp(n, sets[i].name)) {
            known = 1;
            *family = sets[i].family;
            if (runs(i)) pick = i;
        }
    return !known ? -1 : pick >= 0 ? pick : -2;
}

static const char *family_title(const char *family) {
    if (!strcmp(family, "avx512")) return "AVX-512";
    if (!strcmp(family, "avx2")) return "AVX2 + FMA + F16C";
    return family;
}

static void choose(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
#endif
    const char *limit = getenv("XLING_TEST_CPU");
    for (int i = 0; limit && i < N_SETS; i++)
        if (!strcmp(limit, sets[i].name)) test_cpu_limit = i;
    int best = best_set();
    size_t used = 0;
    for (int i = 0; i < N_SETS; i++)
        if (runs(i) && used < sizeof available)
            used += (size_t)snprintf(available + used, sizeof available - used, "%s%s", used ? " " : "", sets[i].name);
    const char *env = getenv("XLING_ISA");
    int pick = best;
    if (env && *env) {
        const char *family = NULL;
        int r = resolve(env, &family);
        if (r >= 0)
            pick = r;
        else if (N_SETS == 1)
            snprintf(isa_error, sizeof isa_error, "XLING_ISA=%s: this build has only the %s kernel set", env,
                     sets[0].name);
        else if (r == -1)
            snprintf(isa_error, sizeof isa_error, "XLING_ISA=%s: unknown kernel set (this build has: %s)", env,
                     XL_ISA_NAMES);
        else
            snprintf(isa_error, sizeof isa_error, "XLING_ISA=%s: this CPU has no %s (it has %s)", env,
                     family_title(family), sets[best].name);
    }
    /* with a bad XLING_ISA the kernels still run (the best set); xl_kernels_check and
     * xl_kernel_isa report the error to the caller */
    __atomic_store_n(&chosen, sets[pick].table, __ATOMIC_RELEASE);
}

static inline const xl_kernel_table *kt(void) {
    const xl_kernel_table *t = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (__builtin_expect(t != NULL, 1)) return t;
    pthread_once(&once, choose);
    return chosen;
}

const xl_kernel_table *xl_kernels(void) { return kt(); }

const xl_kernel_table *xl_kernels_for(const char *isa) {
    kt();
    const char *family = NULL;
    int r = isa ? resolve(isa, &family) : -1;
    return r >= 0 ? sets[r].table : NULL;
}

xl_status xl_kernels_check(void) {
    kt();
    return isa_error[0] ? xl_err(XL_ERR_ARG, "%s", isa_error) : XL_OK;
}

const char *xl_kernel_isa(void) {
    const xl_kernel_table *t = kt();
    if (isa_error[0]) {
        xl_err(XL_ERR_ARG, "%s", isa_error);
        return NULL;
    }
    return t->isa;
}

const char *xl_kernel_isas(void) {
    kt();
    return available;
}

#define XL_PUB_V(name, params, args) \
    void xl_##name params { kt()->name args; }
#define XL_PUB_R(type, name, params, args) \
    type xl_##name params { return kt()->name args; }
XL_KERNEL_FUNCS(XL_PUB_V, XL_PUB_R)
