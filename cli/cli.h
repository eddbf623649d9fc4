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

/* Sets OMP_WAIT_POLICY=passive and re-executes the program when the user set no
 * OpenMP wait policy (wait_policy.c); returns only when nothing was done. */
void cli_wait_policy(char **argv);
/* Prints "xling <cmd>: <xl_last_error()>" and returns 1. */
int cli_fail(const char *cmd);
/* Parses a positive int option value; prints a usage error and returns -1 if invalid. */
int cli_parse_int(const char *cmd, const char *opt, const char *val, int min, int max, int *out);
/* -t N: N, or the CPUs this process may use when N is more (one warning line). */
int cli_threads(const char *cmd, int requested);
int cli_parse_pooling(const char *s, xl_pooling *out);
const char *cli_pooling_name(xl_pooling p);

#endif
