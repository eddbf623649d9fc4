/* PyTorch torch.save files (the zip format of torch >= 1.6) holding a state_dict of
 * tensors, as bge-m3's colbert_linear.pt and sparse_linear.pt: <root>/data.pkl read by
 * the allow-listed pickle reader (pickle.h), each storage from <root>/data/<key> (its
 * size must be what the pickle declares), every tensor converted to float32 in C
 * order whatever its strides. The root folder is taken from data.pkl's path (torch
 * names it after the file, or "archive"). The legacy (pre-zip) format is refused. */
#ifndef XL_TORCH_PT_H
#define XL_TORCH_PT_H
#include <stddef.h>
#include <stdint.h>
#include "io/safetensors.h"

typedef struct {
    char *name;
    xl_dtype dtype;          /* as stored: F16, F32 or BF16 */
    int ndim;
    int64_t shape[XL_MAX_DIMS];
    size_t numel;
    float *data;             /* numel values, C order */
} xl_pt_tensor;

typedef struct {
    xl_pt_tensor *t;
    size_t n;
} xl_pt_file;

/* Largest data.pkl read (a state_dict's pickle is kilobytes; this bounds a hostile one). */
#define XL_PT_MAX_PICKLE (64u << 20)

xl_status xl_pt_load(const char *path, xl_pt_file *out);
/* The same from a zip in memory (what: its name in messages). */
xl_status xl_pt_load_memory(const void *data, size_t len, const char *what, xl_pt_file *out);
/* The tensor named name, or NULL. */
const xl_pt_tensor *xl_pt_find(const xl_pt_file *f, const char *name);
void xl_pt_free(xl_pt_file *f);

#endif
