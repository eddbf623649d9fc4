/* Contexts: the per-worker run state of a shared, read-only model. */
#include "embed/model_internal.h"
#include "util/error.h"

#include <stdlib.h>

xl_status xl_context_new(const xl_model *m, xl_context **out) {
    if (!out) return xl_err(XL_ERR_ARG, "xl_context_new: out is NULL");
    *out = NULL;
    if (!m) return xl_err(XL_ERR_ARG, "xl_context_new: model is NULL");
    xl_context *c = calloc(1, sizeof *c);
    if (!c) return xl_err(XL_ERR_NOMEM, "out of memory for a context");
    c->m = m;
    xl_status st = m->arch->state_new(m->impl, &c->state);
    if (st) { free(c); return st; }
    *out = c;
    return XL_OK;
}

void xl_context_free(xl_context *c) {
    if (!c) return;
    if (c->state) c->m->arch->state_free(c->state);
    free(c->hidden);
    free(c);
}

void xl_context_cancel(xl_context *c) {
    if (c) __atomic_store_n(&c->cancel, 1, __ATOMIC_RELEASE);
}
