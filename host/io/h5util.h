/* h5util.h - careful HDF5 helpers: every error names the file and dataset.
 * All readers convert to native memory types; any chunking or filter that the
 * HDF5 library has is accepted. */
#ifndef SIMJOIN_H5UTIL_H
#define SIMJOIN_H5UTIL_H

#include "core/internal.h"

#include <hdf5.h>

/* Silence HDF5's own error printing (we report errors ourselves). */
void sj_h5_init(void);

/* Create `path` for writing through a temp file (see sj_atomic_file). */
sj_status sj_h5_create(const char *path, sj_atomic_file *af, hid_t *file);
/* Close the file and rename it into place; on failure remove it. */
sj_status sj_h5_commit(hid_t file, sj_atomic_file *af);
/* Close and remove (nothing is left behind). */
void sj_h5_abort(hid_t file, sj_atomic_file *af);

/* Open an existing file read-only; a clear error if it is not HDF5. */
sj_status sj_h5_open(const char *path, hid_t *file);

/* Create group `name` under loc. */
sj_status sj_h5_group(hid_t loc, const char *name, const char *path, hid_t *group);

/* Write a 1-D or 2-D dataset of memtype (native) from data. */
sj_status sj_h5_write(hid_t loc, const char *name, hid_t memtype, int rank, const hsize_t *dims,
                      const void *data, const char *path);

/* sj_h5_write in pieces: create the dataset (contiguous, fixed dims, the
 * little-endian file type of memtype; *dset open, closed by the caller),
 * then write rows [first, first+count) of a 1-D one from data (memtype). */
sj_status sj_h5_create_dataset(hid_t loc, const char *name, hid_t memtype, int rank,
                               const hsize_t *dims, hid_t *dset, const char *path);
sj_status sj_h5_write_rows(hid_t dset, hid_t memtype, int64_t first, int64_t count, const void *data,
                           const char *name, const char *path);

sj_status sj_h5_attr_str(hid_t loc, const char *name, const char *value, const char *path);
sj_status sj_h5_attr_i64(hid_t loc, const char *name, int64_t value, const char *path);
sj_status sj_h5_attr_f64(hid_t loc, const char *name, double value, const char *path);

/* Read a string attribute (fixed or variable length) into buf.
 * Returns SJ_ERR_FORMAT if absent and required, else buf = "" when absent;
 * SJ_ERR_FORMAT (naming the limit) if the value does not fit: never cut. */
sj_status sj_h5_read_attr_str(hid_t loc, const char *name, char *buf, size_t size, int required,
                              const char *path);
/* The same, whole, into a new string (*out owned by the caller; "" when absent). */
sj_status sj_h5_read_attr_strdup(hid_t loc, const char *name, char **out, int required,
                                 const char *path);
/* Read an integer attribute; *present = 0 when absent. */
sj_status sj_h5_read_attr_i64(hid_t loc, const char *name, int64_t *value, int *present,
                              const char *path);
/* Read an integer or float attribute as double; *present = 0 when absent. */
sj_status sj_h5_read_attr_f64(hid_t loc, const char *name, double *value, int *present,
                              const char *path);

/* Describe a dataset: rank, dims (up to 3) and type class/size/sign.
 * *exists = 0 when absent (not an error). */
typedef struct sj_h5_info {
    int exists;
    int rank;
    hsize_t dims[3];
    H5T_class_t cls;
    size_t size;
    H5T_sign_t sign;
} sj_h5_info;
sj_status sj_h5_inspect(hid_t file, const char *name, sj_h5_info *info, const char *path);

/* Read a whole dataset, converting to memtype, into caller memory `out`
 * (sized by the caller from sj_h5_inspect). Checks filters are available. */
sj_status sj_h5_read(hid_t file, const char *name, hid_t memtype, void *out, const char *path);

/* Rows [first, first+count) of a dataset of rank 1 to 3 (a hyperslab of
 * whole rows), converted to memtype, into caller memory `out`
 * ([count, dims[1], dims[2]]). Checks filters as sj_h5_read. */
sj_status sj_h5_read_rows(hid_t file, const char *name, hid_t memtype, int64_t first, int64_t count,
                          void *out, const char *path);
/* A 1-D dataset of `expect` rows (any if < 0) whose rows of 8 bytes fit in
 * memory; floats allowed when real. */
sj_status sj_h5_inspect_column(hid_t file, const char *name, int64_t expect, int real,
                               sj_h5_info *info, const char *path);

/* Read a whole 1-D integer dataset named `name` into a new int64 array
 * (*out owned by caller) of exactly `expect` rows (or any length if
 * expect < 0; *n gets it). Rejects non-integer types. */
sj_status sj_h5_read_i64(hid_t file, const char *name, int64_t expect, int64_t **out, int64_t *n,
                         const char *path);

/* As sj_h5_read_i64, for any numeric dataset, converted to double. */
sj_status sj_h5_read_f64(hid_t file, const char *name, int64_t expect, double **out, int64_t *n,
                         const char *path);

/* n fixed-length UTF-8 strings buf[n][width], NUL-terminated (h5py reads
 * them as bytes). */
sj_status sj_h5_write_strings(hid_t loc, const char *name, const char *buf, int64_t n,
                              size_t width, const char *path);

/* n variable-length UTF-8 strings of any length (h5py: .asstr()). */
sj_status sj_h5_write_vstrings(hid_t loc, const char *name, const char *const *strs, int64_t n,
                               const char *path);
/* A 1-D string dataset (variable or fixed length) of `expect` rows (any if
 * < 0; *n gets it) as new strings: *out[n] owned by the caller
 * (sj_h5_free_strings). */
sj_status sj_h5_read_vstrings(hid_t loc, const char *name, int64_t expect, char ***out,
                              int64_t *n, const char *path);
void sj_h5_free_strings(char **strs, int64_t n);

/* A distance column: int32 when integral (the values are exact integers),
 * else float64. */
sj_status sj_h5_write_distances(hid_t loc, const char *name, const double *d, int64_t n,
                                int integral, const char *path);

/* The hash kind as attributes: kind ("pdq", "bits", "photodna", "u8",
 * "f32") and bits (binary kinds) or dim (vector kinds). Reading also takes
 * "bits:N" / "u8:D" / "f32:D" in kind. */
sj_status sj_h5_write_type(hid_t loc, sj_hash_type t, const char *path);
sj_status sj_h5_read_type(hid_t loc, const char *path, sj_hash_type *t);

/* Case metadata (meta_io.c): the /meta group of rows [first, first+count)
 * of m under loc; reading: *out NULL when the group is absent. */
struct sj_meta_table;
sj_status sj_meta_h5_write(hid_t loc, const sj_meta *m, int64_t first, int64_t count,
                           const char *path);
sj_status sj_meta_h5_read(hid_t loc, const char *group, int64_t n, sj_meta **out, const char *path);
/* /meta plus /meta_index/{id,new}; reading: *out NULL when absent. */
sj_status sj_meta_table_h5_write(hid_t file, const struct sj_meta_table *t, const char *path);
sj_status sj_meta_table_h5_read(hid_t file, struct sj_meta_table **out, const char *path);

/* The datasets and attributes of a shard (rows [first, first+count) of h)
 * into an open file: sj_shard_write without the file handling, for writers
 * that add datasets of their own (simjoin hash: /dihedral, /failed). */
sj_status sj_shard_h5_write_rows(hid_t file, const sj_hashes *h, int64_t first, int64_t count,
                                 const char *path);
/* Largest allocation we will make for one dataset, in bytes (physical RAM). */
uint64_t sj_h5_max_bytes(void);

#endif
