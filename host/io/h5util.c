/* h5util.c - see h5util.h. Handles start as H5I_INVALID_HID; every function
 * closes what it opened, in reverse order, at one `done:` label. */
#define _POSIX_C_SOURCE 200809L
#include "io/h5util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void h5_init_once(void)
{
    /* Every file we keep is closed explicitly. A file whose close failed
     * (disk full) stays open inside HDF5, and HDF5 1.10 crashes when its
     * exit handler retries it: so no exit handler. Must come first. */
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void sj_h5_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT; /* threads may open files at once */
    pthread_once(&once, h5_init_once);
}

uint64_t sj_h5_max_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || psize <= 0)
        return (uint64_t)1 << 34;
    return (uint64_t)pages * (uint64_t)psize;
}

sj_status sj_h5_create(const char *path, sj_atomic_file *af, hid_t *file)
{
    sj_h5_init();
    *file = H5I_INVALID_HID;
    sj_status st = sj_atomic_begin(af, path);
    if (st)
        return st;
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    /* Pin the oldest format that has what we use, so files stay readable by
     * older HDF5 and h5py builds. */
    H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_V18);
    /* HDF5 opens by name: give it /dev/fd/N, which opens the temp file we
     * created (O_EXCL, 0640) whatever the temp name points to by now. */
    char fd_path[64];
    sj_atomic_fd_path(af, fd_path, sizeof fd_path);
    *file = H5Fcreate(fd_path, H5F_ACC_TRUNC, fcpl, fapl);
    H5Pclose(fapl);
    H5Pclose(fcpl);
    if (*file < 0) {
        sj_atomic_abort(af);
        return sj_fail(SJ_ERR_IO, "%s: cannot create HDF5 file", path);
    }
    /* Check that HDF5 writes the very file we created (device and inode). */
    int *vfd = NULL;
    struct stat ours, theirs;
    if (H5Fget_vfd_handle(*file, H5P_DEFAULT, (void **)&vfd) < 0 || !vfd ||
        fstat(*vfd, &theirs) != 0 || fstat(af->fd, &ours) != 0 || ours.st_dev != theirs.st_dev ||
        ours.st_ino != theirs.st_ino) {
        sj_h5_abort(*file, af);
        *file = H5I_INVALID_HID;
        return sj_fail(SJ_ERR_IO, "%s: HDF5 did not open the temporary file created for it", path);
    }
    return SJ_OK;
}

sj_status sj_h5_commit(hid_t file, sj_atomic_file *af)
{
    if (H5Fclose(file) < 0) {
        sj_atomic_abort(af);
        return sj_fail(SJ_ERR_IO, "%s: error closing HDF5 file (disk full?)", af->final_path);
    }
    return sj_atomic_commit(af);
}

void sj_h5_abort(hid_t file, sj_atomic_file *af)
{
    if (file >= 0)
        H5Fclose(file);
    sj_atomic_abort(af);
}

sj_status sj_h5_open(const char *path, hid_t *file)
{
    sj_h5_init();
    *file = H5I_INVALID_HID;
    if (access(path, R_OK) != 0)
        return sj_fail(SJ_ERR_IO, "%s: cannot read file", path);
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0)
        return sj_fail(SJ_ERR_FORMAT, "%s: not an HDF5 file (or corrupt/truncated)", path);
    *file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*file < 0)
        return sj_fail(SJ_ERR_FORMAT, "%s: cannot open HDF5 file (corrupt or truncated?)", path);
    return SJ_OK;
}

sj_status sj_h5_group(hid_t loc, const char *name, const char *path, hid_t *group)
{
    *group = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (*group < 0)
        return sj_fail(SJ_ERR_IO, "%s: cannot create group %s", path, name);
    return SJ_OK;
}

sj_status sj_h5_create_dataset(hid_t loc, const char *name, hid_t memtype, int rank,
                               const hsize_t *dims, hid_t *dset, const char *path)
{
    sj_status st = SJ_OK;
    hid_t space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID;
    *dset = H5I_INVALID_HID;
    space = H5Screate_simple(rank, dims, NULL);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (space < 0 || dcpl < 0) {
        st = sj_fail(SJ_ERR_IO, "%s: cannot create dataspace for %s", path, name);
        goto done;
    }
    H5Pset_obj_track_times(dcpl, 0); /* reproducible bytes */
    /* Store in little-endian standard types; memtype is native. */
    hid_t filetype = memtype;
    if (H5Tequal(memtype, H5T_NATIVE_INT64) > 0)
        filetype = H5T_STD_I64LE;
    else if (H5Tequal(memtype, H5T_NATIVE_INT32) > 0)
        filetype = H5T_STD_I32LE;
    else if (H5Tequal(memtype, H5T_NATIVE_UINT8) > 0)
        filetype = H5T_STD_U8LE;
    else if (H5Tequal(memtype, H5T_NATIVE_INT16) > 0)
        filetype = H5T_STD_I16LE;
    else if (H5Tequal(memtype, H5T_NATIVE_INT8) > 0)
        filetype = H5T_STD_I8LE;
    else if (H5Tequal(memtype, H5T_NATIVE_FLOAT) > 0)
        filetype = H5T_IEEE_F32LE;
    else if (H5Tequal(memtype, H5T_NATIVE_DOUBLE) > 0)
        filetype = H5T_IEEE_F64LE;
    *dset = H5Dcreate2(loc, name, filetype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (*dset < 0)
        st = sj_fail(SJ_ERR_IO, "%s: cannot create dataset %s", path, name);
done:
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (space >= 0)
        H5Sclose(space);
    return st;
}

sj_status sj_h5_write_rows(hid_t dset, hid_t memtype, int64_t first, int64_t count, const void *data,
                           const char *name, const char *path)
{
    if (count <= 0)
        return SJ_OK;
    sj_status st = SJ_OK;
    hsize_t start[1] = {(hsize_t)first}, len[1] = {(hsize_t)count};
    hid_t file_space = H5Dget_space(dset), mem_space = H5Screate_simple(1, len, NULL);
    if (file_space < 0 || mem_space < 0 ||
        H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, len, NULL) < 0 ||
        H5Dwrite(dset, memtype, mem_space, file_space, H5P_DEFAULT, data) < 0)
        st = sj_fail(SJ_ERR_IO, "%s: cannot write rows %lld..%lld of dataset %s (disk full?)", path,
                     (long long)first, (long long)(first + count - 1), name);
    if (mem_space >= 0)
        H5Sclose(mem_space);
    if (file_space >= 0)
        H5Sclose(file_space);
    return st;
}

sj_status sj_h5_write(hid_t loc, const char *name, hid_t memtype, int rank, const hsize_t *dims,
                      const void *data, const char *path)
{
    hid_t dset;
    sj_status st = sj_h5_create_dataset(loc, name, memtype, rank, dims, &dset, path);
    if (st)
        return st;
    int64_t total = 1;
    for (int i = 0; i < rank; i++)
        total *= (int64_t)dims[i];
    if (total > 0 && H5Dwrite(dset, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        st = sj_fail(SJ_ERR_IO, "%s: cannot write dataset %s (disk full?)", path, name);
    H5Dclose(dset);
    return st;
}

sj_status sj_h5_attr_str(hid_t loc, const char *name, const char *value, const char *path)
{
    sj_status st = SJ_OK;
    hid_t type = H5Tcopy(H5T_C_S1), space = H5Screate(H5S_SCALAR), attr = H5I_INVALID_HID;
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    attr = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0 || H5Awrite(attr, type, &value) < 0)
        st = sj_fail(SJ_ERR_IO, "%s: cannot write attribute %s", path, name);
    if (attr >= 0)
        H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
    return st;
}

/* A scalar numeric attribute: filetype on disk, memtype for value. */
static sj_status attr_scalar(hid_t loc, const char *name, hid_t filetype, hid_t memtype,
                             const void *value, const char *path)
{
    sj_status st = SJ_OK;
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(loc, name, filetype, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0 || H5Awrite(attr, memtype, value) < 0)
        st = sj_fail(SJ_ERR_IO, "%s: cannot write attribute %s", path, name);
    if (attr >= 0)
        H5Aclose(attr);
    H5Sclose(space);
    return st;
}

sj_status sj_h5_attr_i64(hid_t loc, const char *name, int64_t value, const char *path)
{
    return attr_scalar(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, path);
}

sj_status sj_h5_attr_f64(hid_t loc, const char *name, double value, const char *path)
{
    return attr_scalar(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, path);
}

sj_status sj_h5_read_attr_strdup(hid_t loc, const char *name, char **out, int required,
                                 const char *path)
{
    *out = NULL;
    if (H5Aexists(loc, name) <= 0) {
        if (required)
            return sj_fail(SJ_ERR_FORMAT, "%s: missing attribute '%s'", path, name);
        return (*out = strdup("")) ? SJ_OK : sj_fail(SJ_ERR_NOMEM, "out of memory");
    }
    sj_status st = SJ_OK;
    hid_t attr = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t ftype = H5I_INVALID_HID, space = H5I_INVALID_HID, mtype = H5I_INVALID_HID;
    if (attr < 0) {
        st = sj_fail(SJ_ERR_FORMAT, "%s: cannot open attribute '%s'", path, name);
        goto done;
    }
    ftype = H5Aget_type(attr);
    space = H5Aget_space(attr);
    if (H5Tget_class(ftype) != H5T_STRING || H5Sget_simple_extent_npoints(space) != 1) {
        st = sj_fail(SJ_ERR_FORMAT, "%s: attribute '%s' is not a single string", path, name);
        goto done;
    }
    mtype = H5Tcopy(H5T_C_S1);
    if (H5Tis_variable_str(ftype) > 0) {
        H5Tset_size(mtype, H5T_VARIABLE);
        H5Tset_cset(mtype, H5Tget_cset(ftype));
        char *s = NULL;
        if (H5Aread(attr, mtype, &s) < 0 || !s) {
            st = sj_fail(SJ_ERR_FORMAT, "%s: cannot read attribute '%s'", path, name);
            goto done;
        }
        *out = strdup(s);
        H5free_memory(s);
        if (!*out)
            st = sj_fail(SJ_ERR_NOMEM, "out of memory");
    } else {
        size_t len = H5Tget_size(ftype);
        if (len > 1 << 20) {
            st = sj_fail(SJ_ERR_FORMAT, "%s: attribute '%s' is absurdly long", path, name);
            goto done;
        }
        *out = calloc(1, len + 1);
        if (!*out) {
            st = sj_fail(SJ_ERR_NOMEM, "out of memory");
            goto done;
        }
        H5Tset_size(mtype, len + 1);
        H5Tset_strpad(mtype, H5T_STR_NULLTERM);
        if (H5Aread(attr, mtype, *out) < 0) {
            st = sj_fail(SJ_ERR_FORMAT, "%s: cannot read attribute '%s'", path, name);
            free(*out);
            *out = NULL;
        }
    }
done:
    if (mtype >= 0)
        H5Tclose(mtype);
    if (space >= 0)
        H5Sclose(space);
    if (ftype >= 0)
        H5Tclose(ftype);
    if (attr >= 0)
        H5Aclose(attr);
    return st;
}

sj_status sj_h5_read_attr_str(hid_t loc, const char *name, char *buf, size_t size, int required,
                              const char *path)
{
    buf[0] = 0;
    char *s;
    sj_status st = sj_h5_read_attr_strdup(loc, name, &s, required, path);
    if (st)
        return st;
    size_t len = strlen(s);
    if (len >= size) /* never cut a string short: a value that does not fit is refused */
        st = sj_fail(SJ_ERR_FORMAT, "%s: attribute '%s' is %zu bytes, longer than the %zu this "
                                    "field holds", path, name, len, size - 1);
    else
        memcpy(buf, s, len + 1);
    free(s);
    return st;
}

/* A single-value numeric attribute read as memtype (real: floats taken too). */
static sj_status read_scalar_attr(hid_t loc, const char *name, hid_t memtype, int real,
                                  void *value, int *present, const char *path)
{
    *present = 0;
    if (H5Aexists(loc, name) <= 0)
        return SJ_OK;
    sj_status st = SJ_OK;
    hid_t attr = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t ftype = attr >= 0 ? H5Aget_type(attr) : H5I_INVALID_HID;
    hid_t space = attr >= 0 ? H5Aget_space(attr) : H5I_INVALID_HID;
    H5T_class_t cls = ftype >= 0 ? H5Tget_class(ftype) : H5T_NO_CLASS;
    /* uint64 above INT64_MAX would be clamped by HDF5's conversion: refuse it. */
    uint64_t wide = 0;
    int unsigned64 = cls == H5T_INTEGER && H5Tget_size(ftype) == 8 && H5Tget_sign(ftype) == H5T_SGN_NONE;
    if (attr < 0 || (cls != H5T_INTEGER && !(real && cls == H5T_FLOAT)) ||
        H5Sget_simple_extent_npoints(space) != 1 || H5Aread(attr, memtype, value) < 0 ||
        (unsigned64 && (H5Aread(attr, H5T_NATIVE_UINT64, &wide) < 0 || wide > (uint64_t)INT64_MAX)))
        st = sj_fail(SJ_ERR_FORMAT, "%s: attribute '%s' is not a single %s%s", path, name,
                     real ? "number" : "integer", unsigned64 ? " below 2^63" : "");
    else
        *present = 1;
    if (space >= 0)
        H5Sclose(space);
    if (ftype >= 0)
        H5Tclose(ftype);
    if (attr >= 0)
        H5Aclose(attr);
    return st;
}

sj_status sj_h5_read_attr_i64(hid_t loc, const char *name, int64_t *value, int *present,
                              const char *path)
{
    return read_scalar_attr(loc, name, H5T_NATIVE_INT64, 0, value, present, path);
}

sj_status sj_h5_read_attr_f64(hid_t loc, const char *name, double *value, int *present,
                              const char *path)
{
    return read_scalar_attr(loc, name, H5T_NATIVE_DOUBLE, 1, value, present, path);
}

sj_status sj_h5_inspect(hid_t file, const char *name, sj_h5_info *info, const char *path)
{
    memset(info, 0, sizeof *info);
    /* H5Lexists on "a/b" fails if "a" is absent; check each level. */
    char partial[256];
    const char *slash = name;
    while ((slash = strchr(slash + 1, '/'))) {
        size_t len = (size_t)(slash - name);
        if (len >= sizeof partial)
            return sj_fail(SJ_ERR_ARG, "dataset name too long");
        memcpy(partial, name, len);
        partial[len] = 0;
        if (H5Lexists(file, partial, H5P_DEFAULT) <= 0)
            return SJ_OK;
    }
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0)
        return SJ_OK;
    sj_status st = SJ_OK;
    hid_t dset = H5Dopen2(file, name, H5P_DEFAULT);
    hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID;
    if (dset < 0) {
        st = sj_fail(SJ_ERR_FORMAT, "%s: %s is not a readable dataset", path, name);
        goto done;
    }
    type = H5Dget_type(dset);
    space = H5Dget_space(dset);
    int rank = H5Sget_simple_extent_ndims(space);
    if (type < 0 || space < 0 || rank < 0 || rank > 3) {
        st = sj_fail(SJ_ERR_FORMAT, "%s: %s has rank %d, expected 1 to 3", path, name, rank);
        goto done;
    }
    info->exists = 1;
    info->rank = rank;
    H5Sget_simple_extent_dims(space, info->dims, NULL);
    info->cls = H5Tget_class(type);
    info->size = H5Tget_size(type);
    info->sign = info->cls == H5T_INTEGER ? H5Tget_sign(type) : H5T_SGN_ERROR;
done:
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    if (dset >= 0)
        H5Dclose(dset);
    return st;
}

/* Open dataset `name` for reading: its filters must be available here. */
static sj_status open_readable(hid_t file, const char *name, hid_t *dset_out, const char *path)
{
    sj_status st = SJ_OK;
    hid_t dset = H5Dopen2(file, name, H5P_DEFAULT);
    hid_t dcpl = H5I_INVALID_HID;
    if (dset < 0) {
        st = sj_fail(SJ_ERR_FORMAT, "%s: cannot open dataset %s", path, name);
        goto done;
    }
    dcpl = H5Dget_create_plist(dset);
    int nfilters = dcpl >= 0 ? H5Pget_nfilters(dcpl) : 0;
    for (int i = 0; i < nfilters; i++) {
        unsigned flags, cd[8];
        size_t ncd = 8;
        char fname[64] = "";
        H5Z_filter_t f = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof fname, fname,
                                        NULL);
        if (f < 0 || H5Zfilter_avail(f) <= 0) {
            st = sj_fail(SJ_ERR_UNSUPPORTED,
                         "%s: dataset %s uses HDF5 filter %d (%s) that this build cannot decode",
                         path, name, (int)f, fname[0] ? fname : "unknown");
            goto done;
        }
    }
done:
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (st && dset >= 0)
        H5Dclose(dset);
    *dset_out = st ? H5I_INVALID_HID : dset;
    return st;
}

sj_status sj_h5_read(hid_t file, const char *name, hid_t memtype, void *out, const char *path)
{
    hid_t dset, space = H5I_INVALID_HID;
    sj_status st = open_readable(file, name, &dset, path);
    if (st)
        return st;
    space = H5Dget_space(dset);
    if (H5Sget_simple_extent_npoints(space) > 0 &&
        H5Dread(dset, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
        st = sj_fail(SJ_ERR_FORMAT, "%s: cannot read dataset %s (corrupt or truncated file?)",
                     path, name);
    if (space >= 0)
        H5Sclose(space);
    H5Dclose(dset);
    return st;
}

sj_status sj_h5_read_rows(hid_t file, const char *name, hid_t memtype, int64_t first, int64_t count,
                          void *out, const char *path)
{
    if (count <= 0)
        return SJ_OK;
    hid_t dset, file_space = H5I_INVALID_HID, mem_space = H5I_INVALID_HID;
    sj_status st = open_readable(file, name, &dset, path);
    if (st)
        return st;
    hsize_t dims[3] = {0, 1, 1}, start[3] = {(hsize_t)first, 0, 0}, len[3];
    file_space = H5Dget_space(dset);
    int rank = file_space >= 0 ? H5Sget_simple_extent_ndims(file_space) : -1;
    if (rank < 1 || rank > 3 || H5Sget_simple_extent_dims(file_space, dims, NULL) < 0 ||
        (uint64_t)first + (uint64_t)count > dims[0]) {
        st = sj_fail(SJ_ERR_FORMAT, "%s: dataset %s has no rows %lld..%lld", path, name,
                     (long long)first, (long long)(first + count - 1));
        goto done;
    }
    len[0] = (hsize_t)count, len[1] = dims[1], len[2] = dims[2]; /* whole rows */
    mem_space = H5Screate_simple(rank, len, NULL);
    if (mem_space < 0 ||
        H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, len, NULL) < 0 ||
        (H5Sget_select_npoints(mem_space) > 0 &&
         H5Dread(dset, memtype, mem_space, file_space, H5P_DEFAULT, out) < 0))
        st = sj_fail(SJ_ERR_FORMAT, "%s: cannot read rows %lld..%lld of dataset %s (corrupt or "
                                    "truncated file?)", path, (long long)first,
                     (long long)(first + count - 1), name);
done:
    if (mem_space >= 0)
        H5Sclose(mem_space);
    if (file_space >= 0)
        H5Sclose(file_space);
    H5Dclose(dset);
    return st;
}

sj_status sj_h5_inspect_column(hid_t file, const char *name, int64_t expect, int real,
                               sj_h5_info *info, const char *path)
{
    sj_status st = sj_h5_inspect(file, name, info, path);
    if (st)
        return st;
    if (!info->exists)
        return sj_fail(SJ_ERR_FORMAT, "%s: missing dataset %s", path, name);
    if (info->rank != 1 || (info->cls != H5T_INTEGER && !(real && info->cls == H5T_FLOAT)))
        return sj_fail(SJ_ERR_FORMAT, "%s: %s must be a 1-D %s dataset", path, name,
                       real ? "numeric" : "integer");
    if (expect >= 0 && (int64_t)info->dims[0] != expect)
        return sj_fail(SJ_ERR_FORMAT, "%s: %s has %llu rows, expected %lld", path, name,
                       (unsigned long long)info->dims[0], (long long)expect);
    if ((uint64_t)info->dims[0] > sj_h5_max_bytes() / 8)
        return sj_fail(SJ_ERR_LIMIT, "%s: %s claims %llu rows, more than memory holds", path,
                       name, (unsigned long long)info->dims[0]);
    return SJ_OK;
}

sj_status sj_h5_read_i64(hid_t file, const char *name, int64_t expect, int64_t **out, int64_t *n,
                         const char *path)
{
    *out = NULL;
    sj_h5_info info;
    sj_status st = sj_h5_inspect_column(file, name, expect, 0, &info, path);
    if (st)
        return st;
    int unsigned64 = info.size == 8 && info.sign == H5T_SGN_NONE;
    int64_t *v = malloc((size_t)SJ_MAX(info.dims[0], 1) * sizeof *v);
    if (!v)
        return sj_fail(SJ_ERR_NOMEM, "out of memory reading %s", name);
    sj_prefault *pf = sj_prefault_start(v, (size_t)info.dims[0] * sizeof *v);
    st = sj_h5_read(file, name, unsigned64 ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64, v, path);
    sj_prefault_wait(pf);
    if (!st && unsigned64) {
        for (hsize_t i = 0; i < info.dims[0]; i++)
            if ((uint64_t)v[i] > (uint64_t)INT64_MAX) {
                st = sj_fail(SJ_ERR_FORMAT, "%s: %s row %llu: value does not fit in int64",
                             path, name, (unsigned long long)i);
                break;
            }
    }
    if (st) {
        free(v);
        return st;
    }
    *out = v;
    if (n)
        *n = (int64_t)info.dims[0];
    return SJ_OK;
}

sj_status sj_h5_read_f64(hid_t file, const char *name, int64_t expect, double **out, int64_t *n,
                         const char *path)
{
    *out = NULL;
    sj_h5_info info;
    sj_status st = sj_h5_inspect_column(file, name, expect, 1, &info, path);
    if (st)
        return st;
    double *v = malloc((size_t)SJ_MAX(info.dims[0], 1) * sizeof *v);
    if (!v)
        return sj_fail(SJ_ERR_NOMEM, "out of memory reading %s", name);
    if ((st = sj_h5_read(file, name, H5T_NATIVE_DOUBLE, v, path))) {
        free(v);
        return st;
    }
    *out = v;
    if (n)
        *n = (int64_t)info.dims[0];
    return SJ_OK;
}

static const char *kind_attr(sj_kind k)
{
    switch (k) {
    case SJ_KIND_PDQ: return "pdq";
    case SJ_KIND_PHOTODNA: return "photodna";
    case SJ_KIND_U8: return "u8";
    case SJ_KIND_F32: return "f32";
    default: return "bits";
    }
}

sj_status sj_h5_write_type(hid_t loc, sj_hash_type t, const char *path)
{
    sj_status st = sj_h5_attr_str(loc, "kind", kind_attr(t.kind), path);
    if (!st)
        st = sj_hash_type_binary(t) ? sj_h5_attr_i64(loc, "bits", t.bits, path)
                                    : sj_h5_attr_i64(loc, "dim", t.dim, path);
    return st;
}

sj_status sj_h5_read_type(hid_t loc, const char *path, sj_hash_type *t)
{
    char kind[64], spec[96];
    sj_status st = sj_h5_read_attr_str(loc, "kind", kind, sizeof kind, 1, path);
    if (st)
        return st;
    int64_t bits = 0, dim = 0;
    int has_bits = 0, has_dim = 0;
    if ((st = sj_h5_read_attr_i64(loc, "bits", &bits, &has_bits, path)) ||
        (st = sj_h5_read_attr_i64(loc, "dim", &dim, &has_dim, path)))
        return st;
    if (strchr(kind, ':'))
        snprintf(spec, sizeof spec, "%s", kind); /* "bits:64", "f32:512" */
    else if (!strcmp(kind, "bits") || !strcmp(kind, "u8") || !strcmp(kind, "f32")) {
        int need_bits = !strcmp(kind, "bits");
        if (need_bits ? !has_bits : !has_dim)
            return sj_fail(SJ_ERR_FORMAT, "%s: kind %s needs a '%s' attribute", path, kind,
                           need_bits ? "bits" : "dim");
        snprintf(spec, sizeof spec, "%s:%lld", kind, (long long)(need_bits ? bits : dim));
    } else
        snprintf(spec, sizeof spec, "%s", kind);
    st = sj_hash_type_parse(spec, t);
    if (st) {
        sj_error_prefix("%s: attribute kind", path);
        return SJ_ERR_FORMAT;
    }
    if (t->kind == SJ_KIND_PDQ && has_bits && bits != 256)
        return sj_fail(SJ_ERR_FORMAT, "%s: kind pdq but bits=%lld (must be 256)", path, (long long)bits);
    if (t->kind == SJ_KIND_PHOTODNA && has_dim && dim != 144)
        return sj_fail(SJ_ERR_FORMAT, "%s: kind photodna but dim=%lld (must be 144)", path,
                       (long long)dim);
    return SJ_OK;
}

sj_status sj_h5_write_strings(hid_t loc, const char *name, const char *buf, int64_t n,
                              size_t width, const char *path)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, width);
    H5Tset_strpad(type, H5T_STR_NULLTERM);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hsize_t dims[1] = {(hsize_t)n};
    sj_status st = sj_h5_write(loc, name, type, 1, dims, buf, path);
    H5Tclose(type);
    return st;
}

sj_status sj_h5_write_distances(hid_t loc, const char *name, const double *d, int64_t n,
                                int integral, const char *path)
{
    hsize_t dims[1] = {(hsize_t)n};
    if (!integral)
        return sj_h5_write(loc, name, H5T_NATIVE_DOUBLE, 1, dims, d, path);
    int32_t *v = malloc((size_t)SJ_MAX(n, 1) * sizeof *v);
    if (!v)
        return sj_fail(SJ_ERR_NOMEM, "out of memory writing %s", path);
    for (int64_t i = 0; i < n; i++)
        v[i] = (int32_t)d[i]; /* integral metrics: exact integers below 2^31 */
    sj_status st = sj_h5_write(loc, name, H5T_NATIVE_INT32, 1, dims, v, path);
    free(v);
    return st;
}

sj_status sj_h5_write_vstrings(hid_t loc, const char *name, const char *const *strs, int64_t n,
                               const char *path)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hsize_t dims[1] = {(hsize_t)n};
    sj_status st = sj_h5_write(loc, name, type, 1, dims, strs, path);
    H5Tclose(type);
    return st;
}

sj_status sj_h5_read_vstrings(hid_t loc, const char *name, int64_t expect, char ***out,
                              int64_t *n, const char *path)
{
    *out = NULL;
    hid_t dset = H5Dopen2(loc, name, H5P_DEFAULT);
    hid_t ftype = dset >= 0 ? H5Dget_type(dset) : H5I_INVALID_HID;
    hid_t space = dset >= 0 ? H5Dget_space(dset) : H5I_INVALID_HID;
    hid_t mtype = H5I_INVALID_HID;
    char **v = NULL, *fixed = NULL;
    hsize_t dims[2] = {0, 0};
    sj_status st = SJ_OK;
    if (dset < 0 || ftype < 0 || space < 0 || H5Tget_class(ftype) != H5T_STRING ||
        H5Sget_simple_extent_ndims(space) != 1) {
        st = sj_fail(SJ_ERR_FORMAT, "%s: /%s must be a 1-D string dataset", path, name);
        goto done;
    }
    H5Sget_simple_extent_dims(space, dims, NULL);
    if ((expect >= 0 && (int64_t)dims[0] != expect) || dims[0] > sj_h5_max_bytes() / 16) {
        st = sj_fail(SJ_ERR_FORMAT, "%s: /%s has %llu rows, expected %lld", path, name,
                     (unsigned long long)dims[0], (long long)expect);
        goto done;
    }
    const int64_t rows = (int64_t)dims[0];
    const int is_vlen = H5Tis_variable_str(ftype) > 0;
    const size_t width = is_vlen ? 0 : H5Tget_size(ftype) + 1;
    mtype = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mtype, H5Tget_cset(ftype));
    H5Tset_size(mtype, is_vlen ? H5T_VARIABLE : width);
    if (!is_vlen)
        H5Tset_strpad(mtype, H5T_STR_NULLTERM);
    v = calloc((size_t)SJ_MAX(rows, 1), sizeof *v);
    if (!is_vlen && (uint64_t)rows > sj_h5_max_bytes() / width) {
        st = sj_fail(SJ_ERR_LIMIT, "%s: /%s is larger than memory", path, name);
        goto done;
    }
    fixed = is_vlen ? NULL : calloc((size_t)SJ_MAX(rows, 1), width);
    if (!v || (!is_vlen && !fixed)) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory reading %s", path);
        goto done;
    }
    if (rows > 0 && H5Dread(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, is_vlen ? (void *)v : fixed) < 0) {
        st = sj_fail(SJ_ERR_FORMAT, "%s: cannot read /%s (corrupt or truncated file?)", path, name);
        goto done;
    }
    /* Copies owned by us (HDF5's vlen strings are freed with its reclaim). */
    char **own = calloc((size_t)SJ_MAX(rows, 1), sizeof *own);
    for (int64_t i = 0; own && i < rows; i++) {
        const char *s = is_vlen ? (v[i] ? v[i] : "") : fixed + (size_t)i * width;
        if (!(own[i] = strdup(s))) {
            sj_h5_free_strings(own, i);
            own = NULL;
        }
    }
    if (is_vlen && rows > 0)
        H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, v);
    if (!own) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory reading %s", path);
        goto done;
    }
    *out = own;
    if (n)
        *n = rows;
done:
    free(v);
    free(fixed);
    if (mtype >= 0)
        H5Tclose(mtype);
    if (space >= 0)
        H5Sclose(space);
    if (ftype >= 0)
        H5Tclose(ftype);
    if (dset >= 0)
        H5Dclose(dset);
    return st;
}

void sj_h5_free_strings(char **strs, int64_t n)
{
    for (int64_t i = 0; strs && i < n; i++)
        free(strs[i]);
    free(strs);
}
