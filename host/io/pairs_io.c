/* pairs_io.c - pairs files.
 *   /pairs/a, /pairs/b  int64 [P]   a < b, sorted by (a, b)
 *   /pairs/distance     int32 [P]   the metric's distance (integral metrics),
 *                       float64 [P] (f32 kinds)
 *   /pairs/transform    uint8 [P]   join --dihedral only: the transform of a
 *                       nearest to b, 0..7 (0 = none); attribute dihedral = 1
 *   /nodes/id           int64 [N]   every hash that took part, sorted
 *   /nodes/source       int32 [N]   index into the `sources` attribute, -1 unknown
 *   /excluded/id        int64 [E]   degenerate hashes kept out of the join
 *   /excluded/rule      uint8 [E]   1 all_zero, 2 bit_band, 3 low_quality
 *   /meta_index/id, /new, /meta/...   case metadata of every hash (optional)
 *   /inputs/path        string [I]  the join's input files, relative to this
 *                                   file's directory (or absolute), any length
 *   /inputs/role        string [I]  "corpus" or "queries"
 *   /inputs/size, /inputs/mtime  int64 [I]  bytes and mtime (s) when read
 *   /inputs/checksum    string [I]  sj_hashes_checksum of the shard as read
 *   attributes: format_version, content="pairs", kind, bits, metric,
 *               threshold, backend, simjoin_version, inputs (the old
 *               "role:path" list, only when it fits in 4,096 bytes and no
 *               path holds a newline; read when /inputs is absent) */
#define _XOPEN_SOURCE 700 /* realpath */
#include "io/h5util.h"
#include "io/pairs_io.h"
#include "core/sha256.h"
#include "simjoin/formats.h"
#include "simjoin/meta.h"

#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void sj_join_result_init(sj_join_result *r)
{
    memset(r, 0, sizeof *r);
    r->struct_size = sizeof *r;
}

/* README "C library": a result of another size is another library's. */
static sj_status check_result_size(const sj_join_result *r, const char *fn)
{
    if (r->struct_size == sizeof *r)
        return SJ_OK;
    return sj_fail(SJ_ERR_ARG, "%s: sj_join_result has struct_size %u, but this library's is %zu "
                               "(set it up with sj_join_result_init)", fn, r->struct_size, sizeof *r);
}

void sj_checksum_add_ids(sj_sha256 *s, const int64_t *ids, int64_t n)
{
    uint8_t le[8 * 512]; /* ids in little-endian, 512 at a time */
    for (int64_t i = 0; i < n; i += 512) {
        int64_t m = SJ_MIN(512, n - i);
        for (int64_t k = 0; k < m; k++)
            for (int b = 0; b < 8; b++)
                le[8 * k + b] = (uint8_t)((uint64_t)ids[i + k] >> (8 * b));
        sj_sha256_update(s, le, (size_t)m * 8);
    }
}

void sj_hashes_checksum(const sj_hashes *h, char out[65])
{
    sj_sha256 s;
    sj_sha256_init(&s);
    sj_sha256_update(&s, h->hashes, (size_t)h->n * sj_hash_type_bytes(h->type));
    sj_checksum_add_ids(&s, h->ids, h->n);
    sj_sha256_hex(&s, out);
}

sj_status sj_join_result_add_input(sj_join_result *r, const char *role, const char *path,
                                   int64_t size, int64_t mtime, const char *checksum)
{
    if (strlen(role) >= sizeof r->inputs[0].role || (checksum && strlen(checksum) > 64))
        return sj_fail(SJ_ERR_ARG, "sj_join_result_add_input: bad role or checksum");
    sj_join_input *v = realloc(r->inputs, (size_t)(r->n_inputs + 1) * sizeof *v);
    if (!v)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    r->inputs = v;
    sj_join_input *in = &v[r->n_inputs];
    memset(in, 0, sizeof *in);
    if (!(in->path = strdup(path)))
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    strcpy(in->role, role);
    in->size = size;
    in->mtime = mtime;
    strcpy(in->checksum, checksum ? checksum : "");
    r->n_inputs++;
    return SJ_OK;
}

static void free_inputs(sj_join_result *r)
{
    for (int64_t i = 0; i < r->n_inputs; i++)
        free(r->inputs[i].path);
    free(r->inputs);
    r->inputs = NULL;
    r->n_inputs = 0;
}

void sj_join_result_release(sj_join_result *r)
{
    sj_pairs_free(&r->pairs);
    free(r->nodes);
    free(r->excluded_id);
    free(r->excluded_rule);
    free(r->node_source);
    free(r->excluded_source);
    r->nodes = r->excluded_id = NULL;
    r->excluded_rule = NULL;
    r->node_source = r->excluded_source = NULL;
    r->n_nodes = r->n_excluded = 0;
    sj_meta_table_free(r->meta);
    r->meta = NULL;
    free_inputs(r);
    free(r->sources);
    r->sources = NULL;
}

/* target (absolute, canonical) relative to dir (absolute, canonical):
 * "../x/y.h5". A new string, or NULL when out of memory. */
static char *path_relative_to(const char *dir, const char *target)
{
    size_t i = 0, common; /* common: the '/' that ends the shared directories */
    while (dir[i] && dir[i] == target[i])
        i++;
    if (!dir[i] && target[i] == '/') {
        common = i; /* dir is an ancestor of target */
    } else {
        common = i;
        while (common > 0 && dir[common - 1] != '/')
            common--;
        common = common ? common - 1 : 0;
    }
    int ups = 0; /* directories of dir below the shared part */
    for (const char *c = dir + common; *c; c++)
        ups += *c == '/' && c[1];
    const char *rest = target + common + 1;
    char *out = malloc((size_t)ups * 3 + strlen(rest) + 1);
    if (!out)
        return NULL;
    out[0] = 0;
    for (int k = 0; k < ups; k++)
        strcat(out, "../");
    strcat(out, rest);
    return out;
}

static char *dir_of(const char *path) /* a new string: dirname(path) */
{
    char *copy = strdup(path), *d = copy ? strdup(dirname(copy)) : NULL;
    free(copy);
    return d;
}

/* The input's path as stored: relative to the directory of the file written
 * at `path` when both resolve, else as given. A new string or NULL (memory). */
static char *stored_input_path(const char *input, const char *path)
{
    char *dir = dir_of(path), *rdir = dir ? realpath(dir, NULL) : NULL;
    char *rin = realpath(input, NULL);
    char *out = rdir && rin ? path_relative_to(rdir, rin) : strdup(input);
    free(dir);
    free(rdir);
    free(rin);
    return out;
}

/* /inputs, and the old `inputs` attribute when it fits (old readers cut it at
 * 4,096 bytes and split it at newlines). */
static sj_status write_inputs(hid_t file, const sj_join_result *r, const char *path)
{
    const int64_t n = r->n_inputs;
    char **stored = calloc((size_t)SJ_MAX(n, 1), sizeof *stored);
    const char **role = calloc((size_t)SJ_MAX(n, 1), sizeof *role);
    const char **sum = calloc((size_t)SJ_MAX(n, 1), sizeof *sum);
    int64_t *size = calloc((size_t)SJ_MAX(n, 1), sizeof *size);
    int64_t *mtime = calloc((size_t)SJ_MAX(n, 1), sizeof *mtime);
    char *legacy = NULL;
    size_t legacy_len = 0;
    int legacy_ok = 1;
    hid_t g = H5I_INVALID_HID;
    sj_status st = SJ_OK;
    if (!stored || !role || !sum || !size || !mtime) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory writing %s", path);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        const sj_join_input *in = &r->inputs[i];
        if (!(stored[i] = stored_input_path(in->path, path))) {
            st = sj_fail(SJ_ERR_NOMEM, "out of memory writing %s", path);
            goto done;
        }
        role[i] = in->role;
        sum[i] = in->checksum;
        size[i] = in->size;
        mtime[i] = in->mtime;
        legacy_len += strlen(in->role) + strlen(in->path) + 2;
        legacy_ok &= !strchr(in->path, '\n');
    }
    hsize_t d[1] = {(hsize_t)n};
    if ((st = sj_h5_group(file, "inputs", path, &g)) ||
        (st = sj_h5_write_vstrings(g, "path", (const char *const *)stored, n, path)) ||
        (st = sj_h5_write_vstrings(g, "role", role, n, path)) ||
        (st = sj_h5_write(g, "size", H5T_NATIVE_INT64, 1, d, size, path)) ||
        (st = sj_h5_write(g, "mtime", H5T_NATIVE_INT64, 1, d, mtime, path)) ||
        (st = sj_h5_write_vstrings(g, "checksum", sum, n, path)))
        goto done;
    if (!legacy_ok || legacy_len >= 4096)
        goto done;
    if (!(legacy = calloc(1, legacy_len + 1))) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory writing %s", path);
        goto done;
    }
    for (int64_t i = 0, used = 0; i < n; i++)
        used += sprintf(legacy + used, "%s%s:%s", i ? "\n" : "", r->inputs[i].role, r->inputs[i].path);
    st = sj_h5_attr_str(file, "inputs", legacy, path);
done:
    if (g >= 0)
        H5Gclose(g);
    for (int64_t i = 0; stored && i < n; i++)
        free(stored[i]);
    free(stored);
    free(role);
    free(sum);
    free(size);
    free(mtime);
    free(legacy);
    return st;
}

/* A stored input path made usable from the current directory: relative ones
 * are relative to the directory of the pairs file at `path`. */
static char *resolved_input_path(const char *stored, const char *path)
{
    if (stored[0] == '/')
        return strdup(stored);
    char *dir = dir_of(path);
    char *out = dir ? malloc(strlen(dir) + strlen(stored) + 2) : NULL;
    if (out)
        sprintf(out, "%s/%s", dir, stored);
    free(dir);
    return out;
}

static sj_status read_inputs(hid_t file, sj_join_result *r, const char *path)
{
    if (H5Lexists(file, "inputs", H5P_DEFAULT) <= 0) { /* older files: the attribute, as given */
        char *legacy;
        sj_status st = sj_h5_read_attr_strdup(file, "inputs", &legacy, 0, path);
        if (st)
            return st;
        for (char *save = NULL, *line = strtok_r(legacy, "\n", &save); line && !st;
             line = strtok_r(NULL, "\n", &save)) {
            char *colon = strchr(line, ':');
            if (!colon)
                continue;
            *colon = 0;
            st = sj_join_result_add_input(r, strcmp(line, "queries") ? "corpus" : "queries", colon + 1,
                                          -1, -1, NULL);
        }
        free(legacy);
        return st;
    }
    char **stored = NULL, **role = NULL, **sum = NULL;
    int64_t n = 0, *size = NULL, *mtime = NULL;
    sj_status st;
    if ((st = sj_h5_read_vstrings(file, "inputs/path", -1, &stored, &n, path)) ||
        (st = sj_h5_read_vstrings(file, "inputs/role", n, &role, NULL, path)) ||
        (st = sj_h5_read_vstrings(file, "inputs/checksum", n, &sum, NULL, path)) ||
        (st = sj_h5_read_i64(file, "inputs/size", n, &size, NULL, path)) ||
        (st = sj_h5_read_i64(file, "inputs/mtime", n, &mtime, NULL, path)))
        goto done;
    for (int64_t i = 0; i < n && !st; i++) {
        if ((strcmp(role[i], "corpus") && strcmp(role[i], "queries")) || strlen(sum[i]) > 64) {
            st = sj_fail(SJ_ERR_FORMAT, "%s: /inputs row %lld: role must be corpus or queries, "
                                        "checksum at most 64 characters", path, (long long)i);
            break;
        }
        char *full = resolved_input_path(stored[i], path);
        st = full ? sj_join_result_add_input(r, role[i], full, size[i], mtime[i], sum[i])
                  : sj_fail(SJ_ERR_NOMEM, "out of memory");
        free(full);
    }
done:
    sj_h5_free_strings(stored, n);
    sj_h5_free_strings(role, n);
    sj_h5_free_strings(sum, n);
    free(size);
    free(mtime);
    return st;
}

/* Distances are integers for the integral metrics and stored as int32 (the
 * format binary joins always had); f32 distances are float64. */
static int integral(const sj_join_result *r)
{
    return sj_metric_integral(r->type, r->metric ? r->metric : sj_metric_default(r->type));
}

static sj_status write_threshold(hid_t file, const sj_join_result *r, const char *path)
{
    return integral(r) ? sj_h5_attr_i64(file, "threshold", (int64_t)r->threshold, path)
                       : sj_h5_attr_f64(file, "threshold", r->threshold, path);
}

/* Write the attributes common to pairs and clusters files. */
static sj_status write_common_attrs(hid_t file, const char *content, const sj_join_result *r,
                                    const char *path)
{
    sj_status st;
    if ((st = sj_h5_attr_i64(file, "format_version", SJ_FORMAT_VERSION, path)) ||
        (st = sj_h5_attr_str(file, "content", content, path)) ||
        (st = sj_h5_write_type(file, r->type, path)) ||
        (st = sj_h5_attr_str(file, "metric", sj_metric_name(r->metric ? r->metric
                                                                      : sj_metric_default(r->type)),
                             path)) ||
        (st = write_threshold(file, r, path)) ||
        (st = sj_h5_attr_str(file, "backend", r->backend, path)) ||
        (st = sj_h5_attr_str(file, "simjoin_version", sj_version(), path)) ||
        (st = write_inputs(file, r, path)) ||
        (st = sj_h5_attr_str(file, "sources", r->sources ? r->sources : "", path)) ||
        (st = sj_h5_attr_i64(file, "cross_only", r->cross_only, path)))
        return st;
    return SJ_OK;
}

/* src[n] as int32, or -1 for every row when src is NULL. */
static sj_status write_sources(hid_t g, int64_t n, const int32_t *src, const char *path)
{
    int32_t *v = src ? NULL : malloc((size_t)SJ_MAX(n, 1) * sizeof *v);
    if (!src && !v)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; v && i < n; i++)
        v[i] = -1;
    hsize_t d[1] = {(hsize_t)n};
    sj_status st = sj_h5_write(g, "source", H5T_NATIVE_INT32, 1, d, src ? src : v, path);
    free(v);
    return st;
}

static sj_status write_excluded(hid_t file, const sj_join_result *r, const char *path)
{
    hid_t g;
    sj_status st = sj_h5_group(file, "excluded", path, &g);
    if (st)
        return st;
    hsize_t de[1] = {(hsize_t)r->n_excluded};
    if (!(st = sj_h5_write(g, "id", H5T_NATIVE_INT64, 1, de, r->excluded_id, path)))
        st = sj_h5_write(g, "rule", H5T_NATIVE_UINT8, 1, de, r->excluded_rule, path);
    if (!st)
        st = write_sources(g, r->n_excluded, r->excluded_source, path);
    if (!st)
        st = sj_h5_attr_str(g, "rules", "1=all_zero 2=bit_band 3=low_quality", path);
    H5Gclose(g);
    return st;
}

/* The pair columns /pairs/{a,b,distance[,transform]} of src->n rows, filled
 * piece by piece from src (so no column is ever held whole). */
static sj_status write_pair_columns(hid_t g, const sj_join_result *r, const sj_pair_source *src,
                                    const char *path)
{
    enum { PIECE = 16384 }; /* pairs per piece: about 1 MB of buffers */
    static const char *const names[4] = {"a", "b", "distance", "transform"};
    const int n_cols = r->dihedral ? 4 : 3, whole = integral(r);
    const hid_t types[4] = {H5T_NATIVE_INT64, H5T_NATIVE_INT64,
                            whole ? H5T_NATIVE_INT32 : H5T_NATIVE_DOUBLE, H5T_NATIVE_UINT8};
    hid_t dset[4] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID};
    sj_pair *piece = malloc(PIECE * sizeof *piece);
    int64_t *a = malloc(PIECE * sizeof *a), *b = malloc(PIECE * sizeof *b);
    double *d = malloc(PIECE * sizeof *d);
    int32_t *d32 = malloc(PIECE * sizeof *d32);
    uint8_t *tr = malloc(PIECE);
    const void *cols[4] = {a, b, whole ? (const void *)d32 : (const void *)d, tr};
    hsize_t dims[1] = {(hsize_t)src->n};
    sj_status st = SJ_OK;
    if (!piece || !a || !b || !d || !d32 || !tr) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory writing %s", path);
        goto done;
    }
    for (int c = 0; c < n_cols && !st; c++)
        st = sj_h5_create_dataset(g, names[c], types[c], 1, dims, &dset[c], path);
    int64_t done = 0, got = PIECE;
    while (!st && got == PIECE) {
        if ((st = src->read(src->user, piece, PIECE, &got)))
            break;
        if (got > src->n - done) {
            st = sj_fail(SJ_ERR_INTERNAL, "%s: more pairs than the %lld announced", path, (long long)src->n);
            break;
        }
        for (int64_t i = 0; i < got; i++) {
            a[i] = piece[i].a;
            b[i] = piece[i].b;
            d[i] = piece[i].distance;
            d32[i] = (int32_t)piece[i].distance; /* integral metrics: exact integers below 2^31 */
            tr[i] = (uint8_t)piece[i].transform;
        }
        for (int c = 0; c < n_cols && !st; c++)
            st = sj_h5_write_rows(dset[c], types[c], done, got, cols[c], names[c], path);
        done += got;
    }
    if (!st && done != src->n)
        st = sj_fail(SJ_ERR_INTERNAL, "%s: %lld pairs written of the %lld announced", path,
                     (long long)done, (long long)src->n);
done:
    for (int c = 0; c < 4; c++)
        if (dset[c] >= 0)
            H5Dclose(dset[c]);
    free(piece);
    free(a);
    free(b);
    free(d);
    free(d32);
    free(tr);
    return st;
}

/* The pairs of an sj_pairs, as an sj_pair_source. */
typedef struct array_reader {
    const sj_pairs *pairs;
    int64_t at;
} array_reader;

static sj_status array_read(void *user, sj_pair *buf, int64_t cap, int64_t *got)
{
    array_reader *ar = user;
    *got = SJ_MIN(cap, ar->pairs->n - ar->at);
    if (*got > 0)
        memcpy(buf, ar->pairs->v + ar->at, (size_t)*got * sizeof *buf);
    ar->at += *got;
    return SJ_OK;
}

sj_status sj_pairs_file_write_stream(const char *path, const sj_join_result *r,
                                     const sj_pair_source *src)
{
    sj_atomic_file af;
    hid_t file;
    sj_status st = check_result_size(r, "sj_pairs_file_write");
    if (!st)
        st = sj_h5_create(path, &af, &file);
    if (st)
        return st;
    hid_t g = H5I_INVALID_HID;
    hsize_t dn[1] = {(hsize_t)r->n_nodes};
    if ((st = write_common_attrs(file, "pairs", r, path)) ||
        (st = sj_h5_attr_i64(file, "n_pairs", src->n, path)) ||
        (st = sj_h5_attr_str(file, "part", r->part, path)) ||
        (r->dihedral && (st = sj_h5_attr_i64(file, "dihedral", 1, path))) ||
        (st = sj_h5_group(file, "pairs", path, &g)) ||
        (st = write_pair_columns(g, r, src, path)))
        goto fail;
    H5Gclose(g);
    g = H5I_INVALID_HID;
    if ((st = sj_h5_group(file, "nodes", path, &g)) ||
        (st = sj_h5_write(g, "id", H5T_NATIVE_INT64, 1, dn, r->nodes, path)) ||
        (st = write_sources(g, r->n_nodes, r->node_source, path)))
        goto fail;
    H5Gclose(g);
    g = H5I_INVALID_HID;
    sj_atomic_writeback(&af); /* the pairs and nodes go to disk while the rest is written */
    if ((st = write_excluded(file, r, path)))
        goto fail;
    if (r->meta && (st = sj_meta_table_h5_write(file, r->meta, path)))
        goto fail;
    return sj_h5_commit(file, &af);
fail:
    if (g >= 0)
        H5Gclose(g);
    sj_h5_abort(file, &af);
    return st;
}

sj_status sj_pairs_file_write(const char *path, const sj_join_result *r)
{
    array_reader ar = {&r->pairs, 0};
    sj_pair_source src = {r->pairs.n, array_read, &ar};
    return sj_pairs_file_write_stream(path, r, &src);
}

/* An optional int32 column of n rows (older files have none: *out = NULL). */
static sj_status read_sources(hid_t file, const char *name, int64_t n, int32_t **out, const char *path)
{
    sj_h5_info si;
    sj_status st = sj_h5_inspect(file, name, &si, path);
    if (st || !si.exists)
        return st;
    int64_t *tmp = NULL;
    if ((st = sj_h5_read_i64(file, name, n, &tmp, NULL, path)))
        return st;
    *out = malloc((size_t)SJ_MAX(n, 1) * sizeof **out);
    for (int64_t i = 0; *out && i < n; i++) {
        if (tmp[i] < -1 || tmp[i] > INT32_MAX) { /* never cut to int32 by value */
            free(tmp);
            free(*out);
            *out = NULL;
            return sj_fail(SJ_ERR_FORMAT, "%s: /%s row %lld is not a source index (-1 or 0..2^31-1)",
                           path, name, (long long)i);
        }
        (*out)[i] = (int32_t)tmp[i];
    }
    free(tmp);
    return *out ? SJ_OK : sj_fail(SJ_ERR_NOMEM, "out of memory");
}

sj_status sj_pairs_file_read(const char *path, sj_join_result *r)
{
    hid_t file;
    sj_status st = check_result_size(r, "sj_pairs_file_read");
    if (!st)
        st = sj_h5_open(path, &file);
    if (st)
        return st;
    int64_t *a = NULL, *b = NULL, *tr = NULL, n = 0, nb = 0, nd = 0;
    double *d = NULL;
    char content[32];
    int64_t v;
    int has;
    if ((st = sj_h5_read_attr_str(file, "content", content, sizeof content, 1, path)))
        goto done;
    if (strcmp(content, "pairs") != 0) {
        st = sj_fail(SJ_ERR_FORMAT, "%s: not a pairs file (content=%s)", path, content);
        goto done;
    }
    char metric[32];
    if ((st = sj_h5_read_type(file, path, &r->type)) ||
        (st = sj_h5_read_attr_str(file, "metric", metric, sizeof metric, 0, path)))
        goto done;
    r->metric = SJ_METRIC_DEFAULT;
    if (metric[0] && (sj_metric_parse(metric, &r->metric) || sj_metric_check(r->type, &r->metric))) {
        st = sj_fail(SJ_ERR_FORMAT, "%s: attribute metric='%.16s' does not fit the kind", path, metric);
        goto done;
    }
    if ((st = sj_metric_check(r->type, &r->metric)))
        goto done;
    if (sj_h5_read_attr_f64(file, "threshold", &r->threshold, &has, path) || !has) {
        st = sj_fail(SJ_ERR_FORMAT, "%s: missing or unreadable attribute threshold", path);
        goto done;
    }
    if ((st = sj_h5_read_attr_strdup(file, "sources", &r->sources, 0, path)) ||
        (st = sj_h5_read_attr_i64(file, "cross_only", &v, &has, path)))
        goto done;
    r->cross_only = has ? (int)v : 0;
    if ((st = sj_h5_read_attr_str(file, "part", r->part, sizeof r->part, 0, path)) ||
        (st = sj_h5_read_attr_str(file, "backend", r->backend, sizeof r->backend, 0, path)) ||
        (st = read_inputs(file, r, path)) ||
        (st = sj_h5_read_i64(file, "pairs/a", -1, &a, &n, path)) ||
        (st = sj_h5_read_i64(file, "pairs/b", n, &b, &nb, path)) ||
        (st = sj_h5_read_f64(file, "pairs/distance", n, &d, &nd, path)) ||
        (st = sj_h5_read_i64(file, "nodes/id", -1, &r->nodes, &r->n_nodes, path)) ||
        (st = sj_h5_read_i64(file, "excluded/id", -1, &r->excluded_id, &r->n_excluded, path)))
        goto done;
    if ((st = read_sources(file, "nodes/source", r->n_nodes, &r->node_source, path)) ||
        (st = read_sources(file, "excluded/source", r->n_excluded, &r->excluded_source, path)) ||
        (st = sj_meta_table_h5_read(file, &r->meta, path)))
        goto done;
    sj_h5_info ti;
    if ((st = sj_h5_inspect(file, "pairs/transform", &ti, path)))
        goto done;
    r->dihedral = ti.exists;
    if (ti.exists && (st = sj_h5_read_i64(file, "pairs/transform", n, &tr, NULL, path)))
        goto done;
    r->excluded_rule = malloc((size_t)SJ_MAX(r->n_excluded, 1));
    if (!r->excluded_rule) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
        goto done;
    }
    int64_t *rule = NULL; /* read wide and checked: HDF5 would clamp 256 to 255 */
    if ((st = sj_h5_read_i64(file, "excluded/rule", r->n_excluded, &rule, NULL, path)))
        goto done;
    for (int64_t i = 0; i < r->n_excluded && !st; i++) {
        if (rule[i] < SJ_DEGEN_ALL_ZERO || rule[i] > SJ_DEGEN_LOW_QUALITY)
            st = sj_fail(SJ_ERR_FORMAT, "%s: /excluded/rule row %lld is not a rule (1..3)", path,
                         (long long)i);
        r->excluded_rule[i] = (uint8_t)rule[i];
    }
    free(rule);
    if (st)
        goto done;
    if ((st = sj_grow((void **)&r->pairs.v, &r->pairs.capacity, SJ_MAX(n, 1), sizeof(sj_pair))))
        goto done;
    for (int64_t i = 0; i < n; i++) {
        if (a[i] >= b[i] || (i && (a[i] < a[i - 1] || (a[i] == a[i - 1] && b[i] <= b[i - 1])))) {
            st = sj_fail(SJ_ERR_FORMAT, "%s: /pairs row %lld is not in canonical order (a < b, sorted)",
                         path, (long long)i);
            goto done;
        }
        if (!isfinite(d[i])) {
            st = sj_fail(SJ_ERR_FORMAT, "%s: /pairs/distance row %lld is not finite", path, (long long)i);
            goto done;
        }
        if (tr && (tr[i] < 0 || tr[i] >= SJ_DIHEDRAL)) {
            st = sj_fail(SJ_ERR_FORMAT, "%s: /pairs/transform row %lld is outside 0..%d", path,
                         (long long)i, SJ_DIHEDRAL - 1);
            goto done;
        }
        r->pairs.v[i] = (sj_pair){a[i], b[i], d[i], tr ? (int32_t)tr[i] : 0};
    }
    r->pairs.n = n;
done:
    free(a);
    free(b);
    free(d);
    free(tr);
    H5Fclose(file);
    return st;
}

static int cmp_i64_asc(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

/* A per-cluster list of interned codes as one string "a|b|c". */
static sj_status write_code_lists(hid_t g, const char *name, int32_t *const *lists, int64_t n,
                                  const sj_meta *m, const char *path)
{
    size_t width = 1;
    for (int64_t k = 0; k < n; k++) {
        size_t len = 0;
        for (const int32_t *c = lists[k]; *c >= 0; c++)
            len += strlen(sj_meta_code_text(m, *c)) + 1;
        width = SJ_MAX(width, len + 1);
    }
    char *buf = calloc((size_t)SJ_MAX(n, 1), width);
    if (!buf)
        return sj_fail(SJ_ERR_NOMEM, "out of memory writing %s", path);
    for (int64_t k = 0; k < n; k++) {
        char *p = buf + (size_t)k * width;
        for (const int32_t *c = lists[k]; *c >= 0; c++)
            p += sprintf(p, "%s%s", c == lists[k] ? "" : "|", sj_meta_code_text(m, *c));
    }
    sj_status st = sj_h5_write_strings(g, name, buf, n, width, path);
    free(buf);
    return st;
}

/* /case_summary: per cluster new/known members, series, cases, sources,
 * identified flags, SJ_CASE_* flags and the triage class and rank. */
static sj_status write_case_summary(hid_t file, const int64_t *ids, const int64_t *cl, int64_t n,
                                    int64_t n_clusters, const sj_meta_table *t,
                                    const double *min_distance, const char *path)
{
    sj_case_summary *s;
    sj_status st = sj_case_summarize(ids, cl, n, n_clusters, t, min_distance, &s);
    if (st)
        return st;
    int64_t *rank = malloc((size_t)SJ_MAX(n_clusters, 1) * sizeof *rank);
    hid_t g = H5I_INVALID_HID;
    hsize_t dc[1] = {(hsize_t)n_clusters};
    if (!rank) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t k = 0; k < n_clusters; k++)
        rank[k] = -1;
    for (int64_t i = 0; i < s->n_ranked; i++)
        rank[s->ranked[i]] = i + 1;
    if ((st = sj_h5_group(file, "case_summary", path, &g)) ||
        (st = sj_h5_attr_str(g, "flags", "bit 1 merges_series, 2 multi_case, 4 multi_source, "
                                         "8 new_no_series", path)) ||
        (st = sj_h5_attr_str(g, "triage", "0 not listed, 1 unidentified_victim, 2 "
                                          "candidate_new_series, 3 cross_case_link, 4 "
                                          "known_identified_series", path)) ||
        (st = sj_h5_write(g, "n_new", H5T_NATIVE_INT64, 1, dc, s->n_new, path)) ||
        (st = sj_h5_write(g, "n_known", H5T_NATIVE_INT64, 1, dc, s->n_known, path)) ||
        (st = sj_h5_write(g, "n_series", H5T_NATIVE_INT32, 1, dc, s->n_series, path)) ||
        (st = sj_h5_write(g, "n_cases", H5T_NATIVE_INT32, 1, dc, s->n_cases, path)) ||
        (st = sj_h5_write(g, "n_sources", H5T_NATIVE_INT32, 1, dc, s->n_sources, path)) ||
        (st = sj_h5_write(g, "victim_identified", H5T_NATIVE_INT8, 1, dc, s->victim_identified, path)) ||
        (st = sj_h5_write(g, "offender_identified", H5T_NATIVE_INT8, 1, dc, s->offender_identified,
                          path)) ||
        (st = sj_h5_write(g, "flags", H5T_NATIVE_UINT8, 1, dc, s->flags, path)) ||
        (st = sj_h5_write(g, "triage", H5T_NATIVE_UINT8, 1, dc, s->triage, path)) ||
        (st = sj_h5_write(g, "rank", H5T_NATIVE_INT64, 1, dc, rank, path)) ||
        (st = write_code_lists(g, "series", s->series, n_clusters, t->meta, path)) ||
        (st = write_code_lists(g, "cases", s->cases, n_clusters, t->meta, path)) ||
        (st = write_code_lists(g, "sources", s->sources, n_clusters, t->meta, path)))
        goto done;
done:
    if (g >= 0)
        H5Gclose(g);
    free(rank);
    sj_case_summary_free(s);
    return st;
}

sj_status sj_clusters_file_write(const char *path, const sj_clusters *c, const sj_join_result *r,
                                 const sj_cluster_options *o)
{
    sj_cluster_options none;
    sj_cluster_options_defaults(&none);
    if (!o)
        o = &none;
    char linkage[64];
    sj_linkage_format(o, linkage, sizeof linkage);
    sj_atomic_file af;
    hid_t file;
    sj_status st = sj_h5_create(path, &af, &file);
    if (st)
        return st;
    hid_t g = H5I_INVALID_HID;
    /* Nodes and excluded hashes merged in id order; excluded get cluster -1. */
    int64_t total = c->n_nodes + r->n_excluded;
    int64_t *ids = malloc((size_t)SJ_MAX(total, 1) * sizeof *ids);
    int64_t *cl = malloc((size_t)SJ_MAX(total, 1) * sizeof *cl);
    int64_t *num = malloc((size_t)SJ_MAX(c->n_clusters, 1) * sizeof *num);
    int64_t *qid = malloc((size_t)SJ_MAX(c->n_quarantined, 1) * sizeof *qid);
    int64_t *qmatches = malloc((size_t)SJ_MAX(c->n_quarantined, 1) * sizeof *qmatches);
    int32_t *src = malloc((size_t)SJ_MAX(total, 1) * sizeof *src);
    int64_t *cs = malloc((size_t)SJ_MAX(total, 1) * sizeof *cs);
    int32_t *nsrc = calloc((size_t)SJ_MAX(c->n_clusters, 1), sizeof *nsrc);
    if (!ids || !cl || !num || !qid || !qmatches || !src || !cs || !nsrc) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory writing %s", path);
        goto done;
    }
    for (int64_t i = 0, j = 0, k = 0; k < total; k++) {
        if (j >= r->n_excluded || (i < c->n_nodes && c->ids[i] < r->excluded_id[j])) {
            ids[k] = c->ids[i];
            src[k] = r->node_source ? r->node_source[i] : -1;
            cl[k] = c->cluster[i++];
        } else {
            ids[k] = r->excluded_id[j];
            src[k] = r->excluded_source ? r->excluded_source[j] : -1;
            j++;
            cl[k] = -1;
        }
    }
    /* Distinct sources per cluster: sort (cluster, source), count runs. */
    for (int64_t k = 0, m = 0; k < total; k++)
        if (cl[k] >= 0)
            cs[m++] = (int64_t)cl[k] << 20 | (int64_t)(src[k] + 1);
    int64_t n_in_clusters = 0;
    for (int64_t k = 0; k < total; k++)
        n_in_clusters += cl[k] >= 0;
    qsort(cs, (size_t)n_in_clusters, sizeof *cs, cmp_i64_asc);
    for (int64_t k = 0; k < n_in_clusters; k++)
        if (k == 0 || cs[k] != cs[k - 1])
            nsrc[cs[k] >> 20]++;
    for (int64_t k = 0; k < c->n_clusters; k++)
        num[k] = k;
    for (int64_t i = 0, k = 0; i < c->n_nodes; i++)
        if (c->cluster[i] == SJ_CLUSTER_QUARANTINED) {
            qid[k] = c->ids[i];
            qmatches[k++] = c->matches[i];
        }
    int64_t largest = 0, singletons = 0;
    for (int64_t k = 0; k < c->n_clusters; k++) {
        largest = SJ_MAX(largest, c->size[k]);
        singletons += c->size[k] == 1;
    }
    hsize_t dn[1] = {(hsize_t)total}, dc[1] = {(hsize_t)c->n_clusters},
            dq[1] = {(hsize_t)c->n_quarantined};
    if ((st = write_common_attrs(file, "clusters", r, path)) ||
        (st = sj_h5_attr_str(file, "linkage", linkage, path)) ||
        (st = sj_h5_attr_i64(file, "max_matches", o->max_matches, path)) ||
        (st = sj_h5_attr_f64(file, "degree_ratio", o->degree_ratio, path)) ||
        (st = sj_h5_attr_i64(file, "n_quarantined", c->n_quarantined, path)) ||
        (st = sj_h5_attr_i64(file, "n_clusters", c->n_clusters, path)) ||
        (st = sj_h5_attr_i64(file, "n_singletons", singletons, path)) ||
        (st = sj_h5_attr_i64(file, "largest_cluster", largest, path)) ||
        (st = sj_h5_attr_i64(file, "n_pairs", r->pairs.n, path)) ||
        (st = sj_h5_group(file, "clusters", path, &g)) ||
        (st = sj_h5_write(g, "id", H5T_NATIVE_INT64, 1, dn, ids, path)) ||
        (st = sj_h5_write(g, "cluster", H5T_NATIVE_INT64, 1, dn, cl, path)) ||
        (st = sj_h5_write(g, "source", H5T_NATIVE_INT32, 1, dn, src, path)))
        goto done;
    H5Gclose(g);
    g = H5I_INVALID_HID;
    if ((st = sj_h5_group(file, "summary", path, &g)) ||
        (st = sj_h5_write(g, "cluster", H5T_NATIVE_INT64, 1, dc, num, path)) ||
        (st = sj_h5_write(g, "size", H5T_NATIVE_INT64, 1, dc, c->size, path)) ||
        (st = sj_h5_write(g, "edges", H5T_NATIVE_INT64, 1, dc, c->edges, path)) ||
        (st = sj_h5_write_distances(g, "min_distance", c->min_distance, c->n_clusters, integral(r),
                                    path)) ||
        (st = sj_h5_write_distances(g, "max_edge", c->max_edge, c->n_clusters, integral(r), path)) ||
        (st = sj_h5_write_distances(g, "diameter", c->diameter, c->n_clusters, integral(r), path)) ||
        (st = sj_h5_write(g, "diameter_checked", H5T_NATIVE_UINT8, 1, dc, c->diameter_checked,
                          path)) ||
        (st = sj_h5_write(g, "n_sources", H5T_NATIVE_INT32, 1, dc, nsrc, path)))
        goto done;
    H5Gclose(g);
    g = H5I_INVALID_HID;
    if (r->meta && ((st = sj_meta_table_h5_write(file, r->meta, path)) ||
                    (st = write_case_summary(file, ids, cl, total, c->n_clusters, r->meta,
                                                       c->min_distance, path))))
        goto done;
    if ((st = write_excluded(file, r, path)) || (st = sj_h5_group(file, "quarantined", path, &g)) ||
        (st = sj_h5_write(g, "id", H5T_NATIVE_INT64, 1, dq, qid, path)) ||
        (st = sj_h5_write(g, "matches", H5T_NATIVE_INT64, 1, dq, qmatches, path)))
        goto done;
done: /* st says which: the file is committed or abandoned after the buffers go */
    if (g >= 0)
        H5Gclose(g);
    free(ids);
    free(cl);
    free(num);
    free(qid);
    free(qmatches);
    free(src);
    free(cs);
    free(nsrc);
    if (st) {
        sj_h5_abort(file, &af);
        return st;
    }
    return sj_h5_commit(file, &af);
}
