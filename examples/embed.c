/* Embeds texts with libxling, using only xling.h.
 *   embed MODEL_DIR [TEXT...]      (no TEXT: one text per line of stdin)
 * Prints one line per text: its embedding as space-separated floats, or "error: ..."
 * for a text that failed (the others still run). Build: cc embed.c -lxling ... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "xling.h"

static void fail(const char *what) { fprintf(stderr, "embed: %s: %s\n", what, xl_last_error()); }

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: embed MODEL_DIR [TEXT...]\n"); return 2; }
    size_t n = 0, cap = 16;
    char **texts = malloc(cap * sizeof *texts), line[65536];
    for (int i = 2; i < argc; i++) {
        if (n == cap) texts = realloc(texts, (cap *= 2) * sizeof *texts);
        texts[n++] = strdup(argv[i]);
    }
    while (argc == 2 && fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        if (n == cap) texts = realloc(texts, (cap *= 2) * sizeof *texts);
        texts[n++] = strdup(line);
    }
    xl_model *model = NULL;   /* immutable: could be shared by many threads */
    xl_context *ctx = NULL;   /* one per worker thread */
    xl_sequence *seqs = NULL;
    xl_outputs out = {0};
    int rc = 1;
    if (xl_model_load(argv[1], NULL, &model)) fail(argv[1]);
    else if (xl_context_new(model, &ctx)) fail("context");
    else if (xl_prepare_texts(model, (const char *const *)texts, NULL, NULL, NULL, n, NULL, &seqs)) fail("tokenize");
    else if (xl_run(ctx, seqs, n, XL_OUT_EMBEDDING, NULL, &out)) fail("run");
    else {
        for (size_t i = 0; i < n; i++) {
            if (out.status[i]) { /* this text failed alone; the others are fine */
                printf("error: %s\n", out.error[i]);
                continue;
            }
            for (int j = 0; j < out.dim; j++) printf(j ? " %.9g" : "%.9g", out.embeddings[i * out.dim + j]);
            printf("\n");
        }
        rc = out.n_failed ? 1 : 0;
    }
    xl_outputs_free(&out);
    xl_sequences_free(seqs, n);
    xl_context_free(ctx);
    xl_model_free(model);
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts);
    if (fflush(stdout) || ferror(stdout)) { fprintf(stderr, "embed: write error\n"); rc = 1; }
    return rc;
}
