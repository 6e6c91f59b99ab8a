/* internal.h - helpers shared by the host modules; not part of the public API. */
#ifndef SIMJOIN_INTERNAL_H
#define SIMJOIN_INTERNAL_H

#include "simjoin/simjoin.h"

#include <stdarg.h>
#include <stdio.h>

#define SJ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SJ_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Record a failure message for this thread and return st, so that callers
 * can write `return sj_fail(SJ_ERR_IO, "%s: cannot open", path);`. */
sj_status sj_fail(sj_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current thread message with "prefix: ". */
void sj_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Growable array helper: ensure *cap >= need, elements of elem_size bytes. */
sj_status sj_grow(void **buf, int64_t *cap, int64_t need, size_t elem_size);

/* Write files safely: a temp name in the same directory, created 0640 &
 * ~umask (never world-readable) with O_EXCL (so never through a symlink),
 * written only through the descriptor that created it (never reopened by
 * name), renamed over the final name on commit. */
typedef struct sj_atomic_file {
    char final_path[4096];
    char temp_path[4096];
    int fd; /* the temp file, open for writing; -1 once committed or aborted */
} sj_atomic_file;

/* Reserve a temp name for final_path and create it empty with safe mode. */
sj_status sj_atomic_begin(sj_atomic_file *f, const char *final_path);
/* A stdio stream on a duplicate of f->fd (the caller fcloses it before the
 * commit); NULL with the error set on failure. */
FILE *sj_atomic_stream(sj_atomic_file *f);
/* A path that opens f's temp file itself, whatever its name now points to
 * ("/dev/fd/N"), for libraries that insist on a name (HDF5). */
void sj_atomic_fd_path(const sj_atomic_file *f, char *buf, size_t size);
/* Start writing what f holds so far to disk, without waiting: the commit's
 * fsync then waits for less (Linux; elsewhere nothing). */
void sj_atomic_writeback(const sj_atomic_file *f);
/* fsync + rename temp over final + fsync of the directory. */
sj_status sj_atomic_commit(sj_atomic_file *f);
/* Remove the temp file (safe to call after commit or twice). */
void sj_atomic_abort(sj_atomic_file *f);

/* Union-find: the root of x, halving the path on the way. */
int64_t sj_uf_find(int64_t *parent, int64_t x);

/* Position of x in sorted v[n], or -1. */
int64_t sj_search_i64(const int64_t *v, int64_t n, int64_t x);

/* A row and its id, to sort rows by (id, row) with qsort and no shared state. */
typedef struct sj_id_row {
    int64_t id;
    int64_t row;
} sj_id_row;
int sj_cmp_id_row(const void *x, const void *y);

/* id -> position lookup (open addressing), for mapping pair ids to nodes. */
typedef struct sj_id_index {
    int64_t *keys;
    int64_t *vals; /* -1: empty slot */
    uint64_t mask;
} sj_id_index;

/* Index ids[n] (unique) by position. */
sj_status sj_id_index_build(sj_id_index *ix, const int64_t *ids, int64_t n);
/* Position of id, or -1. */
int64_t sj_id_index_find(const sj_id_index *ix, int64_t id);
void sj_id_index_free(sj_id_index *ix);

/* SJ_ERR_FORMAT naming `what` and the row (h's row + first_row: its place in
 * a shard read in pieces) when an f32 set holds NaN or Inf. */
sj_status sj_check_finite(const sj_hashes *h, int64_t first_row, const char *what);

/* 1 if every component of a vector row (t a vector kind) is zero, -0.0
 * included: the degenerate rule, and the rows cosine cannot take. */
int sj_row_is_zero_vector(sj_hash_type t, const uint8_t *row);

/* Give h a metadata column (rows so far: unknown) if it has none. */
sj_status sj_hashes_ensure_meta(sj_hashes *h);
/* Give h a labels array (earlier rows: -1, no series). */
sj_status sj_hashes_ensure_labels(sj_hashes *h);

/* Sort n records of `size` bytes (at least 8, 8-aligned) by the int64
 * at their start, stably: ties keep their order, so rows numbered in input
 * order come out by (id, row), as sj_cmp_id_row sorts them. Returns at once
 * when the keys already ascend (shards are usually written in id order);
 * else an LSD radix sort over the key bytes that differ. SJ_ERR_NOMEM only. */
sj_status sj_sort_by_id(void *rows, int64_t n, size_t size);

/* Popcount of a byte string. */
int sj_popcount_bytes(const uint8_t *p, size_t n);

/* A fresh buffer's page faults taken on a second thread while the caller
 * fills it (on this VM a fault costs about as much as writing the page 10
 * times). Returns NULL (nothing started) below 4 MB or without
 * MADV_POPULATE_WRITE; sj_prefault_wait (NULL ok) once it is filled, before it is
 * freed: the thread stops then. */
typedef struct sj_prefault sj_prefault;
sj_prefault *sj_prefault_start(void *p, size_t n);
void sj_prefault_wait(sj_prefault *pf);
/* 64-bit monotonic seconds. */
double sj_now(void);

/* Sort pairs by (a, b) (pairs_sort.c): a radix sort, and the plain qsort it
 * is tested against. */
sj_status sj_pairs_sort(sj_pair *v, int64_t n);
void sj_pairs_sort_reference(sj_pair *v, int64_t n);

/* "439 excluded: 412 quality < 50, 27 one-bit count outside 32..224" from
 * the rules of n excluded hashes (o NULL: the rules without their limits). */
void sj_excluded_text(const uint8_t *rule, int64_t n, const sj_degenerate_options *o, char *buf,
                       size_t size);


/* Fault injection for crash tests, compiled only into test builds
 * (SIMJOIN_FAULT_INJECTION, on with SIMJOIN_BUILD_TESTS): when
 * SIMJOIN_FAULT_AT=N is set, the N-th call kills the process (SIGKILL, no
 * cleanup), as a crash would at that step. Elsewhere it does nothing. */
#ifdef SIMJOIN_FAULT_INJECTION
void sj_fault_step(const char *what);
#else
static inline void sj_fault_step(const char *what) { (void)what; }
#endif

/* "512M", "8G", "100k" or plain bytes (a B suffix allowed); 0 on success. */
int sj_parse_size(const char *s, int64_t *out);
/* A whole-string finite number; 0 on success (*out untouched otherwise). */
int sj_parse_f64(const char *s, double *out);

#endif
