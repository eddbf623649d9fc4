/* Long documents (xl_embed_chunked) against bge-m3-tiny's `long_document` reference:
 * the windows (token spans, their ids through embeddings computed separately), each
 * window's vector, the mean / max / first combinations and late chunking within 2e-3
 * (F16 weights, as the fixture README says); a text that fits one window equal to
 * xl_embed_texts bit for bit; the prompt in front of every window; a decoder's special
 * tokens; Dense modules in late chunking; the errors. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"
#include "xling.h"

#define TOL 2e-3
/* The same sequences run in other batches: only summation order differs. */
#define SAME 1e-5

static const char *model_dir(const char *name) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/tests/fixtures/models/%s", t_repo_dir(), name);
    FILE *f = fopen(t_path(buf, "config.json"), "r");
    if (f) { fclose(f); return buf; }
    const char *shared = t_shared_dir();
    if (!shared) return NULL;
    snprintf(buf, sizeof buf, "%s/fixtures/models/%s", shared, name);
    f = fopen(t_path(buf, "config.json"), "r");
    if (!f) return NULL;
    fclose(f);
    return buf;
}

/* A model loaded with 2 threads; a failed load is a failed check. */
static int load_model(const char *dir, xl_model **m) {
    xl_model_options mo = {.threads = 2};
    return CHECK_MSG(xl_model_load(dir, &mo, m) == XL_OK, "%s", xl_last_error());
}

static double diff_json(const float *got, const json_t *want, size_t n) {
    double d = 0;
    for (size_t k = 0; k < n; k++) {
        double e = fabs(got[k] - json_number_value(json_array_get(want, k)));
        if (e > d || isnan(e)) d = isnan(e) ? INFINITY : e;
    }
    return d;
}

static double norm(const float *v, size_t n) {
    double s = 0;
    for (size_t k = 0; k < n; k++) s += (double)v[k] * v[k];
    return sqrt(s);
}

static void windows_only(void) {
    xl_chunk_options o;
    xl_chunk_options_init(&o);
    o.size = 48;
    o.overlap = 12;
    size_t s[8], e[8];
    CHECK_EQ_INT(xl_chunk_windows(159, &o, s, e), 5);
    size_t ws[] = {0, 36, 72, 108, 144}, we[] = {48, 84, 120, 156, 159};
    for (int k = 0; k < 5; k++) { CHECK_EQ_INT(s[k], ws[k]); CHECK_EQ_INT(e[k], we[k]); }
    CHECK_EQ_INT(xl_chunk_windows(48, &o, s, e), 1);
    CHECK_EQ_INT(e[0], 48);
    CHECK_EQ_INT(xl_chunk_windows(49, &o, s, e), 2); /* [0,48) [36,49) */
    CHECK_EQ_INT(s[1], 36);
    CHECK_EQ_INT(e[1], 49);
    CHECK_EQ_INT(xl_chunk_windows(0, &o, s, e), 1);
    CHECK_EQ_INT(e[0], 0);
    o.overlap = 0;
    CHECK_EQ_INT(xl_chunk_windows(96, &o, NULL, NULL), 2);
    CHECK_EQ_INT(xl_chunk_windows(97, &o, NULL, NULL), 3);
    o.overlap = 48;
    CHECK_EQ_INT(xl_chunk_windows(10, &o, NULL, NULL), 0);
    o.overlap = 0;
    o.size = 0;
    CHECK_EQ_INT(xl_chunk_windows(10, &o, NULL, NULL), 0);
}

/* Runs one text; CHECKs the call. */
static int run1(xl_context *ctx, const char *text, const xl_embed_options *eo, const xl_chunk_options *co,
                xl_chunk_outputs *out) {
    size_t len = strlen(text);
    xl_status st = xl_embed_chunked(ctx, &text, &len, 1, eo, co, out);
    if (!CHECK_MSG(st == XL_OK, "xl_embed_chunked: %s", xl_last_error())) return 0;
    return CHECK_MSG(out->status[0] == XL_OK, "text: %s", out->error[0] ? out->error[0] : "?");
}

static void bge_m3(void) {
    const char *dir = model_dir("bge-m3-tiny");
    if (!dir) { t_skip_case("bge-m3-tiny", "fixtures absent (../shared)"); return; }
    json_error_t je;
    json_t *ref = json_load_file(t_path(dir, "reference.json"), 0, &je);
    if (!CHECK_MSG(ref != NULL, "reference.json: %s", je.text)) return;
    const json_t *ld = json_object_get(ref, "long_document"), *wins = json_object_get(ld, "windows");
    const char *text = json_string_value(json_object_get(ld, "text"));
    xl_model *m;
    if (!load_model(dir, &m)) { json_decref(ref); return; }
    xl_context *ctx;
    CHECK(xl_context_new(m, &ctx) == XL_OK);
    int dim = xl_embed_dim(m, NULL);
    size_t H = 32, nw = json_array_size(wins);

    /* The text's own tokens are the reference's. */
    xl_encoding enc;
    if (CHECK(xl_tokenize(xl_model_tokenizer(m), text, strlen(text), 0, &enc) == XL_OK)) {
        const json_t *ids = json_object_get(ld, "input_ids");
        CHECK_EQ_INT(enc.n, json_array_size(ids));
        int same = enc.n == json_array_size(ids);
        for (size_t t = 0; same && t < enc.n; t++) same = enc.ids[t] == json_integer_value(json_array_get(ids, t));
        CHECK_MSG(same, "the text's ids differ from the reference's");
        xl_encoding_free(&enc);
    }

    xl_chunk_options co;
    xl_chunk_options_init(&co);
    co.size = (int)json_integer_value(json_object_get(ld, "chunk_size"));
    co.overlap = (int)json_integer_value(json_object_get(ld, "chunk_overlap"));
    const char *pool_names[] = {"mean", "max", "first"};
    xl_chunk_pooling pools[] = {XL_CHUNK_POOL_MEAN, XL_CHUNK_POOL_MAX, XL_CHUNK_POOL_FIRST};
    for (int pi = 0; pi < 3; pi++) {
        co.pooling = pools[pi];
        xl_chunk_outputs out;
        if (!run1(ctx, text, NULL, &co, &out)) continue;
        CHECK_EQ_INT(out.dim, dim);
        CHECK_EQ_INT(out.n_chunks, nw);
        CHECK_EQ_INT(out.first[0], 0);
        CHECK_EQ_INT(out.first[1], nw);
        for (size_t k = 0; pi == 0 && k < nw && k < out.n_chunks; k++) {
            const json_t *w = json_array_get(wins, k);
            CHECK_EQ_INT(out.chunks[k].input, 0);
            CHECK_EQ_INT(out.chunks[k].index, k);
            CHECK_EQ_INT(out.chunks[k].token_start, json_integer_value(json_object_get(w, "token_start")));
            CHECK_EQ_INT(out.chunks[k].token_end, json_integer_value(json_object_get(w, "token_end")));
            CHECK_EQ_INT(out.chunks[k].byte_start, json_integer_value(json_object_get(w, "byte_start")));
            CHECK_EQ_INT(out.chunks[k].byte_end, json_integer_value(json_object_get(w, "byte_end")));
            const float *e = out.chunk_embeddings + k * (size_t)dim;
            double d = diff_json(e, json_object_get(w, "embedding"), (size_t)dim);
            CHECK_MSG(d <= TOL, "window %zu: max abs diff %.3g", k, d);
            /* The window's reference ids (<s> + window + </s>) embedded on their own. */
            const json_t *ia = json_object_get(w, "input_ids");
            size_t len = json_array_size(ia);
            int32_t *ids = malloc(len * sizeof *ids);
            for (size_t t = 0; t < len; t++) ids[t] = (int32_t)json_integer_value(json_array_get(ia, t));
            float *sep = malloc((size_t)dim * sizeof *sep);
            const int32_t *cid = ids;
            if (CHECK(xl_embed_ids(m, &cid, &len, 1, NULL, sep, NULL) == XL_OK)) {
                double s = t_max_abs_diff(sep, e, (size_t)dim);
                CHECK_MSG(s <= SAME, "window %zu differs from its ids embedded alone by %.3g", k, s);
            }
            free(ids); free(sep);
        }
        const json_t *want = json_object_get(json_object_get(ld, "combined"), pool_names[pi]);
        double d = diff_json(out.embeddings, want, (size_t)dim);
        CHECK_MSG(d <= TOL, "combined %s: max abs diff %.3g", pool_names[pi], d);
        CHECK_NEAR(norm(out.embeddings, (size_t)dim), 1.0, 1e-5);
        xl_chunk_outputs_free(&out);
    }

    /* Late chunking: the reference's overlapping windows, then Jina's tiling (overlap 0)
     * against means of the whole-text hidden states (row 0 is <s>). */
    co.late = 1;
    co.pooling = XL_CHUNK_POOL_MEAN;
    xl_chunk_outputs out;
    if (run1(ctx, text, NULL, &co, &out)) {
        CHECK(out.embeddings == NULL);
        CHECK_EQ_INT(out.n_chunks, nw);
        for (size_t k = 0; k < nw && k < out.n_chunks; k++) {
            double d = diff_json(out.chunk_embeddings + k * (size_t)dim,
                                 json_object_get(json_array_get(wins, k), "late_chunk_normalized"), (size_t)dim);
            CHECK_MSG(d <= TOL, "late chunk %zu: max abs diff %.3g", k, d);
        }
        xl_chunk_outputs_free(&out);
    }
    co.overlap = 0;
    const json_t *hs = json_object_get(ld, "whole_last_hidden_state");
    if (run1(ctx, text, NULL, &co, &out)) {
        CHECK_EQ_INT(out.n_chunks, 4); /* 159 = 48 + 48 + 48 + 15 */
        for (size_t k = 0; k < out.n_chunks; k++) {
            size_t s = out.chunks[k].token_start, e = out.chunks[k].token_end;
            CHECK_EQ_INT(s, 48 * k);
            float want[32] = {0};
            for (size_t t = s; t < e; t++)
                for (size_t j = 0; j < H; j++)
                    want[j] += (float)json_number_value(json_array_get(json_array_get(hs, t + 1), j)) / (float)(e - s);
            double nn = norm(want, H);
            for (size_t j = 0; j < H; j++) want[j] /= (float)nn;
            double d = t_max_abs_diff(out.chunk_embeddings + k * (size_t)dim, want, H);
            CHECK_MSG(d <= TOL, "late chunk %zu without overlap: max abs diff %.3g", k, d);
        }
        xl_chunk_outputs_free(&out);
    }
    /* Too long for one forward: an error of that text alone, naming the limit. */
    {
        xl_embed_options eo;
        xl_embed_options_init(&eo);
        eo.max_length = 100;
        const char *texts[] = {text, "kurz"};
        size_t lens[] = {strlen(text), 4};
        if (CHECK(xl_embed_chunked(ctx, texts, lens, 2, &eo, &co, &out) == XL_OK)) {
            CHECK_EQ_INT(out.status[0], XL_ERR_INPUT);
            CHECK_MSG(out.error[0] && strstr(out.error[0], "161 tokens") && strstr(out.error[0], "at most 100"), "%s",
                      out.error[0] ? out.error[0] : "(none)");
            CHECK_EQ_INT(out.status[1], XL_OK);
            CHECK_EQ_INT(out.n_failed, 1);
            CHECK_EQ_INT(out.first[0], 0);
            CHECK_EQ_INT(out.first[1], 0);
            CHECK_EQ_INT(out.first[2], 1);
            xl_chunk_outputs_free(&out);
        }
    }
    co.late = 0;
    co.overlap = 12;

    /* Several texts in one call: a long one, one that fits (its plain vector, bit for
     * bit), the empty text (special tokens only, as embed). */
    {
        const char *texts[] = {"Ein kurzer Satz.", text, ""};
        size_t lens[] = {strlen(texts[0]), strlen(text), 0};
        float plain[2][32];
        const char *pt[] = {texts[0], texts[2]};
        size_t pl[] = {lens[0], 0};
        CHECK(xl_embed_texts(m, pt, pl, 2, NULL, &plain[0][0], NULL) == XL_OK);
        if (CHECK(xl_embed_chunked(ctx, texts, lens, 3, NULL, &co, &out) == XL_OK)) {
            CHECK_EQ_INT(out.n_failed, 0);
            CHECK_EQ_INT(out.n_chunks, 1 + nw + 1);
            CHECK_EQ_INT(out.first[1], 1);
            CHECK_EQ_INT(out.first[2], 1 + nw);
            CHECK_EQ_INT(out.first[3], 2 + nw);
            CHECK(memcmp(out.embeddings, plain[0], sizeof plain[0]) == 0);
            CHECK(memcmp(out.chunk_embeddings, plain[0], sizeof plain[0]) == 0);
            CHECK(memcmp(out.embeddings + 2 * dim, plain[1], sizeof plain[1]) == 0);
            CHECK_EQ_INT(out.chunks[0].token_end, 5);
            CHECK_EQ_INT(out.chunks[0].byte_start, 0);
            CHECK_EQ_INT(out.chunks[0].byte_end, 16);
            CHECK_EQ_INT(out.chunks[1].byte_start, 0);
            CHECK_EQ_INT(out.chunks[nw].byte_end, strlen(text));
            CHECK_EQ_INT(out.chunks[1 + nw].token_end, 0);
            CHECK_EQ_INT(out.chunks[1 + nw].byte_end, 0);
            double d = diff_json(out.embeddings + dim, json_object_get(json_object_get(ld, "combined"), "mean"), (size_t)dim);
            CHECK_MSG(d <= TOL, "combined mean among other texts: %.3g", d);
            xl_chunk_outputs_free(&out);
        }
        /* A chunk size the whole text fits in: the plain embedding. */
        co.size = 200;
        float whole[32];
        size_t len = strlen(text);
        CHECK(xl_embed_texts(m, &text, &len, 1, NULL, whole, NULL) == XL_OK);
        if (run1(ctx, text, NULL, &co, &out)) {
            CHECK_EQ_INT(out.n_chunks, 1);
            CHECK_EQ_INT(out.chunks[0].token_end, 159);
            CHECK(memcmp(out.embeddings, whole, sizeof whole) == 0);
            double d = diff_json(whole, json_object_get(ld, "whole_text_embedding"), (size_t)dim);
            CHECK_MSG(d <= TOL, "whole text: %.3g", d);
            xl_chunk_outputs_free(&out);
        }
        co.size = 48;
    }

    /* A prompt goes before every window's tokens, inside the special tokens. */
    {
        xl_embed_options eo;
        xl_embed_options_init(&eo);
        eo.prefix = "query: ";
        const xl_tokenizer *tok = xl_model_tokenizer(m);
        size_t tl = strlen(text), pl = strlen(eo.prefix);
        char *joint = malloc(pl + tl + 1);
        memcpy(joint, eo.prefix, pl);
        memcpy(joint + pl, text, tl + 1);
        xl_encoding je, te;
        CHECK(xl_tokenize(tok, joint, pl + tl, 0, &je) == XL_OK);
        CHECK(xl_tokenize(tok, text, tl, 0, &te) == XL_OK);
        size_t np = je.n - te.n;
        /* ▁que ry : — not the lone ▁ that "query: " alone ends with */
        CHECK_EQ_INT(np, 3);
        CHECK(memcmp(je.ids + np, te.ids, te.n * sizeof *te.ids) == 0);
        if (run1(ctx, text, &eo, &co, &out)) {
            CHECK_EQ_INT(out.n_chunks, nw);
            for (size_t k = 0; k < out.n_chunks; k++) {
                size_t s = out.chunks[k].token_start, e = out.chunks[k].token_end, len = 2 + np + e - s;
                int32_t *ids = malloc(len * sizeof *ids);
                ids[0] = 0;
                memcpy(ids + 1, je.ids, np * sizeof *ids);
                memcpy(ids + 1 + np, te.ids + s, (e - s) * sizeof *ids);
                ids[len - 1] = 2;
                float sep[32];
                const int32_t *cid = ids;
                if (CHECK(xl_embed_ids(m, &cid, &len, 1, NULL, sep, NULL) == XL_OK)) {
                    double d = t_max_abs_diff(sep, out.chunk_embeddings + k * (size_t)dim, (size_t)dim);
                    CHECK_MSG(d <= SAME, "prompted window %zu: %.3g", k, d);
                }
                free(ids);
            }
            xl_chunk_outputs_free(&out);
        }
        xl_encoding_free(&je);
        xl_encoding_free(&te);
        free(joint);
    }

    /* Errors of the call. */
    {
        xl_embed_options eo;
        xl_embed_options_init(&eo);
        size_t len = strlen(text);
        xl_chunk_options bad = co;
        bad.size = 0;
        CHECK(xl_embed_chunked(ctx, &text, &len, 1, NULL, &bad, &out) == XL_ERR_ARG);
        CHECK(strstr(xl_last_error(), "at least 1") != NULL);
        bad = co;
        bad.overlap = 48;
        CHECK(xl_embed_chunked(ctx, &text, &len, 1, NULL, &bad, &out) == XL_ERR_ARG);
        CHECK(strstr(xl_last_error(), "below the chunk size") != NULL);
        bad.overlap = -1;
        CHECK(xl_embed_chunked(ctx, &text, &len, 1, NULL, &bad, &out) == XL_ERR_ARG);
        bad = co;
        bad.pooling = (xl_chunk_pooling)7;
        CHECK(xl_embed_chunked(ctx, &text, &len, 1, NULL, &bad, &out) == XL_ERR_ARG);
        eo.max_length = 40; /* 48 + 2 special tokens do not fit */
        CHECK(xl_embed_chunked(ctx, &text, &len, 1, &eo, &co, &out) == XL_ERR_ARG);
        CHECK_MSG(strstr(xl_last_error(), "exceeds the 40 tokens") != NULL, "%s", xl_last_error());
        CHECK(out.n == 0 && out.status == NULL);
        eo.max_length = 0;
        eo.prompt_name = "nope";
        CHECK(xl_embed_chunked(ctx, &text, &len, 1, &eo, &co, &out) == XL_ERR_ARG);
        CHECK(xl_embed_chunked(ctx, NULL, &len, 1, NULL, &co, &out) == XL_ERR_ARG);
        CHECK(xl_embed_chunked(ctx, &text, &len, 0, NULL, &co, &out) == XL_OK && out.n_chunks == 0 && out.first[0] == 0);
        xl_chunk_outputs_free(&out);
    }
    xl_context_free(ctx);
    xl_model_free(m);
    json_decref(ref);
}

/* sentence-transformers' do_lower_case: the text is lowercased before tokenizing, and
 * U+0130 (2 bytes) becomes "i" (1 byte); the byte spans still point into the text as
 * given. A copy of bge-m3-tiny's folder with do_lower_case on. */
/* A copy of bge-m3-tiny's folder in tmp (links to its files) with its own
 * sentence_bert_config.json and, when pooling is not NULL, 1_Pooling/config.json. */
static int variant(char *tmp, const char *sbert, const char *pooling) {
    const char *dir = model_dir("bge-m3-tiny");
    if (!dir || !CHECK(mkdtemp(tmp) != NULL)) return 0;
    char src[4096];
    snprintf(src, sizeof src, "%s", dir);
    const char *links[] = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "modules.json",
                           "1_Pooling"};
    char a[4200], b[4200], real[4096];
    for (int k = 0; k < (pooling ? 5 : 6); k++) {
        snprintf(a, sizeof a, "%s/%s", src, links[k]);
        snprintf(b, sizeof b, "%s/%s", tmp, links[k]);
        /* the fixture's tokenizer.json is a relative path written as text: link to what it names */
        char txt[512] = "";
        FILE *tf = k == 2 ? fopen(a, "r") : NULL;
        size_t got = tf ? fread(txt, 1, sizeof txt - 1, tf) : 0;
        if (tf) fclose(tf);
        txt[got] = 0;
        if (got && got < 400 && txt[0] != '{') {
            int w = snprintf(a, sizeof a, "%s/%s", src, txt);
            CHECK(w > 0 && (size_t)w < sizeof a);
        }
        CHECK(realpath(a, real) != NULL && symlink(real, b) == 0);
    }
    snprintf(b, sizeof b, "%s/sentence_bert_config.json", tmp);
    FILE *f = fopen(b, "w");
    if (f) { fputs(sbert, f); fclose(f); }
    if (pooling) {
        snprintf(b, sizeof b, "%s/1_Pooling", tmp);
        CHECK(mkdir(b, 0700) == 0);
        snprintf(b, sizeof b, "%s/1_Pooling/config.json", tmp);
        if ((f = fopen(b, "w"))) { fputs(pooling, f); fclose(f); }
    }
    return 1;
}

/* Removes what variant() made: the links themselves (never what they point to: a
 * linked 1_Pooling is the fixture's own folder) and its own files. */
static void variant_rm(const char *tmp) {
    char b[4200];
    struct stat st;
    snprintf(b, sizeof b, "%s/1_Pooling", tmp);
    if (lstat(b, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(b, sizeof b, "%s/1_Pooling/config.json", tmp);
        unlink(b);
        snprintf(b, sizeof b, "%s/1_Pooling", tmp);
        rmdir(b);
    }
    const char *files[] = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "modules.json",
                           "1_Pooling", "sentence_bert_config.json",
                           "tokenizer.json.xlcache" /* the tokenizer cache, when not elsewhere */};
    for (int k = 0; k < 8; k++) {
        snprintf(b, sizeof b, "%s/%s", tmp, files[k]);
        if (lstat(b, &st) == 0 && !S_ISDIR(st.st_mode)) unlink(b);
    }
    CHECK(rmdir(tmp) == 0);
}

/* sentence-transformers' do_lower_case: the text is lowercased before tokenizing, and
 * U+0130 (2 bytes) becomes "i" (1 byte); the byte spans still point into the text as
 * given. */
static void lowercased(void) {
    char tmp[] = "/tmp/xl_chunk_lower_XXXXXX";
    if (!variant(tmp, "{\"max_seq_length\": 8192, \"do_lower_case\": true}", NULL)) {
        t_skip_case("bge-m3-tiny lowercased", "fixtures absent (../shared)");
        return;
    }
    xl_model *m;
    if (load_model(tmp, &m)) {
        const char *text = "İstanbul İzmir ANKARA İSKENDERUN, İNEGÖL und Bursa: İİİ kleine Städte am Meer. İyi günler!";
        char lower[256];
        size_t k = 0, tl = strlen(text);
        for (size_t i = 0; i < tl;)
            if ((unsigned char)text[i] == 0xC4 && (unsigned char)text[i + 1] == 0xB0) { lower[k++] = 'i'; i += 2; }
            else if ((unsigned char)text[i] < 0x80) { char c = text[i++]; lower[k++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c); }
            else if ((unsigned char)text[i] == 0xC3 && (unsigned char)text[i + 1] == 0x96) { lower[k++] = text[i]; lower[k++] = (char)0xB6; i += 2; } /* Ö */
            else lower[k++] = text[i++]; /* ä, ü (already lowercase) */
        lower[k] = 0;
        xl_encoding le;
        CHECK(xl_tokenize_offsets(xl_model_tokenizer(m), lower, k, 0, &le) == XL_OK);
        xl_context *ctx;
        CHECK(xl_context_new(m, &ctx) == XL_OK);
        xl_chunk_options co;
        xl_chunk_options_init(&co);
        co.size = 6;
        co.overlap = 2;
        xl_chunk_outputs out;
        if (run1(ctx, text, NULL, &co, &out)) {
            CHECK_EQ_INT(out.n_chunks, xl_chunk_windows(le.n, &co, NULL, NULL));
            for (size_t c = 0; c < out.n_chunks; c++) {
                /* lowered offset o -> o + the İ (one byte longer each) before it */
                uint32_t lo = le.offsets[2 * out.chunks[c].token_start], hi = le.offsets[2 * (out.chunks[c].token_end - 1) + 1];
                size_t want_s = lo, want_e = hi;
                for (size_t i = 0, j = 0; i < tl; j++) {
                    int dotted = (unsigned char)text[i] == 0xC4 && (unsigned char)text[i + 1] == 0xB0;
                    if (dotted && j < lo) want_s++;
                    if (dotted && j < hi) want_e++;
                    i += dotted ? 2 : 1;
                }
                CHECK_MSG(out.chunks[c].byte_start == want_s && out.chunks[c].byte_end == want_e,
                          "lowercased window %zu: [%zu, %zu) want [%zu, %zu)", c, out.chunks[c].byte_start,
                          out.chunks[c].byte_end, want_s, want_e);
            }
            CHECK_EQ_INT(out.chunks[out.n_chunks - 1].byte_end, tl);
            xl_chunk_outputs_free(&out);
        }
        xl_encoding_free(&le);
        xl_context_free(ctx);
        xl_model_free(m);
    }
    variant_rm(tmp);
}

/* Pooling with include_prompt: false (mean here): every window leaves out the prompt's
 * first tokens as embed does (sentence-transformers' prompt_length = the prompt's
 * tokens with the special tokens, minus one): the window's sequence run with that
 * prompt_len through xl_run gives the same vector. */
static void prompt_excluded(void) {
    char tmp[] = "/tmp/xl_chunk_prompt_XXXXXX";
    if (!variant(tmp, "{\"max_seq_length\": 8192}",
                 "{\"word_embedding_dimension\": 32, \"pooling_mode_mean_tokens\": true, \"include_prompt\": false}")) {
        t_skip_case("bge-m3-tiny include_prompt", "fixtures absent (../shared)");
        return;
    }
    xl_model *m;
    if (load_model(tmp, &m)) {
        xl_model_info info;
        xl_model_get_info(m, &info);
        CHECK(info.include_prompt == 0 && info.pooling == XL_POOL_MEAN);
        const xl_tokenizer *tok = xl_model_tokenizer(m);
        const char *text = "Ydy Tom a Mary yn cofio unrhyw beth? Те направиха дупка в стената. Plan. E tu ?";
        xl_embed_options eo;
        xl_embed_options_init(&eo);
        eo.prefix = "passage: ";
        xl_encoding pe, je, te;
        size_t tl = strlen(text), pl = strlen(eo.prefix);
        char joint[256];
        snprintf(joint, sizeof joint, "%s%s", eo.prefix, text);
        CHECK(xl_tokenize(tok, eo.prefix, pl, 1, &pe) == XL_OK);
        CHECK(xl_tokenize(tok, joint, pl + tl, 0, &je) == XL_OK);
        CHECK(xl_tokenize(tok, text, tl, 0, &te) == XL_OK);
        size_t np = je.n - te.n, prompt_len = pe.n - 1;
        xl_context *ctx;
        CHECK(xl_context_new(m, &ctx) == XL_OK);
        xl_chunk_options co;
        xl_chunk_options_init(&co);
        co.size = 8;
        co.overlap = 3;
        xl_chunk_outputs out;
        if (run1(ctx, text, &eo, &co, &out)) {
            CHECK(out.n_chunks > 3);
            xl_sequence *seqs = calloc(out.n_chunks, sizeof *seqs);
            for (size_t k = 0; k < out.n_chunks; k++) {
                size_t s = out.chunks[k].token_start, e = out.chunks[k].token_end;
                seqs[k].n = 2 + np + e - s;
                seqs[k].ids = malloc(seqs[k].n * sizeof *seqs[k].ids);
                seqs[k].ids[0] = 0;
                memcpy(seqs[k].ids + 1, je.ids, np * sizeof *seqs[k].ids);
                memcpy(seqs[k].ids + 1 + np, te.ids + s, (e - s) * sizeof *seqs[k].ids);
                seqs[k].ids[seqs[k].n - 1] = 2;
                seqs[k].prompt_len = prompt_len;
            }
            xl_outputs ro;
            if (CHECK(xl_run(ctx, seqs, out.n_chunks, XL_OUT_EMBEDDING, NULL, &ro) == XL_OK)) {
                double d = t_max_abs_diff(ro.embeddings, out.chunk_embeddings, out.n_chunks * (size_t)out.dim);
                CHECK_MSG(d <= SAME, "windows with the prompt left out of pooling: %.3g", d);
                xl_outputs_free(&ro);
            }
            xl_sequences_free(seqs, out.n_chunks);
            xl_chunk_outputs_free(&out);
        }
        xl_encoding_free(&pe);
        xl_encoding_free(&je);
        xl_encoding_free(&te);
        xl_context_free(ctx);
        xl_model_free(m);
    }
    variant_rm(tmp);
}

/* A decoder: its post-processor appends <|endoftext|>, so each window does too; last-
 * token pooling then reads that token of every window. */
static void decoder(void) {
    const char *dir = model_dir("qwen3-tiny");
    if (!dir) { t_skip_case("qwen3-tiny", "fixtures absent (../shared)"); return; }
    xl_model *m;
    if (!load_model(dir, &m)) return;
    xl_context *ctx;
    CHECK(xl_context_new(m, &ctx) == XL_OK);
    const char *text = "The quick brown fox jumps over the lazy dog. Der schnelle braune Fuchs springt über den faulen "
                       "Hund. Le renard brun rapide saute par-dessus le chien paresseux.";
    size_t tl = strlen(text);
    int dim = xl_embed_dim(m, NULL);
    xl_encoding te;
    CHECK(xl_tokenize(xl_model_tokenizer(m), text, tl, 0, &te) == XL_OK);
    xl_chunk_options co;
    xl_chunk_options_init(&co);
    co.size = 10;
    co.overlap = 3;
    xl_chunk_outputs out;
    if (run1(ctx, text, NULL, &co, &out)) {
        CHECK_EQ_INT(out.n_chunks, xl_chunk_windows(te.n, &co, NULL, NULL));
        CHECK(out.n_chunks > 3);
        float *sep = malloc((size_t)dim * sizeof *sep);
        double mean[1024] = {0}, total = 0;
        for (size_t k = 0; k < out.n_chunks; k++) {
            size_t s = out.chunks[k].token_start, e = out.chunks[k].token_end, len = e - s + 1;
            int32_t ids[16];
            memcpy(ids, te.ids + s, (e - s) * sizeof *ids);
            ids[len - 1] = xl_tokenizer_token_to_id(xl_model_tokenizer(m), "<|endoftext|>");
            const int32_t *cid = ids;
            if (CHECK(xl_embed_ids(m, &cid, &len, 1, NULL, sep, NULL) == XL_OK)) {
                double d = t_max_abs_diff(sep, out.chunk_embeddings + k * (size_t)dim, (size_t)dim);
                CHECK_MSG(d <= SAME, "decoder window %zu: %.3g", k, d);
            }
            for (int j = 0; j < dim && j < 1024; j++) mean[j] += (double)(e - s) * sep[j];
            total += (double)(e - s);
        }
        /* the weighted mean, renormalised (the folder normalises) */
        double nn = 0;
        for (int j = 0; j < dim; j++) nn += (mean[j] / total) * (mean[j] / total);
        double d = 0;
        for (int j = 0; j < dim; j++) {
            double e = fabs(out.embeddings[j] - mean[j] / total / sqrt(nn));
            if (e > d) d = e;
        }
        CHECK_MSG(d <= SAME, "decoder mean: %.3g", d);
        free(sep);
        xl_chunk_outputs_free(&out);
    }
    xl_encoding_free(&te);
    xl_context_free(ctx);
    xl_model_free(m);
}

/* Dense modules (bert-tiny: Pooling → Dense → Normalize): late chunks come out at the
 * Dense width, normalised; the fitting text's chunk is the plain vector. */
static void dense(void) {
    const char *dir = model_dir("bert-tiny");
    if (!dir) { t_skip_case("bert-tiny", "fixture absent"); return; }
    xl_model *m;
    if (!load_model(dir, &m)) return;
    xl_model_info info;
    xl_model_get_info(m, &info);
    CHECK(info.n_dense > 0 && info.dim != info.hidden_size);
    xl_context *ctx;
    CHECK(xl_context_new(m, &ctx) == XL_OK);
    const char *text = "a b c d e f g h i j k l m n o p";
    xl_chunk_options co;
    xl_chunk_options_init(&co);
    co.size = 5;
    co.late = 1;
    xl_chunk_outputs out;
    if (run1(ctx, text, NULL, &co, &out)) {
        CHECK_EQ_INT(out.dim, info.dim);
        CHECK(out.n_chunks >= 3);
        for (size_t k = 0; k < out.n_chunks; k++)
            CHECK_NEAR(norm(out.chunk_embeddings + k * (size_t)out.dim, (size_t)out.dim), info.normalize ? 1.0 : norm(out.chunk_embeddings + k * (size_t)out.dim, (size_t)out.dim), 1e-5);
        xl_chunk_outputs_free(&out);
    }
    xl_context_free(ctx);
    xl_model_free(m);
}

int main(void) {
    windows_only();
    bge_m3();
    lowercased();
    prompt_excluded();
    decoder();
    dense();
    return test_summary("test_chunk");
}
