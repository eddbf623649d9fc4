/* The table of architectures. Each family file defines its xl_arch. */
#include "models/arch.h"
#include "util/error.h"

xl_status xl_arch_find(const json_t *config, const char *dir, const xl_arch **out) {
    const xl_arch *table[] = {&xl_arch_bert, &xl_arch_llama, &xl_arch_gemma3};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (table[i]->matches(config)) {
            *out = table[i];
            return XL_OK;
        }
    }
    const json_t *archs = json_object_get(config, "architectures");
    const char *name = json_string_value(json_array_get(archs, 0));
    const char *mt = json_string_value(json_object_get(config, "model_type"));
    return xl_err(XL_ERR_UNSUPPORTED,
                  "%s/config.json: unsupported architecture \"%s\" (model_type \"%s\"); supported: "
                  "BertModel, XLMRobertaModel, LlamaModel (causal or bidirectional), MistralModel, "
                  "Qwen2Model, Qwen3Model, Gemma3TextModel",
                  dir, name ? name : "?", mt ? mt : "?");
}
