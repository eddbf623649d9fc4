/* The subcommands of the `xling` CLI. Each returns the process exit code:
 * 0 success, 1 runtime error (message on stderr), 2 usage error. */
#ifndef XL_CLI_H
#define XL_CLI_H
#include "xling.h"

int cmd_embed(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench_embed(int argc, char **argv);
int cmd_similarity(int argc, char **argv);
int cmd_mine(int argc, char **argv);

/* Prints "xling <cmd>: <xl_last_error()>" and returns 1. */
int cli_fail(const char *cmd);
/* Parses a positive int option value; prints a usage error and returns -1 if invalid. */
int cli_parse_int(const char *cmd, const char *opt, const char *val, int min, int max, int *out);
int cli_parse_pooling(const char *s, xl_pooling *out);
const char *cli_pooling_name(xl_pooling p);

#endif
