/* image.h - from image files to perceptual hashes (README "From images to
 * hashes"): decoding (JPEG, PNG, WebP, GIF first frame, BMP, TIFF, HEIC),
 * PDQ with its 8 dihedral hashes, pHash and dHash (64 bits, as the PyPI
 * `imagehash` package computes them), and the MD5/SHA-1 of each file.
 *
 * Built when the decoders are found (CMake: SIMJOIN_HAVE_IMAGE); the hash
 * functions on decoded pixels are always there. Like the rest of the
 * library, nothing here prints: a file that cannot be hashed gets a reason
 * string, never a crash. */
#ifndef SIMJOIN_IMAGE_H
#define SIMJOIN_IMAGE_H

#include "simjoin/simjoin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* exported API (see simjoin.h) */
#pragma GCC visibility push(default)

/* The 8 dihedral transforms of PDQ, in the order and under the names of
 * Meta's reference (ThreatExchange pdq/cpp/hashing/pdqhashing.cpp,
 * pdqDihedralHash256esFromFloatLuma; pdq-photo-hasher --pdqdih prints them
 * in this order). A shard hashed with --dihedral stores them as /dihedral
 * uint8 [N, 8, 32], row t = the hash of the image transformed by t.
 * "x" and "y" are the reference's axes: FLIP_X mirrors about the horizontal
 * (x) axis, i.e. turns the image upside down. Rotations are
 * counter-clockwise (numpy.rot90). */
typedef enum sj_dihedral {
    SJ_DIHEDRAL_ORIGINAL = 0,    /* the image itself (= /hashes) */
    SJ_DIHEDRAL_ROTATE90 = 1,    /* rotated 90 degrees counter-clockwise (np.rot90(a, 1)) */
    SJ_DIHEDRAL_ROTATE180 = 2,   /* rotated 180 degrees */
    SJ_DIHEDRAL_ROTATE270 = 3,   /* rotated 270 degrees counter-clockwise = 90 clockwise */
    SJ_DIHEDRAL_FLIP_X = 4,      /* upside down (rows reversed, np.flipud) */
    SJ_DIHEDRAL_FLIP_Y = 5,      /* mirrored left-right (columns reversed, np.fliplr) */
    SJ_DIHEDRAL_FLIP_PLUS1 = 6,  /* transposed: mirrored about the main diagonal */
    SJ_DIHEDRAL_FLIP_MINUS1 = 7, /* anti-transposed: mirrored about the other diagonal */
    SJ_DIHEDRAL_COUNT = 8
} sj_dihedral;

/* "original", "rotate90", "rotate180", "rotate270", "flip_x", "flip_y",
 * "flip_plus1", "flip_minus1". */
const char *sj_dihedral_name(sj_dihedral d);

typedef enum sj_image_hash {
    SJ_IMAGE_PDQ = 1,   /* 256 bits, kind pdq, ThreatExchange hex order */
    SJ_IMAGE_PHASH = 2, /* 64 bits, kind bits:64, imagehash.phash hex order */
    SJ_IMAGE_DHASH = 3  /* 64 bits, kind bits:64, imagehash.dhash hex order */
} sj_image_hash;

/* Parse "pdq", "phash", "dhash". */
sj_status sj_image_hash_parse(const char *text, sj_image_hash *out);
const char *sj_image_hash_name(sj_image_hash h);
/* Bytes of one hash: 32 or 8. */
uint32_t sj_image_hash_bytes(sj_image_hash h);

/* A decoded image: 8-bit RGB, row-major, no padding. Alpha is dropped
 * (not composited), as PIL's convert("RGB") and convert("L") do. */
typedef struct sj_image {
    int width, height;
    uint8_t *rgb;    /* [height][width][3]; owned */
    size_t capacity; /* bytes allocated at rgb */
} sj_image;

void sj_image_release(sj_image *im);

/* Largest image decoded, in pixels (width x height): larger ones are
 * refused ("too large") before any pixel memory is taken (a 1 MB PNG may
 * claim gigabytes). */
#define SJ_IMAGE_MAX_PIXELS (1LL << 28)

/* Decode an image held in memory (format from its first bytes, not its
 * file name) into out: zero-initialise it before the first decode; a buffer
 * it holds from an earlier decode is reused when large enough (free it with
 * sj_image_release). min_side > 0 allows a reduced-size decode (JPEG DCT scaling) that
 * keeps both sides >= min_side where the image is larger; 0: full size.
 * max_pixels: a lower limit than SJ_IMAGE_MAX_PIXELS (0: that one).
 * On failure returns SJ_ERR_FORMAT or SJ_ERR_UNSUPPORTED with a short
 * reason in sj_last_error() ("truncated JPEG", "not an image", ...). */
sj_status sj_image_decode(const uint8_t *data, size_t size, int min_side, int64_t max_pixels,
                          sj_image *out);

/* ---- hashes of decoded pixels ------------------------------------------- */

/* PDQ of an RGB image (luma 0.299 R + 0.587 G + 0.114 B, two Jarosz tent
 * passes to 64x64, the 16x16 DCT, bits above the median). hash[32] in
 * ThreatExchange hex order (byte 0 = the first two hex digits). quality:
 * 0..100. dihedral: NULL, or [8][32] receiving all 8 (row 0 = hash), from
 * the same DCT. Images with a side under 5 pixels hash to zeros, quality 0,
 * as the reference does. */
sj_status sj_pdq_hash(const sj_image *im, uint8_t hash[32], int *quality,
                      uint8_t (*dihedral)[32]);
/* pHash / dHash as imagehash 4.3 computes them from PIL pixels: PIL's
 * convert("L") and its LANCZOS resize (32x32 / 9x8), then the DCT median /
 * column differences; hash[8] is imagehash's hex string as bytes. */
sj_status sj_phash_hash(const sj_image *im, uint8_t hash[8]);
sj_status sj_dhash_hash(const sj_image *im, uint8_t hash[8]);

/* ---- files -------------------------------------------------------------- */

/* Expand inputs into a list of files: a file as given; a directory: every
 * regular file below it, recursively, in byte order of the names (symbolic
 * links to directories are not followed); "@LIST": the paths in LIST, one a
 * line (blank lines skipped; each may again be a directory). *paths owned
 * by the caller: free each and the array (sj_image_paths_free). */
sj_status sj_image_expand_inputs(const char *const *inputs, int n_inputs, char ***paths,
                                 int64_t *n_paths);
void sj_image_paths_free(char **paths, int64_t n);

/* One file's outcome. */
typedef struct sj_image_result {
    int ok;               /* 1: hashed; 0: failed, see reason */
    char reason[96];      /* why it failed ("" when ok); never holds pixel data */
    uint8_t hash[32];     /* sj_image_hash_bytes(kind) bytes used */
    int quality;          /* PDQ quality 0..100; -1 for phash/dhash */
    uint8_t md5[16], sha1[20];
    int digests;          /* 1 when md5/sha1 hold the file's digests (file was read) */
    int64_t bytes;        /* file size */
    int width, height;    /* decoded size (full-size equivalent) */
} sj_image_result;

typedef void (*sj_image_progress_fn)(void *user, int64_t done, int64_t total);

typedef struct sj_image_options {
    sj_image_hash kind;
    int dihedral;         /* pdq: also fill dihedral [n][8][32] */
    int threads;          /* 0: OpenMP default */
    int reduced_min_side; /* pdq, opt-in speed: JPEGs decoded at 1/2, 1/4 or 1/8 size (DCT
                           * scaling) keeping both sides >= this; 0 (default): full size.
                           * It moves the hash by more than the reference's own spread
                           * (README "Reduced-size decoding"), hence off by default. */
    int64_t max_file_bytes; /* larger files fail ("too large"); 0: 1 GiB */
    int64_t max_pixels;     /* larger images fail ("too large"); 0: SJ_IMAGE_MAX_PIXELS */
    sj_image_progress_fn progress; /* optional; called from one thread */
    void *progress_user;
} sj_image_options;

void sj_image_options_defaults(sj_image_options *o);

/* Hash n files on all threads. results[n] (caller memory) in input order,
 * whatever the thread count; dihedral: NULL or [n][8][32]. A file that
 * cannot be read or decoded only marks its result; the call fails only on
 * bad options or memory. Timing of the phases (seconds summed over
 * threads) goes to times[3] = decode, resize (luma + filter), dct when not
 * NULL. */
sj_status sj_hash_images(const char *const *paths, int64_t n, const sj_image_options *o,
                         sj_image_result *results, uint8_t (*dihedral)[8][32], double times[3]);

/* Hash one file (the work of one item of sj_hash_images). */
sj_status sj_image_hash_file(const char *path, const sj_image_options *o, sj_image_result *r,
                             uint8_t (*dihedral)[32]);

/* ---- the shard of a hashing run ------------------------------------------ */

typedef struct sj_image_set_options {
    sj_image_hash kind;
    int64_t first_id;    /* the file at input index i gets id first_id + i (failed
                          * files keep theirs, unused, in /failed/id) */
    const char *root;    /* NULL, or a directory: paths below it are recorded relative to it */
    const char *source;  /* the shard's source attribute ("" or NULL: none) */
} sj_image_set_options;

/* The outcome of a run, ready to be written as a shard. */
typedef struct sj_image_set {
    sj_hashes *hashes;            /* hashed files in input order, with /quality (pdq),
                                   * /meta path, md5, sha1 and, when asked for, the 8
                                   * dihedral hashes (hashes->dihedral); owned */
    int64_t n_failed;
    char **failed_path, **failed_reason; /* [n_failed]; owned */
    int64_t *failed_id;           /* [n_failed]; owned */
    int64_t n_exact;              /* exact duplicates: files whose SHA-1 an earlier file has */
    int64_t (*exact)[2];          /* [n_exact] (id, id of the first file with that SHA-1) */
    int64_t n_exact_groups;       /* distinct SHA-1 values among them */
} sj_image_set;

/* Gather results[n] of sj_hash_images for paths[n] (and dihedral[n] or
 * NULL) into a set. Identical files (same SHA-1) are found here, without
 * any perceptual comparison. */
sj_status sj_image_set_build(const char *const *paths, const sj_image_result *results,
                             const uint8_t (*dihedral)[8][32], int64_t n,
                             const sj_image_set_options *o, sj_image_set **out);
void sj_image_set_free(sj_image_set *s);
/* Write the set as a shard (temp file + rename, mode 0640): the usual
 * datasets plus /dihedral uint8 [N, 8, 32] when present, /failed/{path,
 * reason, id} and /exact_duplicates int64 [D, 2]. */
sj_status sj_image_set_write(const char *path, const sj_image_set *s);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
