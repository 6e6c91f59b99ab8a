/* shard_io.c - shards: HDF5 files of hashes.
 *   /hashes   uint8 [N, bits/8]    row-major, byte 0 = first two hex digits
 *             (photodna: [N, 144], u8:D: [N, D]; f32:D: float32 [N, D])
 *   /ids      int64 [N]            unique
 *   /quality  int16 [N] optional   0..100, -1 unknown
 *   /labels   int64 [N] optional   ground-truth series, -1 none
 *   /meta/... optional             case metadata (meta_io.c)
 *   attributes: format_version, kind ("pdq" | "bits" | "photodna" | "u8" |
 *               "f32"), bits or dim, source */
#define _POSIX_C_SOURCE 200809L
#include "h5util.h"
#include "text_out.h"

#include <stdlib.h>
#include <string.h>

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
    if ((st = sj_h5_read(file, "hashes", f32 ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT8, h->hashes, path)))
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
    if ((st = sj_h5_read_attr_str(file, "source", h->source, sizeof h->source, 0, path)))
        goto done;
    size_t src_len = strlen(h->source), src_bad = sj_utf8_check(h->source, src_len);
    if (src_bad < src_len && !(src_len == SJ_SOURCE_MAX - 1 && src_len - src_bad < 4)) {
        /* (a name cut to fit may end inside a character: not the file's fault) */
        st = sj_fail(SJ_ERR_FORMAT, "%s: attribute 'source' is not valid UTF-8 (byte %zu)", path,
                     src_bad + 1);
        goto done;
    }
    if ((st = sj_meta_h5_read(file, "meta", n, &h->meta, path)))
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

sj_status sj_shard_write(const char *path, const sj_hashes *h, int64_t first, int64_t count)
{
    if (first < 0 || count < 0 || first + count > h->n)
        return sj_fail(SJ_ERR_ARG, "sj_shard_write: rows out of range");
    sj_atomic_file af;
    hid_t file;
    sj_status st = sj_h5_create(path, &af, &file);
    if (st)
        return st;
    uint32_t rb = sj_hash_type_bytes(h->type);
    const int f32 = h->type.kind == SJ_KIND_F32;
    hsize_t dims2[2] = {(hsize_t)count, f32 ? h->type.dim : rb}, dims1[1] = {(hsize_t)count};
    if ((st = sj_h5_attr_i64(file, "format_version", SJ_FORMAT_VERSION, path)) ||
        (st = sj_h5_write_type(file, h->type, path)) ||
        (st = sj_h5_attr_str(file, "source", h->source, path)) ||
        (st = sj_h5_write(file, "hashes", f32 ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT8, 2, dims2,
                          h->hashes + (size_t)first * rb, path)) ||
        (st = sj_h5_write(file, "ids", H5T_NATIVE_INT64, 1, dims1, h->ids + first, path)))
        goto fail;
    if (h->quality &&
        (st = sj_h5_write(file, "quality", H5T_NATIVE_INT16, 1, dims1, h->quality + first, path)))
        goto fail;
    if (h->labels &&
        (st = sj_h5_write(file, "labels", H5T_NATIVE_INT64, 1, dims1, h->labels + first, path)))
        goto fail;
    if (h->meta && (st = sj_meta_h5_write(file, h->meta, first, count, path)))
        goto fail;
    return sj_h5_commit(file, &af);
fail:
    sj_h5_abort(file, &af);
    return st;
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
