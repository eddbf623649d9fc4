/* The subcommands of the `xling` CLI and the helpers they share. Each command returns
 * the process exit code: 0 success, 1 runtime error (message on stderr), 2 usage error.
 * The CLI uses only the public header xling.h of the library. */
#ifndef XL_CLI_H
#define XL_CLI_H
#include <stdio.h>
#include "xling.h"

int cmd_embed(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench_embed(int argc, char **argv);
int cmd_similarity(int argc, char **argv);
int cmd_mine(int argc, char **argv);
int cmd_cluster(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_align(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_rerank(int argc, char **argv);
int cmd_rerank_m3(int argc, char **argv); /* `xling rerank --m3`, called by cmd_rerank */
int cmd_score(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_vocab(int argc, char **argv);
/* Writes the HTML report of a results folder (eval -o DIR); prints its error, returns 0/1. */
int report_write(const char *results_dir, const char *out_path);
/* The pull of a Hub id a command was given and the cache lacks (cmd_pull.c); set by
 * main with xl_hub_set_miss_handler. */
xl_status cli_hub_pull_on_miss(const char *id, void *user);
/* A folder argument that may be a Hub id (commands reading folders themselves: merge,
 * vocab): *arg becomes the snapshot folder (kept until exit). 0, or 1 after printing. */
int cli_hub_arg(const char *cmd, const char **arg);

/* The message of the CLI's last failure (input, output, quantization); set by
 * cli_set_error, also from the library's xl_last_error() by cli_take_lib_error. */
void cli_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_take_lib_error(void);
const char *cli_error(void);
/* Prints "xling <cmd>: <cli_error()>" and returns 1. */
int cli_report(const char *cmd);
/* Sets OMP_WAIT_POLICY=passive and re-executes the program when the user set no
 * OpenMP wait policy (wait_policy.c); returns only when nothing was done. */
void cli_wait_policy(char **argv);
/* Prints "xling <cmd>: <xl_last_error()>" and returns 1. */
int cli_fail(const char *cmd);
/* Prints "xling <cmd>: <message> (see `xling <cmd> --help`)" on one line and returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* getopt_long's '?' and ':' (optstring starts with ':', opterr = 0) as a usage error. */
int cli_bad_option(const char *cmd, int c, char **argv);
/* Parses an int option value in [min, max]; prints a usage error and returns -1 if invalid. */
int cli_parse_int(const char *cmd, const char *opt, const char *val, int min, int max, int *out);
/* -t N: N, or the CPUs this process may use when N is more (one warning line). */
int cli_threads(const char *cmd, int requested);
int cli_parse_pooling(const char *s, xl_pooling *out);
const char *cli_pooling_name(xl_pooling p);
/* Case-insensitive: does name end with ext (".npy")? */
int cli_has_ext(const char *name, const char *ext);
/* Tokens the model's post-processor adds around a text (0 without a tokenizer). */
size_t cli_special_count(const xl_tokenizer *tok);

/* Writes s[0..len) as a JSON string (invalid UTF-8 replaced as the embedder sees it). */
void cli_put_json_string(FILE *f, const char *s, size_t len);

#endif
