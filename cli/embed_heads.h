/* `xling embed --head ...`: bge-m3's dense, sparse and ColBERT outputs (embed_heads.c). */
#ifndef XL_CLI_EMBED_HEADS_H
#define XL_CLI_EMBED_HEADS_H

/* 1 when the command line asks for bge-m3 heads (--head, --sparse-tokens before "--"). */
int embed_heads_wanted(int argc, char **argv);
/* The whole `xling embed` command with --head; the exit code. */
int cmd_embed_heads(int argc, char **argv);

#endif
