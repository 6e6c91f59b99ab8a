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
#include "io/shard_reader.h"
#include "io/text_out.h"

#include <stdlib.h>
#include <string.h>

/* A shard open for reading its rows, whole or in pieces (io/shard_reader.h). */
struct sj_shard_reader {
    hid_t file;
    char *path;         /* owned */
    sj_hash_type type;
    int64_t n;          /* rows */
    hid_t hash_memtype; /* native float, int8 (binary bytes as they are) or uint8 */
    int ids_unsigned;   /* /ids is uint64: each value checked to fit int64 */
    int has_quality, has_dihedral;
    char *source;       /* the `source` attribute, whole; owned */
};

void sj_shard_reader_close(sj_shard_reader *r)
{
    if (!r)
        return;
    if (r->file >= 0)
        H5Fclose(r->file);
    free(r->path);
    free(r->source);
    free(r);
}

int64_t sj_shard_reader_rows(const sj_shard_reader *r) { return r->n; }
sj_hash_type sj_shard_reader_type(const sj_shard_reader *r) { return r->type; }
int sj_shard_reader_has_dihedral(const sj_shard_reader *r) { return r->has_dihedral; }
const char *sj_shard_reader_source(const sj_shard_reader *r) { return r->source; }

sj_status sj_shard_read_meta(const sj_shard_reader *r, sj_meta **out)
{
    return sj_meta_h5_read(r->file, "meta", r->n, out, r->path);
}

/* The header checks of /hashes: kind, shape and element type; its rows,
 * kept_bytes each, fit in memory. */
static sj_status check_hashes(sj_shard_reader *r, uint64_t kept_bytes)
{
    const char *path = r->path;
    const sj_hash_type t = r->type;
    sj_h5_info hi;
    sj_status st;
    if ((st = sj_h5_inspect(r->file, "hashes", &hi, path)))
        return st;
    const uint32_t rb = sj_hash_type_bytes(t);
    if (!hi.exists)
        return sj_fail(SJ_ERR_FORMAT, "%s: missing dataset /hashes", path);
    const int f32 = t.kind == SJ_KIND_F32;
    const uint64_t cols = f32 ? t.dim : rb; /* dataset columns */
    if (hi.rank != 2 || (f32 ? hi.cls != H5T_FLOAT : (hi.cls != H5T_INTEGER || hi.size != 1)))
        return f32 ? sj_fail(SJ_ERR_FORMAT, "%s: /hashes must be a 2-D float dataset [N, %u]", path, t.dim)
                   : sj_fail(SJ_ERR_FORMAT, "%s: /hashes must be a 2-D uint8 dataset [N, %u]", path, rb);
    /* Never convert hash bytes by value (HDF5 clamps int8 -> uint8: 0x80.. become 0).
     * A binary hash is a bit pattern, so int8 bytes are read as they are; the
     * vector kinds' bytes are magnitudes, and a signed one is refused. */
    const int signed_bytes = !f32 && hi.sign == H5T_SGN_2;
    if (signed_bytes && !sj_hash_type_binary(t)) {
        char k[24];
        sj_hash_type_format(t, k, sizeof k);
        return sj_fail(SJ_ERR_FORMAT, "%s: /hashes is int8 but kind %s holds unsigned bytes 0..255: "
                                      "store it as uint8", path, k);
    }
    if (hi.dims[1] != cols) {
        char k[24];
        sj_hash_type_format(t, k, sizeof k);
        if (sj_hash_type_binary(t))
            return sj_fail(SJ_ERR_MISMATCH, "%s: /hashes rows are %llu bytes but kind says %u bits (%u bytes)",
                           path, (unsigned long long)hi.dims[1], t.bits, rb);
        return sj_fail(SJ_ERR_MISMATCH, "%s: /hashes rows have %llu columns but kind %s has %llu",
                       path, (unsigned long long)hi.dims[1], k, (unsigned long long)cols);
    }
    r->n = (int64_t)hi.dims[0];
    if ((uint64_t)r->n > sj_h5_max_bytes() / kept_bytes)
        return sj_fail(SJ_ERR_LIMIT, "%s: /hashes claims %lld rows, more than memory holds", path,
                       (long long)r->n);
    r->hash_memtype = f32 ? H5T_NATIVE_FLOAT : signed_bytes ? H5T_NATIVE_INT8 : H5T_NATIVE_UINT8;
    return SJ_OK;
}

/* The header checks of /ids, /quality and /dihedral (shape and type). */
static sj_status check_columns(sj_shard_reader *r)
{
    const char *path = r->path;
    sj_h5_info ii, qi, di;
    int64_t flag = 0;
    int has_flag;
    sj_status st;
    if ((st = sj_h5_inspect_column(r->file, "ids", r->n, 0, &ii, path)))
        return st;
    r->ids_unsigned = ii.size == 8 && ii.sign == H5T_SGN_NONE;
    if ((st = sj_h5_inspect(r->file, "quality", &qi, path)))
        return st;
    if (qi.exists && (st = sj_h5_inspect_column(r->file, "quality", r->n, 0, &qi, path)))
        return st;
    r->has_quality = qi.exists;
    if ((st = sj_h5_inspect(r->file, "dihedral", &di, path)) ||
        (st = sj_h5_read_attr_i64(r->file, "dihedral", &flag, &has_flag, path)))
        return st;
    if (!di.exists)
        return has_flag && flag ? sj_fail(SJ_ERR_FORMAT, "%s: attribute dihedral=1 but no dataset "
                                                         "/dihedral", path)
                                : SJ_OK;
    const uint32_t rb = sj_hash_type_bytes(r->type);
    if (!sj_hash_type_binary(r->type))
        return sj_fail(SJ_ERR_FORMAT, "%s: /dihedral is only for binary kinds (pdq, bits:N)", path);
    if (di.rank != 3 || di.cls != H5T_INTEGER || di.size != 1 || di.sign != H5T_SGN_NONE ||
        di.dims[1] != SJ_DIHEDRAL || di.dims[2] != rb)
        return sj_fail(SJ_ERR_FORMAT, "%s: /dihedral must be a uint8 dataset [N, %d, %u]", path,
                       SJ_DIHEDRAL, rb);
    if ((int64_t)di.dims[0] != r->n)
        return sj_fail(SJ_ERR_FORMAT, "%s: /dihedral has %llu rows, /hashes %lld", path,
                       (unsigned long long)di.dims[0], (long long)r->n);
    r->has_dihedral = 1;
    return SJ_OK;
}

sj_status sj_shard_reader_open(const char *path, int in_pieces, sj_shard_reader **out)
{
    *out = NULL;
    sj_shard_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    }
    r->file = H5I_INVALID_HID;
    int64_t version = 0;
    int has_version;
    sj_status st;
    if ((st = sj_h5_open(path, &r->file)) ||
        (st = sj_h5_read_attr_i64(r->file, "format_version", &version, &has_version, path)))
        goto done;
    if (has_version && version > SJ_FORMAT_VERSION) {
        st = sj_fail(SJ_ERR_FORMAT, "%s: format_version %lld is newer than this simjoin reads (%d)",
                     path, (long long)version, SJ_FORMAT_VERSION);
        goto done;
    }
    if ((st = sj_h5_read_type(r->file, path, &r->type)) || /* whole: hash and id a row; in pieces: the id list of a streamed join */
        (st = check_hashes(r, in_pieces ? 8u : sj_hash_type_bytes(r->type) + 8u)) ||
        (st = check_columns(r)) ||
        (st = sj_h5_read_attr_strdup(r->file, "source", &r->source, 0, path))) /* whole, any length */
        goto done;
    size_t src_len = strlen(r->source), src_bad = sj_utf8_check(r->source, src_len);
    if (src_bad < src_len) /* (read whole: never cut inside a character) */
        st = sj_fail(SJ_ERR_FORMAT, "%s: attribute 'source' is not valid UTF-8 (byte %zu)", path,
                     src_bad + 1);
done:
    if (st)
        sj_shard_reader_close(r);
    else
        *out = r;
    return st;
}

/* /ids rows [first, first+count) into ids. */
static sj_status read_ids(const sj_shard_reader *r, int64_t first, int64_t count, int64_t *ids)
{
    sj_status st = sj_h5_read_rows(r->file, "ids", r->ids_unsigned ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64,
                                   first, count, ids, r->path);
    for (int64_t i = 0; !st && r->ids_unsigned && i < count; i++)
        if ((uint64_t)ids[i] > (uint64_t)INT64_MAX)
            st = sj_fail(SJ_ERR_FORMAT, "%s: ids row %llu: value does not fit in int64", r->path,
                         (unsigned long long)(first + i));
    return st;
}

/* /quality rows [first, first+count) into h->quality, each in -1..100. */
static sj_status read_quality(const sj_shard_reader *r, int64_t first, int64_t count, sj_hashes *h)
{
    int64_t *q = malloc((size_t)SJ_MAX(count, 1) * sizeof *q);
    h->quality = malloc((size_t)SJ_MAX(count, 1) * sizeof *h->quality);
    if (!q || !h->quality) {
        free(q);
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    }
    sj_status st = sj_h5_read_rows(r->file, "quality", H5T_NATIVE_INT64, first, count, q, r->path);
    for (int64_t i = 0; !st && i < count; i++) {
        if (q[i] < -1 || q[i] > 100)
            st = sj_fail(SJ_ERR_FORMAT, "%s: /quality row %lld is outside -1..100", r->path,
                         (long long)(first + i));
        h->quality[i] = (int16_t)q[i];
    }
    free(q);
    return st;
}

/* /dihedral rows [first, first+count) into h->dihedral; transform 0 must
 * equal /hashes. */
static sj_status read_dihedral(const sj_shard_reader *r, int64_t first, int64_t count, sj_hashes *h)
{
    const uint32_t rb = sj_hash_type_bytes(r->type);
    const size_t block = (size_t)SJ_DIHEDRAL * rb;
    if ((uint64_t)count > sj_h5_max_bytes() / ((uint64_t)SJ_DIHEDRAL * rb + 1))
        return sj_fail(SJ_ERR_LIMIT, "%s: /dihedral claims %lld rows, more than memory holds",
                       r->path, (long long)count);
    h->dihedral = malloc((size_t)SJ_MAX(h->capacity, 1) * block);
    if (!h->dihedral)
        return sj_fail(SJ_ERR_NOMEM, "out of memory for /dihedral of %s", r->path);
    sj_status st = sj_h5_read_rows(r->file, "dihedral", H5T_NATIVE_UINT8, first, count, h->dihedral,
                                   r->path);
    for (int64_t i = 0; !st && i < count; i++)
        if (memcmp(h->dihedral + (size_t)i * block, h->hashes + (size_t)i * rb, rb) != 0)
            st = sj_fail(SJ_ERR_FORMAT, "%s: /dihedral row %lld: transform 0 differs from "
                                        "/hashes row %lld", r->path, (long long)(first + i),
                         (long long)(first + i));
    return st;
}

sj_status sj_shard_reader_read(const sj_shard_reader *r, int64_t first, int64_t count, int dihedral,
                               sj_hashes **out)
{
    *out = NULL;
    if (first < 0 || count < 0 || first + count > r->n)
        return sj_fail(SJ_ERR_ARG, "%s: rows %lld..%lld are not in the shard (%lld rows)", r->path,
                       (long long)first, (long long)(first + count - 1), (long long)r->n);
    sj_hashes *h;
    sj_status st = sj_hashes_create(r->type, SJ_MAX(count, 1), &h);
    if (st)
        return st;
    /* fresh pages faulted in on a second thread while HDF5 fills them from the start */
    sj_prefault *pf = sj_prefault_start(h->hashes, (size_t)count * sj_hash_type_bytes(r->type));
    st = sj_h5_read_rows(r->file, "hashes", r->hash_memtype, first, count, h->hashes, r->path);
    sj_prefault_wait(pf);
    if (st)
        goto done;
    pf = sj_prefault_start(h->ids, (size_t)count * sizeof *h->ids);
    st = read_ids(r, first, count, h->ids);
    sj_prefault_wait(pf);
    if (st)
        goto done;
    h->n = count;
    if ((st = sj_check_finite(h, first, r->path)) ||
        (r->has_quality && (st = read_quality(r, first, count, h))) ||
        (dihedral && r->has_dihedral && (st = read_dihedral(r, first, count, h))) ||
        (st = sj_hashes_set_source(h, r->source)))
        goto done;
done:
    if (st)
        sj_hashes_free(h);
    else
        *out = h;
    return st;
}

sj_status sj_shard_read(const char *path, sj_hashes **out)
{
    *out = NULL;
    sj_shard_reader *r;
    sj_hashes *h = NULL;
    sj_status st = sj_shard_reader_open(path, 0, &r);
    if (st)
        return st;
    if ((st = sj_shard_reader_read(r, 0, r->n, 1, &h)))
        goto done;
    sj_h5_info li;
    if ((st = sj_h5_inspect(r->file, "labels", &li, path)))
        goto done;
    if (li.exists && (st = sj_h5_read_i64(r->file, "labels", h->n, &h->labels, NULL, path)))
        goto done;
    if ((st = sj_meta_h5_read(r->file, "meta", h->n, &h->meta, path)) ||
        (st = sj_hashes_check_unique_ids(h, path)))
        goto done;
    *out = h;
    h = NULL;
done:
    sj_hashes_free(h);
    sj_shard_reader_close(r);
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
