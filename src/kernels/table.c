/* The function table of one kernel set: built once per set like every kernel source,
 * so each xl_* name below is that set's renamed function (kernels/isa_rename.h). */
#include "kernels/dispatch.h"

#define XL_KT_V(name, params, args) .name = xl_##name,
#define XL_KT_R(type, name, params, args) .name = xl_##name,
const xl_kernel_table xl_kernel_table_of = {.isa = XL_ISA_LABEL, XL_KERNEL_FUNCS(XL_KT_V, XL_KT_R)};
