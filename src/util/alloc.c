#include "util/alloc.h"

#include <stdlib.h>
#include <sys/mman.h>

void *xl_alloc64(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64); }

void *xl_alloc_huge(size_t bytes) {
    const size_t huge = (size_t)2 << 20;
    if (bytes < huge) return xl_alloc64(bytes);
    size_t n = (bytes + huge - 1) / huge * huge;
    void *p = aligned_alloc(huge, n);
#ifdef MADV_HUGEPAGE
    if (p) madvise(p, n, MADV_HUGEPAGE); /* advice only: without it, 4 KB pages */
#endif
    return p;
}
