/* safetensors checkpoints: a single model.safetensors or a sharded set listed in
 * model.safetensors.index.json, mapped read-only. Headers are validated strictly
 * (header length bound, offsets inside the file, shape x dtype size = byte length,
 * no overlapping tensors); errors name the file and the tensor. */
#ifndef XL_SAFETENSORS_H
#define XL_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>
#include "xling.h"

typedef enum { XL_DT_F32 = 0, XL_DT_F16, XL_DT_BF16, XL_DT_F64, XL_DT_I64, XL_DT_I32, XL_DT_I8, XL_DT_U8, XL_DT_BOOL } xl_dtype;

#define XL_MAX_DIMS 8

typedef struct {
    const char *name;    /* full name as stored in the file */
    const char *file;    /* path of the file holding it */
    xl_dtype dtype;
    int ndim;
    int64_t shape[XL_MAX_DIMS];
    size_t numel;
    const void *data;    /* points into the mapping */
    size_t nbytes;
} xl_tensor;

typedef struct xl_weights xl_weights;

/* Opens the checkpoint of a model folder: model.safetensors, or the shards named by
 * model.safetensors.index.json. */
xl_status xl_weights_open_dir(const char *dir, xl_weights **out);
/* Opens one .safetensors file. */
xl_status xl_weights_open_file(const char *path, xl_weights **out);
void xl_weights_close(xl_weights *w);

size_t xl_weights_count(const xl_weights *w);
const xl_tensor *xl_weights_at(const xl_weights *w, size_t i);

/* Finds a tensor by name, trying the name as given and with any of the usual
 * prefixes ("bert.", "roberta.", "model.", "transformer.") added or removed. NULL if absent
 * (no error set). */
const xl_tensor *xl_weights_find(const xl_weights *w, const char *name);

/* Finds a tensor and checks its shape; ndim/shape describe what the config implies.
 * Errors (missing, wrong shape, unsupported dtype) name the file and tensor. */
xl_status xl_weights_get(const xl_weights *w, const char *name, int ndim, const int64_t *shape,
                         const xl_tensor **out);

const char *xl_dtype_name(xl_dtype dt);
size_t xl_dtype_size(xl_dtype dt);

/* Converts a floating tensor (F32/F16/BF16/F64) to a new malloc'd float32 array. */
xl_status xl_tensor_to_f32(const xl_tensor *t, float **out);
/* Converts n values of a floating dtype to float32 (dst must hold n floats). */
void xl_convert_to_f32(xl_dtype dt, const void *src, float *dst, size_t n);

/* Scalar conversions. */
float xl_f16_to_f32(uint16_t h);
float xl_bf16_to_f32(uint16_t h);

#endif
