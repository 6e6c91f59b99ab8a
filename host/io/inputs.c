/* inputs.c - reading a join's input shards: their rows' databases of origin
 * (sources), ids unique across inputs, and the inputs a pairs file records
 * read back and checked against their checksums. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "core/sha256.h"
#include "io/inputs.h"
#include "io/pairs_io.h"
#include "io/shard_reader.h"
#include "simjoin/meta.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

sj_status sj_sources_add(sj_sources *s, const sj_hashes *h, const char *path)
{
    const char *source = h->source ? h->source : "";
    int k = 0;
    while (k < s->n && strcmp(s->names[k], source) != 0)
        k++;
    if (k == s->n) {
        if (s->n == INT32_MAX)
            return sj_fail(SJ_ERR_LIMIT, "%s: more than 2^31-1 distinct sources in one join", path);
        char **names = realloc(s->names, (size_t)(s->n + 1) * sizeof *names);
        if (!names)
            return sj_fail(SJ_ERR_NOMEM, "out of memory");
        s->names = names;
        if (!(s->names[s->n] = strdup(source)))
            return sj_fail(SJ_ERR_NOMEM, "out of memory");
        s->n++;
    }
    sj_status st = sj_grow((void **)&s->ids, &s->cap, s->n_ids + h->n, sizeof *s->ids);
    if (st)
        return st;
    int32_t *src = realloc(s->src, (size_t)s->cap * sizeof *src);
    if (!src)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    s->src = src;
    sj_prefault *pf = sj_prefault_start(s->ids + s->n_ids, (size_t)h->n * sizeof *s->ids);
    for (int64_t i = 0; i < h->n; i++) {
        s->ids[s->n_ids] = h->ids[i];
        s->src[s->n_ids++] = k;
    }
    sj_prefault_wait(pf);
    return SJ_OK;
}

void sj_sources_finish(sj_sources *s)
{
    int64_t k = 1;
    while (k < s->n_ids && s->ids[k - 1] <= s->ids[k])
        k++;
    if (k >= s->n_ids) /* the shards came in id order: sorted already */
        return;
    int64_t *tmp = malloc((size_t)SJ_MAX(s->n_ids, 1) * 2 * sizeof *tmp);
    if (!tmp)
        return;
    for (int64_t i = 0; i < s->n_ids; i++)
        tmp[2 * i] = s->ids[i], tmp[2 * i + 1] = s->src[i];
    if (sj_sort_by_id(tmp, s->n_ids, 2 * sizeof *tmp)) {
        free(tmp);
        return;
    }
    for (int64_t i = 0; i < s->n_ids; i++)
        s->ids[i] = tmp[2 * i], s->src[i] = (int32_t)tmp[2 * i + 1];
    free(tmp);
}

int32_t sj_sources_of(const sj_sources *s, int64_t id)
{
    int64_t k = sj_search_i64(s->ids, s->n_ids, id);
    return k >= 0 ? s->src[k] : -1;
}

void sj_sources_of_each(const sj_sources *s, const int64_t *ids, int64_t n, int32_t *out)
{
    int64_t j = 0; /* s->ids[j] is the first >= ids[i] while the ids ascend */
    for (int64_t i = 0; i < n; i++) {
        if (i > 0 && ids[i] < ids[i - 1]) { /* not ascending: search the rest */
            for (; i < n; i++)
                out[i] = sj_sources_of(s, ids[i]);
            return;
        }
        while (j < s->n_ids && s->ids[j] < ids[i])
            j++;
        out[i] = j < s->n_ids && s->ids[j] == ids[i] ? s->src[j] : -1;
    }
}

sj_status sj_meta_fill_sources(sj_meta_table *t, const sj_sources *s)
{
    int named = 0;
    for (int k = 0; k < s->n; k++)
        named |= s->names[k][0] != 0;
    if (!named) /* no source has a name: nothing to fill */
        return SJ_OK;
    sj_status st = sj_meta_pad(t->meta, t->n); /* rows made to be set */
    if (st)
        return st;
    int32_t *src = malloc((size_t)SJ_MAX(t->n, 1) * sizeof *src);
    if (!src)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    sj_sources_of_each(s, t->ids, t->n, src);
    for (int64_t i = 0; i < t->n && !st; i++) {
        int32_t k = src[i];
        if (k >= 0 && s->names[k][0] && !*sj_meta_text_get(t->meta, i, SJ_META_SOURCE))
            st = sj_meta_set_text(t->meta, i, SJ_META_SOURCE, s->names[k]);
    }
    free(src);
    return st;
}

void sj_sources_free(sj_sources *s)
{
    for (int k = 0; k < s->n; k++)
        free(s->names[k]);
    free(s->names);
    free(s->ids);
    free(s->src);
    s->names = NULL;
    s->n = 0;
    s->ids = NULL;
    s->src = NULL;
}

char *sj_sources_names(const sj_sources *s)
{
    size_t len = 1;
    for (int k = 0; k < s->n; k++)
        len += strlen(s->names[k]) + 1;
    char *buf = malloc(len), *p = buf;
    for (int k = 0; buf && k < s->n; k++)
        p += sprintf(p, "%s%s", k ? "\n" : "", s->names[k]);
    if (buf)
        *p = 0;
    return buf;
}

/* ---- ids across inputs ---- */

typedef struct id_in_set {
    int64_t id;
    int set;
} id_in_set;

static int ids_ascend(const int64_t *ids, int64_t n)
{
    int64_t k = 1;
    while (k < n && ids[k - 1] < ids[k])
        k++;
    return k >= n;
}

/* Ids in both c and q (each unique alone): one merge walk when both ascend
 * (shards in id order), else the union sorted; -1 out of memory. */
static int64_t count_shared_ids(const sj_hashes *c, const sj_hashes *q)
{
    int64_t clashes = 0, n = c->n + q->n;
    if (ids_ascend(c->ids, c->n) && ids_ascend(q->ids, q->n)) {
        for (int64_t ci = 0, qi = 0; ci < c->n && qi < q->n;) {
            clashes += c->ids[ci] == q->ids[qi];
            if (c->ids[ci] < q->ids[qi])
                ci++;
            else
                qi++;
        }
        return clashes;
    }
    id_in_set *v = malloc((size_t)SJ_MAX(n, 1) * sizeof *v);
    if (!v)
        return -1;
    for (int64_t i = 0; i < c->n; i++)
        v[i] = (id_in_set){c->ids[i], 0};
    for (int64_t i = 0; i < q->n; i++)
        v[c->n + i] = (id_in_set){q->ids[i], 1};
    if (sj_sort_by_id(v, n, sizeof *v))
        clashes = -1;
    for (int64_t i = 1; clashes >= 0 && i < n; i++)
        clashes += v[i].id == v[i - 1].id;
    free(v);
    return clashes;
}

/* Ids must be unique across corpus and queries (each already unique alone). */
sj_status sj_check_ids_across(const sj_hashes *c, const sj_hashes *q)
{
    if (!q)
        return sj_hashes_check_unique_ids(c, "corpus");
    sj_status st = sj_hashes_check_unique_ids(c, "corpus");
    if (st || (st = sj_hashes_check_unique_ids(q, "queries")))
        return st;
    int64_t clashes = count_shared_ids(c, q);
    if (clashes < 0)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    if (clashes)
        return sj_fail(SJ_ERR_DUPLICATE_ID,
                       "%lld id(s) appear in both the corpus and the queries; ids must be unique "
                       "across all inputs of a join", (long long)clashes);
    return SJ_OK;
}

#ifdef SIMJOIN_HAVE_HDF5
/* ---- checksums on a second thread ---- */

/* One read's shards, checksummed in turn by one thread: shard k is rows
 * first[k] .. first[k] + rows[k] - 1 of the concatenated set, recorded as
 * input number input[k]. The thread reads the set's rows and writes sum[]
 * only; the caller reads sum[] after joining it. */
typedef struct sum_batch {
    sj_hashes set; /* a view of the set's rows: nothing owned */
    int n;
    int64_t *first, *rows, *input; /* [n] */
    char (*sum)[65];               /* [n] */
    pthread_t thread;
    int running;
} sum_batch;

struct sj_input_sums {
    int n;
    sum_batch **batch; /* [n] */
};

static void batch_free(sum_batch *b)
{
    if (!b)
        return;
    free(b->first);
    free(b->rows);
    free(b->input);
    free(b->sum);
    free(b);
}

static void *batch_run(void *arg)
{
    sum_batch *b = arg;
    const size_t rb = sj_hash_type_bytes(b->set.type);
    for (int k = 0; k < b->n; k++) {
        sj_hashes shard = {.type = b->set.type, .n = b->rows[k],
                           .hashes = b->set.hashes + (size_t)b->first[k] * rb,
                           .ids = b->set.ids + b->first[k]};
        sj_hashes_checksum(&shard, b->sum[k]);
    }
    return NULL;
}

sj_status sj_input_sums_finish(sj_input_sums **sums, sj_join_result *r)
{
    sj_input_sums *s = *sums;
    for (int i = 0; s && i < s->n; i++) {
        sum_batch *b = s->batch[i];
        if (b->running)
            pthread_join(b->thread, NULL);
        for (int k = 0; r && k < b->n; k++)
            strcpy(r->inputs[b->input[k]].checksum, b->sum[k]);
        batch_free(b);
    }
    if (s)
        free(s->batch);
    free(s);
    *sums = NULL;
    return SJ_OK;
}

/* Checksum shards of `set` (rows[n] each, in order; recorded as inputs
 * first_input ..) on a new thread; in this one when none can be started. */
static sj_status sums_start(sj_input_sums **sums, const sj_hashes *set, const int64_t *rows, int n,
                            int64_t first_input)
{
    if (!*sums && !(*sums = calloc(1, sizeof **sums)))
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    sj_input_sums *s = *sums;
    sum_batch *b = calloc(1, sizeof *b), **more = realloc(s->batch, (size_t)(s->n + 1) * sizeof *more);
    if (more)
        s->batch = more;
    if (!more || !b ||
        !(b->first = malloc((size_t)n * sizeof *b->first)) ||
        !(b->rows = malloc((size_t)n * sizeof *b->rows)) ||
        !(b->input = malloc((size_t)n * sizeof *b->input)) || !(b->sum = calloc((size_t)n, 65))) {
        batch_free(b);
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    }
    b->set = (sj_hashes){.type = set->type, .n = set->n, .hashes = set->hashes, .ids = set->ids};
    b->n = n;
    for (int k = 0; k < n; k++) {
        b->first[k] = k ? b->first[k - 1] + rows[k - 1] : 0;
        b->rows[k] = rows[k];
        b->input[k] = first_input + k;
    }
    s->batch[s->n++] = b;
    b->running = pthread_create(&b->thread, NULL, batch_run, b) == 0;
    if (!b->running)
        batch_run(b);
    return SJ_OK;
}

/* Record a shard read as an input of r, with its checksum sum. */
static sj_status record_input_sum(sj_join_result *r, const char *role, const char *path,
                                  const char *sum)
{
    struct stat sb;
    int known = stat(path, &sb) == 0;
    return sj_join_result_add_input(r, role, path, known ? (int64_t)sb.st_size : -1,
                                     known ? (int64_t)sb.st_mtime : -1, sum);
}

/* Record the shard just read as an input of r, with its checksum unless
 * `later` (then "" until sj_input_sums_finish). */
static sj_status record_input(sj_join_result *r, const char *role, const char *path,
                              const sj_hashes *h, int later)
{
    char sum[65] = "";
    if (!later)
        sj_hashes_checksum(h, sum);
    return record_input_sum(r, role, path, sum);
}

/* Shards of one join side are of one kind: `path` (of kind t) against
 * first_path (of kind first). */
static sj_status check_same_kind(sj_hash_type first, sj_hash_type t, const char *path,
                                 const char *first_path)
{
    if (first.kind == t.kind && first.bits == t.bits)
        return SJ_OK;
    char a[24], b[24];
    sj_hash_type_format(first, a, sizeof a);
    sj_hash_type_format(t, b, sizeof b);
    return sj_fail(SJ_ERR_MISMATCH, "%s: hash kind %s differs from %s in %s", path, b, a, first_path);
}

/* Read and concatenate shards; optionally record each as an input of `record`
 * (with role; their checksums on another thread when sums is not NULL), or
 * check each against expect[i]'s checksum. */
static sj_status read_shards(char **paths, int n, sj_hashes **out, sj_sources *sources,
                             sj_join_result *record, const char *role, const sj_join_input *expect,
                             sj_input_sums **sums)
{
    *out = NULL;
    sj_hashes *all = NULL;
    int64_t *rows = sums ? malloc((size_t)SJ_MAX(n, 1) * sizeof *rows) : NULL;
    int64_t first_input = record ? record->n_inputs : 0;
    if (sums && !rows)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        sj_hashes *h;
        char sum[65] = "";
        sj_status st = sj_shard_read(paths[i], &h);
        if (!st && sources)
            st = sj_sources_add(sources, h, paths[i]);
        if (!st && record)
            st = record_input(record, role, paths[i], h, sums != NULL);
        if (!st && rows)
            rows[i] = h->n;
        if (!st && expect && expect[i].checksum[0]) {
            sj_hashes_checksum(h, sum);
            if (strcmp(sum, expect[i].checksum) != 0)
                st = sj_fail(SJ_ERR_MISMATCH, "%s: its hashes or ids are not those the join read "
                                              "(checksum differs): the shard was changed or "
                                              "replaced after the join; join again, or give the "
                                              "right shard", paths[i]);
        }
        if (st) {
            sj_hashes_free(h); /* NULL when the read failed */
            sj_hashes_free(all);
            free(rows);
            return st;
        }
        if (!all) {
            all = h;
            continue;
        }
        if ((st = check_same_kind(all->type, h->type, paths[i], paths[0]))) {
            sj_hashes_free(all);
            sj_hashes_free(h);
            free(rows);
            return st;
        }
        st = sj_hashes_concat(all, h);
        sj_hashes_free(h);
        if (st) {
            sj_hashes_free(all);
            free(rows);
            return st;
        }
    }
    sj_status st = rows && all ? sums_start(sums, all, rows, n, first_input) : SJ_OK;
    free(rows);
    if (st) {
        sj_hashes_free(all);
        return st;
    }
    *out = all;
    return SJ_OK;
}

sj_status sj_read_shards(char **paths, int n, sj_hashes **out, sj_sources *sources)
{
    return read_shards(paths, n, out, sources, NULL, NULL, NULL, NULL);
}

sj_status sj_read_shards_as(char **paths, int n, sj_hashes **out, sj_sources *sources,
                             sj_join_result *r, const char *role)
{
    return read_shards(paths, n, out, sources, r, role, NULL, NULL);
}

sj_status sj_read_shards_summed(char **paths, int n, sj_hashes **out, sj_sources *sources,
                                sj_join_result *r, const char *role, sj_input_sums **sums)
{
    return read_shards(paths, n, out, sources, r, role, NULL, sums);
}

/* ---- a corpus read in row ranges (a streamed join) ---- */

void sj_corpus_stream_close(sj_corpus_stream *s)
{
    for (int i = 0; s->shards && i < s->n_shards; i++)
        sj_shard_reader_close(s->shards[i]);
    free(s->shards);
    free(s->first_row);
    memset(s, 0, sizeof *s);
}

sj_status sj_corpus_stream_open(char *const *paths, int n, sj_corpus_stream *s)
{
    memset(s, 0, sizeof *s);
    s->paths = paths;
    s->shards = calloc((size_t)SJ_MAX(n, 1), sizeof *s->shards);
    s->first_row = calloc((size_t)n + 1, sizeof *s->first_row);
    if (!s->shards || !s->first_row) {
        sj_corpus_stream_close(s);
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    }
    sj_status st = SJ_OK;
    for (int i = 0; i < n && !st; i++) {
        if ((st = sj_shard_reader_open(paths[i], 1, &s->shards[i])))
            break;
        s->n_shards = i + 1;
        const sj_hash_type t = sj_shard_reader_type(s->shards[i]);
        if (i == 0)
            s->type = t;
        st = check_same_kind(s->type, t, paths[i], paths[0]);
        s->first_row[i + 1] = s->first_row[i] + sj_shard_reader_rows(s->shards[i]);
    }
    s->rows = s->first_row[s->n_shards];
    if (st)
        sj_corpus_stream_close(s);
    return st;
}

sj_status sj_corpus_stream_read(const sj_corpus_stream *s, int64_t first, int64_t count, int dihedral,
                                sj_hashes **out)
{
    *out = NULL;
    sj_hashes *all = NULL;
    sj_status st = SJ_OK;
    for (int i = 0; i < s->n_shards && !st; i++) {
        int64_t lo = SJ_MAX(first, s->first_row[i]), hi = SJ_MIN(first + count, s->first_row[i + 1]);
        if (lo >= hi)
            continue;
        sj_hashes *h;
        if ((st = sj_shard_reader_read(s->shards[i], lo - s->first_row[i], hi - lo, dihedral, &h)))
            break;
        if (!all) {
            all = h;
            continue;
        }
        st = sj_hashes_concat(all, h);
        sj_hashes_free(h);
    }
    if (!st && !all)
        st = sj_hashes_create(s->type, 1, &all);
    if (st) {
        sj_hashes_free(all);
        return st;
    }
    *out = all;
    return SJ_OK;
}

sj_status sj_corpus_stream_scan(const sj_corpus_stream *s, int64_t piece_rows, sj_sources *sources,
                                sj_join_result *record, const char *role, sj_piece_fn each,
                                void *user, int64_t **ids_out, sj_meta ***meta_out)
{
    *ids_out = NULL;
    *meta_out = NULL;
    int64_t *ids = malloc((size_t)SJ_MAX(s->rows, 1) * sizeof *ids);
    sj_meta **meta = calloc((size_t)SJ_MAX(s->n_shards, 1), sizeof *meta);
    if (!ids || !meta) {
        free(ids);
        free(meta);
        return sj_fail(SJ_ERR_NOMEM, "out of memory for the ids of %lld hashes", (long long)s->rows);
    }
    sj_status st = SJ_OK;
    for (int i = 0; i < s->n_shards && !st; i++) {
        const sj_shard_reader *rd = s->shards[i];
        const int64_t base = s->first_row[i], n = sj_shard_reader_rows(rd);
        int64_t *shard_ids = ids + base;
        sj_sha256 sum;
        sj_sha256_init(&sum); /* sj_hashes_checksum: the hash bytes, then the ids */
        for (int64_t lo = 0; lo < n && !st; lo += piece_rows) {
            sj_hashes *h;
            const int64_t m = SJ_MIN(piece_rows, n - lo);
            if ((st = sj_shard_reader_read(rd, lo, m, 1, &h)))
                break;
            sj_sha256_update(&sum, h->hashes, (size_t)m * sj_hash_type_bytes(h->type));
            memcpy(shard_ids + lo, h->ids, (size_t)m * sizeof *ids);
            st = each(user, h);
            sj_hashes_free(h);
        }
        char hex[65];
        sj_checksum_add_ids(&sum, shard_ids, n);
        sj_sha256_hex(&sum, hex);
        /* this shard's rows alone, as sj_shard_read checks them and sources take them */
        sj_hashes view = {.type = s->type, .n = n, .capacity = n, .ids = shard_ids};
        if (!st)
            st = sj_shard_read_meta(rd, &meta[i]);
        if (!st)
            st = sj_hashes_check_unique_ids(&view, s->paths[i]);
        if (!st && sources) {
            view.source = (char *)sj_shard_reader_source(rd);
            st = sj_sources_add(sources, &view, s->paths[i]);
        }
        if (!st && record)
            st = record_input_sum(record, role, s->paths[i], hex);
    }
    if (st) {
        for (int i = 0; i < s->n_shards; i++)
            sj_meta_free(meta[i]);
        free(meta);
        free(ids);
        return st;
    }
    *ids_out = ids;
    *meta_out = meta;
    return SJ_OK;
}

sj_status sj_read_join_inputs(const sj_join_result *r, sj_hashes **out)
{
    *out = NULL;
    if (r->n_inputs > INT32_MAX)
        return sj_fail(SJ_ERR_LIMIT, "more than 2^31-1 inputs");
    char **paths = malloc((size_t)SJ_MAX(r->n_inputs, 1) * sizeof *paths);
    if (!paths)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    int readable = 1;
    for (int64_t i = 0; i < r->n_inputs; i++) {
        paths[i] = r->inputs[i].path;
        readable &= access(paths[i], R_OK) == 0;
    }
    sj_status st = readable ? read_shards(paths, (int)r->n_inputs, out, NULL, NULL, NULL, r->inputs, NULL)
                            : SJ_OK;
    free(paths);
    return st;
}
#endif
