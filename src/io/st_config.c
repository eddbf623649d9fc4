/* sentence-transformers configuration: reads modules.json and the files of each
 * module it lists, the way SentenceTransformer(dir) would, and rejects what xling
 * cannot reproduce exactly (other module types, combined pooling modes, ...). */
#include "io/st_config.h"
#include "io/safetensors.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ST_PREFIX "sentence_transformers.models."

/* ------------------------------------------------------------------ activations */

static const struct {
    const char *name;
    xl_activation act;
} act_names[] = {
    {"identity", XL_ACT_IDENTITY}, {"linear", XL_ACT_IDENTITY},    {"tanh", XL_ACT_TANH},
    {"relu", XL_ACT_RELU},         {"gelu", XL_ACT_GELU},          {"gelu_tanh", XL_ACT_GELU_TANH},
    {"gelu_new", XL_ACT_GELU_TANH}, {"gelu_pytorch_tanh", XL_ACT_GELU_TANH}, {"sigmoid", XL_ACT_SIGMOID},
    {"silu", XL_ACT_SILU},         {"swish", XL_ACT_SILU},
};

int xl_activation_parse(const char *name) {
    if (!name) return -1;
    /* "torch.nn.modules.activation.Tanh" -> "Tanh" */
    const char *dot = strrchr(name, '.');
    const char *cls = dot ? dot + 1 : name;
    for (size_t i = 0; i < sizeof act_names / sizeof act_names[0]; i++)
        if (strcasecmp(cls, act_names[i].name) == 0) return (int)act_names[i].act;
    return -1;
}

const char *xl_activation_name(xl_activation a) {
    switch (a) {
    case XL_ACT_IDENTITY: return "identity";
    case XL_ACT_TANH: return "tanh";
    case XL_ACT_RELU: return "relu";
    case XL_ACT_GELU: return "gelu";
    case XL_ACT_GELU_TANH: return "gelu_tanh";
    case XL_ACT_SIGMOID: return "sigmoid";
    case XL_ACT_SILU: return "silu";
    }
    return "?";
}

/* ------------------------------------------------------------------ helpers */

/* Joins dir, sub (may be "") and name; follows a text link. malloc'd or NULL. */
static char *join3(const char *dir, const char *sub, const char *name) {
    char *a = *sub ? xl_path_join(dir, sub) : strdup(dir);
    char *b = a ? xl_path_join(a, name) : NULL;
    free(a);
    char *c = b ? xl_resolve_text_link(b) : NULL;
    free(b);
    return c;
}

/* A module path must stay inside the model folder. */
static int subpath_ok(const char *s) {
    if (s[0] == '/') return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20) return 0;
    for (const char *p = s; (p = strstr(p, "..")) != NULL; p += 2)
        if ((p == s || p[-1] == '/') && (p[2] == '\0' || p[2] == '/')) return 0;
    return 1;
}

/* Reads an integer key that must lie in [lo, INT_MAX]; absent -> def. */
static xl_status get_int_range(const json_t *o, const char *key, int def, int lo, int *out, const char *what) {
    long long v;
    xl_status st = xl_json_get_int(o, key, def, &v, what);
    if (st) return st;
    if (v < lo || v > INT_MAX) return xl_err(XL_ERR_FORMAT, "%s: \"%s\" = %lld is out of range", what, key, v);
    *out = (int)v;
    return XL_OK;
}

static char *dup_json_string(const json_t *v) {
    return strndup(json_string_value(v), json_string_length(v));
}

/* ------------------------------------------------------------------ modules */

static xl_status load_pooling(const char *dir, const char *mpath, int hidden_size, xl_st_config *c, int *dim) {
    char *path = join3(dir, mpath, "config.json");
    if (!path) return xl_err(XL_ERR_NOMEM, "%s: out of memory", dir);
    json_t *j = NULL;
    xl_status st;
    if (!xl_file_exists(path)) {
        st = xl_err(XL_ERR_IO, "%s: the Pooling module has no config.json", path);
        goto done;
    }
    if ((st = xl_json_load_file(path, &j))) goto done;
    if (!json_is_object(j)) {
        st = xl_err(XL_ERR_FORMAT, "%s: not a JSON object", path);
        goto done;
    }
    int wed = 0;
    if ((st = get_int_range(j, "word_embedding_dimension", 0, 0, &wed, path))) goto done;
    if (wed == 0) {
        st = xl_err(XL_ERR_FORMAT, "%s: \"word_embedding_dimension\" missing or 0", path);
        goto done;
    }
    if (hidden_size > 0 && wed != hidden_size) {
        st = xl_err(XL_ERR_FORMAT, "%s: word_embedding_dimension %d differs from the model's hidden_size %d", path, wed,
                    hidden_size);
        goto done;
    }
    *dim = wed;

    /* The newer single key wins over the booleans, as in Pooling.__init__. */
    const char *mode;
    if ((st = xl_json_get_str(j, "pooling_mode", NULL, &mode, path))) goto done;
    if (mode) {
        if (strcasecmp(mode, "cls") == 0) c->pooling = XL_POOL_CLS;
        else if (strcasecmp(mode, "mean") == 0) c->pooling = XL_POOL_MEAN;
        else if (strcasecmp(mode, "max") == 0) c->pooling = XL_POOL_MAX;
        else if (strcasecmp(mode, "lasttoken") == 0) c->pooling = XL_POOL_LAST;
        else if (strcasecmp(mode, "weightedmean") == 0 || strcasecmp(mode, "mean_sqrt_len_tokens") == 0) {
            st = xl_err(XL_ERR_UNSUPPORTED, "%s: pooling_mode \"%s\" is not supported (cls, mean, max, lasttoken are)",
                        path, mode);
            goto done;
        } else {
            st = xl_err(XL_ERR_FORMAT, "%s: unknown pooling_mode \"%s\"", path, mode);
            goto done;
        }
    } else {
        static const struct {
            const char *key;
            xl_pooling pool; /* XL_POOL_DEFAULT: a mode xling does not implement */
        } modes[] = {
            {"pooling_mode_cls_token", XL_POOL_CLS},
            {"pooling_mode_mean_tokens", XL_POOL_MEAN},
            {"pooling_mode_max_tokens", XL_POOL_MAX},
            {"pooling_mode_lasttoken", XL_POOL_LAST},
            {"pooling_mode_mean_sqrt_len_tokens", XL_POOL_DEFAULT},
            {"pooling_mode_weightedmean_tokens", XL_POOL_DEFAULT},
        };
        char on[256] = "";
        int n_on = 0;
        xl_pooling pool = XL_POOL_DEFAULT;
        const char *unsupported = NULL;
        for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
            int b;
            if ((st = xl_json_get_bool(j, modes[i].key, 0, &b, path))) goto done;
            if (!b) continue;
            n_on++;
            pool = modes[i].pool;
            if (pool == XL_POOL_DEFAULT) unsupported = modes[i].key;
            size_t k = strlen(on);
            snprintf(on + k, sizeof on - k, "%s%s", k ? " + " : "", modes[i].key);
        }
        if (n_on == 0) {
            st = xl_err(XL_ERR_FORMAT, "%s: no pooling mode is enabled", path);
            goto done;
        }
        if (n_on > 1) {
            st = xl_err(XL_ERR_UNSUPPORTED,
                        "%s: several pooling modes at once (%s) are not supported; enable exactly one", path, on);
            goto done;
        }
        if (unsupported) {
            st = xl_err(XL_ERR_UNSUPPORTED, "%s: %s is not supported (cls, mean, max, lasttoken are)", path,
                        unsupported);
            goto done;
        }
        c->pooling = pool;
    }
    if ((st = xl_json_get_bool(j, "include_prompt", 1, &c->include_prompt, path))) goto done;
done:
    json_decref(j);
    free(path);
    return st;
}

/* Loads one Dense module whose input dimension must be in_dim. */
static xl_status load_dense(const char *dir, const char *mpath, int in_dim, xl_dense *d) {
    char *cfg_path = join3(dir, mpath, "config.json");
    char *st_path = join3(dir, mpath, "model.safetensors");
    char *bin_path = join3(dir, mpath, "pytorch_model.bin");
    json_t *j = NULL;
    xl_weights *w = NULL;
    xl_status st = XL_OK;
    if (!cfg_path || !st_path || !bin_path) {
        st = xl_err(XL_ERR_NOMEM, "%s: out of memory", dir);
        goto done;
    }
    if (!xl_file_exists(cfg_path)) {
        st = xl_err(XL_ERR_IO, "%s: the Dense module has no config.json", cfg_path);
        goto done;
    }
    if ((st = xl_json_load_file(cfg_path, &j))) goto done;
    if (!json_is_object(j)) {
        st = xl_err(XL_ERR_FORMAT, "%s: not a JSON object", cfg_path);
        goto done;
    }
    int bias;
    const char *act;
    if ((st = get_int_range(j, "in_features", 0, 0, &d->in_features, cfg_path)) ||
        (st = get_int_range(j, "out_features", 0, 0, &d->out_features, cfg_path)) ||
        (st = xl_json_get_bool(j, "bias", 1, &bias, cfg_path)) ||
        /* Dense's constructor default is Tanh. */
        (st = xl_json_get_str(j, "activation_function", "torch.nn.modules.activation.Tanh", &act, cfg_path)))
        goto done;
    if (d->in_features == 0 || d->out_features == 0) {
        st = xl_err(XL_ERR_FORMAT, "%s: \"in_features\" and \"out_features\" must be positive", cfg_path);
        goto done;
    }
    if (d->in_features != in_dim) {
        st = xl_err(XL_ERR_FORMAT, "%s: in_features %d, but the previous module outputs %d values", cfg_path,
                    d->in_features, in_dim);
        goto done;
    }
    int a = xl_activation_parse(act);
    if (a < 0) {
        st = xl_err(XL_ERR_UNSUPPORTED, "%s: activation_function \"%s\" is not supported", cfg_path, act);
        goto done;
    }
    d->act = (xl_activation)a;

    if (!xl_file_exists(st_path)) {
        if (xl_file_exists(bin_path))
            st = xl_err(XL_ERR_UNSUPPORTED,
                        "%s: only pytorch_model.bin found; convert the Dense weights to model.safetensors "
                        "(safetensors.torch.save_file(torch.load(...), ...))",
                        bin_path);
        else
            st = xl_err(XL_ERR_IO, "%s: the Dense module's weights are missing", st_path);
        goto done;
    }
    if ((st = xl_weights_open_file(st_path, &w))) goto done;
    int64_t wshape[2] = {d->out_features, d->in_features};
    if ((st = xl_weights_get_f32(w, "linear.weight", 2, wshape, &d->weight))) goto done;
    if (bias) {
        int64_t bshape[1] = {d->out_features};
        if ((st = xl_weights_get_f32(w, "linear.bias", 1, bshape, &d->bias))) goto done;
    } else if (xl_weights_find(w, "linear.bias")) {
        /* torch's strict state-dict load rejects an unexpected key; so do we. */
        st = xl_err(XL_ERR_FORMAT, "%s: has linear.bias but %s says \"bias\": false", st_path, cfg_path);
        goto done;
    }
done:
    xl_weights_close(w);
    json_decref(j);
    free(cfg_path);
    free(st_path);
    free(bin_path);
    return st;
}

/* ------------------------------------------------------------------ side files */

static xl_status load_sbert_config(const char *dir, xl_st_config *c) {
    char *path = join3(dir, c->transformer_path, "sentence_bert_config.json");
    if (!path) return xl_err(XL_ERR_NOMEM, "%s: out of memory", dir);
    xl_status st = XL_OK;
    json_t *j = NULL;
    if (!xl_file_exists(path)) goto done; /* optional */
    if ((st = xl_json_load_file(path, &j))) goto done;
    if (!json_is_object(j)) {
        st = xl_err(XL_ERR_FORMAT, "%s: not a JSON object", path);
        goto done;
    }
    if ((st = get_int_range(j, "max_seq_length", 0, 0, &c->max_seq_length, path))) goto done;
    if ((st = xl_json_get_bool(j, "do_lower_case", 0, &c->do_lower_case, path))) goto done;
done:
    json_decref(j);
    free(path);
    return st;
}

static xl_status load_prompts(const char *dir, xl_st_config *c) {
    char *path = join3(dir, "", "config_sentence_transformers.json");
    if (!path) return xl_err(XL_ERR_NOMEM, "%s: out of memory", dir);
    xl_status st = XL_OK;
    json_t *j = NULL;
    if (!xl_file_exists(path)) goto done; /* optional */
    if ((st = xl_json_load_file(path, &j))) goto done;
    if (!json_is_object(j)) {
        st = xl_err(XL_ERR_FORMAT, "%s: not a JSON object", path);
        goto done;
    }
    const json_t *prompts = json_object_get(j, "prompts");
    if (prompts && !json_is_null(prompts)) {
        if (!json_is_object(prompts)) {
            st = xl_err(XL_ERR_FORMAT, "%s: \"prompts\" is not an object", path);
            goto done;
        }
        size_t n = json_object_size(prompts);
        c->prompt_names = calloc(n + 1, sizeof *c->prompt_names);
        c->prompt_texts = calloc(n + 1, sizeof *c->prompt_texts);
        if (!c->prompt_names || !c->prompt_texts) {
            st = xl_err(XL_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        void *it;
        for (it = json_object_iter((json_t *)prompts); it; it = json_object_iter_next((json_t *)prompts, it)) {
            const char *name = json_object_iter_key(it);
            const json_t *v = json_object_iter_value(it);
            if (!json_is_string(v)) {
                st = xl_err(XL_ERR_FORMAT, "%s: prompt \"%s\" is not a string", path, name);
                goto done;
            }
            if (strlen(json_string_value(v)) != json_string_length(v) || strlen(name) != json_object_iter_key_len(it)) {
                st = xl_err(XL_ERR_FORMAT, "%s: prompt \"%s\" contains a NUL character", path, name);
                goto done;
            }
            c->prompt_names[c->n_prompts] = strdup(name);
            c->prompt_texts[c->n_prompts] = dup_json_string(v);
            c->n_prompts++;
            if (!c->prompt_names[c->n_prompts - 1] || !c->prompt_texts[c->n_prompts - 1]) {
                st = xl_err(XL_ERR_NOMEM, "%s: out of memory", path);
                goto done;
            }
        }
    }
    const char *def;
    if ((st = xl_json_get_str(j, "default_prompt_name", NULL, &def, path))) goto done;
    if (def) {
        if (!xl_st_prompt(c, def)) {
            st = xl_err(XL_ERR_FORMAT, "%s: default_prompt_name \"%s\" is not one of the prompts", path, def);
            goto done;
        }
        if (!(c->default_prompt_name = strdup(def))) st = xl_err(XL_ERR_NOMEM, "%s: out of memory", path);
    }
done:
    json_decref(j);
    free(path);
    return st;
}

/* ------------------------------------------------------------------ modules.json */

static xl_status load_modules(const char *dir, const char *path, int hidden_size, xl_st_config *c) {
    json_t *j;
    xl_status st = xl_json_load_file(path, &j);
    if (st) return st;
    if (!json_is_array(j) || json_array_size(j) == 0) {
        st = xl_err(XL_ERR_FORMAT, "%s: expected a non-empty JSON array of modules", path);
        goto done;
    }
    size_t n = json_array_size(j);
    c->dense = calloc(n, sizeof *c->dense);
    if (!c->dense) {
        st = xl_err(XL_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    int seen_transformer = 0, seen_pooling = 0, dim = hidden_size > 0 ? hidden_size : 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(j, i);
        if (!json_is_object(m)) {
            st = xl_err(XL_ERR_FORMAT, "%s: module %zu is not a JSON object", path, i);
            goto done;
        }
        const char *type, *mpath;
        if ((st = xl_json_get_str(m, "type", NULL, &type, path)) || (st = xl_json_get_str(m, "path", "", &mpath, path)))
            goto done;
        if (!type) {
            st = xl_err(XL_ERR_FORMAT, "%s: module %zu has no \"type\"", path, i);
            goto done;
        }
        if (!subpath_ok(mpath)) {
            st = xl_err(XL_ERR_FORMAT, "%s: module %zu: path \"%s\" leaves the model folder", path, i, mpath);
            goto done;
        }
        const char *cls = strncmp(type, ST_PREFIX, strlen(ST_PREFIX)) == 0 ? type + strlen(ST_PREFIX) : "";
        if (strcmp(cls, "Transformer") == 0) {
            if (i != 0) {
                st = xl_err(XL_ERR_UNSUPPORTED, "%s: module %zu is a second Transformer (exactly one, as module 0, is supported)", path, i);
                goto done;
            }
            seen_transformer = 1;
            free(c->transformer_path);
            if (!(c->transformer_path = strdup(mpath))) {
                st = xl_err(XL_ERR_NOMEM, "%s: out of memory", path);
                goto done;
            }
        } else if (!seen_transformer) {
            st = xl_err(XL_ERR_UNSUPPORTED, "%s: module 0 is %s, not sentence_transformers.models.Transformer", path,
                        type);
            goto done;
        } else if (strcmp(cls, "Pooling") == 0) {
            if (seen_pooling || c->normalize) {
                st = xl_err(XL_ERR_UNSUPPORTED, "%s: a Pooling module at position %zu (only one, right after the Transformer, is supported)", path, i);
                goto done;
            }
            seen_pooling = 1;
            if ((st = load_pooling(dir, mpath, hidden_size, c, &dim))) goto done;
        } else if (strcmp(cls, "Dense") == 0) {
            if (!seen_pooling || c->normalize) {
                st = xl_err(XL_ERR_UNSUPPORTED, "%s: a Dense module at position %zu must follow Pooling and precede Normalize", path, i);
                goto done;
            }
            xl_dense *d = &c->dense[c->n_dense++];
            if ((st = load_dense(dir, mpath, dim, d))) goto done;
            dim = d->out_features;
        } else if (strcmp(cls, "Normalize") == 0) {
            if (!seen_pooling) {
                st = xl_err(XL_ERR_UNSUPPORTED, "%s: a Normalize module before Pooling is not supported", path);
                goto done;
            }
            c->normalize = 1;
        } else {
            st = xl_err(XL_ERR_UNSUPPORTED, "%s: module %zu has type %s, which xling does not support "
                        "(Transformer, Pooling, Dense, Normalize are)", path, i, type);
            goto done;
        }
    }
    if (!seen_pooling) {
        st = xl_err(XL_ERR_UNSUPPORTED, "%s: no Pooling module (token embeddings as output are not supported)", path);
        goto done;
    }
    c->dim = dim;
done:
    json_decref(j);
    return st;
}

xl_status xl_st_config_load(const char *dir, int hidden_size, xl_st_config *out) {
    memset(out, 0, sizeof *out);
    out->pooling = XL_POOL_MEAN;
    out->include_prompt = 1;
    out->dim = hidden_size > 0 ? hidden_size : 0;
    out->transformer_path = strdup("");
    char *modules = join3(dir, "", "modules.json");
    xl_status st = XL_OK;
    if (!out->transformer_path || !modules) {
        st = xl_err(XL_ERR_NOMEM, "%s: out of memory", dir);
    } else if (!xl_is_dir(dir)) {
        st = xl_err(XL_ERR_IO, "%s: not a folder", dir);
    } else if (xl_file_exists(modules)) {
        /* Without modules.json, sentence-transformers builds Transformer + mean
         * Pooling and reads neither of the side files; with it, it reads both. */
        out->has_modules = 1;
        if (!(st = load_modules(dir, modules, hidden_size, out)) && !(st = load_sbert_config(dir, out)))
            st = load_prompts(dir, out);
    }
    free(modules);
    if (st) xl_st_config_free(out);
    return st;
}

void xl_st_config_free(xl_st_config *c) {
    if (!c) return;
    for (int i = 0; i < c->n_dense; i++) {
        free(c->dense[i].weight);
        free(c->dense[i].bias);
    }
    free(c->dense);
    for (int i = 0; i < c->n_prompts; i++) {
        free(c->prompt_names[i]);
        free(c->prompt_texts[i]);
    }
    free(c->prompt_names);
    free(c->prompt_texts);
    free(c->default_prompt_name);
    free(c->transformer_path);
    memset(c, 0, sizeof *c);
    c->pooling = XL_POOL_MEAN;
    c->include_prompt = 1;
}

const char *xl_st_prompt(const xl_st_config *c, const char *name) {
    if (!c || !name) return NULL;
    for (int i = 0; i < c->n_prompts; i++)
        if (strcmp(c->prompt_names[i], name) == 0) return c->prompt_texts[i];
    return NULL;
}
