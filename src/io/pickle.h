/* A pickle reader that accepts a PyTorch state_dict and nothing else: the data.pkl of a
 * torch.save zip (see torch_pt.h). It is not a Python VM. An allow-list of opcodes
 * builds plain values (ints, strings, tuples, dicts); the only globals it resolves are
 * collections.OrderedDict, torch._utils._rebuild_tensor_v2 and the torch.*Storage
 * types (Half, Float, BFloat16), and REDUCE may call only OrderedDict() and the tensor
 * rebuild. Nothing is executed: a tensor becomes a record of its storage key, dtype,
 * offset, shape and strides. Anything else (an unknown opcode or global, a REDUCE of
 * something else, a memo index out of range, a stack underflow, nesting deeper than
 * the bound, truncated data, a view that does not fit its storage) is a one-line
 * error naming it, and its byte offset. */
#ifndef XL_PICKLE_H
#define XL_PICKLE_H
#include <stddef.h>
#include <stdint.h>
#include "io/safetensors.h"

typedef struct {
    char *name;              /* state_dict key */
    char *storage;           /* storage key: the zip entry <root>/data/<storage> */
    xl_dtype dtype;          /* XL_DT_F16, XL_DT_F32 or XL_DT_BF16 */
    uint64_t storage_numel;  /* elements the storage declares */
    uint64_t offset;         /* first element of the view in the storage */
    int ndim;
    int64_t shape[XL_MAX_DIMS];
    int64_t stride[XL_MAX_DIMS]; /* in elements, >= 0 */
    uint64_t numel;          /* product of the shape; the view lies inside the storage */
} xl_pk_tensor;

typedef struct {
    xl_pk_tensor *t;         /* in the order of the pickle (the state_dict's order) */
    size_t n;
} xl_pk_state_dict;

/* Bounds of what the reader accepts. */
#define XL_PK_MAX_DEPTH 32          /* open MARKs at once */
#define XL_PK_MAX_MEMO (1u << 20)   /* memo indices */
#define XL_PK_MAX_STACK (1u << 20)  /* stack entries */
#define XL_PK_MAX_VALUES (1u << 20) /* values made in all (each opcode makes at most one) */

/* Reads data[len] (what: the file, for messages). A key used twice, two tensors that
 * disagree on one storage's dtype or size, or a result that is not a dict of tensors
 * is an error too. */
xl_status xl_pickle_state_dict(const uint8_t *data, size_t len, const char *what, xl_pk_state_dict *out);
void xl_pk_state_dict_free(xl_pk_state_dict *sd);

#endif
