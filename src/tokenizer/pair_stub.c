/* TEMPORARY (branch `api`): stands in for xl_tokenize_pair until the lead's pair
 * tokenization lands on main; delete this file when merging main (the linker reports a
 * duplicate symbol otherwise). It refuses pairs instead of guessing a template. */
#include "util/error.h"
#include "xling.h"
#include <string.h>

xl_status xl_tokenize_pair(const xl_tokenizer *tok, const char *a, size_t alen, const char *b, size_t blen,
                           int add_special, size_t max_len, xl_encoding *out) {
    (void)tok; (void)a; (void)alen; (void)b; (void)blen; (void)add_special; (void)max_len;
    if (out) memset(out, 0, sizeof *out);
    return xl_err(XL_ERR_UNSUPPORTED, "text pairs: this build has no pair tokenization yet");
}
