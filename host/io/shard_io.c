/* shard_io.c - shards: HDF5 files of hashes.
 *   /hashes   uint8 [N, bits/8]    row-major, byte 0 = first two hex digits
 *             (photodna: [N, 144], u8:D: [N, D]; f32:D: float32 [N, D])
 *   /ids      int64 [N]            unique
 *   /quality  int16 [N] optional   0..100, -1 unknown
 *   /labels   int64 [N] optional   ground-truth series, -1 none
 *   /meta/... optional             case metadata (meta_io.c)
 *   /dihedral uint8 [N, 8, bits/8] optional (binary kinds): each image's
 *             dihedral hashes, [i, 0] == /hashes[i]; attribute dihedral = 1
 *   attributes: format_version, kind ("pdq" | "bits" | "photodna" | "u8" |
 *               "f32"), bits or dim, source */
#define _POSIX_C_SOURCE 200809L
#include "io/h5util.h"
#include "io/text_out.h"

#include <stdlib.h>
#include <string.h>

/* /dihedral of a shard of h->n rows into h->dihedral (absent: left NULL),
 * checked: shape [n, 8, bytes], uint8, and transform 0 equal to /hashes. */
static sj_status read_dihedral(hid_t file, sj_hashes *h, const char *path)
{
    sj_h5_info di;
    int64_t flag = 0;
    int has_flag;
    sj_status st;
    if ((st = sj_h5_inspect(file, "dihedral", &di, path)) ||
        (st = sj_h5_read_attr_i64(file, "dihedral", &flag, &has_flag, path)))
        return st;
    if (!di.exists)
        return has_flag && flag ? sj_fail(SJ_ERR_FORMAT, "%s: attribute dihedral=1 but no dataset "
                                                         "/dihedral", path)
                                : SJ_OK;
    const uint32_t rb = sj_hash_type_bytes(h->type);
    if (!sj_hash_type_binary(h->type))
        return sj_fail(SJ_ERR_FORMAT, "%s: /dihedral is only for binary kinds (pdq, bits:N)", path);
    if (di.rank != 3 || di.cls != H5T_INTEGER || di.size != 1 || di.sign != H5T_SGN_NONE ||
        di.dims[1] != SJ_DIHEDRAL || di.dims[2] != rb)
        return sj_fail(SJ_ERR_FORMAT, "%s: /dihedral must be a uint8 dataset [N, %d, %u]", path,
                       SJ_DIHEDRAL, rb);
    if ((int64_t)di.dims[0] != h->n)
        return sj_fail(SJ_ERR_FORMAT, "%s: /dihedral has %llu rows, /hashes %lld", path,
                       (unsigned long long)di.dims[0], (long long)h->n);
    if ((uint64_t)h->n > sj_h5_max_bytes() / ((uint64_t)SJ_DIHEDRAL * rb + 1))
        return sj_fail(SJ_ERR_LIMIT, "%s: /dihedral claims %lld rows, more than memory holds", path,
                       (long long)h->n);
    const size_t block = (size_t)SJ_DIHEDRAL * rb;
    h->dihedral = malloc((size_t)SJ_MAX(h->capacity, 1) * block);
    if (!h->dihedral)
        return sj_fail(SJ_ERR_NOMEM, "out of memory for /dihedral of %s", path);
    if ((st = sj_h5_read(file, "dihedral", H5T_NATIVE_UINT8, h->dihedral, path)))
        return st;
    for (int64_t i = 0; i < h->n; i++)
        if (memcmp(h->dihedral + (size_t)i * block, h->hashes + (size_t)i * rb, rb) != 0)
            return sj_fail(SJ_ERR_FORMAT, "%s: /dihedral row %lld: transform 0 differs from "
                                          "/hashes row %lld", path, (long long)i, (long long)i);
    return SJ_OK;
}

sj_status sj_shard_read(const char *path, sj_hashes **out)
{
    *out = NULL;
    hid_t file;
    sj_status st = sj_h5_open(path, &file);
    if (st)
        return st;
    sj_hashes *h = NULL;
    int64_t *quality = NULL;
    sj_hash_type t;
    int64_t version = 0;
    int has_version;
    if ((st = sj_h5_read_attr_i64(file, "format_version", &version, &has_version, path)))
        goto done;
    if (has_version && version > SJ_FORMAT_VERSION) {
        st = sj_fail(SJ_ERR_FORMAT, "%s: format_version %lld is newer than this simjoin reads (%d)",
                     path, (long long)version, SJ_FORMAT_VERSION);
        goto done;
    }
    if ((st = sj_h5_read_type(file, path, &t)))
        goto done;
    sj_h5_info hi;
    if ((st = sj_h5_inspect(file, "hashes", &hi, path)))
        goto done;
    uint32_t rb = sj_hash_type_bytes(t);
    if (!hi.exists) {
        st = sj_fail(SJ_ERR_FORMAT, "%s: missing dataset /hashes", path);
        goto done;
    }
    const int f32 = t.kind == SJ_KIND_F32;
    const uint64_t cols = f32 ? t.dim : rb; /* dataset columns */
    if (hi.rank != 2 || (f32 ? hi.cls != H5T_FLOAT : (hi.cls != H5T_INTEGER || hi.size != 1))) {
        st = f32 ? sj_fail(SJ_ERR_FORMAT, "%s: /hashes must be a 2-D float dataset [N, %u]", path, t.dim)
                 : sj_fail(SJ_ERR_FORMAT, "%s: /hashes must be a 2-D uint8 dataset [N, %u]", path, rb);
        goto done;
    }
    /* Never convert hash bytes by value (HDF5 clamps int8 -> uint8: 0x80.. become 0).
     * A binary hash is a bit pattern, so int8 bytes are read as they are; the
     * vector kinds' bytes are magnitudes, and a signed one is refused. */
    const int signed_bytes = !f32 && hi.sign == H5T_SGN_2;
    if (signed_bytes && !sj_hash_type_binary(t)) {
        char k[24];
        sj_hash_type_format(t, k, sizeof k);
        st = sj_fail(SJ_ERR_FORMAT, "%s: /hashes is int8 but kind %s holds unsigned bytes 0..255: "
                                    "store it as uint8", path, k);
        goto done;
    }
    if (hi.dims[1] != cols) {
        char k[24];
        sj_hash_type_format(t, k, sizeof k);
        if (sj_hash_type_binary(t))
            st = sj_fail(SJ_ERR_MISMATCH, "%s: /hashes rows are %llu bytes but kind says %u bits (%u bytes)",
                         path, (unsigned long long)hi.dims[1], t.bits, rb);
        else
            st = sj_fail(SJ_ERR_MISMATCH, "%s: /hashes rows have %llu columns but kind %s has %llu",
                         path, (unsigned long long)hi.dims[1], k, (unsigned long long)cols);
        goto done;
    }
    int64_t n = (int64_t)hi.dims[0];
    if ((uint64_t)n > sj_h5_max_bytes() / (rb + 8u)) {
        st = sj_fail(SJ_ERR_LIMIT, "%s: /hashes claims %lld rows, more than memory holds", path,
                     (long long)n);
        goto done;
    }
    if ((st = sj_hashes_create(t, SJ_MAX(n, 1), &h)))
        goto done;
    hid_t memtype = f32 ? H5T_NATIVE_FLOAT : signed_bytes ? H5T_NATIVE_INT8 : H5T_NATIVE_UINT8;
    sj_prefault *pf = sj_prefault_start(h->hashes, (size_t)n * rb);
    st = sj_h5_read(file, "hashes", memtype, h->hashes, path);
    sj_prefault_wait(pf);
    if (st)
        goto done;
    int64_t *ids;
    if ((st = sj_h5_read_i64(file, "ids", n, &ids, NULL, path)))
        goto done;
    free(h->ids);
    h->ids = ids;
    h->n = n;
    if (f32 && (st = sj_check_finite(h, path)))
        goto done;
    sj_h5_info qi;
    if ((st = sj_h5_inspect(file, "quality", &qi, path)))
        goto done;
    if (qi.exists) {
        if ((st = sj_h5_read_i64(file, "quality", n, &quality, NULL, path)))
            goto done;
        h->quality = malloc((size_t)SJ_MAX(n, 1) * sizeof *h->quality);
        if (!h->quality) {
            st = sj_fail(SJ_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int64_t i = 0; i < n; i++) {
            if (quality[i] < -1 || quality[i] > 100) {
                st = sj_fail(SJ_ERR_FORMAT, "%s: /quality row %lld is outside -1..100", path,
                             (long long)i);
                goto done;
            }
            h->quality[i] = (int16_t)quality[i];
        }
    }
    sj_h5_info li;
    if ((st = sj_h5_inspect(file, "labels", &li, path)))
        goto done;
    if (li.exists && (st = sj_h5_read_i64(file, "labels", n, &h->labels, NULL, path)))
        goto done;
    free(h->source); /* whole, any length */
    if ((st = sj_h5_read_attr_strdup(file, "source", &h->source, 0, path)))
        goto done;
    size_t src_len = strlen(h->source), src_bad = sj_utf8_check(h->source, src_len);
    if (src_bad < src_len) { /* (read whole: never cut inside a character) */
        st = sj_fail(SJ_ERR_FORMAT, "%s: attribute 'source' is not valid UTF-8 (byte %zu)", path,
                     src_bad + 1);
        goto done;
    }
    if ((st = sj_meta_h5_read(file, "meta", n, &h->meta, path)))
        goto done;
    if ((st = read_dihedral(file, h, path)))
        goto done;
    if ((st = sj_hashes_check_unique_ids(h, path)))
        goto done;
    *out = h;
    h = NULL;
done:
    free(quality);
    sj_hashes_free(h);
    H5Fclose(file);
    return st;
}

sj_status sj_shard_h5_write_rows(hid_t file, const sj_hashes *h, int64_t first, int64_t count,
                                 const char *path)
{
    if (first < 0 || count < 0 || first + count > h->n)
        return sj_fail(SJ_ERR_ARG, "sj_shard_write: rows out of range");
    uint32_t rb = sj_hash_type_bytes(h->type);
    const int f32 = h->type.kind == SJ_KIND_F32;
    hsize_t dims2[2] = {(hsize_t)count, f32 ? h->type.dim : rb}, dims1[1] = {(hsize_t)count};
    sj_status st;
    if ((st = sj_h5_attr_i64(file, "format_version", SJ_FORMAT_VERSION, path)) ||
        (st = sj_h5_write_type(file, h->type, path)) ||
        (st = sj_h5_attr_str(file, "source", h->source ? h->source : "", path)) ||
        (st = sj_h5_write(file, "hashes", f32 ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT8, 2, dims2,
                          h->hashes + (size_t)first * rb, path)) ||
        (st = sj_h5_write(file, "ids", H5T_NATIVE_INT64, 1, dims1, h->ids + first, path)))
        return st;
    if (h->quality &&
        (st = sj_h5_write(file, "quality", H5T_NATIVE_INT16, 1, dims1, h->quality + first, path)))
        return st;
    if (h->labels &&
        (st = sj_h5_write(file, "labels", H5T_NATIVE_INT64, 1, dims1, h->labels + first, path)))
        return st;
    if (h->meta && (st = sj_meta_h5_write(file, h->meta, first, count, path)))
        return st;
    if (h->dihedral) {
        hsize_t dims3[3] = {(hsize_t)count, SJ_DIHEDRAL, rb};
        if ((st = sj_h5_attr_i64(file, "dihedral", 1, path)) ||
            (st = sj_h5_write(file, "dihedral", H5T_NATIVE_UINT8, 3, dims3,
                              h->dihedral + (size_t)first * SJ_DIHEDRAL * rb, path)))
            return st;
    }
    return SJ_OK;
}

sj_status sj_shard_write(const char *path, const sj_hashes *h, int64_t first, int64_t count)
{
    if (first < 0 || count < 0 || first + count > h->n)
        return sj_fail(SJ_ERR_ARG, "sj_shard_write: rows out of range");
    sj_atomic_file af;
    hid_t file;
    sj_status st = sj_h5_create(path, &af, &file);
    if (st)
        return st;
    if ((st = sj_shard_h5_write_rows(file, h, first, count, path))) {
        sj_h5_abort(file, &af);
        return st;
    }
    return sj_h5_commit(file, &af);
}

sj_status sj_shard_peek(const char *path, int64_t *rows, uint32_t *row_bytes)
{
    hid_t file;
    sj_status st = sj_h5_open(path, &file);
    if (st)
        return st;
    sj_h5_info hi;
    if (!(st = sj_h5_inspect(file, "hashes", &hi, path))) {
        if (!hi.exists || hi.rank != 2)
            st = sj_fail(SJ_ERR_FORMAT, "%s: missing or malformed dataset /hashes", path);
        else {
            *rows = (int64_t)hi.dims[0];
            *row_bytes = (uint32_t)(hi.dims[1] * (hi.cls == H5T_FLOAT ? 4 : 1));
        }
    }
    H5Fclose(file);
    return st;
}

sj_status sj_shard_has_dihedral(const char *path, int *has)
{
    *has = 0;
    hid_t file;
    sj_status st = sj_h5_open(path, &file);
    if (st)
        return st;
    sj_h5_info di;
    if (!(st = sj_h5_inspect(file, "dihedral", &di, path)))
        *has = di.exists;
    H5Fclose(file);
    return st;
}
