/* safetensors checkpoints: a single model.safetensors or a sharded set listed in
 * model.safetensors.index.json, mapped read-only. Headers are validated strictly
 * (header length bound, offsets inside the file, shape x dtype size = byte length,
 * no overlapping tensors); errors name the file and the tensor.
 *
 * Iterating: for (size_t i = 0; i < xl_weights_count(w); i++) { const xl_tensor *t = xl_weights_at(w, i); ... }
 * visits every tensor once: files in the order they were opened (shards sorted by
 * file name), and inside a file by data offset. Tensor data is not copied: t->data
 * points into the read-only mapping, may sit at any byte offset (no alignment
 * guarantee: read it with memcpy or through xl_convert_to_f32), and stays valid
 * until xl_weights_close. A weights handle is read-only after opening, so several
 * threads may use it at once. */
#ifndef XL_SAFETENSORS_H
#define XL_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>
#include "xling.h"

typedef enum { XL_DT_F32 = 0, XL_DT_F16, XL_DT_BF16, XL_DT_F64, XL_DT_I64, XL_DT_I32, XL_DT_I8, XL_DT_U8, XL_DT_BOOL } xl_dtype;

#define XL_MAX_DIMS 8
/* Largest header accepted (the safetensors format's own bound). */
#define XL_ST_MAX_HEADER (100u * 1000u * 1000u)

typedef struct {
    const char *name;    /* full name as stored in the file */
    const char *file;    /* path of the file holding it */
    xl_dtype dtype;
    int ndim;
    int64_t shape[XL_MAX_DIMS];
    size_t numel;
    const void *data;    /* points into the mapping (any byte alignment) */
    size_t nbytes;
} xl_tensor;

typedef struct xl_weights xl_weights;

/* Opens the checkpoint of a model folder: model.safetensors, or the shards named by
 * model.safetensors.index.json (each shard mapped once; every tensor the index lists
 * must be in its shard; a name present in two shards is an error). A folder holding
 * only pytorch_model.bin gets XL_ERR_UNSUPPORTED. */
xl_status xl_weights_open_dir(const char *dir, xl_weights **out);
/* Opens one .safetensors file. */
xl_status xl_weights_open_file(const char *path, xl_weights **out);
/* Parses len bytes of a safetensors file held in memory (name is for messages); the
 * tensors point into data, which must outlive the handle. For tests and fuzzing. */
xl_status xl_weights_open_memory(const char *name, const void *data, size_t len, xl_weights **out);
void xl_weights_close(xl_weights *w);

/* The file opened (model.safetensors, the index, or the single file): for messages. */
const char *xl_weights_path(const xl_weights *w);

size_t xl_weights_count(const xl_weights *w);
const xl_tensor *xl_weights_at(const xl_weights *w, size_t i);

/* Finds a tensor by name, trying the name as given and with any of the usual
 * prefixes ("bert.", "roberta.", "model.", "transformer.") added or removed. NULL if absent
 * (no error set). */
const xl_tensor *xl_weights_find(const xl_weights *w, const char *name);

/* Finds a tensor and checks its shape; ndim/shape describe what the config implies
 * (ndim < 0: any shape, shape may be NULL). The tensor must have a floating dtype
 * (F32/F16/BF16/F64). Errors (missing: XL_ERR_FORMAT, wrong shape: XL_ERR_FORMAT,
 * integer dtype: XL_ERR_UNSUPPORTED) name the file and tensor. */
xl_status xl_weights_get(const xl_weights *w, const char *name, int ndim, const int64_t *shape,
                         const xl_tensor **out);
/* xl_weights_get, then xl_tensor_to_f32: *out is a new malloc'd float32 copy. */
xl_status xl_weights_get_f32(const xl_weights *w, const char *name, int ndim, const int64_t *shape,
                             float **out);

/* 1 if a shard file name of model.safetensors.index.json stays inside the model folder
 * (relative, no ".." component, no control characters). */
int xl_shard_name_ok(const char *name);

const char *xl_dtype_name(xl_dtype dt);
size_t xl_dtype_size(xl_dtype dt);
/* 1 for F32, F16, BF16, F64. */
int xl_dtype_is_float(xl_dtype dt);

/* Converts a tensor to a new malloc'd float32 array (numel values; at least one byte
 * is allocated, so *out is non-NULL on success). Floating dtypes are rounded to
 * nearest; integer and BOOL tensors are converted by value (BOOL: nonzero = 1). */
xl_status xl_tensor_to_f32(const xl_tensor *t, float **out);
/* Converts n values of any dtype to float32 (dst must hold n floats). src may be
 * unaligned. F16 and BF16 conversions are exact (every value is representable). */
void xl_convert_to_f32(xl_dtype dt, const void *src, float *dst, size_t n);

/* Scalar conversions, exact. F16: NaN payloads kept, a signalling NaN made quiet
 * (what the F16C instruction does, so bulk and scalar paths agree bit for bit).
 * BF16: the upper half of a float32, bits unchanged. */
float xl_f16_to_f32(uint16_t h);
float xl_bf16_to_f32(uint16_t h);

#endif
