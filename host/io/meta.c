/* meta.c - case metadata rows (interned text), the id-keyed table, and the
 * per-cluster case summary with its triage order. */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"
#include "simjoin/meta.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct sj_meta {
    int64_t n, capacity;
    int32_t *text[SJ_META_N_TEXT]; /* [capacity] codes, -1 none */
    int8_t *victim, *offender;     /* [capacity] SJ_META_* */
    /* interned strings: code -> text, and an open-addressing index */
    char **strings;
    int64_t n_strings, cap_strings;
    int32_t *slots; /* [mask+1] code or -1 */
    uint64_t mask;
};

const char *sj_meta_text_name(sj_meta_text f)
{
    static const char *names[SJ_META_N_TEXT] = {"series", "case_id", "category", "source",
                                                    "path", "md5", "sha1"};
    return f < SJ_META_N_TEXT ? names[f] : "?";
}

int sj_meta_parse_flag(const char *text, size_t len, int8_t *out)
{
    static const struct {
        const char *word;
        int8_t v;
    } words[] = {{"yes", 1},   {"y", 1},       {"true", 1}, {"1", 1},       {"no", 0},
                 {"n", 0},     {"false", 0},   {"0", 0},    {"unknown", -1}, {"u", -1},
                 {"?", -1},    {"", -1}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i].word) == len && strncasecmp(text, words[i].word, len) == 0) {
            *out = words[i].v;
            return 0;
        }
    return -1;
}

const char *sj_meta_flag_name(int8_t v)
{
    return v == SJ_META_YES ? "yes" : v == SJ_META_NO ? "no" : "unknown";
}

sj_status sj_meta_create(sj_meta **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? SJ_OK : sj_fail(SJ_ERR_NOMEM, "out of memory");
}

void sj_meta_free(sj_meta *m)
{
    if (!m)
        return;
    for (int f = 0; f < SJ_META_N_TEXT; f++)
        free(m->text[f]);
    free(m->victim);
    free(m->offender);
    for (int64_t i = 0; i < m->n_strings; i++)
        free(m->strings[i]);
    free(m->strings);
    free(m->slots);
    free(m);
}

int64_t sj_meta_rows(const sj_meta *m) { return m ? m->n : 0; }

static uint64_t text_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static sj_status rehash(sj_meta *m, uint64_t slots)
{
    int32_t *v = malloc(slots * sizeof *v);
    if (!v)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < slots; i++)
        v[i] = -1;
    for (int64_t c = 0; c < m->n_strings; c++) {
        uint64_t i = text_hash(m->strings[c]) & (slots - 1);
        while (v[i] >= 0)
            i = (i + 1) & (slots - 1);
        v[i] = (int32_t)c;
    }
    free(m->slots);
    m->slots = v;
    m->mask = slots - 1;
    return SJ_OK;
}

/* Code of text, interning it when new. "" and NULL: -1. */
static sj_status intern(sj_meta *m, const char *text, int max_len, int32_t *code)
{
    *code = -1;
    if (!text || !*text)
        return SJ_OK;
    if (strlen(text) > (size_t)max_len)
        return sj_fail(SJ_ERR_ARG, "a metadata value is longer than %d bytes", max_len);
    sj_status st;
    if ((uint64_t)(m->n_strings + 1) * 2 > (m->slots ? m->mask + 1 : 0) &&
        (st = rehash(m, m->slots ? (m->mask + 1) * 2 : 64)))
        return st;
    uint64_t i = text_hash(text) & m->mask;
    while (m->slots[i] >= 0) {
        if (strcmp(m->strings[m->slots[i]], text) == 0) {
            *code = m->slots[i];
            return SJ_OK;
        }
        i = (i + 1) & m->mask;
    }
    if (m->n_strings >= INT32_MAX)
        return sj_fail(SJ_ERR_LIMIT, "too many distinct metadata values");
    if ((st = sj_grow((void **)&m->strings, &m->cap_strings, m->n_strings + 1, sizeof *m->strings)))
        return st;
    if (!(m->strings[m->n_strings] = strdup(text)))
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    m->slots[i] = (int32_t)m->n_strings;
    *code = (int32_t)m->n_strings++;
    return SJ_OK;
}

static sj_status reserve(sj_meta *m, int64_t need)
{
    if (need <= m->capacity)
        return SJ_OK;
    int64_t cap = m->capacity ? m->capacity * 2 : 256;
    while (cap < need)
        cap *= 2;
    for (int f = 0; f < SJ_META_N_TEXT; f++) {
        int32_t *p = realloc(m->text[f], (size_t)cap * sizeof *p);
        if (!p)
            return sj_fail(SJ_ERR_NOMEM, "out of memory");
        m->text[f] = p;
    }
    int8_t *v = realloc(m->victim, (size_t)cap), *o;
    if (!v)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    m->victim = v;
    if (!(o = realloc(m->offender, (size_t)cap)))
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    m->offender = o;
    m->capacity = cap;
    return SJ_OK;
}

sj_status sj_meta_append(sj_meta *m, const char *const text[SJ_META_N_TEXT], int8_t victim,
                         int8_t offender)
{
    int32_t code[SJ_META_N_TEXT];
    sj_status st;
    for (int f = 0; f < SJ_META_N_TEXT; f++)
        if ((st = intern(m, text ? text[f] : NULL, sj_meta_text_max((sj_meta_text)f), &code[f])))
            return st;
    if ((st = reserve(m, m->n + 1)))
        return st;
    for (int f = 0; f < SJ_META_N_TEXT; f++)
        m->text[f][m->n] = code[f];
    m->victim[m->n] = victim < 0 ? SJ_META_UNKNOWN : victim > 0;
    m->offender[m->n] = offender < 0 ? SJ_META_UNKNOWN : offender > 0;
    m->n++;
    return SJ_OK;
}

/* Append rows up to n, all unknown. */
static sj_status append_unknown(sj_meta *m, int64_t n)
{
    sj_status st = reserve(m, n);
    if (st || n <= m->n)
        return st;
    for (int f = 0; f < SJ_META_N_TEXT; f++)
        for (int64_t i = m->n; i < n; i++)
            m->text[f][i] = -1;
    memset(m->victim + m->n, SJ_META_UNKNOWN, (size_t)(n - m->n));
    memset(m->offender + m->n, SJ_META_UNKNOWN, (size_t)(n - m->n));
    m->n = n;
    return SJ_OK;
}

sj_status sj_meta_append_row(sj_meta *m, const sj_meta *src, int64_t row)
{
    if (!src)
        return append_unknown(m, m->n + 1);
    const char *text[SJ_META_N_TEXT];
    for (int f = 0; f < SJ_META_N_TEXT; f++)
        text[f] = sj_meta_text_get(src, row, (sj_meta_text)f);
    return sj_meta_append(m, text, src->victim[row], src->offender[row]);
}

sj_status sj_meta_pad(sj_meta *m, int64_t n) { return append_unknown(m, n); }

const char *sj_meta_text_get(const sj_meta *m, int64_t row, sj_meta_text f)
{
    int32_t c = sj_meta_text_code(m, row, f);
    return c < 0 ? "" : m->strings[c];
}

int32_t sj_meta_text_code(const sj_meta *m, int64_t row, sj_meta_text f)
{
    return m && row >= 0 && row < m->n ? m->text[f][row] : -1;
}

const int32_t *sj_meta_text_column(const sj_meta *m, sj_meta_text f)
{
    return m ? m->text[f] : NULL;
}

int32_t sj_meta_text_count(const sj_meta *m) { return m ? (int32_t)m->n_strings : 0; }

const char *sj_meta_code_text(const sj_meta *m, int32_t code)
{
    return code >= 0 && code < m->n_strings ? m->strings[code] : "";
}

int8_t sj_meta_victim(const sj_meta *m, int64_t row)
{
    return m && row >= 0 && row < m->n ? m->victim[row] : SJ_META_UNKNOWN;
}

int8_t sj_meta_offender(const sj_meta *m, int64_t row)
{
    return m && row >= 0 && row < m->n ? m->offender[row] : SJ_META_UNKNOWN;
}

sj_status sj_meta_set_text(sj_meta *m, int64_t row, sj_meta_text f, const char *text)
{
    int32_t code;
    sj_status st = intern(m, text, sj_meta_text_max(f), &code);
    if (!st)
        m->text[f][row] = code;
    return st;
}

void sj_meta_keep(sj_meta *m, const uint8_t *keep)
{
    int64_t k = 0;
    for (int64_t i = 0; i < m->n; i++) {
        if (!keep[i])
            continue;
        for (int f = 0; f < SJ_META_N_TEXT; f++)
            m->text[f][k] = m->text[f][i];
        m->victim[k] = m->victim[i];
        m->offender[k] = m->offender[i];
        k++;
    }
    m->n = k;
}

/* ---- the id-keyed table ---- */

void sj_meta_table_free(sj_meta_table *t)
{
    if (!t)
        return;
    free(t->ids);
    free(t->is_new);
    sj_meta_free(t->meta);
    free(t);
}

typedef struct table_row {
    int64_t id;
    int32_t set;
    int64_t row;
} table_row;

/* The rows of up to ROW_ORDER_SETS hash sets in id order: a merge walk when
 * every set ascends (shards in id order), else a sorted copy (sorted[n]). */
enum { ROW_ORDER_SETS = 8 };
typedef struct row_order {
    const sj_hashes *const *sets;
    int n_sets;
    int64_t at[ROW_ORDER_SETS]; /* the merge's position in each set */
    table_row *sorted;          /* NULL: merging */
    int64_t next;
} row_order;

static int set_ascends(const sj_hashes *h)
{
    for (int64_t i = 1; h && i < h->n; i++)
        if (h->ids[i - 1] >= h->ids[i])
            return 0;
    return 1;
}

static sj_status row_order_start(row_order *o, const sj_hashes *const *sets, int n_sets, int64_t n)
{
    memset(o, 0, sizeof *o);
    o->sets = sets;
    o->n_sets = n_sets;
    int ascending = n_sets <= ROW_ORDER_SETS;
    for (int k = 0; k < n_sets && ascending; k++)
        ascending = set_ascends(sets[k]);
    if (ascending)
        return SJ_OK;
    if (!(o->sorted = malloc((size_t)SJ_MAX(n, 1) * sizeof *o->sorted)))
        return sj_fail(SJ_ERR_NOMEM, "out of memory for the metadata of %lld hashes", (long long)n);
    int64_t m = 0;
    for (int k = 0; k < n_sets; k++)
        for (int64_t i = 0; sets[k] && i < sets[k]->n; i++)
            o->sorted[m++] = (table_row){sets[k]->ids[i], k, i};
    return sj_sort_by_id(o->sorted, n, sizeof *o->sorted);
}

/* The next row in id order (equal ids: the lower set first); call n times. */
static table_row row_order_next(row_order *o)
{
    if (o->sorted)
        return o->sorted[o->next++];
    int best = -1;
    for (int k = 0; k < o->n_sets; k++) {
        const sj_hashes *h = o->sets[k];
        if (h && o->at[k] < h->n &&
            (best < 0 || h->ids[o->at[k]] < o->sets[best]->ids[o->at[best]]))
            best = k;
    }
    table_row r = {o->sets[best]->ids[o->at[best]], best, o->at[best]};
    o->at[best]++;
    return r;
}

sj_status sj_meta_table_build(const sj_hashes *const *sets, const uint8_t *is_new, int n_sets,
                              sj_meta_table **out)
{
    *out = NULL;
    int64_t n = 0;
    int any_meta = 0;
    for (int k = 0; k < n_sets; k++) {
        n += sets[k] ? sets[k]->n : 0;
        any_meta |= sets[k] && sets[k]->meta;
    }
    sj_meta_table *t = calloc(1, sizeof *t);
    row_order order = {0};
    sj_prefault *pf = NULL; /* t->ids's page faults, while it is filled */
    sj_status st = SJ_OK;
    if (!t || !(t->ids = malloc((size_t)SJ_MAX(n, 1) * sizeof *t->ids)) ||
        !(t->is_new = malloc((size_t)SJ_MAX(n, 1)))) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory for the metadata of %lld hashes", (long long)n);
        goto fail;
    }
    if ((st = sj_meta_create(&t->meta)) || (st = row_order_start(&order, sets, n_sets, n)) ||
        (any_meta && (st = reserve(t->meta, n))))
        goto fail;
    pf = sj_prefault_start(t->ids, (size_t)n * sizeof *t->ids);
    for (int64_t i = 0; i < n; i++) {
        table_row r = row_order_next(&order);
        const sj_hashes *h = sets[r.set];
        if (i > 0 && r.id == t->ids[i - 1]) {
            st = sj_fail(SJ_ERR_DUPLICATE_ID, "the same id appears in two inputs");
            goto fail;
        }
        t->ids[i] = r.id;
        t->is_new[i] = is_new[r.set];
        /* rows without metadata: appended in runs, before the next with */
        if (h->meta && ((st = append_unknown(t->meta, i)) ||
                        (st = sj_meta_append_row(t->meta, h->meta, r.row))))
            goto fail;
    }
    sj_prefault_wait(pf);
    pf = NULL;
    /* No set with metadata: no rows made (rows past sj_meta_rows are unknown
     * to every reader; a million rows of -1 cost more than reading them). */
    if (any_meta && (st = append_unknown(t->meta, n)))
        goto fail;
    t->n = n;
    free(order.sorted);
    *out = t;
    return SJ_OK;
fail:
    sj_prefault_wait(pf);
    free(order.sorted);
    sj_meta_table_free(t);
    return st;
}

int64_t sj_meta_table_find(const sj_meta_table *t, int64_t id)
{
    return t ? sj_search_i64(t->ids, t->n, id) : -1;
}

/* ---- case summary ---- */

const char *sj_triage_name(sj_triage t)
{
    switch (t) {
    case SJ_TRIAGE_UNIDENTIFIED_VICTIM: return "unidentified_victim";
    case SJ_TRIAGE_NEW_SERIES: return "candidate_new_series";
    case SJ_TRIAGE_CROSS_CASE: return "cross_case_link";
    case SJ_TRIAGE_KNOWN_IDENTIFIED: return "known_identified_series";
    case SJ_TRIAGE_NOT_COMPARED: return "not_compared";
    case SJ_TRIAGE_NONE: break;
    }
    return "none";
}

void sj_case_flags_format(unsigned f, char *buf, size_t size)
{
    static const char *names[] = {"merges_series", "multi_case", "multi_source", "new_no_series"};
    size_t used = 0;
    buf[0] = 0;
    for (int b = 0; b < 4; b++)
        if (f & (1u << b))
            used += (size_t)snprintf(buf + used, used < size ? size - used : 0, "%s%s",
                                     used ? "," : "", names[b]);
}

void sj_case_summary_free(sj_case_summary *s)
{
    if (!s)
        return;
    for (int64_t k = 0; k < s->n_clusters; k++) {
        if (s->series)
            free(s->series[k]);
        if (s->cases)
            free(s->cases[k]);
        if (s->sources)
            free(s->sources[k]);
    }
    free(s->n_new);
    free(s->n_known);
    free(s->n_series);
    free(s->n_cases);
    free(s->n_sources);
    free(s->n_series_unidentified);
    free(s->victim_identified);
    free(s->offender_identified);
    free(s->flags);
    free(s->triage);
    free(s->series);
    free(s->cases);
    free(s->sources);
    free(s->ranked);
    free(s);
}

/* (cluster, code) pairs sorted, to count and list distinct codes. */
static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

/* Distinct non-empty codes of field f per cluster: lists[k] (-1 ended) and
 * counts[k]. member[i] is the table row of node i (-1: none). */
static sj_status distinct_codes(const int64_t *cluster, const int64_t *member, int64_t n,
                                int64_t n_clusters, const sj_meta *m, sj_meta_text f,
                                int32_t **lists, int32_t *counts)
{
    int64_t *key = malloc((size_t)SJ_MAX(n, 1) * sizeof *key), nk = 0;
    if (!key)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        int32_t c = cluster[i] >= 0 ? sj_meta_text_code(m, member[i], f) : -1;
        if (c >= 0)
            key[nk++] = cluster[i] << 31 | c;
    }
    qsort(key, (size_t)nk, sizeof *key, cmp_i64);
    int64_t u = 0;
    for (int64_t i = 0; i < nk; i++)
        if (i == 0 || key[i] != key[i - 1])
            key[u++] = key[i];
    for (int64_t i = 0; i < u; i++)
        counts[key[i] >> 31]++;
    sj_status st = SJ_OK;
    for (int64_t k = 0, i = 0; k < n_clusters; k++) {
        if (!(lists[k] = malloc(((size_t)counts[k] + 1) * sizeof **lists))) {
            st = sj_fail(SJ_ERR_NOMEM, "out of memory");
            break;
        }
        int32_t j = 0;
        for (; i < u && (key[i] >> 31) == k; i++)
            lists[k][j++] = (int32_t)(key[i] & 0x7fffffff);
        lists[k][j] = -1;
    }
    free(key);
    return st;
}

/* The triage order as a sort key: class, then larger clusters, then more
 * sources, then the closer smallest match (unknown last), then the lower
 * cluster number (no globals: callers may run on several threads). */
typedef struct rank_key {
    int64_t triage, neg_size, neg_sources;
    double distance; /* +inf when unknown */
    int64_t cluster;
} rank_key;

static int cmp_rank(const void *x, const void *y)
{
    const rank_key *a = x, *b = y;
    if (a->triage != b->triage)
        return a->triage < b->triage ? -1 : 1;
    if (a->neg_size != b->neg_size)
        return a->neg_size < b->neg_size ? -1 : 1;
    if (a->neg_sources != b->neg_sources)
        return a->neg_sources < b->neg_sources ? -1 : 1;
    if (a->distance != b->distance)
        return a->distance < b->distance ? -1 : 1;
    return a->cluster < b->cluster ? -1 : a->cluster > b->cluster;
}

/* The class of a cluster from its summary (README "Triage report"): only
 * clusters of 2+ hashes with a new upload are listed; sources play no part. */
static sj_triage classify(const sj_case_summary *s, int64_t k, int64_t size, int bare_unidentified)
{
    if (size < 2 || s->n_new[k] == 0)
        return SJ_TRIAGE_NONE;
    if (s->n_series_unidentified[k] > 0 || bare_unidentified)
        return SJ_TRIAGE_UNIDENTIFIED_VICTIM;
    if (s->n_known[k] == 0 && s->n_series[k] == 0)
        return SJ_TRIAGE_NEW_SERIES;
    if (s->n_series[k] >= 2 || s->n_cases[k] >= 2)
        return SJ_TRIAGE_CROSS_CASE;
    return SJ_TRIAGE_KNOWN_IDENTIFIED;
}

sj_status sj_case_summarize(const int64_t *ids, const int64_t *cluster, int64_t n,
                            int64_t n_clusters, const sj_meta_table *t, const double *min_distance,
                            sj_case_summary **out)
{
    *out = NULL;
    size_t nc = (size_t)SJ_MAX(n_clusters, 1);
    sj_case_summary *s = calloc(1, sizeof *s);
    int64_t *member = malloc((size_t)SJ_MAX(n, 1) * sizeof *member);
    int64_t *size = calloc(nc, sizeof *size);
    uint8_t *series_ok = NULL; /* [text codes] 1: some hash of that series has victim yes */
    uint8_t *bare = calloc(nc, 1); /* [cluster] 1: a corpus member without series, victim not yes */
    sj_status st = SJ_OK;
    if (!s || !member || !size || !bare) {
        free(s), s = NULL;
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
        goto done;
    }
    s->n_clusters = n_clusters;
    if (!(s->n_new = calloc(nc, sizeof *s->n_new)) || !(s->n_known = calloc(nc, sizeof *s->n_known)) ||
        !(s->n_series = calloc(nc, sizeof *s->n_series)) ||
        !(s->n_cases = calloc(nc, sizeof *s->n_cases)) ||
        !(s->n_sources = calloc(nc, sizeof *s->n_sources)) ||
        !(s->n_series_unidentified = calloc(nc, sizeof *s->n_series_unidentified)) ||
        !(s->victim_identified = malloc(nc)) || !(s->offender_identified = malloc(nc)) ||
        !(s->flags = calloc(nc, 1)) || !(s->triage = calloc(nc, 1)) ||
        !(s->series = calloc(nc, sizeof *s->series)) || !(s->cases = calloc(nc, sizeof *s->cases)) ||
        !(s->sources = calloc(nc, sizeof *s->sources)) ||
        !(s->ranked = malloc(nc * sizeof *s->ranked)) ||
        !(series_ok = calloc((size_t)SJ_MAX(sj_meta_text_count(t ? t->meta : NULL), 1), 1))) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
        goto done;
    }
    const sj_meta *m = t ? t->meta : NULL;
    for (int64_t r = 0; t && r < t->n; r++) { /* a series' victim: identified anywhere */
        int32_t c = sj_meta_text_code(m, r, SJ_META_SERIES);
        if (c >= 0 && sj_meta_victim(m, r) == SJ_META_YES)
            series_ok[c] = 1;
    }
    memset(s->victim_identified, SJ_META_UNKNOWN, nc);
    memset(s->offender_identified, SJ_META_UNKNOWN, nc);
    for (int64_t i = 0; i < n; i++) {
        member[i] = sj_meta_table_find(t, ids[i]);
        int64_t k = cluster[i];
        if (k < 0)
            continue;
        if (k >= n_clusters) {
            st = sj_fail(SJ_ERR_INTERNAL, "cluster number out of range");
            goto done;
        }
        size[k]++;
        int is_new = member[i] >= 0 && t->is_new[member[i]];
        s->n_new[k] += is_new;
        s->n_known[k] += !is_new;
        int8_t v = sj_meta_victim(m, member[i]), o = sj_meta_offender(m, member[i]);
        s->victim_identified[k] = (int8_t)SJ_MAX(s->victim_identified[k], v);
        if (!is_new && sj_meta_text_code(m, member[i], SJ_META_SERIES) < 0 && v != SJ_META_YES)
            bare[k] = 1;
        s->offender_identified[k] = (int8_t)SJ_MAX(s->offender_identified[k], o);
    }
    if ((st = distinct_codes(cluster, member, n, n_clusters, m, SJ_META_SERIES, s->series, s->n_series)) ||
        (st = distinct_codes(cluster, member, n, n_clusters, m, SJ_META_CASE_ID, s->cases, s->n_cases)) ||
        (st = distinct_codes(cluster, member, n, n_clusters, m, SJ_META_SOURCE, s->sources, s->n_sources)))
        goto done;
    for (int64_t k = 0; k < n_clusters; k++) {
        for (int32_t *c = s->series[k]; *c >= 0; c++)
            s->n_series_unidentified[k] += !series_ok[*c];
        unsigned f = 0;
        if (s->n_series[k] >= 2)
            f |= SJ_CASE_MERGES_SERIES;
        if (s->n_cases[k] >= 2)
            f |= SJ_CASE_MULTI_CASE;
        if (s->n_sources[k] >= 2)
            f |= SJ_CASE_MULTI_SOURCE;
        if (s->n_new[k] > 0 && s->n_series[k] == 0)
            f |= SJ_CASE_NEW_NO_SERIES;
        s->flags[k] = (uint8_t)f;
        sj_triage tr = classify(s, k, size[k], bare[k]);
        s->triage[k] = (uint8_t)tr;
        s->n_unmatched += size[k] == 1 && s->n_new[k] == 1;
        if (tr != SJ_TRIAGE_NONE)
            s->ranked[s->n_ranked++] = k;
    }
    {
        rank_key *keys = malloc((size_t)SJ_MAX(s->n_ranked, 1) * sizeof *keys);
        if (!keys) {
            st = sj_fail(SJ_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int64_t r = 0; r < s->n_ranked; r++) {
            int64_t k = s->ranked[r];
            double d = min_distance ? min_distance[k] : NAN;
            keys[r] = (rank_key){s->triage[k], -size[k], -(int64_t)s->n_sources[k],
                                 isnan(d) || d < 0 ? INFINITY : d, k};
        }
        qsort(keys, (size_t)s->n_ranked, sizeof *keys, cmp_rank);
        for (int64_t r = 0; r < s->n_ranked; r++)
            s->ranked[r] = keys[r].cluster;
        free(keys);
    }
done:
    free(member);
    free(size);
    free(series_ok);
    free(bare);
    if (st) {
        sj_case_summary_free(s);
        return st;
    }
    *out = s;
    return SJ_OK;
}
