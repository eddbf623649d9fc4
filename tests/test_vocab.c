/* Vocabulary transfer (src/adapt/vocab_*.c, fvt.c, ibm1.c): piece conventions and copy
 * matching across them, FVT recipes and rows on hand-checked tokens of the fixture
 * models (bert-tiny: BERT WordPiece, uncased; xlmr-tiny: XLM-R SentencePiece Unigram),
 * IBM Model 1 on a corpus with a known alignment, the XLM-R position shift, and the
 * transfers written to folders that load and embed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapt/vocab_model.h"
#include "io/safetensors.h"
#include "testlib.h"
#include "util/vec.h"
#include "xling.h"

static const char *BERT, *XLMR;

static int decode_is(const vc_info *c, const char *piece, const char *text, size_t len, int initial) {
    xl_buf b = {0};
    int ini = -1;
    xl_status st = vc_decode(c, piece, &b, &ini);
    int ok = st == XL_OK && b.n == len && (!len || !memcmp(b.s, text, len)) && ini == initial;
    if (!ok) fprintf(stderr, "    decode \"%s\": got \"%.*s\" initial %d\n", piece, (int)b.n, b.s ? b.s : "", ini);
    xl_buf_free(&b);
    return ok;
}

static void test_decode(void) {
    vc_info wp = {.kind = VC_WORDPIECE};
    strcpy(wp.prefix, "##");
    CHECK(decode_is(&wp, "##ing", "ing", 3, 0));
    CHECK(decode_is(&wp, "hello", "hello", 5, 1));
    CHECK(decode_is(&wp, "##", "##", 2, 1)); /* the prefix alone is a word */
    vc_info ms = {.kind = VC_METASPACE, .byte_fallback = 1};
    strcpy(ms.repl, "\xe2\x96\x81");
    CHECK(decode_is(&ms, "\xe2\x96\x81hello", "hello", 5, 1));
    CHECK(decode_is(&ms, "llo", "llo", 3, 0));
    CHECK(decode_is(&ms, "a\xe2\x96\x81" "b", "a b", 3, 0));
    CHECK(decode_is(&ms, "<0x41>", "A", 1, 0));
    CHECK(decode_is(&ms, "<0xE3>", "\xe3", 1, 0));
    CHECK(decode_is(&ms, "\xe2\x96\x81", "", 0, 1));
    vc_info bl = {.kind = VC_BYTELEVEL};
    CHECK(decode_is(&bl, "\xc4\xa0hello", "hello", 5, 1));      /* Ġhello */
    CHECK(decode_is(&bl, "hello", "hello", 5, 0));
    CHECK(decode_is(&bl, "\xc4\x8a", "\n", 1, 0));               /* Ċ = byte 0x0A */
    CHECK(decode_is(&bl, "\xc3\x83\xc2\xa9", "\xc3\xa9", 2, 0)); /* Ã© = the bytes of é */
    CHECK(decode_is(&bl, "\xc3\xa6", "\xe6", 1, 0));             /* æ = byte 0xE6, part of a character */
    CHECK(decode_is(&bl, "\xc5\x82", "\xa0", 1, 0));             /* ł = U+0142 = 256 + 66: byte 0xA0 */
    CHECK(decode_is(&bl, "\xc5\x83", "\xad", 1, 0));             /* Ń = U+0143 = 256 + 67: byte 0xAD */
    CHECK(decode_is(&bl, "\xc4\xa0\xc4\xa0", " ", 1, 1));        /* ĠĠ: word-initial space */
    /* every byte survives the trip through the GPT-2 alphabet */
    int all = 1;
    for (int b = 0; b < 256; b++) {
        int32_t cp = 0;
        /* tk_bytelevel_cp is in tok_unicode.h; rebuild the spelling here */
        if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) cp = b;
        else if (b <= 0x20) cp = 256 + b;
        else if (b <= 0xA0) cp = 256 + 33 + (b - 0x7F);
        else cp = 256 + 67;
        char s[8] = {0};
        if (cp < 0x80) s[0] = (char)cp;
        else {
            s[0] = (char)(0xC0 | (cp >> 6));
            s[1] = (char)(0x80 | (cp & 0x3F));
        }
        char want = (char)b;
        all &= b == ' ' ? decode_is(&bl, s, "", 0, 1) : decode_is(&bl, s, &want, 1, 0);
    }
    CHECK(all);
}

static int32_t id_of(const va_model *m, const char *tok) { return xl_tokenizer_token_to_id(m->tok, tok); }

static int recipe_is(const vr_row *r, int how, const int32_t *ids, size_t n) {
    int ok = r->how == how && r->n == n;
    for (size_t i = 0; ok && i < n; i++) ok = r->src[i] == ids[i];
    if (!ok) {
        fprintf(stderr, "    recipe: how %d (want %d), %u ids:", r->how, how, r->n);
        for (uint32_t i = 0; i < r->n; i++) fprintf(stderr, " %d", r->src[i]);
        fprintf(stderr, "\n");
    }
    return ok;
}

/* Source XLM-R, new tokenizer BERT: every hand-checked token. */
static void test_xlmr_to_bert(void) {
    va_model src, dst;
    memset(&dst, 0, sizeof dst);
    if (!CHECK_MSG(va_model_open(XLMR, &src) == XL_OK, "%s", xl_last_error())) return;
    if (!CHECK_MSG(va_tokenizer_open(BERT, "test", &dst) == XL_OK, "%s", xl_last_error())) {
        va_model_close(&src);
        return;
    }
    CHECK_STR(src.conv.desc, "SentencePiece Unigram (\xe2\x96\x81)");
    CHECK_STR(dst.conv.desc, "WordPiece (##)");
    CHECK_EQ_INT(src.conv.unk_id, 3);
    CHECK_EQ_INT(src.conv.role[VR_PAD], 1);
    CHECK_EQ_INT(dst.conv.role[VR_PAD], 0);
    CHECK_EQ_INT(dst.conv.role[VR_CLS], 101);
    xl_vocab_options o;
    xl_vocab_options_init(&o);
    vr_row *rec = NULL;
    size_t np = 0;
    if (CHECK_MSG(va_transfer_recipes(&src, &dst, &o, &rec, &np) == XL_OK, "%s", xl_last_error())) {
        /* copies by meaning: "hello" (word-initial) = "▁hello"? XLM-R has only "▁Hello";
         * "house" = "▁house" (18276); "##ing" = "ing" (214, a continuation) */
        int32_t house[] = {18276}, ing[] = {214}, ground[] = {64330};
        CHECK(recipe_is(&rec[id_of(&dst, "house")], VH_COPY, house, 1));
        CHECK(recipe_is(&rec[id_of(&dst, "##ing")], VH_COPY, ing, 1));
        CHECK(recipe_is(&rec[id_of(&dst, "##ground")], VH_COPY, ground, 1));
        /* specials by role: [CLS] = <s> 0, [SEP] = </s> 2, [PAD] = <pad> 1, [UNK] = <unk> 3,
         * [MASK] = <mask> 250001 */
        int32_t s0[] = {0}, s2[] = {2}, s1[] = {1}, s3[] = {3}, sm[] = {250001};
        CHECK(recipe_is(&rec[101], VH_COPY, s0, 1));
        CHECK(recipe_is(&rec[102], VH_COPY, s2, 1));
        CHECK(recipe_is(&rec[0], VH_COPY, s1, 1));
        CHECK(recipe_is(&rec[100], VH_COPY, s3, 1));
        CHECK(recipe_is(&rec[103], VH_COPY, sm, 1));
        /* fvt: "playground" is word-initial, so its text is " playground", which XLM-R
         * cuts into "▁play" (11301) "ground" (64330); "unbelievable" into "▁un" (51)
         * "beli" (14473) "ev" (4854) "able" (2886) */
        int32_t play[] = {11301, 64330}, unb[] = {51, 14473, 4854, 2886};
        CHECK(recipe_is(&rec[id_of(&dst, "playground")], VH_FVT, play, 2));
        CHECK(recipe_is(&rec[id_of(&dst, "unbelievable")], VH_FVT, unb, 4));
        /* the rows: the mean of the source rows (F16 weights, mean in float64) */
        float *rows = NULL;
        if (CHECK_MSG(va_vocab_tensor(src.emb, rec, dst.conv.n_ids, 2, &rows) == XL_OK, "%s", xl_last_error())) {
            float *all = NULL;
            CHECK(xl_tensor_to_f32(src.emb, &all) == XL_OK);
            size_t H = src.hidden;
            int32_t pg = id_of(&dst, "playground"), ub = id_of(&dst, "unbelievable"), hs = id_of(&dst, "house");
            double e1 = 0, e2 = 0, e3 = 0;
            for (size_t c = 0; all && c < H; c++) {
                double m1 = ((double)all[11301 * H + c] + all[64330 * H + c]) / 2;
                double m2 = ((double)all[51 * H + c] + all[14473 * H + c] + all[4854 * H + c] + all[2886 * H + c]) / 4;
                e1 = fmax(e1, fabs(rows[(size_t)pg * H + c] - m1));
                e2 = fmax(e2, fabs(rows[(size_t)ub * H + c] - m2));
                e3 = fmax(e3, fabs(rows[(size_t)hs * H + c] - all[18276 * H + c]));
            }
            CHECK_MSG(e1 < 1e-7 && e2 < 1e-7, "fvt rows off by %g, %g", e1, e2);
            CHECK_MSG(e3 == 0, "copied row differs by %g", e3);
            free(all);
        }
        free(rows);
        /* coverage: every row has exactly one way */
        xl_vocab_report rep;
        va_report_counts(rec, dst.conv.n_ids, &rep);
        CHECK_EQ_INT(rep.n_copy + rep.n_fvt + rep.n_fallback + rep.n_align, 30522);
        CHECK_EQ_INT(rep.n_align, 0);
        CHECK(rep.n_copy > 10000 && rep.n_fvt > 5000);
    }
    vr_rows_free(rec, dst.conv.n_ids);
    va_model_close(&src);
    va_model_close(&dst);
}

/* Source BERT, new tokenizer XLM-R. */
static void test_bert_to_xlmr(void) {
    va_model src, dst;
    memset(&dst, 0, sizeof dst);
    if (!CHECK_MSG(va_model_open(BERT, &src) == XL_OK, "%s", xl_last_error())) return;
    if (!CHECK_MSG(va_tokenizer_open(XLMR, "test", &dst) == XL_OK, "%s", xl_last_error())) {
        va_model_close(&src);
        return;
    }
    xl_vocab_options o;
    xl_vocab_options_init(&o);
    vr_row *rec = NULL;
    size_t np = 0;
    if (CHECK_MSG(va_transfer_recipes(&src, &dst, &o, &rec, &np) == XL_OK, "%s", xl_last_error())) {
        /* "▁house" = "house" (2160); "ing" (214, continuation) = "##ing" (2075), not
         * the word "ing" (13749) */
        int32_t house[] = {2160}, ing[] = {2075};
        CHECK(recipe_is(&rec[18276], VH_COPY, house, 1));
        CHECK(recipe_is(&rec[214], VH_COPY, ing, 1));
        /* <s> = [CLS] 101, </s> = [SEP] 102, <pad> = [PAD] 0 */
        int32_t cls[] = {101}, sep[] = {102}, pad[] = {0};
        CHECK(recipe_is(&rec[0], VH_COPY, cls, 1));
        CHECK(recipe_is(&rec[2], VH_COPY, sep, 1));
        CHECK(recipe_is(&rec[1], VH_COPY, pad, 1));
        /* "▁haus" (117247): " haus" in BERT is "ha" (5292) "##us" (2271); "▁Hello"
         * (35378): BERT lowercases " Hello" to "hello" (7592), one piece: fvt, not a copy
         * (the strings differ) */
        int32_t haus[] = {5292, 2271}, hello[] = {7592};
        CHECK(recipe_is(&rec[117247], VH_FVT, haus, 2));
        CHECK(recipe_is(&rec[35378], VH_FVT, hello, 1));
        /* a continuation piece goes through the tokenizer without a leading space:
         * "keit" (21888; BERT has no "##keit") -> "kei" (26679) "##t" (2102); while
         * "buch" (33055) is BERT's "##buch" (25987) */
        int32_t keit[] = {26679, 2102}, buch[] = {25987};
        CHECK(recipe_is(&rec[21888], VH_FVT, keit, 2));
        CHECK(recipe_is(&rec[33055], VH_COPY, buch, 1));
        /* a piece BERT only knows as [UNK] (unknown pieces are left out): the mean of
         * every row; "▁" + U+1F600 (grinning face) */
        int32_t smile = id_of(&dst, "\xe2\x96\x81\xf0\x9f\x98\x80");
        if (smile >= 0) CHECK(recipe_is(&rec[smile], VH_FALLBACK, NULL, 0));
        float *rows = NULL;
        if (CHECK_MSG(va_vocab_tensor(src.emb, rec, dst.conv.n_ids, 2, &rows) == XL_OK, "%s", xl_last_error())) {
            float *all = NULL;
            CHECK(xl_tensor_to_f32(src.emb, &all) == XL_OK);
            size_t H = src.hidden, V = src.rows;
            double e1 = 0, e2 = 0;
            for (size_t c = 0; all && c < H; c++) {
                double m = ((double)all[5292 * H + c] + all[2271 * H + c]) / 2, mean = 0;
                for (size_t r = 0; r < V; r++) mean += all[r * H + c];
                mean /= (double)V;
                e1 = fmax(e1, fabs(rows[117247 * H + c] - m));
                if (smile >= 0) e2 = fmax(e2, fabs(rows[(size_t)smile * H + c] - mean));
            }
            CHECK_MSG(e1 < 1e-7 && e2 < 1e-6, "fvt / fallback rows off by %g, %g", e1, e2);
            CHECK(memcmp(rows + 18276 * H, all + 2160 * H, H * sizeof(float)) == 0);
            free(all);
        }
        free(rows);
    }
    vr_rows_free(rec, dst.conv.n_ids);
    va_model_close(&src);
    va_model_close(&dst);
}

/* IBM Model 1 on Koehn's corpus ("das Haus" / "the house", "das Buch" / "the book",
 * "ein Buch" / "a book"), English as the source side: EM must find that "haus" comes
 * from "house", "buch" from "book", "das" from "the"; ids: the 1 house 2 book 3 a 4,
 * das 11 haus 12 buch 13 ein 14. */
static void test_ibm1(void) {
    ib_corpus c;
    memset(&c, 0, sizeof c);
    const int32_t src[3][2] = {{1, 2}, {1, 3}, {4, 3}}, tgt[3][2] = {{11, 12}, {11, 13}, {14, 13}};
    c.src_off = malloc(4 * sizeof(size_t));
    c.tgt_off = malloc(4 * sizeof(size_t));
    for (int k = 0; k < 3; k++) {
        c.src_off[k] = c.src.n;
        c.tgt_off[k] = c.tgt.n;
        for (int i = 0; i < 2; i++) {
            xl_ivec_push(&c.src, src[k][i]);
            xl_ivec_push(&c.tgt, tgt[k][i]);
        }
    }
    c.src_off[3] = c.src.n;
    c.tgt_off[3] = c.tgt.n;
    c.n = 3;
    ib_model *m = NULL;
    if (CHECK(ib_train(&c, 10, &m) == XL_OK)) {
        double hh = ib_prob_t_given_s(m, 12, 2), hd = ib_prob_t_given_s(m, 11, 2);
        CHECK_MSG(hh > 0.5 && hh > 2 * hd, "t(haus|house) %g, t(das|house) %g", hh, hd);
        CHECK_MSG(ib_prob_t_given_s(m, 13, 3) > ib_prob_t_given_s(m, 14, 3), "t(buch|book) > t(ein|book)");
        CHECK_MSG(ib_prob_s_given_t(m, 2, 12) > 0.5, "t(house|haus) %g", ib_prob_s_given_t(m, 2, 12));
        /* each conditional distribution sums to 1: t(. | house) over das, haus, NULL-free */
        double sum = 0;
        for (int32_t t = 11; t <= 14; t++) sum += ib_prob_t_given_s(m, t, 2);
        CHECK_NEAR(sum, 1.0, 1e-9);
        ib_model_free(m);
    }
    ib_links l;
    if (CHECK(ib_align(&c, 20, 10, &l) == XL_OK)) {
        CHECK_EQ_INT(l.occ[13], 2);
        CHECK_EQ_INT(l.occ[12], 1);
        /* haus: its links' weights, largest on house */
        double best = -1, total = 0;
        int32_t arg = -1;
        for (size_t i = 0; i < l.n; i++) {
            if (l.tgt[i] != 12) continue;
            total += l.w[i];
            if (l.w[i] > best) {
                best = l.w[i];
                arg = l.src[i];
            }
        }
        CHECK_EQ_INT(arg, 2);
        CHECK_MSG(best > 0.6 * total, "house carries %g of %g", best, total);
        /* links come sorted by target then source */
        int sorted = 1;
        for (size_t i = 1; i < l.n; i++)
            sorted &= l.tgt[i - 1] < l.tgt[i] || (l.tgt[i - 1] == l.tgt[i] && l.src[i - 1] < l.src[i]);
        CHECK(sorted);
        ib_links_free(&l);
    }
    ib_corpus_free(&c);
}

/* The position shift: new row new_pad + 1 + k = old row old_pad + 1 + k. */
static void test_shift(void) {
    float data[6 * 2];
    for (int i = 0; i < 12; i++) data[i] = (float)i;
    xl_tensor t = {.name = "embeddings.position_embeddings.weight", .file = "mem", .dtype = XL_DT_F32, .ndim = 2,
                   .shape = {6, 2}, .numel = 12, .data = data, .nbytes = sizeof data};
    float *out = NULL;
    /* pad 1 -> 0: 5 rows; row 0 = old pad row 1, rows 1.. = old rows 2.. */
    CHECK_EQ_INT(va_positions_new_rows(6, 1, 0), 5);
    if (CHECK(va_shift_positions(&t, 1, 0, &out) == XL_OK)) {
        const float want[10] = {2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
        CHECK(!memcmp(out, want, sizeof want));
        free(out);
    }
    /* pad 1 -> 3: 8 rows; rows 0..3 = old row 1, rows 4.. = old rows 2.. */
    if (CHECK(va_shift_positions(&t, 1, 3, &out) == XL_OK)) {
        const float want[16] = {2, 3, 2, 3, 2, 3, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
        CHECK(!memcmp(out, want, sizeof want));
        free(out);
    }
    CHECK(va_shift_positions(&t, 5, 0, &out) == XL_ERR_FORMAT);
}


/* The conventions and roles of the shared byte-level and Gemma tokenizers. */
static void test_shared_conventions(void) {
    const char *sh = t_shared_dir();
    if (!sh) {
        t_skip_case("byte-level / Gemma conventions", "../shared absent");
        return;
    }
    static const struct {
        const char *name, *desc;
        int32_t bos, eos, pad, unk;
    } cases[] = {
        {"qwen3", "byte-level BPE", -1, 151645, 151643, -1},
        {"llama3_1", "byte-level BPE", 128000, 128009, -1, -1},
        {"gemma3", "SentencePiece BPE (\xe2\x96\x81)", 2, 106, 0, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/fixtures/tokenizers/models/%s", sh, cases[i].name);
        va_model m;
        memset(&m, 0, sizeof m);
        if (CHECK_MSG(va_tokenizer_open(dir, "test", &m) == XL_OK, "%s: %s", dir, xl_last_error())) {
            CHECK_STR(m.conv.desc, cases[i].desc);
            CHECK_EQ_INT(m.conv.role[VR_BOS], cases[i].bos);
            CHECK_EQ_INT(m.conv.role[VR_EOS], cases[i].eos);
            CHECK_EQ_INT(m.conv.role[VR_PAD], cases[i].pad);
            CHECK_EQ_INT(m.conv.role[VR_UNK], cases[i].unk);
            CHECK_EQ_INT(m.conv.unk_id, cases[i].unk);
        }
        if (i == 2 && m.tok) { /* Gemma: "▁house" word-initial, <0x41> the byte A, <mask> an added token */
            xl_buf b = {0};
            int ini;
            int32_t id = xl_tokenizer_token_to_id(m.tok, "\xe2\x96\x81house");
            CHECK(id >= 0 && m.conv.type[id] == VT_MODEL && vc_decode(&m.conv, "\xe2\x96\x81house", &b, &ini) == XL_OK &&
                  ini == 1 && b.n == 5 && !memcmp(b.s, "house", 5));
            CHECK(m.conv.byte_fallback && vc_decode(&m.conv, "<0x41>", &b, &ini) == XL_OK && ini == 0 && b.n == 1 && b.s[0] == 'A');
            CHECK_EQ_INT(m.conv.type[4], VT_ADDED);
            CHECK_EQ_INT(m.conv.type[2], VT_SPECIAL);
            xl_buf_free(&b);
        }
        va_model_close(&m);
    }
}

int main(void) {
    static char b[1024], x[1024];
    snprintf(b, sizeof b, "%s/tests/fixtures/models/bert-tiny", t_repo_dir());
    snprintf(x, sizeof x, "%s/tests/fixtures/models/xlmr-tiny", t_repo_dir());
    BERT = b;
    XLMR = x;
    test_decode();
    test_ibm1();
    test_shift();
    test_shared_conventions();
    test_xlmr_to_bert();
    test_bert_to_xlmr();
    return test_summary("test_vocab");
}
