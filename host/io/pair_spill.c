/* pair_spill.c - a join's pairs under a memory budget: sorted runs on disk
 * and their k-way merge (pair_spill.h). */
#define _GNU_SOURCE /* O_NOFOLLOW, O_CLOEXEC, pread, pwrite */
#include "io/pair_spill.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { FAN_IN_DEFAULT = 64, CURSOR_MIN = 256 /* pairs read at once from a run, at least */ };

/* A run on disk: n canonical pairs; the file has no name (unlinked). */
typedef struct spill_run {
    int fd;
    int64_t n;
} spill_run;

/* A run being merged: its next pairs, buf[at..len), read from file row pos on. */
typedef struct run_cursor {
    const spill_run *run;
    int64_t pos;      /* pairs of the file read so far */
    sj_pair *buf;     /* [cap]; owned */
    int64_t cap, len, at;
} run_cursor;

/* A k-way merge of runs: a binary min-heap of cursors by (a, b). */
typedef struct run_merge {
    run_cursor *cursors; /* [k]; owned */
    int *heap;           /* [live] cursor indices; owned */
    int k, live;
} run_merge;

struct sj_pair_spill {
    sj_pair_spill_options o;
    char dir[4096];
    sj_pairs buf;        /* the pairs not yet in a run */
    spill_run *runs;     /* [n_runs]; owned, descriptors open */
    int64_t n_runs, cap_runs, runs_written, added;
    run_merge merge;     /* after sj_pair_spill_finish */
    int finished;
    sj_unit_skip_fn chained_skip; /* unit_skip and unit_done set before */
    sj_unit_done_fn chained_done; /* sj_pair_spill_attach, and their user */
    void *chained_user;
};

/* ---- run files ---------------------------------------------------------- */

/* A new run file in dir, unlinked at once: *fd, or an error naming dir. */
static sj_status run_file_create(const char *dir, int *fd)
{
    static _Atomic unsigned counter;
    char path[4200];
    *fd = -1;
    for (int attempt = 0; *fd < 0 && attempt < 100; attempt++) {
        snprintf(path, sizeof path, "%s/.simjoin-spill.%ld.%u", dir, (long)getpid(), counter++);
        *fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (*fd < 0 && errno != EEXIST)
            break;
    }
    if (*fd < 0)
        return sj_fail(SJ_ERR_IO, "%s: cannot create a file for sorted pairs: %s", dir, strerror(errno));
    if (unlink(path) != 0) {
        sj_status st = sj_fail(SJ_ERR_IO, "%s: cannot unlink %s: %s", dir, path, strerror(errno));
        close(*fd);
        *fd = -1;
        return st;
    }
    return SJ_OK;
}

/* Write all of buf at offset (short writes and EINTR resumed). */
static sj_status write_all(int fd, const void *buf, size_t bytes, int64_t offset, const char *dir)
{
    const char *p = buf;
    while (bytes) {
        ssize_t w = pwrite(fd, p, bytes, (off_t)offset);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return sj_fail(SJ_ERR_IO, "%s: cannot write sorted pairs: %s", dir,
                           w < 0 ? strerror(errno) : "no progress (disk full?)");
        p += w;
        offset += w;
        bytes -= (size_t)w;
    }
    return SJ_OK;
}

/* Read exactly `bytes` at offset. */
static sj_status read_all(int fd, void *buf, size_t bytes, int64_t offset, const char *dir)
{
    char *p = buf;
    while (bytes) {
        ssize_t r = pread(fd, p, bytes, (off_t)offset);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return sj_fail(SJ_ERR_IO, "%s: cannot read back sorted pairs: %s", dir,
                           r < 0 ? strerror(errno) : "file shorter than written");
        p += r;
        offset += r;
        bytes -= (size_t)r;
    }
    return SJ_OK;
}

static sj_status runs_push(sj_pair_spill *s, int fd, int64_t n)
{
    if (s->n_runs == s->cap_runs) {
        sj_status st = sj_grow((void **)&s->runs, &s->cap_runs, s->n_runs + 1, sizeof *s->runs);
        if (st)
            return st;
    }
    s->runs[s->n_runs++] = (spill_run){fd, n};
    return SJ_OK;
}

/* The buffer, in canonical order, becomes a run; the buffer is emptied. */
static sj_status write_run(sj_pair_spill *s)
{
    sj_status st = s->o.dihedral ? sj_pairs_canonicalize_min(&s->buf) : sj_pairs_canonicalize(&s->buf);
    int fd = -1;
    if (st || (st = run_file_create(s->dir, &fd)))
        return st;
    if ((st = write_all(fd, s->buf.v, (size_t)s->buf.n * sizeof *s->buf.v, 0, s->dir)) ||
        (st = runs_push(s, fd, s->buf.n))) {
        close(fd);
        return st;
    }
    s->buf.n = 0;
    s->runs_written++;
    return SJ_OK;
}

/* ---- the merge ---------------------------------------------------------- */

static int pair_less(const sj_pair *x, const sj_pair *y)
{
    return x->a < y->a || (x->a == y->a && x->b < y->b);
}

/* 1 when x is nearer than y: smaller distance, then lower transform (as
 * sj_pairs_canonicalize_min keeps). */
static int nearer(const sj_pair *x, const sj_pair *y)
{
    return x->distance < y->distance || (x->distance == y->distance && x->transform < y->transform);
}

static const sj_pair *cursor_top(const run_merge *m, int i)
{
    const run_cursor *c = &m->cursors[i];
    return &c->buf[c->at];
}

/* Refill cursor c when its buffer is spent: 1 if it has a pair, 0 at its end. */
static sj_status cursor_fill(run_cursor *c, const char *dir, int *has)
{
    if (c->at == c->len) {
        int64_t m = SJ_MIN(c->cap, c->run->n - c->pos);
        sj_status st;
        if (m > 0 && (st = read_all(c->run->fd, c->buf, (size_t)m * sizeof *c->buf,
                                    c->pos * (int64_t)sizeof *c->buf, dir)))
            return st;
        c->pos += m;
        c->len = m;
        c->at = 0;
    }
    *has = c->at < c->len;
    return SJ_OK;
}

static void heap_down(run_merge *m, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, least = i;
        if (l < m->live && pair_less(cursor_top(m, m->heap[l]), cursor_top(m, m->heap[least])))
            least = l;
        if (r < m->live && pair_less(cursor_top(m, m->heap[r]), cursor_top(m, m->heap[least])))
            least = r;
        if (least == i)
            return;
        int t = m->heap[i];
        m->heap[i] = m->heap[least];
        m->heap[least] = t;
        i = least;
    }
}

static void merge_close(run_merge *m)
{
    for (int i = 0; m->cursors && i < m->k; i++)
        free(m->cursors[i].buf);
    free(m->cursors);
    free(m->heap);
    memset(m, 0, sizeof *m);
}

/* Start merging runs[0..k) with `bytes` of read buffers in all. */
static sj_status merge_open(run_merge *m, const spill_run *runs, int k, int64_t bytes, const char *dir)
{
    memset(m, 0, sizeof *m);
    m->cursors = calloc((size_t)SJ_MAX(k, 1), sizeof *m->cursors);
    m->heap = malloc((size_t)SJ_MAX(k, 1) * sizeof *m->heap);
    if (!m->cursors || !m->heap) {
        merge_close(m);
        return sj_fail(SJ_ERR_NOMEM, "out of memory merging sorted pairs");
    }
    m->k = k;
    const int64_t per = SJ_MAX(bytes / SJ_MAX(k, 1) / (int64_t)sizeof(sj_pair), CURSOR_MIN);
    for (int i = 0; i < k; i++) {
        run_cursor *c = &m->cursors[i];
        c->run = &runs[i];
        c->cap = SJ_MIN(per, SJ_MAX(runs[i].n, 1));
        if (!(c->buf = malloc((size_t)c->cap * sizeof *c->buf))) {
            merge_close(m);
            return sj_fail(SJ_ERR_NOMEM, "out of memory merging sorted pairs");
        }
        int has;
        sj_status st = cursor_fill(c, dir, &has);
        if (st) {
            merge_close(m);
            return st;
        }
        if (has)
            m->heap[m->live++] = i;
    }
    for (int i = m->live / 2 - 1; i >= 0; i--)
        heap_down(m, i);
    return SJ_OK;
}

/* Advance the heap's top cursor past the pair it showed. */
static sj_status merge_pop(run_merge *m, const char *dir)
{
    run_cursor *c = &m->cursors[m->heap[0]];
    c->at++;
    int has;
    sj_status st = cursor_fill(c, dir, &has);
    if (st)
        return st;
    if (!has)
        m->heap[0] = m->heap[--m->live];
    if (m->live)
        heap_down(m, 0);
    return SJ_OK;
}

/* The next pair of the merge into *out (*has = 0 at the end). Copies of one
 * (a, b) in several runs: the nearest for dihedral joins, else an error, as
 * sj_pairs_canonicalize_min / sj_pairs_canonicalize decide in memory. */
static sj_status merge_next(run_merge *m, int dihedral, const char *dir, sj_pair *out, int *has)
{
    *has = m->live > 0;
    if (!*has)
        return SJ_OK;
    *out = *cursor_top(m, m->heap[0]);
    sj_status st = merge_pop(m, dir);
    while (!st && m->live) {
        const sj_pair *next = cursor_top(m, m->heap[0]);
        if (next->a != out->a || next->b != out->b)
            break;
        if (!dihedral)
            return sj_fail(SJ_ERR_INTERNAL, "pair reported twice (in two sorted runs)");
        if (nearer(next, out))
            *out = *next;
        st = merge_pop(m, dir);
    }
    return st;
}

/* Merge runs[first .. first+k) into one new run that replaces them. */
static sj_status merge_into_run(sj_pair_spill *s, int64_t first, int k)
{
    enum { OUT_PAIRS = 4096 };
    run_merge m;
    sj_pair *out = malloc(OUT_PAIRS * sizeof *out);
    int fd = -1;
    sj_status st = out ? merge_open(&m, s->runs + first, k, s->o.merge_bytes, s->dir)
                       : sj_fail(SJ_ERR_NOMEM, "out of memory merging sorted pairs");
    if (st) {
        free(out);
        return st;
    }
    int64_t n = 0, len = 0;
    int has = 1;
    if (!(st = run_file_create(s->dir, &fd)))
        while (has && !st) {
            if (!(st = merge_next(&m, s->o.dihedral, s->dir, &out[len], &has)) && has)
                len++;
            if (!st && (len == OUT_PAIRS || (!has && len))) {
                st = write_all(fd, out, (size_t)len * sizeof *out, n * (int64_t)sizeof *out, s->dir);
                n += len;
                len = 0;
            }
        }
    merge_close(&m);
    free(out);
    if (st) {
        if (fd >= 0)
            close(fd);
        return st;
    }
    for (int i = 0; i < k; i++)
        close(s->runs[first + i].fd);
    memmove(s->runs + first, s->runs + first + k, (size_t)(s->n_runs - first - k) * sizeof *s->runs);
    s->n_runs -= k;
    return runs_push(s, fd, n);
}

/* ---- the sink ----------------------------------------------------------- */

sj_status sj_pair_spill_create(const sj_pair_spill_options *o, sj_pair_spill **out)
{
    *out = NULL;
    if (!o->dir || strlen(o->dir) >= 4000 || o->run_pairs < 1 || o->merge_bytes < 0 || o->fan_in < 0 ||
        o->fan_in == 1)
        return sj_fail(SJ_ERR_ARG, "sj_pair_spill_create: bad options");
    sj_pair_spill *s = calloc(1, sizeof *s);
    if (!s)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    s->o = *o;
    snprintf(s->dir, sizeof s->dir, "%s", o->dir);
    s->o.dir = s->dir;
    if (!s->o.fan_in)
        s->o.fan_in = FAN_IN_DEFAULT;
    if (!s->o.merge_bytes)
        s->o.merge_bytes = o->run_pairs * (int64_t)sizeof(sj_pair);
    *out = s;
    return SJ_OK;
}

void sj_pair_spill_free(sj_pair_spill *s)
{
    if (!s)
        return;
    merge_close(&s->merge);
    for (int64_t i = 0; i < s->n_runs; i++)
        close(s->runs[i].fd);
    free(s->runs);
    sj_pairs_free(&s->buf);
    free(s);
}

sj_status sj_pair_spill_add(sj_pair_spill *s, const sj_pair *p, int64_t n)
{
    if (s->finished)
        return sj_fail(SJ_ERR_ARG, "sj_pair_spill_add: the sink is finished");
    for (int64_t i = 0; i < n; i++) {
        if (s->o.keep && !s->o.keep(s->o.keep_user, &p[i]))
            continue;
        if (s->buf.n == s->o.run_pairs) { /* full: written only when one more pair comes */
            sj_status st = write_run(s);
            if (st)
                return st;
        }
        if (s->buf.n == s->buf.capacity) { /* grown by doubling up to run_pairs */
            int64_t cap = SJ_MIN(SJ_MAX(2 * s->buf.capacity, 4096), s->o.run_pairs);
            sj_pair *v = realloc(s->buf.v, (size_t)cap * sizeof *v);
            if (!v)
                return sj_fail(SJ_ERR_NOMEM, "out of memory holding %lld pairs", (long long)cap);
            s->buf.v = v;
            s->buf.capacity = cap;
        }
        s->buf.v[s->buf.n++] = p[i];
        s->added++;
    }
    return SJ_OK;
}

sj_status sj_pair_spill_add_unit(void *spill, int64_t unit, const sj_pair *p, int64_t n)
{
    (void)unit;
    return sj_pair_spill_add(spill, p, n);
}

static sj_status spill_unit_done(void *user, int64_t unit, const sj_pair *pairs, int64_t n)
{
    sj_pair_spill *s = user;
    sj_status st = s->chained_done ? s->chained_done(s->chained_user, unit, pairs, n) : SJ_OK;
    return st ? st : sj_pair_spill_add(s, pairs, n);
}

static int spill_unit_skip(void *user, int64_t unit)
{
    sj_pair_spill *s = user;
    return s->chained_skip && s->chained_skip(s->chained_user, unit);
}

void sj_pair_spill_attach(sj_pair_spill *s, sj_join_config *cfg)
{
    s->chained_skip = cfg->unit_skip;
    s->chained_done = cfg->unit_done;
    s->chained_user = cfg->unit_user;
    cfg->unit_skip = spill_unit_skip;
    cfg->unit_done = spill_unit_done;
    cfg->unit_user = s;
    cfg->unit_only = 1;
}

int64_t sj_pair_spill_added(const sj_pair_spill *s) { return s->added; }

int64_t sj_pair_spill_runs(const sj_pair_spill *s) { return s->runs_written; }

sj_status sj_pair_spill_finish(sj_pair_spill *s, sj_pairs *in_memory, int *spilled, int64_t *n_out)
{
    sj_status st;
    *spilled = 0;
    *n_out = 0;
    if (s->finished)
        return sj_fail(SJ_ERR_ARG, "sj_pair_spill_finish: called twice");
    s->finished = 1;
    if (!s->n_runs && !in_memory->n) { /* everything fitted: the buffer itself goes back */
        sj_pairs_free(in_memory);
        *in_memory = s->buf;
        memset(&s->buf, 0, sizeof s->buf);
        *n_out = in_memory->n;
        return SJ_OK;
    }
    if (!s->n_runs) { /* everything fitted: the caller goes on in memory */
        if ((st = sj_grow((void **)&in_memory->v, &in_memory->capacity,
                          SJ_MAX(in_memory->n + s->buf.n, 1), sizeof *in_memory->v)))
            return st;
        if (s->buf.n)
            memcpy(in_memory->v + in_memory->n, s->buf.v, (size_t)s->buf.n * sizeof *s->buf.v);
        in_memory->n += s->buf.n;
        *n_out = in_memory->n;
        sj_pairs_free(&s->buf);
        return SJ_OK;
    }
    if (s->buf.n && (st = write_run(s)))
        return st;
    sj_pairs_free(&s->buf); /* its memory goes to the merge's buffers */
    while (s->n_runs > s->o.fan_in) /* passes: the first fan_in runs become one */
        if ((st = merge_into_run(s, 0, s->o.fan_in)))
            return st;
    int64_t total = 0;
    for (int64_t i = 0; i < s->n_runs; i++)
        total += s->runs[i].n;
    if (s->o.dihedral && s->n_runs > 1) { /* repeats across runs: counted in a first pass */
        if ((st = merge_open(&s->merge, s->runs, (int)s->n_runs, s->o.merge_bytes, s->dir)))
            return st;
        sj_pair p;
        int has = 1;
        for (total = 0; has && !st; total += has)
            st = merge_next(&s->merge, 1, s->dir, &p, &has);
        merge_close(&s->merge);
        if (st)
            return st;
    }
    if ((st = merge_open(&s->merge, s->runs, (int)s->n_runs, s->o.merge_bytes, s->dir)))
        return st;
    *spilled = 1;
    *n_out = total;
    return SJ_OK;
}

sj_status sj_pair_spill_read(void *spill, sj_pair *buf, int64_t cap, int64_t *got)
{
    sj_pair_spill *s = spill;
    *got = 0;
    if (!s->finished || !s->n_runs)
        return sj_fail(SJ_ERR_ARG, "sj_pair_spill_read: no merge (finish first; nothing spilled?)");
    int has = 1;
    sj_status st = SJ_OK;
    while (*got < cap && has && !st)
        if (!(st = merge_next(&s->merge, s->o.dihedral, s->dir, &buf[*got], &has)) && has)
            (*got)++;
    return st;
}
