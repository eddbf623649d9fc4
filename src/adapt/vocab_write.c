/* TEMPORARY until the safetensors writer lands from branch merge. */
#include "adapt/vocab_model.h"
#include "util/error.h"
xl_status va_write(const va_model *src, va_plan *p, const char *out_dir, int force) {
    (void)src; (void)p; (void)out_dir; (void)force;
    return xl_err(XL_ERR_UNSUPPORTED, "writing not built yet");
}
