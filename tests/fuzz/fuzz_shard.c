/* fuzz_shard.c - libFuzzer harness for the shard validator (sj_shard_read).
 * The input is a recipe, not raw file bytes: it chooses the schema of a
 * shard (kind and bits attributes, /hashes rank, shape and type, /ids length
 * and type, optional /quality and /labels, their values, absurd declared
 * sizes with chunked storage and nothing written), which is written with the
 * HDF5 library and then read back. Vector kinds (photodna, u8, f32 with a
 * dim attribute, float data that may hold NaN) and the case-metadata flags
 * are in the recipe too, and /dihedral (rank, shape, type, transform 0 copied
 * from /hashes or not, the dihedral attribute). sj_shard_read must never
 * crash, allocate what a dataset merely claims, or accept a shard that breaks
 * the schema. */
#include "simjoin/meta.h"
#include "simjoin/simjoin.h"

#include <hdf5.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct recipe {
    const uint8_t *p;
    size_t n;
} recipe;

static unsigned take(recipe *r, unsigned mod)
{
    unsigned v = r->n ? *r->p : 0;
    if (r->n)
        r->p++, r->n--;
    return mod ? v % mod : v;
}

static hid_t int_type(unsigned pick)
{
    static const hid_t *types[] = {&H5T_NATIVE_UINT8_g, &H5T_NATIVE_INT8_g, &H5T_NATIVE_INT16_g,
                                   &H5T_NATIVE_INT32_g, &H5T_NATIVE_INT64_g, &H5T_NATIVE_UINT64_g,
                                   &H5T_NATIVE_FLOAT_g, &H5T_NATIVE_DOUBLE_g};
    return *types[pick % 8];
}

static void string_attr(hid_t loc, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR);
    H5Tset_size(t, strlen(value) + 1);
    hid_t a = H5Acreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, value);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

static void int_attr(hid_t loc, const char *name, long long v)
{
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, H5T_NATIVE_LLONG, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_LLONG, &v);
    H5Aclose(a);
    H5Sclose(s);
}

/* A dataset of `rank` dims; `absurd` declares 2^40 rows, chunked, unwritten. */
static void dataset(hid_t f, const char *name, int rank, hsize_t rows, hsize_t cols, hid_t type,
                    int absurd, recipe *r)
{
    hsize_t dims[2] = {absurd ? (hsize_t)1 << 40 : rows, cols};
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (absurd || take(r, 2)) {
        hsize_t chunk[2] = {16, cols ? cols : 1};
        H5Pset_chunk(dcpl, rank, chunk);
        if (take(r, 2))
            H5Pset_deflate(dcpl, 1);
    }
    hid_t d = H5Dcreate2(f, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d >= 0 && !absurd && rows * (rank == 2 ? cols : 1) <= 4096) {
        unsigned char buf[4096 * 8];
        for (size_t i = 0; i < sizeof buf; i++)
            buf[i] = (unsigned char)take(r, 0);
        H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    }
    if (d >= 0)
        H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
}

/* /dihedral [rows, n8, cols] (rank 2 or 3): recipe bytes, with transform 0
 * copied from /hashes when `copy` (so that a valid one can be accepted). */
static void dihedral_dataset(hid_t f, hsize_t rows, hsize_t n8, hsize_t cols, int rank3,
                             hid_t type, int copy, recipe *r)
{
    hsize_t dims[3] = {rows, n8, cols};
    if (rows * n8 * cols > 4096 || !n8 || !cols)
        return;
    unsigned char buf[4096], hashes[4096] = {0};
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)take(r, 0);
    hid_t h = copy ? H5Dopen2(f, "hashes", H5P_DEFAULT) : H5I_INVALID_HID;
    hid_t hs = h >= 0 ? H5Dget_space(h) : H5I_INVALID_HID;
    hsize_t hd[2] = {0, 0};
    if (hs >= 0 && H5Sget_simple_extent_ndims(hs) == 2 && H5Sget_simple_extent_dims(hs, hd, NULL) == 2 &&
        hd[0] * hd[1] <= sizeof hashes && hd[1] == cols &&
        H5Dread(h, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, hashes) >= 0)
        for (hsize_t i = 0; i < rows && i < hd[0]; i++)
            memcpy(buf + i * n8 * cols, hashes + i * cols, cols);
    if (hs >= 0)
        H5Sclose(hs);
    if (h >= 0)
        H5Dclose(h);
    if (!rank3)
        dims[1] = n8 * cols;
    hid_t space = H5Screate_simple(rank3 ? 3 : 2, dims, NULL);
    hid_t d = H5Dcreate2(f, "dihedral", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0) {
        H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        H5Dclose(d);
    }
    H5Sclose(space);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/simjoin-fuzz-shard-%d.h5", (int)getpid());
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    }
    recipe r = {data, size};
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        return 0;
    static const char *kinds[] = {"pdq", "bits", "bits:64", "md5", "", "bits:7", "photodna", "u8", "f32", "f32:3"};
    unsigned k = take(&r, 11);
    if (k < 10)
        string_attr(f, "kind", kinds[k]);
    if (take(&r, 2))
        int_attr(f, "bits", (long long)(take(&r, 0) * 8) - (take(&r, 4) == 0 ? 1000 : 0));
    if (take(&r, 2))
        int_attr(f, "dim", (long long)take(&r, 0) - (take(&r, 4) == 0 ? 300 : 0));
    if (take(&r, 4) == 0)
        int_attr(f, "format_version", take(&r, 3));
    hsize_t rows = take(&r, 40), cols = take(&r, 3) == 0 ? take(&r, 64) : 32;
    dataset(f, "hashes", take(&r, 5) == 0 ? 1 : 2, rows, cols, int_type(take(&r, 0) % 4 ? 0 : take(&r, 0)),
            take(&r, 16) == 0, &r);
    if (take(&r, 8))
        dataset(f, "ids", 1, take(&r, 4) ? rows : take(&r, 40), 0, int_type(4 + take(&r, 4)),
                take(&r, 16) == 0, &r);
    if (take(&r, 3) == 0)
        dataset(f, "quality", 1, rows, 0, int_type(take(&r, 0)), take(&r, 16) == 0, &r);
    if (take(&r, 3) == 0)
        dataset(f, "labels", 1, rows, 0, int_type(take(&r, 0)), take(&r, 16) == 0, &r);
    if (take(&r, 3) == 0) {
        hid_t g = H5Gcreate2(f, "meta", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g >= 0) {
            dataset(g, "victim_identified", 1, take(&r, 4) ? rows : take(&r, 40), 0,
                    int_type(take(&r, 0)), take(&r, 16) == 0, &r);
            H5Gclose(g);
        }
    }
    if (take(&r, 3) == 0)
        dihedral_dataset(f, take(&r, 4) ? rows : take(&r, 40), take(&r, 4) ? 8 : take(&r, 10),
                         take(&r, 4) ? cols : take(&r, 64), take(&r, 8) != 0,
                         int_type(take(&r, 4) ? 0 : take(&r, 0)), take(&r, 4) != 0, &r);
    if (take(&r, 4) == 0)
        int_attr(f, "dihedral", take(&r, 3));
    H5Fclose(f);

    sj_hashes *h = NULL;
    sj_status st = sj_shard_read(path, &h);
    if (st && !strstr(sj_last_error(), path))
        __builtin_trap(); /* every error names the file */
    if (!st) { /* accepted: it must follow the schema */
        for (int64_t i = 1; i < h->n; i++)
            for (int64_t j = 0; j < i && j < 64; j++)
                if (h->ids[i] == h->ids[j])
                    __builtin_trap();
        for (int64_t i = 0; h->quality && i < h->n; i++)
            if (h->quality[i] < -1 || h->quality[i] > 100)
                __builtin_trap();
        if (h->type.bits % 8 || h->type.bits == 0)
            __builtin_trap();
        for (int64_t i = 0; h->type.kind == SJ_KIND_F32 && i < h->n * (int64_t)h->type.dim; i++) {
            float x;
            memcpy(&x, h->hashes + 4 * i, 4);
            if (!(x - x == 0)) /* NaN or Inf accepted */
                __builtin_trap();
        }
        for (int64_t i = 0; h->meta && i < h->n; i++)
            if (sj_meta_victim(h->meta, i) < -1 || sj_meta_victim(h->meta, i) > 1)
                __builtin_trap();
        const size_t rb = h->type.bits / 8;
        if (h->dihedral && !sj_hash_type_binary(h->type))
            __builtin_trap();
        for (int64_t i = 0; h->dihedral && i < h->n; i++) /* transform 0 is the hash */
            if (memcmp(h->dihedral + (size_t)i * SJ_DIHEDRAL * rb, h->hashes + (size_t)i * rb, rb))
                __builtin_trap();
    }
    sj_hashes_free(h);
    return 0;
}
