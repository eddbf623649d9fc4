/* The compiled tokenizer cache: after a tokenizer.json has been loaded from JSON, its
 * built tables (vocabulary, merges, trie, scores) and the rest of the file without the
 * big "vocab" / "merges" arrays are written to a binary file; the next load reads the
 * tables back as they are (no JSON parse, no hash-table rebuild) and re-parses only
 * the small remainder. A 33 MB Gemma 3 tokenizer.json then loads in about 45 ms
 * instead of 0.8 s.
 *
 * Where: `<tokenizer.json>.xlcache` next to the file when its folder is writable (a
 * folder without any write permission bit counts as read-only, even for root), else
 * `$XDG_CACHE_HOME/xling/` (default `~/.cache/xling/`) under a name made of the file
 * name and a hash of the absolute real paths of tokenizer.json and
 * tokenizer_config.json.
 *
 * Environment: XLING_TOKENIZER_CACHE=0 (or off / false / no) turns the cache off: it is
 * then neither read nor written. XLING_TOKENIZER_CACHE=/absolute/folder keeps every
 * cache file in that folder (hashed names, as in the fallback folder).
 *
 * Trust: the cache is only an optimization. It records the identity of the
 * tokenizer.json and tokenizer_config.json it was built from (size, mtime and ctime in
 * nanoseconds, inode, device), the absolute real path, a format version and a build
 * tag; any difference makes it stale. Every section carries a checksum (any single
 * corrupted 8-byte word is always detected), and the loaders check every count,
 * offset, string and id of the tables before using them: a stale, truncated or
 * corrupted cache is ignored and rebuilt from JSON, never trusted. It is written to a
 * temporary file and renamed into place (never a partial file under the final name),
 * and only when the source files did not change while being read and their mtime is
 * at least TK_CACHE_SETTLE_S seconds away from now (a change within the same
 * timestamp tick would otherwise go unnoticed). Failing to write it is silent. */
#ifndef XL_TOK_CACHE_H
#define XL_TOK_CACHE_H
#include <stddef.h>
#include <stdint.h>
#include "xling.h"

/* Bump when the layout of the file or of any cached table changes. */
#define TK_CACHE_FORMAT 1
/* A source file whose mtime is closer than this to now is not cached yet. */
#define TK_CACHE_SETTLE_S 2
#define TK_CACHE_MAX_SECTIONS 24
/* The build tag of the translation unit that expands it: a table layout written by
 * one build is never read by another (format bumps forgotten, hash functions changed). */
#define TK_CACHE_BUILD_TAG ("xling " XLING_VERSION " " __DATE__ " " __TIME__)

#define TK_TAG(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

/* Identity of a source file when the load began. */
typedef struct {
    uint64_t size, ino, dev;
    int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
    uint32_t present, pad; /* present = 0: the file does not exist (tokenizer_config.json) */
} tk_file_id;

/* The file layout: header, section directory, sections (64-byte aligned). */
typedef struct {
    char magic[8];             /* TK_CACHE_MAGIC */
    uint32_t format;           /* TK_CACHE_FORMAT */
    uint32_t endian;           /* 0x01020304 as written by this machine */
    char build[64];            /* TK_CACHE_BUILD_TAG of tok_cache.c, NUL-padded */
    tk_file_id source, config; /* tokenizer.json, tokenizer_config.json */
    uint64_t file_size;        /* of the whole cache file */
    uint32_t n_sections, pad;
    uint64_t check;            /* tk_checksum of header (with check = 0) and directory */
} tk_cache_header;

typedef struct {
    uint32_t tag, pad;
    uint64_t off, len, check; /* check: tk_checksum of the section's bytes */
} tk_cache_dirent;

#define TK_CACHE_MAGIC "XLTOKCA\x01"

/* Sections written by the pipeline (models add their own). */
#define TK_SEC_PATH TK_TAG('P', 'A', 'T', 'H') /* absolute real path of tokenizer.json */
#define TK_SEC_JSON TK_TAG('J', 'S', 'O', 'N') /* tokenizer.json without model.vocab / model.merges */
#define TK_SEC_PIPE TK_TAG('P', 'I', 'P', 'E') /* pipeline scalars (model_max_length) */

/* A 64-bit checksum over n bytes. Four lanes of bijective multiply-rotate steps: any
 * change confined to one 8-byte word always changes the result. */
uint64_t tk_checksum(const void *data, size_t n);

/* One load attempt: where its cache lives and what the sources were when it began. */
typedef struct {
    char *file;         /* cache file path */
    char *source;       /* absolute real path of tokenizer.json */
    char *config;       /* tokenizer_config.json path (resolved), may not exist */
    tk_file_id src, cfg;
} tk_cache_ctx;

/* Prepares a load of tokenizer.json `source` (with `config`): 0 when the cache is off
 * (XLING_TOKENIZER_CACHE=0), no location fits, or the sources cannot be identified. */
int tk_cache_begin(tk_cache_ctx *c, const char *source, const char *config);
void tk_cache_end(tk_cache_ctx *c);

/* Reading. tk_cache_open returns NULL on a miss (absent, stale or malformed file). */
typedef struct tk_cache_reader tk_cache_reader;
tk_cache_reader *tk_cache_open(const tk_cache_ctx *c);
void tk_cache_close(tk_cache_reader *r);
/* Length of section tag; 0 (and *len = 0) when absent. */
int tk_cache_has(const tk_cache_reader *r, uint32_t tag, size_t *len);
/* 1 when section tag exists and is exactly len bytes long (check before allocating
 * what a count read from the cache asks for: a section cannot exceed the file). */
int tk_cache_len_is(const tk_cache_reader *r, uint32_t tag, uint64_t len);
/* Reads section tag, which must be exactly len bytes, into dst and verifies its checksum. */
int tk_cache_read(tk_cache_reader *r, uint32_t tag, void *dst, size_t len);
/* Reads a whole section into a new malloc'd buffer (one NUL byte added past the end);
 * *len = its length. NULL when absent, malformed or out of memory. */
void *tk_cache_read_alloc(tk_cache_reader *r, uint32_t tag, size_t *len);

/* Writing. Sections put by reference must stay alive until tk_cache_commit. A failure
 * (out of memory, too many sections) only marks the writer: commit then writes nothing. */
typedef struct tk_cache_writer tk_cache_writer;
tk_cache_writer *tk_cache_writer_new(void);
void tk_cache_put_ref(tk_cache_writer *w, uint32_t tag, const void *data, size_t len);
void tk_cache_put_copy(tk_cache_writer *w, uint32_t tag, const void *data, size_t len);
void tk_cache_fail(tk_cache_writer *w);
/* Writes the cache file atomically if the sources are unchanged since tk_cache_begin
 * and settled; silent on failure. Frees w. */
void tk_cache_commit(const tk_cache_ctx *c, tk_cache_writer *w);
void tk_cache_writer_free(tk_cache_writer *w);

/* What the last tokenizer load on this thread did with the cache (tests, benchmarks). */
typedef enum {
    TK_CACHE_OFF,      /* disabled, or no location */
    TK_CACHE_ABSENT,   /* no cache file */
    TK_CACHE_STALE,    /* sources, path, format or build differ */
    TK_CACHE_INVALID,  /* malformed: bad magic, sizes, checksums or tables */
    TK_CACHE_HIT       /* loaded from the cache */
} tk_cache_outcome;

typedef struct {
    tk_cache_outcome outcome;
    int written;        /* a new cache file was written */
    char file[4096];    /* the cache file path ("" when off) */
} tk_cache_report;

const tk_cache_report *tk_cache_last(void);
/* Called by the pipeline. */
void tk_cache_note(tk_cache_outcome outcome, const char *file);
void tk_cache_note_invalid(void);

#endif
