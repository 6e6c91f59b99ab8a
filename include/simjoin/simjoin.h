/* simjoin.h - public C API of simjoin, a batch similarity join for perceptual
 * hashes (PDQ, pHash/dHash, any binary width).
 *
 * Conventions (see README.md "C library"):
 *  - Every function that can fail returns sj_status. SJ_OK is 0. The library
 *    never prints and never exits; on failure it leaves a one-line message
 *    for the calling thread in sj_last_error() (file, row, dataset names).
 *  - Objects are opaque or plain structs with _create/_free pairs; every
 *    _free accepts NULL. One object is used by one thread at a time.
 *  - Ownership is written at each pointer parameter.
 */
#ifndef SIMJOIN_SIMJOIN_H
#define SIMJOIN_SIMJOIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared here is the library's exported API (libsimjoin.so is
 * built with hidden visibility; see README "C library"). */
#pragma GCC visibility push(default)

#define SIMJOIN_VERSION_MAJOR 0
#define SIMJOIN_VERSION_MINOR 1
#define SIMJOIN_VERSION_PATCH 0
#define SIMJOIN_VERSION_STRING "0.1.0"

/* Version of the HDF5 layouts this library writes (attribute format_version). */
#define SJ_FORMAT_VERSION 1

const char *sj_version(void);

/* Status codes. Numbers are stable: never renumber, only append. */
typedef enum sj_status {
    SJ_OK = 0,
    SJ_ERR_NOMEM = 1,        /* allocation failed */
    SJ_ERR_IO = 2,           /* open/read/write/rename failed */
    SJ_ERR_FORMAT = 3,       /* HDF5 file does not follow the schema */
    SJ_ERR_PARSE = 4,        /* malformed text input (file:line in message) */
    SJ_ERR_ARG = 5,          /* invalid argument or option value */
    SJ_ERR_DUPLICATE_ID = 6, /* the same id appears twice in one job */
    SJ_ERR_MISMATCH = 7,     /* inputs of different kinds or widths */
    SJ_ERR_UNSUPPORTED = 8,  /* feature or ISA not available in this build/CPU */
    SJ_ERR_BACKEND = 9,      /* a backend library (FAISS, CUDA) failed */
    SJ_ERR_NO_DEVICE = 10,   /* a GPU was required but none is usable */
    SJ_ERR_LIMIT = 11,       /* a resource limit would be exceeded */
    SJ_ERR_INTERNAL = 12     /* a bug: an invariant did not hold */
} sj_status;

/* Short name of a status code ("io error", ...). Never NULL. */
const char *sj_status_str(sj_status st);

/* The calling thread's message for its most recent failure ("" if none).
 * Valid until the thread's next failing call. */
const char *sj_last_error(void);

/* ---- hash kinds ------------------------------------------------------- */

typedef enum sj_kind {
    SJ_KIND_PDQ = 1,      /* 256-bit PDQ, Hamming */
    SJ_KIND_BITS = 2,     /* any multiple of 8 bits, Hamming */
    SJ_KIND_PHOTODNA = 3, /* PhotoDNA-style: 144 x uint8 */
    SJ_KIND_U8 = 4,       /* D x uint8 */
    SJ_KIND_F32 = 5       /* D x float32 (embeddings) */
} sj_kind;

/* How two hashes are compared. Every metric is a distance: smaller is
 * closer, and a pair matches when distance <= threshold (README "Metrics"). */
typedef enum sj_metric {
    SJ_METRIC_DEFAULT = 0, /* the kind's default (sj_metric_default) */
    SJ_METRIC_HAMMING = 1, /* differing bits (pdq, bits:N) */
    SJ_METRIC_L2SQ = 2,    /* squared Euclidean distance, sum (a_i - b_i)^2 */
    SJ_METRIC_L1 = 3,      /* sum |a_i - b_i| (u8:D, photodna) */
    SJ_METRIC_COSINE = 4,  /* 1 - cos(a, b), in [0, 2] (f32:D) */
    SJ_METRIC_IP = 5       /* 1 - <a, b> (f32:D; equals cosine for unit vectors) */
} sj_metric;

typedef struct sj_hash_type {
    sj_kind kind;
    uint32_t bits; /* row width in bits (a multiple of 8): 256 for pdq, N for bits:N,
                    * 8*144 for photodna, 8*D for u8:D, 32*D for f32:D */
    uint32_t dim;  /* vector kinds: D (144 for photodna); binary kinds: 0 */
} sj_hash_type;

/* Parse "pdq", "bits:N", "photodna", "u8:D" or "f32:D". */
sj_status sj_hash_type_parse(const char *text, sj_hash_type *out);
/* Format as above into buf (>= 24 bytes). */
void sj_hash_type_format(sj_hash_type t, char *buf, size_t buf_size);
static inline uint32_t sj_hash_type_bytes(sj_hash_type t) { return t.bits / 8u; }
/* 1 for pdq and bits:N (Hamming), 0 for the vector kinds. */
static inline int sj_hash_type_binary(sj_hash_type t)
{
    return t.kind == SJ_KIND_PDQ || t.kind == SJ_KIND_BITS;
}

/* Metric names: "hamming", "l2sq", "l1", "cosine", "ip". */
const char *sj_metric_name(sj_metric m);
sj_status sj_metric_parse(const char *text, sj_metric *out);
/* hamming for binary kinds, l2sq for photodna and u8:D, cosine for f32:D. */
sj_metric sj_metric_default(sj_hash_type t);
/* SJ_OK if m applies to t (else SJ_ERR_ARG naming both); resolves DEFAULT. */
sj_status sj_metric_check(sj_hash_type t, sj_metric *m);
/* 1 when every distance of m on t is an integer (hamming; l2sq, l1 on uint8). */
int sj_metric_integral(sj_hash_type t, sj_metric m);

/* The reference distance of two rows (sj_hash_type_bytes(t) bytes each):
 * exact for the integral metrics; for f32 computed in double precision,
 * summing dimensions in order. Every backend reports this value, and for
 * floats decides the threshold with it. Cosine of a zero vector: NaN. */
double sj_distance(sj_hash_type t, sj_metric m, const uint8_t *a, const uint8_t *b);

/* ---- an in-memory set of hashes (one shard, or several concatenated) --- */

typedef struct sj_meta sj_meta; /* case metadata rows: simjoin/meta.h */

typedef struct sj_hashes {
    sj_hash_type type;
    int64_t n;        /* rows in use */
    int64_t capacity; /* rows allocated */
    uint8_t *hashes;  /* [capacity, bits/8], row-major; owned */
    int64_t *ids;     /* [capacity]; owned */
    int16_t *quality; /* [capacity], 0..100, or NULL when no row has one; owned */
    int64_t *labels;  /* [capacity] ground-truth series, or NULL; owned */
    char *source;     /* database of origin, any length; "" or NULL if unknown;
                       * owned (sj_hashes_set_source) */
    sj_meta *meta;    /* n rows of case metadata, or NULL when none; owned */
    uint8_t *dihedral; /* [capacity, SJ_DIHEDRAL, bits/8]: each row's dihedral hashes
                        * (transform 0 = the row itself, README "Flip- and rotation-aware
                        * joins"), or NULL when the set has none; binary kinds only; owned */
} sj_hashes;

/* Hashes per image in a dihedral set: the identity and the 7 other
 * rotations and flips (transform numbers 0..7 as the hasher stores them). */
#define SJ_DIHEDRAL 8

/* Create an empty set. *out is owned by the caller: sj_hashes_free it. */
sj_status sj_hashes_create(sj_hash_type type, int64_t capacity, sj_hashes **out);
void sj_hashes_free(sj_hashes *h);
/* Set h->source to a copy of source (whole, any length; NULL: ""). */
sj_status sj_hashes_set_source(sj_hashes *h, const char *source);
/* Append one row. hash: bits/8 bytes, copied. quality < 0 means unknown.
 * Grows the arrays as needed. */
sj_status sj_hashes_append(sj_hashes *h, int64_t id, const uint8_t *hash, int quality);
/* Append one row with its dihedral hashes: eight[SJ_DIHEDRAL, bits/8], eight[0]
 * the canonical hash (copied). A set holds dihedral hashes for every row or
 * for none: SJ_ERR_MISMATCH when h already has rows without them. Binary
 * kinds only. */
sj_status sj_hashes_append_dihedral(sj_hashes *h, int64_t id, const uint8_t *eight, int quality);
/* Append all rows of src (same type); the result keeps dihedral hashes only
 * when every row has them; quality/labels/metadata are kept when
 * either side has them (missing entries become -1 / unknown). */
sj_status sj_hashes_concat(sj_hashes *dst, const sj_hashes *src);
/* SJ_ERR_DUPLICATE_ID if two rows share an id; message names both rows.
 * what: a name for the set used in the message. */
sj_status sj_hashes_check_unique_ids(const sj_hashes *h, const char *what);

/* ---- text parsing ------------------------------------------------------ */

/* Decode exactly 2*nbytes hex digits (either case) into out[nbytes].
 * Returns 0 on success, or the 1-based column of the first bad digit,
 * or -1 when the length is wrong. */
int sj_hex_decode(const char *text, size_t len, uint8_t *out, size_t nbytes);
/* Decode base64 (standard alphabet, '=' padding) of exactly nbytes:
 * 4*ceil(nbytes/3) characters. Returns 0, the 1-based column of the first
 * bad character, or -1 when the length is wrong. */
int sj_base64_decode(const char *text, size_t len, uint8_t *out, size_t nbytes);
/* Encode nbytes into 2*nbytes lower-case hex digits + NUL. */
void sj_hex_encode(const uint8_t *in, size_t nbytes, char *out);

/* How the bytes of a text input are read: UTF-8 (the default; text that is
 * not well-formed UTF-8 is an error naming file:line and field), or
 * converted from Windows-1252 or ISO-8859-1. */
typedef enum sj_text_encoding { SJ_TEXT_UTF8 = 0, SJ_TEXT_CP1252, SJ_TEXT_LATIN1 } sj_text_encoding;
/* "utf-8", "cp1252" or "latin1" (also utf8, windows-1252, iso-8859-1). */
sj_status sj_text_encoding_parse(const char *name, sj_text_encoding *out);

typedef struct sj_ingest_options {
    sj_hash_type type;
    int64_t first_id; /* id of the first bare-hash line (default 0) */
    sj_text_encoding encoding; /* of every input file (default UTF-8) */
} sj_ingest_options;

/* Reads text hash lists into one hash set, remembering where each row came
 * from so that errors name file:line. Accepted lines:
 *   HEX                       bare hash; ids first_id, first_id+1, ... across files
 *   ID,HEX[,QUALITY]          CSV with int64 id (one header line allowed)
 *   HEX,QUALITY[,NAME...]     ThreatExchange pdq-photo-hasher output
 * A table: a first line naming columns, comma- or semicolon-separated (the
 * ICSE-style export), with "quoted" fields; columns are matched by name
 * (README "Case metadata": id / Image ID, hash / PDQ, quality, series,
 * victim identified, offender identified, case id, category, source);
 * unknown columns are ignored (sj_ingest_ignored_columns) and every row
 * must have the header's number of fields. 
 * '#' comments, blank lines and CR line ends are accepted. Messages never
 * contain hash or id values, only positions. A leading UTF-8 byte order mark
 * is skipped; a line that is not UTF-8 is an error naming the field, unless
 * opt->encoding converts it (cp1252, latin1). */
typedef struct sj_ingest sj_ingest;

sj_status sj_ingest_create(const sj_ingest_options *opt, sj_ingest **out);
void sj_ingest_free(sj_ingest *ing);
/* Parse one file ("-": stdin, named "stdin" in messages) and append its
 * rows. SJ_ERR_PARSE names file:line. */
sj_status sj_ingest_file(sj_ingest *ing, const char *path);
/* Header names of the columns ignored so far, comma-separated ("" none). */
const char *sj_ingest_ignored_columns(const sj_ingest *ing);
/* Check ids are unique across all files (SJ_ERR_DUPLICATE_ID names both
 * file:line), then hand over the rows: *out is owned by the caller and the
 * context is left empty. */
sj_status sj_ingest_finish(sj_ingest *ing, sj_hashes **out);

/* ---- shards: HDF5 files of hashes (README "Shard") --------------------- */

/* Read a whole shard. *out owned by caller. Any chunking/compression. */
sj_status sj_shard_read(const char *path, sj_hashes **out);
/* Rows and row bytes of a shard, from its header only (nothing is read). */
sj_status sj_shard_peek(const char *path, int64_t *rows, uint32_t *row_bytes);
/* *has = 1 if the shard carries /dihedral (from its header only). */
sj_status sj_shard_has_dihedral(const char *path, int *has);
/* Write rows [first, first+count) of h as a shard (temp file + rename).
 * Created without world access (mode 0640 & ~umask). */
sj_status sj_shard_write(const char *path, const sj_hashes *h, int64_t first, int64_t count);

/* ---- degenerate hashes --------------------------------------------------- */

typedef enum sj_degenerate_rule {
    SJ_DEGEN_NONE = 0,
    SJ_DEGEN_ALL_ZERO = 1,    /* every bit zero */
    SJ_DEGEN_BIT_BAND = 2,    /* one-bit count outside [min_ones, max_ones] */
    SJ_DEGEN_LOW_QUALITY = 3, /* quality known and below min_quality */
    SJ_DEGEN_QUARANTINED = 4  /* nightly: too many matches in an abnormal batch (kept out, listed) */
} sj_degenerate_rule;

typedef struct sj_degenerate_options {
    int enabled;          /* 0: exclude nothing */
    int32_t min_ones;     /* inclusive; default bits/8 */
    int32_t max_ones;     /* inclusive; default bits - bits/8 */
    int32_t min_quality;  /* default 50 for pdq, 0 for bits:N */
} sj_degenerate_options;

void sj_degenerate_defaults(sj_hash_type t, sj_degenerate_options *out);
sj_degenerate_rule sj_degenerate_check(const sj_degenerate_options *o, sj_hash_type t,
                                       const uint8_t *hash, int quality);
const char *sj_degenerate_rule_name(sj_degenerate_rule r);
/* Move degenerate rows out of h (the order of the others is kept). Their ids
 * and rules go to excluded_id/excluded_rule, caller arrays of at least h->n
 * entries; *n_excluded gets the count. */
sj_status sj_hashes_remove_degenerate(sj_hashes *h, const sj_degenerate_options *o,
                                      int64_t *excluded_id, uint8_t *excluded_rule,
                                      int64_t *n_excluded);

/* ---- the join ------------------------------------------------------------- */

typedef enum sj_backend_kind {
    SJ_BACKEND_AUTO = 0,
    SJ_BACKEND_CPU = 1,
    SJ_BACKEND_FAISS = 2,
    SJ_BACKEND_CUDA = 3,
    SJ_BACKEND_NAIVE = 4 /* plain double loop: the reference, for tests and bench */
} sj_backend_kind;

typedef enum sj_isa {
    SJ_ISA_AUTO = 0,
    SJ_ISA_PORTABLE = 1, /* plain C, compiler popcount */
    SJ_ISA_POPCNT = 2,   /* scalar hardware POPCNT, register-blocked */
    SJ_ISA_AVX2 = 3,     /* AVX2 nibble-table popcount */
    SJ_ISA_AVX512 = 4    /* AVX-512 VPOPCNTDQ */
} sj_isa;

const char *sj_backend_name(sj_backend_kind b);
sj_status sj_backend_parse(const char *text, sj_backend_kind *out);
const char *sj_isa_name(sj_isa isa);
sj_status sj_isa_parse(const char *text, sj_isa *out);
/* 1 if this CPU and build can run the ISA path. */
int sj_isa_supported(sj_isa isa);
/* The fastest supported ISA path. */
sj_isa sj_isa_best(void);
/* The name of the code path the cpu backend runs for kind t, metric m and
 * isa: the popcount path (portable, popcnt, avx2, avx512) for binary kinds;
 * portable, avx2 or avx512-vnni for vector kinds. */
const char *sj_cpu_path_name(sj_hash_type t, sj_metric m, sj_isa isa);
/* 1 if the backend is compiled in (cpu and naive always are). */
int sj_backend_available(sj_backend_kind b);
/* 1 if this build has the CUDA backend (whether or not a GPU is present). */
int sj_cuda_compiled_in(void);
/* Number of usable CUDA devices; 0 when there are none, with a short reason
 * (not built with CUDA, no driver, no device). Never fails hard. */
int sj_cuda_device_count(const char **reason);

/* One candidate pair. Canonical: a < b. */
typedef struct sj_pair {
    int64_t a;
    int64_t b;
    double distance; /* sj_distance of the two rows (an integer for integral metrics) */
    int32_t transform; /* dihedral joins: the transform t of a whose hash is nearest
                        * to b's canonical one, 0..7 (0 = none); 0 in plain joins */
} sj_pair;

typedef struct sj_pairs {
    int64_t n;
    int64_t capacity;
    sj_pair *v; /* [capacity]; owned */
} sj_pairs;

void sj_pairs_free(sj_pairs *p);
/* Sort by (a, b) and check that no pair repeats (SJ_ERR_INTERNAL if one does). */
sj_status sj_pairs_canonicalize(sj_pairs *p);
/* Dihedral joins: sort by (a, b) and keep, of the pairs that repeat, the one
 * with the smallest distance and then the lowest transform. */
sj_status sj_pairs_canonicalize_min(sj_pairs *p);
/* The transform that undoes transform t (rotations by 90 and 270 degrees
 * swap; the others undo themselves). */
int sj_dihedral_inverse(int t);

typedef void (*sj_progress_fn)(void *user, int64_t done, int64_t total, int64_t pairs_found);

/* Resumable joins: the join is cut into work units (a query block against a
 * corpus chunk), numbered from unit_offset. unit_skip says a unit is already
 * done (its pairs were saved before); unit_done receives each finished
 * unit's pairs, called one at a time (under a lock), so that a caller can
 * journal them. Pairs are canonical (a < b) with ids. */
typedef int (*sj_unit_skip_fn)(void *user, int64_t unit);
typedef sj_status (*sj_unit_done_fn)(void *user, int64_t unit, const sj_pair *pairs, int64_t n);

/* Set up with sj_join_config_init, then change what differs: the struct may
 * gain fields (README "C library", ABI policy), which the init sets. */
typedef struct sj_join_config {
    uint32_t struct_size;     /* sizeof(sj_join_config), set by sj_join_config_init;
                               * a join given another size fails with SJ_ERR_ARG */
    double threshold;         /* a pair matches when distance <= threshold */
    sj_metric metric;         /* SJ_METRIC_DEFAULT: the kind's default */
    sj_backend_kind backend;
    sj_isa isa;               /* cpu backend only */
    int threads;              /* 0: OpenMP default */
    int64_t max_pairs;        /* stop with SJ_ERR_LIMIT beyond this; 0: no limit */
    int64_t max_memory;       /* bytes the backend's corpus copy may take; the corpus
                               * is then loaded and compared in chunks of that size.
                               * 0: all at once */
    sj_progress_fn progress;  /* optional; called from the scheduling thread */
    void *progress_user;
    /* cuda backend only: */
    int gpu_kernel;           /* 1 v1 tiled popc, 2 v2 register-blocked, 3 v3 tensor
                               * cores; 0: the fastest measured (see BENCHMARKS.md) */
    int n_gpus;               /* devices to use, 0: all usable */
    int gpus[16];             /* their ordinals when n_gpus > 0 */
    int64_t gpu_hit_capacity; /* initial pair buffer per stream, 0: 2^20 hits */
    int64_t gpu_memory_limit; /* device bytes the corpus may take, 0: 70% of free */
    /* Partitioned runs (--part i/N, MPI ranks): only the query rows of part
     * part_index of part_count, cut so that each part has about the same
     * number of comparisons. part_count 0 or 1: the whole join. */
    int part_index;
    int part_count;
    sj_unit_skip_fn unit_skip; /* optional */
    sj_unit_done_fn unit_done; /* optional */
    void *unit_user;
    int64_t unit_offset;       /* added to unit numbers (one join command may run two joins) */
    int unit_only;             /* 1: a unit's pairs go to unit_done only and are not kept
                                * in the output (a streaming pass; sj_join_count_matches) */
    /* Flip- and rotation-aware join (README): 1 compares the SJ_DIHEDRAL hashes
     * of each query (self-join: of both images) with the other side's canonical
     * hash and reports each pair once, at the smallest distance, with its
     * transform. The query set (self-join: the set) needs dihedral hashes. */
    int dihedral;
} sj_join_config;

/* Query rows [*lo, *hi) of part i of n for a join of nq queries against nc
 * corpus rows (self: the triangle of a self-join of nq rows). */
void sj_join_part_rows(int64_t nq, int64_t nc, int self, int i, int n, int64_t *lo, int64_t *hi);

/* Parse "v1", "v2", "v3" (or "1".."3") into *out. */
sj_status sj_gpu_kernel_parse(const char *text, int *out);
/* Parse a device list "0,1,3" into cfg->gpus / cfg->n_gpus. */
sj_status sj_gpu_list_parse(const char *text, sj_join_config *cfg);

/* The defaults (threshold 31, backend and isa auto, the rest 0) and struct_size. */
void sj_join_config_init(sj_join_config *cfg);
/* The same as sj_join_config_init (its older name). */
void sj_join_config_defaults(sj_join_config *cfg);

/* All pairs (i < j) within `set` with distance <= threshold, appended to out
 * as ids. rows are assumed already filtered (degenerates removed). */
sj_status sj_join_self(const sj_join_config *cfg, const sj_hashes *set, sj_pairs *out);
/* All pairs (q in queries, c in corpus) within the threshold, appended to out
 * as canonical (min id, max id). */
sj_status sj_join_cross(const sj_join_config *cfg, const sj_hashes *queries,
                        const sj_hashes *corpus, sj_pairs *out);

/* The backend that SJ_BACKEND_AUTO resolves to on this machine, and a short
 * human-readable reason when it had to fall back (or NULL). */
sj_backend_kind sj_backend_resolve(sj_backend_kind requested, const char **notice);
/* The same for a join of hashes of `type` under cfg (cfg->backend): auto also
 * falls back to cpu, with a notice, for vector kinds when cuBLAS cannot be
 * loaded, instead of failing when the cuda backend opens. */
sj_backend_kind sj_backend_resolve_for(const sj_join_config *cfg, sj_hash_type type,
                                       const char **notice);

/* ---- clustering ---------------------------------------------------------- */

typedef enum sj_linkage {
    SJ_LINK_COMPONENTS = 0, /* connected components (single linkage) */
    SJ_LINK_CORE = 1,       /* only hashes with >= core_k matches link; others attach */
    SJ_LINK_COMPLETE = 2    /* no cluster keeps two members farther apart than complete_d */
} sj_linkage;

/* Guards against chaining; all off by default (sj_cluster_options_defaults). */
typedef struct sj_cluster_options {
    sj_linkage linkage;
    int32_t core_k;        /* SJ_LINK_CORE: matches a hash needs to link clusters */
    double complete_d;     /* SJ_LINK_COMPLETE: largest distance inside a cluster */
    int64_t max_matches;   /* quarantine a hash with more matches than this; 0: off */
    double degree_ratio;   /* quarantine a hash with more than ratio x the median
                            * matches of its neighbours (and at least 4); 0: off */
    const sj_hashes *hashes; /* the join's hashes: required by SJ_LINK_COMPLETE;
                              * borrowed for the call. With dihedral hashes,
                              * distances are a dihedral self-join's (the
                              * smaller over both directions) */
    sj_metric metric;        /* the join's metric, for SJ_LINK_COMPLETE (DEFAULT: the kind's) */
} sj_cluster_options;

void sj_cluster_options_defaults(sj_cluster_options *o);
/* Parse "components", "core:K" or "complete:D" into o. */
sj_status sj_linkage_parse(const char *text, sj_cluster_options *o);
/* Format o's linkage as text ("core:3") into buf. */
void sj_linkage_format(const sj_cluster_options *o, char *buf, size_t size);

/* Quarantined hashes: kept out of clustering by the match-cap guards. */
#define SJ_CLUSTER_QUARANTINED (-2)

typedef struct sj_clusters {
    int64_t n_nodes;
    int64_t *ids;      /* [n_nodes] sorted ascending; owned */
    int64_t *cluster;  /* [n_nodes] cluster number 0..n_clusters-1, or
                        * SJ_CLUSTER_QUARANTINED; owned */
    int64_t *matches;  /* [n_nodes] pairs each hash is in; owned */
    int64_t n_clusters;
    int64_t n_quarantined;
    /* per cluster, indexed by cluster number: */
    int64_t *size;         /* members */
    int64_t *edges;        /* pairs inside the cluster */
    double *min_distance;  /* smallest edge distance, -1 for singletons */
    double *max_edge;      /* largest edge distance, -1 for singletons */
    double *diameter;      /* true diameter when checked, else max_edge */
    uint8_t *diameter_checked; /* 1 if diameter is the true all-pairs maximum */
} sj_clusters;

/* Cluster the nodes ids[n] (any order, unique) over pairs with the linkage
 * and guards of o (NULL: connected components, no guards). Clusters are
 * numbered in order of their smallest member id, so the result does not
 * depend on pair order. */
sj_status sj_cluster(const int64_t *ids, int64_t n, const sj_pairs *pairs,
                     const sj_cluster_options *o, sj_clusters **out);
/* sj_cluster with connected components and no guards. */
sj_status sj_cluster_components(const int64_t *ids, int64_t n, const sj_pairs *pairs,
                                sj_clusters **out);
void sj_clusters_free(sj_clusters *c);

/* ---- resource limits ------------------------------------------------------ */

/* What this machine has to give, as seen by this process. */
typedef struct sj_resources {
    int64_t memory_available; /* bytes: MemAvailable (/proc/meminfo, else sysconf), lowered to
                               * the room left under a cgroup memory limit; -1 unknown */
    int64_t disk_free;        /* bytes an unprivileged user may still write in dir; -1 unknown */
} sj_resources;

/* Measure the machine now; dir: the output directory (NULL: disk unknown). */
sj_status sj_resources_detect(const char *dir, sj_resources *out);

/* The limits a run keeps by default (README "Data handling"). */
typedef struct sj_limits {
    int64_t max_memory; /* bytes the run may use: 3/4 of memory_available; 0 unknown */
    int64_t max_pairs;  /* pairs that fit in max_memory beside the inputs and in 9/10 of
                         * the free disk; >= 1; 0 when neither is known (no limit) */
    int by_disk;        /* 1 when the disk, not the memory, sets max_pairs */
} sj_limits;

/* Default limits for a run whose inputs take input_bytes in memory and whose
 * pairs take memory_per_pair bytes in memory and disk_per_pair bytes on disk
 * (journal and output). SJ_ERR_LIMIT when the inputs alone do not fit. */
sj_status sj_default_limits(const sj_resources *r, int64_t input_bytes, int64_t memory_per_pair,
                            int64_t disk_per_pair, sj_limits *out);

/* counts[i] += the matches of query row i: against corpus, or (corpus NULL)
 * among the queries themselves, both ends counted. The pairs are not kept
 * (memory: the rows, and one work unit's pairs), so it also serves for a
 * batch whose pairs would not fit. cfg's limits and unit callbacks are not
 * used. counts: caller array of queries->n entries. */
sj_status sj_join_count_matches(const sj_join_config *cfg, const sj_hashes *queries,
                                const sj_hashes *corpus, int64_t *counts);

/* The largest match count *cap such that the rows with at most *cap matches
 * have, together, at most max_pairs matches; rows with more are the ones to
 * quarantine. Rows with equal counts stay or go together (-1: all go). */
sj_status sj_match_cap(const int64_t *counts, int64_t n, int64_t max_pairs, int64_t *cap);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* SIMJOIN_SIMJOIN_H */
