/* meta_io.c - the /meta group of shards, pairs and clusters files:
 *   series, case_id, category, source   strings [N]  fixed-length (written
 *                                       NUL-terminated; variable-length from
 *                                       h5py is read too), "" = none
 *   path, md5, sha1                     strings [N]  the image file (simjoin hash)
 *   victim_identified, offender_identified   int8 [N]  1 yes, 0 no, -1 unknown
 * Every dataset is optional on reading; all are written. */
#define _POSIX_C_SOURCE 200809L
#include "io/h5util.h"
#include "io/text_out.h"
#include "simjoin/meta.h"

#include <stdlib.h>
#include <string.h>

static sj_status write_text(hid_t g, const sj_meta *m, int64_t first, int64_t count,
                            sj_meta_text f, const char *path)
{
    /* The distinct strings' lengths once (rows hold codes; -1: ""). */
    int32_t n_codes = sj_meta_text_count(m);
    size_t *len = malloc((size_t)SJ_MAX(n_codes, 1) * sizeof *len), width = 1;
    if (!len)
        return sj_fail(SJ_ERR_NOMEM, "out of memory writing %s", path);
    for (int32_t c = 0; c < n_codes; c++)
        len[c] = strlen(sj_meta_code_text(m, c));
    const int32_t *code = sj_meta_text_column(m, f);
    int64_t rows = sj_meta_rows(m); /* rows past m's: none */
    for (int64_t i = first; code && i < first + count && i < rows; i++)
        if (code[i] >= 0)
            width = SJ_MAX(width, len[code[i]] + 1);
    char *buf = calloc((size_t)SJ_MAX(count, 1), width);
    if (!buf) {
        free(len);
        return sj_fail(SJ_ERR_NOMEM, "out of memory writing %s", path);
    }
    for (int64_t i = 0; code && i < count && first + i < rows; i++)
        if (code[first + i] >= 0)
            memcpy(buf + (size_t)i * width, sj_meta_code_text(m, code[first + i]), len[code[first + i]]);
    sj_status st = sj_h5_write_strings(g, sj_meta_text_name(f), buf, count, width, path);
    free(buf);
    free(len);
    return st;
}

sj_status sj_meta_h5_write(hid_t loc, const sj_meta *m, int64_t first, int64_t count,
                           const char *path)
{
    hid_t g;
    sj_status st = sj_h5_group(loc, "meta", path, &g);
    if (st)
        return st;
    for (int f = 0; f < SJ_META_N_TEXT && !st; f++)
        st = write_text(g, m, first, count, (sj_meta_text)f, path);
    int8_t *v = malloc((size_t)SJ_MAX(count, 1));
    if (!st && !v)
        st = sj_fail(SJ_ERR_NOMEM, "out of memory writing %s", path);
    hsize_t dims[1] = {(hsize_t)count};
    int64_t made = SJ_MAX(SJ_MIN(count, sj_meta_rows(m) - first), 0); /* the rest: unknown */
    for (int which = 0; which < 2 && !st; which++) {
        for (int64_t i = 0; i < made; i++)
            v[i] = which ? sj_meta_offender(m, first + i) : sj_meta_victim(m, first + i);
        memset(v + made, SJ_META_UNKNOWN, (size_t)(count - made));
        st = sj_h5_write(g, which ? "offender_identified" : "victim_identified", H5T_NATIVE_INT8,
                         1, dims, v, path);
    }
    free(v);
    H5Gclose(g);
    return st;
}

/* Read one text dataset (fixed or variable length) as n C strings into
 * text[n] (owned by the caller, each freed; "" stays NULL); absent: all NULL. */
static sj_status read_text(hid_t loc, const char *group, sj_meta_text f, int64_t n, char **text,
                           const char *path)
{
    char name[64]; /* "meta/series": our own names */
    snprintf(name, sizeof name, "%s/%s", group, sj_meta_text_name(f));
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0)
        return SJ_OK;
    char **all;
    sj_status st = sj_h5_read_vstrings(loc, name, n, &all, NULL, path);
    if (st)
        return st;
    for (int64_t i = 0; i < n && !st; i++) {
        size_t len = strlen(all[i]), bad;
        if (len > (size_t)sj_meta_text_max(f))
            st = sj_fail(SJ_ERR_FORMAT, "%s: /%s row %lld is longer than %d bytes", path, name,
                         (long long)i, sj_meta_text_max(f));
        else if ((bad = sj_utf8_check(all[i], len)) < len)
            st = sj_fail(SJ_ERR_FORMAT, "%s: /%s row %lld is not valid UTF-8 (byte %zu)", path, name,
                         (long long)i, bad + 1);
        else if (*all[i]) { /* hand the string over */
            text[i] = all[i];
            all[i] = NULL;
        }
    }
    sj_h5_free_strings(all, n);
    return st;
}

static sj_status read_flag(hid_t g, const char *group, const char *name, int64_t n, int8_t *out,
                           const char *path)
{
    memset(out, SJ_META_UNKNOWN, (size_t)SJ_MAX(n, 0));
    if (H5Lexists(g, name, H5P_DEFAULT) <= 0)
        return SJ_OK;
    char full[64];
    snprintf(full, sizeof full, "%s", name);
    int64_t *v;
    sj_status st = sj_h5_read_i64(g, full, n, &v, NULL, path);
    if (st)
        return st;
    for (int64_t i = 0; i < n && !st; i++) {
        if (v[i] < -1 || v[i] > 1)
            st = sj_fail(SJ_ERR_FORMAT, "%s: /%s/%s row %lld is not 1 (yes), 0 (no) or -1 (unknown)",
                         path, group, name, (long long)i);
        out[i] = (int8_t)v[i];
    }
    free(v);
    return st;
}

sj_status sj_meta_h5_read(hid_t loc, const char *group, int64_t n, sj_meta **out, const char *path)
{
    *out = NULL;
    if (H5Lexists(loc, group, H5P_DEFAULT) <= 0)
        return SJ_OK;
    hid_t g = H5Gopen2(loc, group, H5P_DEFAULT);
    if (g < 0)
        return sj_fail(SJ_ERR_FORMAT, "%s: /%s is not a group", path, group);
    char **text[SJ_META_N_TEXT] = {0};
    int8_t *victim = malloc((size_t)SJ_MAX(n, 1)), *offender = malloc((size_t)SJ_MAX(n, 1));
    sj_meta *m = NULL;
    sj_status st = SJ_OK;
    if (!victim || !offender)
        st = sj_fail(SJ_ERR_NOMEM, "out of memory reading %s", path);
    for (int f = 0; f < SJ_META_N_TEXT && !st; f++) {
        if (!(text[f] = calloc((size_t)SJ_MAX(n, 1), sizeof *text[f])))
            st = sj_fail(SJ_ERR_NOMEM, "out of memory reading %s", path);
        else
            st = read_text(loc, group, (sj_meta_text)f, n, text[f], path);
    }
    if (!st)
        st = read_flag(g, group, "victim_identified", n, victim, path);
    if (!st)
        st = read_flag(g, group, "offender_identified", n, offender, path);
    if (!st)
        st = sj_meta_create(&m);
    for (int64_t i = 0; i < n && !st; i++) {
        const char *row[SJ_META_N_TEXT];
        for (int f = 0; f < SJ_META_N_TEXT; f++)
            row[f] = text[f][i];
        st = sj_meta_append(m, row, victim[i], offender[i]);
    }
    for (int f = 0; f < SJ_META_N_TEXT; f++) {
        for (int64_t i = 0; text[f] && i < n; i++)
            free(text[f][i]);
        free(text[f]);
    }
    free(victim);
    free(offender);
    H5Gclose(g);
    if (st) {
        sj_meta_free(m);
        return st;
    }
    *out = m;
    return SJ_OK;
}

sj_status sj_meta_table_h5_write(hid_t file, const sj_meta_table *t, const char *path)
{
    hsize_t dims[1] = {(hsize_t)t->n};
    hid_t g;
    sj_status st = sj_meta_h5_write(file, t->meta, 0, t->n, path);
    if (st || (st = sj_h5_group(file, "meta_index", path, &g)))
        return st;
    if (!(st = sj_h5_write(g, "id", H5T_NATIVE_INT64, 1, dims, t->ids, path)))
        st = sj_h5_write(g, "new", H5T_NATIVE_UINT8, 1, dims, t->is_new, path);
    H5Gclose(g);
    return st;
}

sj_status sj_meta_table_h5_read(hid_t file, sj_meta_table **out, const char *path)
{
    *out = NULL;
    if (H5Lexists(file, "meta_index", H5P_DEFAULT) <= 0)
        return SJ_OK;
    sj_meta_table *t = calloc(1, sizeof *t);
    int64_t *is_new = NULL;
    sj_status st = t ? SJ_OK : sj_fail(SJ_ERR_NOMEM, "out of memory");
    if (!st)
        st = sj_h5_read_i64(file, "meta_index/id", -1, &t->ids, &t->n, path);
    if (!st)
        st = sj_h5_read_i64(file, "meta_index/new", t->n, &is_new, NULL, path);
    if (!st && !(t->is_new = malloc((size_t)SJ_MAX(t->n, 1))))
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; !st && i < t->n; i++) {
        if ((i > 0 && t->ids[i] <= t->ids[i - 1]) || is_new[i] < 0 || is_new[i] > 1)
            st = sj_fail(SJ_ERR_FORMAT, "%s: /meta_index row %lld: ids must be sorted and unique, "
                                        "new 0 or 1", path, (long long)i);
        else
            t->is_new[i] = (uint8_t)is_new[i];
    }
    if (!st)
        st = sj_meta_h5_read(file, "meta", t->n, &t->meta, path);
    if (!st && !t->meta)
        st = sj_meta_create(&t->meta);
    if (!st) /* no /meta: all unknown */
        st = sj_meta_pad(t->meta, t->n);
    free(is_new);
    if (st) {
        sj_meta_table_free(t);
        return st;
    }
    *out = t;
    return SJ_OK;
}
