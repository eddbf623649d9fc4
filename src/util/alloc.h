/* Aligned allocations for the kernels' big buffers. Both are freed with free(). */
#ifndef XL_ALLOC_H
#define XL_ALLOC_H
#include <stddef.h>

/* 64-byte aligned (a cache line, a zmm register). */
void *xl_alloc64(size_t bytes);
/* For buffers of megabytes (packed weights, activation scratch) that the GEMMs and
 * attention sweep with strides of kilobytes: aligned to 2 MB and offered to the kernel
 * for huge pages (with 4 KB pages the TLB misses cost a few percent). Smaller requests
 * get xl_alloc64. */
void *xl_alloc_huge(size_t bytes);

#endif
