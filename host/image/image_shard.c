/* image_shard.c - the results of a hashing run as a shard: hashes, ids,
 * quality, /meta path/md5/sha1, /dihedral, /failed, /exact_duplicates. */
#define _GNU_SOURCE /* qsort_r */
#include "io/h5util.h"
#include "image/image_internal.h"
#include "simjoin/meta.h"
#include "io/text_out.h"

#include <stdlib.h>
#include <string.h>

static void hex_of(const uint8_t *b, int n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = 0;
}

/* The path recorded for a file: relative to root when below it. */
static const char *recorded_path(const char *path, const char *root)
{
    if (!root || !*root)
        return path;
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/')
        rl--;
    if (strncmp(path, root, rl) == 0 && path[rl] == '/') {
        const char *rest = path + rl;
        while (*rest == '/')
            rest++;
        return *rest ? rest : path;
    }
    return path;
}

/* A file name as UTF-8 (shards hold UTF-8): each byte that is not part of
 * well-formed UTF-8 becomes the four characters \xNN, as Python's
 * "backslashreplace" writes it. Owned by the caller; NULL: out of memory. */
static char *utf8_path(const char *path)
{
    size_t len = strlen(path), pos = 0, out = 0;
    char *buf = malloc(4 * len + 1);
    if (!buf)
        return NULL;
    while (pos < len) {
        size_t ok = sj_utf8_check(path + pos, len - pos);
        memcpy(buf + out, path + pos, ok);
        out += ok;
        pos += ok;
        if (pos < len) {
            out += (size_t)sprintf(buf + out, "\\x%02x", (unsigned char)path[pos]);
            pos++;
        }
    }
    buf[out] = 0;
    return buf;
}

void sj_image_set_free(sj_image_set *s)
{
    if (!s)
        return;
    sj_hashes_free(s->hashes);
    for (int64_t i = 0; i < s->n_failed; i++) {
        free(s->failed_path[i]);
        free(s->failed_reason[i]);
    }
    free(s->failed_path);
    free(s->failed_reason);
    free(s->failed_id);
    free(s->exact);
    free(s);
}

typedef struct sha1_order {
    const sj_image_result *results;
    const int64_t *rows; /* shard row -> input index */
} sha1_order;

static int cmp_sha1_then_row(const void *a, const void *b, void *user)
{
    const sha1_order *o = user;
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    int c = memcmp(o->results[o->rows[x]].sha1, o->results[o->rows[y]].sha1, 20);
    return c ? c : (x > y) - (x < y);
}

static int cmp_pair(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

sj_status sj_image_set_build(const char *const *paths, const sj_image_result *results,
                             const uint8_t (*dihedral)[8][32], int64_t n,
                             const sj_image_set_options *o, sj_image_set **out)
{
    *out = NULL;
    sj_image_set *s = calloc(1, sizeof *s);
    if (!s)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    sj_hash_type t = {.kind = o->kind == SJ_IMAGE_PDQ ? SJ_KIND_PDQ : SJ_KIND_BITS,
                      .bits = sj_image_hash_bytes(o->kind) * 8u};
    int64_t n_ok = 0;
    for (int64_t i = 0; i < n; i++)
        n_ok += results[i].ok;
    int64_t *rows = malloc((size_t)SJ_MAX(n_ok, 1) * sizeof *rows); /* row -> input index */
    sj_status st = rows ? sj_hashes_create(t, SJ_MAX(n_ok, 1), &s->hashes)
                        : sj_fail(SJ_ERR_NOMEM, "out of memory");
    if (!st)
        st = sj_meta_create(&s->hashes->meta);
    if (!st && dihedral && n_ok == 0 && /* a set of no image still says it is dihedral */
        !(s->hashes->dihedral = malloc((size_t)SJ_DIHEDRAL * sizeof *dihedral[0])))
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
    if (!st && n - n_ok > 0 &&
        (!(s->failed_path = calloc((size_t)(n - n_ok), sizeof *s->failed_path)) ||
         !(s->failed_reason = calloc((size_t)(n - n_ok), sizeof *s->failed_reason)) ||
         !(s->failed_id = malloc((size_t)(n - n_ok) * sizeof *s->failed_id))))
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
    if (!st && o->source)
        st = sj_hashes_set_source(s->hashes, o->source);
    for (int64_t i = 0; i < n && !st; i++) {
        const sj_image_result *r = &results[i];
        char *rec = utf8_path(recorded_path(paths[i], o->root));
        if (!rec) {
            st = sj_fail(SJ_ERR_NOMEM, "out of memory");
            break;
        }
        if (!r->ok) {
            int64_t k = s->n_failed++;
            s->failed_id[k] = o->first_id + i;
            s->failed_path[k] = rec; /* owned by the set now */
            if (!(s->failed_reason[k] = strdup(r->reason)))
                st = sj_fail(SJ_ERR_NOMEM, "out of memory");
            continue;
        }
        char md5[33], sha1[41];
        hex_of(r->md5, 16, md5);
        hex_of(r->sha1, 20, sha1);
        int64_t row = s->hashes->n;
        const int quality = o->kind == SJ_IMAGE_PDQ ? r->quality : -1;
        if ((st = dihedral ? sj_hashes_append_dihedral(s->hashes, o->first_id + i, dihedral[i][0],
                                                       quality) /* [0] is r->hash */
                           : sj_hashes_append(s->hashes, o->first_id + i, r->hash, quality))) {
            free(rec);
            break;
        }
        /* the row's metadata (appended unknown with the hash) */
        if ((st = sj_meta_set_text(s->hashes->meta, row, SJ_META_PATH, rec)) ||
            (st = sj_meta_set_text(s->hashes->meta, row, SJ_META_MD5, md5)) ||
            (st = sj_meta_set_text(s->hashes->meta, row, SJ_META_SHA1, sha1))) {
            st = sj_fail(st, "input %lld: path longer than %d bytes", (long long)i, SJ_META_PATH_MAX);
            free(rec);
            break;
        }
        free(rec);
        rows[row] = i;
    }
    /* Exact duplicates: rows sorted by (SHA-1, row); each run's first row is
     * the original of the others. */
    int64_t *order = NULL;
    if (!st && n_ok > 1) {
        order = malloc((size_t)n_ok * sizeof *order);
        s->exact = malloc((size_t)n_ok * sizeof *s->exact);
        if (!order || !s->exact)
            st = sj_fail(SJ_ERR_NOMEM, "out of memory");
    }
    if (!st && n_ok > 1) {
        for (int64_t r = 0; r < n_ok; r++)
            order[r] = r;
        sha1_order so = {results, rows};
        qsort_r(order, (size_t)n_ok, sizeof *order, cmp_sha1_then_row, &so);
        for (int64_t a = 0; a < n_ok;) {
            int64_t b = a + 1;
            while (b < n_ok && !memcmp(results[rows[order[a]]].sha1, results[rows[order[b]]].sha1, 20))
                b++;
            if (b - a > 1)
                s->n_exact_groups++;
            for (int64_t k = a + 1; k < b; k++) {
                s->exact[s->n_exact][0] = s->hashes->ids[order[k]];
                s->exact[s->n_exact][1] = s->hashes->ids[order[a]];
                s->n_exact++;
            }
            a = b;
        }
        qsort(s->exact, (size_t)s->n_exact, sizeof *s->exact, cmp_pair); /* by id */
    }
    free(order);
    free(rows);
    if (st) {
        sj_image_set_free(s);
        return st;
    }
    *out = s;
    return SJ_OK;
}

static sj_status write_string_column(hid_t g, const char *name, char *const *v, int64_t n,
                                     const char *path)
{
    size_t width = 1;
    for (int64_t i = 0; i < n; i++)
        width = SJ_MAX(width, strlen(v[i]) + 1);
    char *buf = calloc((size_t)SJ_MAX(n, 1), width);
    if (!buf)
        return sj_fail(SJ_ERR_NOMEM, "out of memory writing %s", path);
    for (int64_t i = 0; i < n; i++)
        memcpy(buf + (size_t)i * width, v[i], strlen(v[i]));
    sj_status st = sj_h5_write_strings(g, name, buf, n, width, path);
    free(buf);
    return st;
}

sj_status sj_image_set_write(const char *path, const sj_image_set *s)
{
    sj_atomic_file af;
    hid_t file, g = H5I_INVALID_HID;
    sj_status st = sj_h5_create(path, &af, &file);
    if (st)
        return st;
    int64_t n = s->hashes->n;
    if ((st = sj_shard_h5_write_rows(file, s->hashes, 0, n, path))) /* /dihedral too */
        goto fail;
    hsize_t d1[1] = {(hsize_t)s->n_failed}, d2[2] = {(hsize_t)s->n_exact, 2};
    int64_t dummy = 0;
    if ((st = sj_h5_group(file, "failed", path, &g)) ||
        (st = write_string_column(g, "path", s->failed_path, s->n_failed, path)) ||
        (st = write_string_column(g, "reason", s->failed_reason, s->n_failed, path)) ||
        (st = sj_h5_write(g, "id", H5T_NATIVE_INT64, 1, d1, s->n_failed ? s->failed_id : &dummy, path)))
        goto fail;
    H5Gclose(g);
    g = H5I_INVALID_HID;
    if ((st = sj_h5_write(file, "exact_duplicates", H5T_NATIVE_INT64, 2, d2,
                          s->n_exact ? (const void *)s->exact : &dummy, path)))
        goto fail;
    return sj_h5_commit(file, &af);
fail:
    if (g >= 0)
        H5Gclose(g);
    sj_h5_abort(file, &af);
    return st;
}
