/* hashes.c - hash types, the in-memory hash set, hex codec, degenerate rules. */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"
#include "simjoin/meta.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- hash types ---- */

/* "prefix:N" with 1 <= N <= max; returns N or 0. */
static long parse_width(const char *text, const char *prefix, long max)
{
    size_t n = strlen(prefix);
    if (strncmp(text, prefix, n) != 0)
        return 0;
    char *end;
    errno = 0;
    long v = strtol(text + n, &end, 10);
    return errno || *end || end == text + n || v <= 0 || v > max ? 0 : v;
}

sj_status sj_hash_type_parse(const char *text, sj_hash_type *out)
{
    if (!text)
        return sj_fail(SJ_ERR_ARG, "missing hash kind (pdq, bits:N, photodna, u8:D or f32:D)");
    long v;
    if (strcmp(text, "pdq") == 0) {
        *out = (sj_hash_type){SJ_KIND_PDQ, 256, 0};
        return SJ_OK;
    }
    if (strcmp(text, "photodna") == 0) {
        *out = (sj_hash_type){SJ_KIND_PHOTODNA, 8 * 144, 144};
        return SJ_OK;
    }
    if (strncmp(text, "bits:", 5) == 0) {
        if (!(v = parse_width(text, "bits:", 65536)) || v % 8 != 0)
            return sj_fail(SJ_ERR_ARG,
                           "bad hash kind '%s': bits:N needs N a multiple of 8 in 8..65536", text);
        *out = (sj_hash_type){SJ_KIND_BITS, (uint32_t)v, 0};
        return SJ_OK;
    }
    if (strncmp(text, "u8:", 3) == 0) {
        if (!(v = parse_width(text, "u8:", 32768)))
            return sj_fail(SJ_ERR_ARG, "bad hash kind '%s': u8:D needs D in 1..32768", text);
        *out = (sj_hash_type){SJ_KIND_U8, 8u * (uint32_t)v, (uint32_t)v};
        return SJ_OK;
    }
    if (strncmp(text, "f32:", 4) == 0) {
        if (!(v = parse_width(text, "f32:", 16384)))
            return sj_fail(SJ_ERR_ARG, "bad hash kind '%s': f32:D needs D in 1..16384", text);
        *out = (sj_hash_type){SJ_KIND_F32, 32u * (uint32_t)v, (uint32_t)v};
        return SJ_OK;
    }
    return sj_fail(SJ_ERR_ARG,
                   "unknown hash kind '%s' (expected pdq, bits:N, photodna, u8:D or f32:D)", text);
}

void sj_hash_type_format(sj_hash_type t, char *buf, size_t n)
{
    switch (t.kind) {
    case SJ_KIND_PDQ: snprintf(buf, n, "pdq"); break;
    case SJ_KIND_PHOTODNA: snprintf(buf, n, "photodna"); break;
    case SJ_KIND_U8: snprintf(buf, n, "u8:%u", t.dim); break;
    case SJ_KIND_F32: snprintf(buf, n, "f32:%u", t.dim); break;
    default: snprintf(buf, n, "bits:%u", t.bits); break;
    }
}

/* ---- metrics ---- */

const char *sj_metric_name(sj_metric m)
{
    switch (m) {
    case SJ_METRIC_HAMMING: return "hamming";
    case SJ_METRIC_L2SQ: return "l2sq";
    case SJ_METRIC_L1: return "l1";
    case SJ_METRIC_COSINE: return "cosine";
    case SJ_METRIC_IP: return "ip";
    case SJ_METRIC_DEFAULT: return "default";
    }
    return "unknown";
}

sj_status sj_metric_parse(const char *text, sj_metric *out)
{
    for (int m = SJ_METRIC_HAMMING; m <= SJ_METRIC_IP; m++)
        if (strcmp(text, sj_metric_name((sj_metric)m)) == 0) {
            *out = (sj_metric)m;
            return SJ_OK;
        }
    return sj_fail(SJ_ERR_ARG, "unknown --metric '%s' (hamming, l2sq, l1, cosine, ip)", text);
}

sj_metric sj_metric_default(sj_hash_type t)
{
    switch (t.kind) {
    case SJ_KIND_PHOTODNA:
    case SJ_KIND_U8: return SJ_METRIC_L2SQ;
    case SJ_KIND_F32: return SJ_METRIC_COSINE;
    default: return SJ_METRIC_HAMMING;
    }
}

sj_status sj_metric_check(sj_hash_type t, sj_metric *m)
{
    if (*m == SJ_METRIC_DEFAULT)
        *m = sj_metric_default(t);
    int ok;
    switch (t.kind) {
    case SJ_KIND_PDQ:
    case SJ_KIND_BITS: ok = *m == SJ_METRIC_HAMMING; break;
    case SJ_KIND_PHOTODNA:
    case SJ_KIND_U8: ok = *m == SJ_METRIC_L2SQ || *m == SJ_METRIC_L1; break;
    case SJ_KIND_F32: ok = *m == SJ_METRIC_COSINE || *m == SJ_METRIC_IP || *m == SJ_METRIC_L2SQ; break;
    default: ok = 0;
    }
    if (ok)
        return SJ_OK;
    char k[24];
    sj_hash_type_format(t, k, sizeof k);
    return sj_fail(SJ_ERR_ARG, "metric %s does not apply to %s hashes (%s)", sj_metric_name(*m), k,
                   sj_hash_type_binary(t) ? "hamming" : t.kind == SJ_KIND_F32 ? "cosine, ip or l2sq"
                                                                            : "l2sq or l1");
}

int sj_metric_integral(sj_hash_type t, sj_metric m)
{
    (void)m;
    return t.kind != SJ_KIND_F32;
}

/* ---- hash set ---- */

sj_status sj_hashes_create(sj_hash_type type, int64_t capacity, sj_hashes **out)
{
    *out = NULL;
    sj_hashes *h = calloc(1, sizeof *h);
    if (!h)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    h->type = type;
    if (!(h->source = strdup(""))) {
        free(h);
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    }
    if (capacity > 0) {
        h->hashes = malloc((size_t)capacity * sj_hash_type_bytes(type));
        h->ids = malloc((size_t)capacity * sizeof *h->ids);
        if (!h->hashes || !h->ids) {
            sj_hashes_free(h);
            return sj_fail(SJ_ERR_NOMEM, "out of memory for %lld hashes", (long long)capacity);
        }
        h->capacity = capacity;
    }
    *out = h;
    return SJ_OK;
}

void sj_hashes_free(sj_hashes *h)
{
    if (!h)
        return;
    free(h->hashes);
    free(h->ids);
    free(h->quality);
    free(h->labels);
    sj_meta_free(h->meta);
    free(h->source);
    free(h->dihedral);
    free(h);
}

sj_status sj_hashes_set_source(sj_hashes *h, const char *source)
{
    char *copy = strdup(source ? source : "");
    if (!copy)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    free(h->source);
    h->source = copy;
    return SJ_OK;
}

/* Grow every array to hold `need` rows; optional arrays only if present. */
static sj_status hashes_reserve(sj_hashes *h, int64_t need)
{
    if (need <= h->capacity)
        return SJ_OK;
    int64_t ncap = h->capacity ? h->capacity : 1024;
    while (ncap < need)
        ncap *= 2;
    size_t rb = sj_hash_type_bytes(h->type);
    uint8_t *hs = realloc(h->hashes, (size_t)ncap * rb);
    if (!hs)
        return sj_fail(SJ_ERR_NOMEM, "out of memory for %lld hashes", (long long)ncap);
    h->hashes = hs;
    int64_t *ids = realloc(h->ids, (size_t)ncap * sizeof *ids);
    if (!ids)
        return sj_fail(SJ_ERR_NOMEM, "out of memory for %lld hashes", (long long)ncap);
    h->ids = ids;
    if (h->quality) {
        int16_t *q = realloc(h->quality, (size_t)ncap * sizeof *q);
        if (!q)
            return sj_fail(SJ_ERR_NOMEM, "out of memory");
        h->quality = q;
    }
    if (h->labels) {
        int64_t *l = realloc(h->labels, (size_t)ncap * sizeof *l);
        if (!l)
            return sj_fail(SJ_ERR_NOMEM, "out of memory");
        h->labels = l;
    }
    if (h->dihedral) {
        uint8_t *d = realloc(h->dihedral, (size_t)ncap * SJ_DIHEDRAL * rb);
        if (!d)
            return sj_fail(SJ_ERR_NOMEM, "out of memory");
        h->dihedral = d;
    }
    h->capacity = ncap;
    return SJ_OK;
}

/* Allocate an optional column on first use, filling earlier rows with -1. */
static sj_status ensure_quality(sj_hashes *h)
{
    if (h->quality)
        return SJ_OK;
    h->quality = malloc((size_t)SJ_MAX(h->capacity, 1) * sizeof *h->quality);
    if (!h->quality)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < h->n; i++)
        h->quality[i] = -1;
    return SJ_OK;
}

sj_status sj_hashes_ensure_labels(sj_hashes *h)
{
    if (h->labels)
        return SJ_OK;
    h->labels = malloc((size_t)SJ_MAX(h->capacity, 1) * sizeof *h->labels);
    if (!h->labels)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < h->n; i++)
        h->labels[i] = -1;
    return SJ_OK;
}

sj_status sj_hashes_ensure_meta(sj_hashes *h)
{
    sj_status st = h->meta ? SJ_OK : sj_meta_create(&h->meta);
    return st ? st : sj_meta_pad(h->meta, h->n); /* earlier rows: unknown */
}

static sj_status append_row(sj_hashes *h, int64_t id, const uint8_t *hash, int quality);

/* Give an empty set a dihedral block (its first row will bring the hashes). */
static sj_status ensure_dihedral(sj_hashes *h)
{
    if (h->dihedral)
        return SJ_OK;
    if (h->n > 0)
        return sj_fail(SJ_ERR_MISMATCH, "cannot add dihedral hashes to a set whose %lld earlier "
                                        "rows have none", (long long)h->n);
    if (!sj_hash_type_binary(h->type))
        return sj_fail(SJ_ERR_MISMATCH, "dihedral hashes need a binary kind (pdq, bits:N)");
    h->dihedral = malloc((size_t)SJ_MAX(h->capacity, 1) * SJ_DIHEDRAL * sj_hash_type_bytes(h->type));
    return h->dihedral ? SJ_OK : sj_fail(SJ_ERR_NOMEM, "out of memory");
}

sj_status sj_hashes_append_dihedral(sj_hashes *h, int64_t id, const uint8_t *eight, int quality)
{
    sj_status st = ensure_dihedral(h);
    if (st || (st = hashes_reserve(h, h->n + 1)))
        return st;
    const size_t block = (size_t)SJ_DIHEDRAL * sj_hash_type_bytes(h->type);
    memcpy(h->dihedral + (size_t)h->n * block, eight, block);
    return append_row(h, id, eight, quality);
}

sj_status sj_hashes_append(sj_hashes *h, int64_t id, const uint8_t *hash, int quality)
{
    if (h->dihedral)
        return sj_fail(SJ_ERR_MISMATCH, "a row without dihedral hashes cannot join a dihedral set "
                                        "(use sj_hashes_append_dihedral)");
    sj_status st = hashes_reserve(h, h->n + 1);
    return st ? st : append_row(h, id, hash, quality);
}

/* The row itself (space reserved; a dihedral block already copied). */
static sj_status append_row(sj_hashes *h, int64_t id, const uint8_t *hash, int quality)
{
    sj_status st;
    if (quality >= 0 && (st = ensure_quality(h)))
        return st;
    size_t rb = sj_hash_type_bytes(h->type);
    memcpy(h->hashes + (size_t)h->n * rb, hash, rb);
    h->ids[h->n] = id;
    if (h->quality)
        h->quality[h->n] = (int16_t)quality;
    if (h->labels)
        h->labels[h->n] = -1;
    if (h->meta && (st = sj_meta_append_row(h->meta, NULL, 0)))
        return st;
    h->n++;
    return SJ_OK;
}

sj_status sj_hashes_concat(sj_hashes *dst, const sj_hashes *src)
{
    if (dst->type.bits != src->type.bits || dst->type.kind != src->type.kind) {
        char a[24], b[24];
        sj_hash_type_format(dst->type, a, sizeof a);
        sj_hash_type_format(src->type, b, sizeof b);
        return sj_fail(SJ_ERR_MISMATCH, "cannot combine hashes of kind %s with kind %s", a, b);
    }
    sj_status st = hashes_reserve(dst, dst->n + src->n);
    if (st)
        return st;
    if (src->quality && (st = ensure_quality(dst)))
        return st;
    if (src->labels && (st = sj_hashes_ensure_labels(dst)))
        return st;
    if (src->meta && (st = sj_hashes_ensure_meta(dst)))
        return st;
    if (src->dihedral && dst->n == 0 && (st = ensure_dihedral(dst)))
        return st;
    if (!src->dihedral && src->n > 0 && dst->dihedral) { /* rows without: the union has none */
        free(dst->dihedral);
        dst->dihedral = NULL;
    }
    for (int64_t i = 0; dst->meta && i < src->n; i++)
        if ((st = sj_meta_append_row(dst->meta, src->meta, i)))
            return st;
    if (src->n == 0)
        return SJ_OK; /* (and no memcpy with NULL pointers) */
    size_t rb = sj_hash_type_bytes(dst->type);
    memcpy(dst->hashes + (size_t)dst->n * rb, src->hashes, (size_t)src->n * rb);
    memcpy(dst->ids + dst->n, src->ids, (size_t)src->n * sizeof *src->ids);
    if (dst->dihedral && src->dihedral)
        memcpy(dst->dihedral + (size_t)dst->n * SJ_DIHEDRAL * rb, src->dihedral,
               (size_t)src->n * SJ_DIHEDRAL * rb);
    for (int64_t i = 0; i < src->n; i++) {
        if (dst->quality)
            dst->quality[dst->n + i] = src->quality ? src->quality[i] : -1;
        if (dst->labels)
            dst->labels[dst->n + i] = src->labels ? src->labels[i] : -1;
    }
    dst->n += src->n;
    return SJ_OK;
}

int sj_cmp_id_row(const void *x, const void *y)
{
    const sj_id_row *a = x, *b = y;
    if (a->id != b->id)
        return a->id < b->id ? -1 : 1;
    return a->row < b->row ? -1 : a->row > b->row;
}

sj_status sj_hashes_check_unique_ids(const sj_hashes *h, const char *what)
{
    int64_t k = 1;
    while (k < h->n && h->ids[k - 1] < h->ids[k])
        k++;
    if (k >= h->n) /* strictly ascending (or n < 2): unique */
        return SJ_OK;
    sj_id_row *v = malloc((size_t)h->n * sizeof *v);
    if (!v)
        return sj_fail(SJ_ERR_NOMEM, "out of memory checking ids");
    for (int64_t i = 0; i < h->n; i++)
        v[i] = (sj_id_row){h->ids[i], i};
    sj_status st = sj_sort_by_id(v, h->n, sizeof *v); /* by (id, row): stable */
    for (int64_t i = 1; i < h->n; i++) {
        if (v[i].id == v[i - 1].id) {
            /* Rows, not ids, in the message: ids are sensitive. */
            st = sj_fail(SJ_ERR_DUPLICATE_ID, "%s: rows %lld and %lld have the same id", what,
                         (long long)v[i - 1].row, (long long)v[i].row);
            break;
        }
    }
    free(v);
    return st;
}

/* ---- hex ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sj_hex_decode(const char *text, size_t len, uint8_t *out, size_t nbytes)
{
    for (size_t i = 0; i < len && i < 2 * nbytes; i++)
        if (hexval((unsigned char)text[i]) < 0)
            return (int)i + 1;
    if (len != 2 * nbytes)
        return -1;
    for (size_t i = 0; i < nbytes; i++)
        out[i] = (uint8_t)(hexval(text[2 * i]) << 4 | hexval(text[2 * i + 1]));
    return 0;
}

void sj_hex_encode(const uint8_t *in, size_t nbytes, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * nbytes] = 0;
}

/* ---- float rows ---- */

sj_status sj_check_finite(const sj_hashes *h, int64_t first_row, const char *what)
{
    if (h->type.kind != SJ_KIND_F32)
        return SJ_OK;
    for (int64_t i = 0; i < h->n; i++)
        for (uint32_t j = 0; j < h->type.dim; j++) {
            float x;
            memcpy(&x, h->hashes + ((size_t)i * h->type.dim + j) * 4, 4);
            if (!isfinite(x))
                return sj_fail(SJ_ERR_FORMAT, "%s: row %lld, component %u is %s", what,
                               (long long)(first_row + i),
                               j + 1, isnan(x) ? "NaN" : "infinite");
        }
    return SJ_OK;
}

int sj_row_is_zero_vector(sj_hash_type t, const uint8_t *row)
{
    if (t.kind == SJ_KIND_F32) {
        for (uint32_t j = 0; j < t.dim; j++) {
            float x;
            memcpy(&x, row + 4 * (size_t)j, 4);
            if (x != 0.0f)
                return 0;
        }
        return 1;
    }
    for (uint32_t j = 0; j < sj_hash_type_bytes(t); j++)
        if (row[j])
            return 0;
    return 1;
}

/* ---- base64 ---- */

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int sj_base64_decode(const char *text, size_t len, uint8_t *out, size_t nbytes)
{
    const size_t pad = (3 - nbytes % 3) % 3; /* '=' at the end */
    for (size_t i = 0; i < len; i++) {
        int is_pad = i >= len - pad && len == 4 * ((nbytes + 2) / 3);
        if (is_pad ? text[i] != '=' : b64val((unsigned char)text[i]) < 0)
            return (int)i + 1;
    }
    if (len != 4 * ((nbytes + 2) / 3))
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        for (int k = 0; k < 4; k++)
            v = v << 6 | (uint32_t)(text[i + k] == '=' ? 0 : b64val((unsigned char)text[i + k]));
        for (int k = 2; k >= 0 && o < nbytes; k--)
            out[o++] = (uint8_t)(v >> (8 * k));
    }
    return 0;
}

/* ---- degenerate hashes ---- */

void sj_degenerate_defaults(sj_hash_type t, sj_degenerate_options *o)
{
    o->enabled = 1;
    o->min_ones = (int32_t)(t.bits / 8);
    o->max_ones = (int32_t)(t.bits - t.bits / 8);
    o->min_quality = t.kind == SJ_KIND_PDQ ? 50 : 0;
}

sj_degenerate_rule sj_degenerate_check(const sj_degenerate_options *o, sj_hash_type t,
                                       const uint8_t *hash, int quality)
{
    if (!o->enabled)
        return SJ_DEGEN_NONE;
    if (!sj_hash_type_binary(t)) /* vectors: only the zero vector (no direction, no cosine) */
        return sj_row_is_zero_vector(t, hash) ? SJ_DEGEN_ALL_ZERO
               : quality >= 0 && quality < o->min_quality ? SJ_DEGEN_LOW_QUALITY : SJ_DEGEN_NONE;
    int ones = sj_popcount_bytes(hash, sj_hash_type_bytes(t));
    if (ones == 0)
        return SJ_DEGEN_ALL_ZERO;
    if (ones < o->min_ones || ones > o->max_ones)
        return SJ_DEGEN_BIT_BAND;
    if (quality >= 0 && quality < o->min_quality)
        return SJ_DEGEN_LOW_QUALITY;
    return SJ_DEGEN_NONE;
}

const char *sj_degenerate_rule_name(sj_degenerate_rule r)
{
    switch (r) {
    case SJ_DEGEN_NONE: return "none";
    case SJ_DEGEN_ALL_ZERO: return "all_zero";
    case SJ_DEGEN_BIT_BAND: return "bit_band";
    case SJ_DEGEN_LOW_QUALITY: return "low_quality";
    case SJ_DEGEN_QUARANTINED: return "quarantined";
    }
    return "unknown";
}

sj_status sj_hashes_remove_degenerate(sj_hashes *h, const sj_degenerate_options *o,
                                      int64_t *excluded_id, uint8_t *excluded_rule,
                                      int64_t *n_excluded)
{
    const size_t rb = sj_hash_type_bytes(h->type);
    int64_t kept = 0, ex = 0;
    uint8_t *keep = h->meta ? malloc((size_t)SJ_MAX(h->n, 1)) : NULL;
    if (h->meta && !keep)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < h->n; i++) {
        const uint8_t *row = h->hashes + (size_t)i * rb;
        sj_degenerate_rule r = sj_degenerate_check(o, h->type, row, h->quality ? h->quality[i] : -1);
        if (keep)
            keep[i] = r == SJ_DEGEN_NONE;
        if (r != SJ_DEGEN_NONE) {
            excluded_id[ex] = h->ids[i];
            excluded_rule[ex++] = (uint8_t)r;
            continue;
        }
        if (kept != i) {
            memmove(h->hashes + (size_t)kept * rb, row, rb);
            h->ids[kept] = h->ids[i];
            if (h->quality)
                h->quality[kept] = h->quality[i];
            if (h->labels)
                h->labels[kept] = h->labels[i];
            if (h->dihedral)
                memmove(h->dihedral + (size_t)kept * SJ_DIHEDRAL * rb,
                        h->dihedral + (size_t)i * SJ_DIHEDRAL * rb, SJ_DIHEDRAL * rb);
        }
        kept++;
    }
    if (keep)
        sj_meta_keep(h->meta, keep);
    free(keep);
    h->n = kept;
    *n_excluded = ex;
    return SJ_OK;
}

void sj_excluded_text(const uint8_t *rule, int64_t n, const sj_degenerate_options *o, char *buf,
                       size_t size)
{
    int64_t per[SJ_DEGEN_LOW_QUALITY + 1] = {0};
    for (int64_t i = 0; i < n; i++)
        per[rule[i] <= SJ_DEGEN_LOW_QUALITY ? rule[i] : 0]++;
    size_t used = (size_t)snprintf(buf, size, "%lld excluded", (long long)n);
    static const int order[3] = {SJ_DEGEN_LOW_QUALITY, SJ_DEGEN_BIT_BAND, SJ_DEGEN_ALL_ZERO};
    int first = 1;
    for (int k = 0; k < 3 && used < size; k++) {
        int r = order[k];
        if (!per[r])
            continue;
        char why[64];
        if (r == SJ_DEGEN_LOW_QUALITY)
            o ? snprintf(why, sizeof why, "quality < %d", (int)o->min_quality)
              : snprintf(why, sizeof why, "low quality");
        else if (r == SJ_DEGEN_BIT_BAND)
            o ? snprintf(why, sizeof why, "one-bit count outside %d..%d", (int)o->min_ones,
                         (int)o->max_ones)
              : snprintf(why, sizeof why, "one-bit band");
        else
            snprintf(why, sizeof why, "all zero");
        used += (size_t)snprintf(buf + used, size - used, "%s%lld %s", first ? ": " : ", ",
                                 (long long)per[r], why);
        first = 0;
    }
}
