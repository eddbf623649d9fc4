/* Hub support without the network: id syntax, the cache folder's environment
 * variables, the default file selection of a pull and its globs, safe repository paths,
 * and resolving ids (branch, tag, commit, missing) in a cache built here by hand. The
 * downloads themselves are tested against a local Hub in tests/cli/hub_test.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub/hub.h"
#include "testlib.h"
#include "xling.h"

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_ids(void) {
    static const char *good[] = {"intfloat/multilingual-e5-small", "BAAI/bge-m3", "a/b@main", "a/b@v1.0",
                                 "a/b@refs/pr/1", "a/b@0123456789abcdef0123456789abcdef01234567", "nvidia/llama-embed-nemotron-8b",
                                 "Org_1/Name.v2"};
    static const char *bad[] = {"", "a", "a/b/c", "/a/b", "a/", "/b", "a/b--c", "a--x/b", "a/.b", "a/b.", "-a/b", "a//b",
                                "a/b@", "a/b@../x", "a/b@x/../y", "a/b@/x", "a b/c", "a/b c", "./x", "../x", "a/b@x y",
                                "a/b@x\\y"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) CHECK_MSG(xl_hub_is_id(good[i]), "%s is an id", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) CHECK_MSG(!xl_hub_is_id(bad[i]), "\"%s\" is not an id", bad[i]);
    char longname[120];
    memset(longname, 'x', sizeof longname);
    memcpy(longname, "a/", 2);
    longname[2 + 97] = '\0';
    CHECK(!xl_hub_is_id(longname)); /* 97 characters: one more than the Hub allows */
    longname[2 + 96] = '\0';
    CHECK(xl_hub_is_id(longname));
    hub_id id;
    CHECK_EQ_INT(hub_parse_id("o/n@refs/pr/3", &id), XL_OK);
    CHECK_STR(id.repo, "o/n");
    CHECK_STR(id.revision, "refs/pr/3");
    CHECK(id.revision_given);
    hub_id_free(&id);
    CHECK_EQ_INT(hub_parse_id("o/n", &id), XL_OK);
    CHECK_STR(id.revision, "main");
    CHECK(!id.revision_given);
    hub_id_free(&id);
    CHECK_EQ_INT(hub_parse_id("o", &id), XL_ERR_ARG);
    CHECK(strstr(xl_last_error(), "ORG/NAME") != NULL);
    CHECK(hub_is_commit("0123456789abcdef0123456789abcdef01234567"));
    CHECK(!hub_is_commit("0123456789ABCDEF0123456789abcdef01234567"));
    CHECK(!hub_is_commit("main"));
}

static void test_cache_dir(void) {
    unsetenv("HF_HUB_CACHE");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    unsetenv("HF_HOME");
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/u", 1);
    char *d = xl_hub_cache_dir();
    CHECK_STR(d, "/home/u/.cache/huggingface/hub");
    free(d);
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    d = xl_hub_cache_dir();
    CHECK_STR(d, "/xdg/huggingface/hub");
    free(d);
    setenv("HF_HOME", "/hfhome", 1);
    d = xl_hub_cache_dir();
    CHECK_STR(d, "/hfhome/hub");
    free(d);
    setenv("HF_HUB_CACHE", "/hubcache", 1);
    d = xl_hub_cache_dir();
    CHECK_STR(d, "/hubcache");
    free(d);
    unsetenv("HF_HUB_CACHE");
    unsetenv("HF_HOME");
    unsetenv("XDG_CACHE_HOME");
    static const char *on[] = {"1", "ON", "yes", "True"}, *off[] = {"0", "", "no", "false"};
    for (int i = 0; i < 4; i++) {
        setenv("HF_HUB_OFFLINE", on[i], 1);
        CHECK_MSG(xl_hub_offline(), "HF_HUB_OFFLINE=%s", on[i]);
        setenv("HF_HUB_OFFLINE", off[i], 1);
        CHECK_MSG(!xl_hub_offline(), "HF_HUB_OFFLINE=%s", off[i]);
    }
    unsetenv("HF_HUB_OFFLINE");
}

static void test_select(void) {
    static const char *take[] = {"config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                 "modules.json", "config_sentence_transformers.json", "sentence_bert_config.json",
                                 "model.safetensors", "model-00001-of-00002.safetensors", "model.safetensors.index.json",
                                 "1_Pooling/config.json", "2_Dense/config.json", "2_Dense/model.safetensors",
                                 "0_Transformer/config.json", "sparse_linear.pt", "colbert_linear.pt"};
    static const char *skip[] = {"pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack",
                                 "onnx/model.onnx", "openvino/openvino_model.xml", "model.gguf", "README.md",
                                 ".gitattributes", "2_Dense/pytorch_model.bin", "onnx/config.json", "optimizer.pt",
                                 "sentencepiece.bpe.model", "1_Pooling/sub/config.json", "_x/config.json",
                                 "images/logo.png"};
    for (size_t i = 0; i < sizeof take / sizeof *take; i++) CHECK_MSG(hub_select(take[i], NULL), "takes %s", take[i]);
    for (size_t i = 0; i < sizeof skip / sizeof *skip; i++) CHECK_MSG(!hub_select(skip[i], NULL), "skips %s", skip[i]);
    const char *inc[] = {"onnx/", "*.md"}, *exc[] = {"2_Dense/*", "sparse_*"};
    xl_hub_pull_options o = {.include = inc, .n_include = 2, .exclude = exc, .n_exclude = 2};
    CHECK(hub_select("onnx/model.onnx", &o));
    CHECK(hub_select("onnx/sub/deep.bin", &o)); /* '*' crosses '/', as Python's fnmatch */
    CHECK(hub_select("README.md", &o));
    CHECK(hub_select("docs/notes.md", &o));
    CHECK(!hub_select("2_Dense/model.safetensors", &o));
    CHECK(!hub_select("sparse_linear.pt", &o));
    CHECK(hub_select("config.json", &o));
    CHECK(!hub_select("pytorch_model.bin", &o));
}

static void test_paths(void) {
    CHECK(hub_rel_path_ok("a/b.json"));
    CHECK(hub_rel_path_ok("..a"));
    static const char *bad[] = {"", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a/", ".", "a\nb"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) CHECK_MSG(!hub_rel_path_ok(bad[i]), "unsafe path \"%s\"", bad[i]);
}

static void test_resolve(void) {
    char root[] = "/tmp/xl_hub_test_XXXXXX";
    if (!mkdtemp(root)) { CHECK(0); return; }
    const char *commit = "0123456789abcdef0123456789abcdef01234567";
    char p[512];
    snprintf(p, sizeof p, "%s/models--org--name/snapshots/%s", root, commit);
    CHECK_EQ_INT(hub_mkdirs(p), XL_OK);
    snprintf(p, sizeof p, "%s/models--org--name/refs/main", root);
    CHECK_EQ_INT(hub_write_atomic(p, commit, strlen(commit)), XL_OK);
    snprintf(p, sizeof p, "%s/models--org--name/refs/refs/pr/1", root);
    CHECK_EQ_INT(hub_write_atomic(p, commit, strlen(commit)), XL_OK);
    snprintf(p, sizeof p, "%s/models--org--name/refs/broken", root);
    write_file(p, "not a commit");
    char want[512];
    snprintf(want, sizeof want, "%s/models--org--name/snapshots/%s", root, commit);
    static const char *ids[] = {"org/name", "org/name@main", "org/name@refs/pr/1",
                                "org/name@0123456789abcdef0123456789abcdef01234567"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        char *dir = NULL;
        CHECK_MSG(xl_hub_resolve(root, ids[i], &dir) == XL_OK && dir && !strcmp(dir, want), "%s -> %s (%s)", ids[i],
                  dir ? dir : "NULL", xl_last_error());
        free(dir);
    }
    static const char *missing[] = {"org/name@v2", "org/name@broken", "org/other",
                                    "org/name@1123456789abcdef0123456789abcdef01234567"};
    for (size_t i = 0; i < sizeof missing / sizeof *missing; i++) {
        char *dir = (char *)1;
        xl_status st = xl_hub_resolve(root, missing[i], &dir);
        CHECK_MSG(st == XL_ERR_IO && dir == NULL && strstr(xl_last_error(), "xling pull") && strstr(xl_last_error(), root),
                  "%s missing: %s", missing[i], xl_last_error());
    }
    /* the loaders: offline, a cached id loads nothing else; a missing one names the pull */
    setenv("HF_HUB_CACHE", root, 1);
    setenv("HF_HUB_OFFLINE", "1", 1);
    char *res = NULL;
    CHECK_EQ_INT(xl_hub_local("org/name", &res), XL_OK);
    CHECK(res && !strcmp(res, want));
    free(res);
    CHECK_EQ_INT(xl_hub_local("org/none", &res), XL_ERR_IO);
    CHECK(strstr(xl_last_error(), "HF_HUB_OFFLINE") && strstr(xl_last_error(), "xling pull org/none"));
    CHECK_EQ_INT(xl_hub_local(root, &res), XL_OK); /* an existing path is used as given */
    CHECK(res == NULL);
    CHECK_EQ_INT(xl_hub_local("no/such/folder", &res), XL_OK); /* not an id: the loader's own error */
    CHECK(res == NULL);
    xl_model *m = NULL;
    CHECK_EQ_INT(xl_model_load("org/none", NULL, &m), XL_ERR_IO);
    CHECK(m == NULL && strstr(xl_last_error(), "xling pull org/none"));
    unsetenv("HF_HUB_OFFLINE");
    unsetenv("HF_HUB_CACHE");
    /* rm of the whole repository */
    uint64_t freed = 1;
    CHECK_EQ_INT(xl_hub_rm(root, "org/name", &freed), XL_OK);
    snprintf(p, sizeof p, "%s/models--org--name", root);
    CHECK(access(p, F_OK) != 0);
    CHECK_EQ_INT(xl_hub_rm(root, "org/name", &freed), XL_ERR_IO);
    xl_hub_model *list = NULL;
    size_t n = 5;
    CHECK_EQ_INT(xl_hub_list(root, &list, &n), XL_OK);
    CHECK_EQ_INT(n, 0);
    xl_hub_list_free(list, n);
    rmdir(root);
}

int main(void) {
    test_ids();
    test_cache_dir();
    test_select();
    test_paths();
    test_resolve();
    return test_summary("test_hub");
}
