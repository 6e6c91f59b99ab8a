/* scheduler.c - drives a backend over the query x corpus grid.
 *
 * The corpus is loaded into the backend once; queries go in blocks. Backends
 * that allow it get blocks from every OpenMP thread (dynamic schedule, since
 * a self-join's blocks shrink along the triangle); each thread keeps its own
 * hit buffer, so no locks sit on the hot path. Hits become id pairs and are
 * sorted at the end, which makes the output independent of the thread count,
 * the block size and the backend. */
#include "join/vector.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

void sj_join_config_init(sj_join_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    cfg->threshold = 31;
    cfg->backend = SJ_BACKEND_AUTO;
    cfg->isa = SJ_ISA_AUTO;
}

void sj_join_config_defaults(sj_join_config *cfg) { sj_join_config_init(cfg); }

sj_status sj_gpu_kernel_parse(const char *text, int *out)
{
    const char *t = text[0] == 'v' ? text + 1 : text;
    if ((t[0] == '1' || t[0] == '2' || t[0] == '3') && t[1] == 0) {
        *out = t[0] - '0';
        return SJ_OK;
    }
    return sj_fail(SJ_ERR_ARG, "unknown --kernel '%s' (v1, v2, v3)", text);
}

sj_status sj_gpu_list_parse(const char *text, sj_join_config *cfg)
{
    cfg->n_gpus = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 1024 || (*end && *end != ',') || cfg->n_gpus == 16)
            return sj_fail(SJ_ERR_ARG, "bad --gpus '%s' (a list like 0,1,3; at most 16)", text);
        cfg->gpus[cfg->n_gpus++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (!cfg->n_gpus)
        return sj_fail(SJ_ERR_ARG, "bad --gpus '%s'", text);
    return SJ_OK;
}

static const sj_backend_ops *backend_ops(sj_backend_kind b)
{
    switch (b) {
    case SJ_BACKEND_CPU: return &sj_backend_cpu;
    case SJ_BACKEND_FAISS: return &sj_backend_faiss;
    case SJ_BACKEND_CUDA: return &sj_backend_cuda;
    case SJ_BACKEND_NAIVE: return &sj_backend_naive;
    default: return NULL;
    }
}

/* The ops of backend b for hashes of type t: vector kinds have their own
 * (naive serves every kind). */
static const sj_backend_ops *backend_ops_for(sj_backend_kind b, sj_hash_type t)
{
    if (sj_hash_type_binary(t) || b == SJ_BACKEND_NAIVE)
        return backend_ops(b);
    switch (b) {
    case SJ_BACKEND_CPU: return &sj_backend_cpu_vec;
    case SJ_BACKEND_FAISS: return &sj_backend_faiss_vec;
    case SJ_BACKEND_CUDA: return &sj_backend_cuda_vec;
    default: return NULL;
    }
}

const char *sj_backend_name(sj_backend_kind b)
{
    return b == SJ_BACKEND_AUTO ? "auto" : backend_ops(b) ? backend_ops(b)->name : "unknown";
}

sj_status sj_backend_parse(const char *text, sj_backend_kind *out)
{
    for (int b = SJ_BACKEND_AUTO; b <= SJ_BACKEND_NAIVE; b++)
        if (strcmp(text, sj_backend_name((sj_backend_kind)b)) == 0) {
            *out = (sj_backend_kind)b;
            return SJ_OK;
        }
    return sj_fail(SJ_ERR_ARG, "unknown --backend '%s' (auto, cpu, faiss, cuda, naive)", text);
}

int sj_backend_available(sj_backend_kind b)
{
    switch (b) {
    case SJ_BACKEND_CPU:
    case SJ_BACKEND_NAIVE: return 1;
    case SJ_BACKEND_FAISS:
#ifdef SIMJOIN_HAVE_FAISS
        return 1;
#else
        return 0;
#endif
    case SJ_BACKEND_CUDA: return sj_cuda_device_count(NULL) > 0;
    default: return 0;
    }
}

sj_backend_kind sj_backend_resolve(sj_backend_kind requested, const char **notice)
{
    static _Thread_local char msg[256];
    if (notice)
        *notice = NULL;
    if (requested != SJ_BACKEND_AUTO)
        return requested;
    const char *why = NULL;
    if (sj_cuda_device_count(&why) > 0)
        return SJ_BACKEND_CUDA;
    if (notice && sj_cuda_compiled()) { /* without CUDA built in, cpu is simply the default */
        snprintf(msg, sizeof msg, "no usable GPU (%s); using the cpu backend", why ? why : "none");
        *notice = msg;
    }
    return SJ_BACKEND_CPU;
}

sj_backend_kind sj_backend_resolve_for(const sj_join_config *cfg, sj_hash_type type,
                                       const char **notice)
{
    sj_backend_kind kind = sj_backend_resolve(cfg->backend, notice);
    if (cfg->backend != SJ_BACKEND_AUTO || kind != SJ_BACKEND_CUDA || sj_hash_type_binary(type))
        return kind;
    const char *why = NULL;
    kind = sj_backend_auto_choice(1, 0, !sj_cuda_vec_needs_blas(cfg, type) || sj_cuda_blas_loadable(),
                                  &why);
    if (notice && why)
        *notice = why;
    return kind;
}

void sj_pairs_free(sj_pairs *p)
{
    if (!p)
        return;
    free(p->v);
    p->v = NULL;
    p->n = p->capacity = 0;
}

sj_status sj_pairs_canonicalize(sj_pairs *p)
{
    sj_status st = sj_pairs_sort(p->v, p->n); /* pairs_sort.c */
    if (st)
        return st;
    for (int64_t i = 1; i < p->n; i++)
        if (p->v[i].a == p->v[i - 1].a && p->v[i].b == p->v[i - 1].b)
            return sj_fail(SJ_ERR_INTERNAL, "pair reported twice (row %lld of the sorted pairs)",
                           (long long)i);
    return SJ_OK;
}

/* 1 when pair x is nearer than y: smaller distance, then lower transform. */
static int nearer(const sj_pair *x, const sj_pair *y)
{
    return x->distance < y->distance || (x->distance == y->distance && x->transform < y->transform);
}

sj_status sj_pairs_canonicalize_min(sj_pairs *p)
{
    sj_status st = sj_pairs_sort(p->v, p->n); /* by (a, b), as sj_pairs_canonicalize */
    if (st)
        return st;
    int64_t k = 0; /* one pair per (a, b): the nearest of its copies */
    for (int64_t i = 0; i < p->n; i++)
        if (k == 0 || p->v[i].a != p->v[k - 1].a || p->v[i].b != p->v[k - 1].b)
            p->v[k++] = p->v[i];
        else if (nearer(&p->v[i], &p->v[k - 1]))
            p->v[k - 1] = p->v[i];
    p->n = k;
    return SJ_OK;
}

int sj_dihedral_inverse(int t)
{
    /* Transforms in the order of include/simjoin/image.h (Meta's): 0 none,
     * 1 rotate 90, 2 rotate 180, 3 rotate 270, 4..7 the two flips and the
     * two diagonal mirrors, each its own inverse. */
    static const int8_t inverse[SJ_DIHEDRAL] = {0, 3, 2, 1, 4, 5, 6, 7};
    return t >= 0 && t < SJ_DIHEDRAL ? inverse[t] : t;
}

/* Dihedral joins: a hit's query row is image * SJ_DIHEDRAL + transform. */
static int cmp_dihedral_hit(const void *x, const void *y)
{
    const sj_hit *a = x, *b = y;
    int64_t ia = a->q / SJ_DIHEDRAL, ib = b->q / SJ_DIHEDRAL;
    if (ia != ib)
        return ia < ib ? -1 : 1;
    if (a->c != b->c)
        return a->c < b->c ? -1 : 1;
    if (a->d != b->d)
        return a->d < b->d ? -1 : 1;
    return (a->q > b->q) - (a->q < b->q);
}

/* Keep, of hits [from, n), one per (image, corpus row): the smallest distance,
 * then the lowest transform. Transforms are first restated for the smaller
 * id of the pair (a hit of the larger id's transform t is the inverse of t
 * seen from the smaller), so ties break as in the pairs. same_set: the corpus
 * is the query set, whose images do not pair with themselves. Hits of one
 * image all come from one block, so this sees every transform of it. */
static void dihedral_reduce(sj_hits *h, int64_t from, int same_set, const int64_t *qids,
                            const int64_t *cids)
{
    int64_t k = from;
    for (int64_t i = from; i < h->n; i++) {
        const int64_t img = h->v[i].q / SJ_DIHEDRAL, c = h->v[i].c;
        const int t = (int)(h->v[i].q % SJ_DIHEDRAL);
        if (same_set && img == c)
            continue;
        h->v[k] = h->v[i];
        h->v[k++].q = img * SJ_DIHEDRAL + (qids[img] < cids[c] ? t : sj_dihedral_inverse(t));
    }
    if (k - from > 1) /* (h->v may be NULL when nothing was found) */
        qsort(h->v + from, (size_t)(k - from), sizeof *h->v, cmp_dihedral_hit);
    int64_t m = from;
    for (int64_t i = from; i < k; i++)
        if (m == from || h->v[i].q / SJ_DIHEDRAL != h->v[m - 1].q / SJ_DIHEDRAL ||
            h->v[i].c != h->v[m - 1].c)
            h->v[m++] = h->v[i];
    h->n = m;
}

/* A hit as a canonical id pair (dihedral: after dihedral_reduce, the
 * transform already stated for the smaller id). */
static sj_pair hit_pair(const sj_hit *h, const sj_hashes *queries, const sj_hashes *corpus, int dih)
{
    const int64_t row = dih ? h->q / SJ_DIHEDRAL : h->q;
    const int64_t q = queries->ids[row], c = corpus->ids[h->c];
    return (sj_pair){SJ_MIN(q, c), SJ_MAX(q, c), h->d, dih ? (int32_t)(h->q % SJ_DIHEDRAL) : 0};
}

/* Queries per block: small enough for many blocks per thread (balance,
 * progress), large enough that a corpus tile is reused many times. */
static int64_t block_rows(const sj_backend_ops *ops, int64_t nq)
{
    if (!ops->parallel_calls) /* faiss, cuda: big blocks, they parallelize inside */
        return SJ_MAX(SJ_MIN(nq, 65536), 1);
    return 256;
}

/* Comparisons made by a block: for progress and ETA. */
static int64_t block_work(int64_t q0, int64_t nq, int64_t nc, int self)
{
    if (!self)
        return nq * nc;
    /* rows q0..q0+nq-1 each compare with every later row */
    int64_t first = nc - 1 - q0, last = nc - (q0 + nq);
    return (first + last) * nq / 2;
}

/* Comparisons made by query rows [0, r) of a self-join of n rows. */
static double self_work_before(int64_t n, int64_t r)
{
    return (double)r * (double)(n - 1) - (double)r * (double)(r - 1) / 2;
}

/* First row whose cumulative work reaches share * total. */
static int64_t part_boundary(int64_t nq, int64_t nc, int self, int i, int n)
{
    if (i <= 0)
        return 0;
    if (i >= n)
        return nq;
    if (!self)
        return (int64_t)((__int128)nq * i / n);
    double target = self_work_before(nq, nq) * i / n;
    int64_t lo = 0, hi = nq;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (self_work_before(nq, mid) < target)
            lo = mid + 1;
        else
            hi = mid;
    }
    (void)nc;
    return lo;
}

void sj_join_part_rows(int64_t nq, int64_t nc, int self, int i, int n, int64_t *lo, int64_t *hi)
{
    if (n <= 1) {
        *lo = 0;
        *hi = nq;
        return;
    }
    *lo = part_boundary(nq, nc, self, i, n);
    *hi = part_boundary(nq, nc, self, i + 1, n);
}

/* Compare queries with corpus (self: the same set), adding id pairs to out. */
static sj_status run_join(const sj_join_config *cfg, const sj_hashes *queries,
                          const sj_hashes *corpus, int self, sj_pairs *out)
{
    if (queries->type.bits != corpus->type.bits || queries->type.kind != corpus->type.kind) {
        char a[24], b[24];
        sj_hash_type_format(queries->type, a, sizeof a);
        sj_hash_type_format(corpus->type, b, sizeof b);
        return sj_fail(SJ_ERR_MISMATCH, "queries are %s hashes but the corpus has %s hashes", a, b);
    }
    sj_join_config resolved = *cfg; /* the metric made explicit */
    sj_status st = sj_metric_check(corpus->type, &resolved.metric);
    if (st)
        return st;
    cfg = &resolved;
    if (!(cfg->threshold == cfg->threshold)) /* NaN */
        return sj_fail(SJ_ERR_ARG, "threshold is not a number");
    if (sj_hash_type_binary(corpus->type) && cfg->threshold < 0)
        return sj_fail(SJ_ERR_ARG, "threshold must be >= 0");
    if (!sj_hash_type_binary(corpus->type)) { /* cosine takes no zero vector: checked once */
        sj_vec_join v;
        sj_vec_join_init(&v, cfg, corpus->type);
        if ((st = sj_vec_check_rows(&v, corpus->hashes, corpus->n, 0, "corpus")) ||
            (!self && (st = sj_vec_check_rows(&v, queries->hashes, queries->n, 0, "queries"))))
            return st;
    }
    /* Dihedral: each query image is SJ_DIHEDRAL consecutive rows of
     * queries->dihedral against the canonical corpus. A self-join then runs
     * the whole square (each image's transforms against every other image),
     * so that a pair gets the smaller distance of its two directions. */
    const int dih = cfg->dihedral != 0, per = dih ? SJ_DIHEDRAL : 1;
    const int tri = self && !dih; /* the backend reports corpus rows > query row only */
    if (dih && !sj_hash_type_binary(corpus->type))
        return sj_fail(SJ_ERR_ARG, "--dihedral needs a binary kind (pdq, bits:N)");
    if (dih && !queries->dihedral && queries->n > 0)
        return sj_fail(SJ_ERR_ARG, "--dihedral: the %s have no dihedral hashes (/dihedral)",
                       self ? "inputs" : "queries");
    sj_backend_kind kind = sj_backend_resolve_for(cfg, corpus->type, NULL);
    const sj_backend_ops *ops = backend_ops_for(kind, corpus->type);
    if (!ops)
        return sj_fail(SJ_ERR_ARG, "unknown backend");
    void *state = NULL;
    st = ops->open(cfg, corpus->type, &state);
    if (st)
        return st;
    const int64_t nc = corpus->n;
    int64_t q_lo, q_hi; /* this part's query rows */
    if (cfg->part_count > 1 && (cfg->part_index < 0 || cfg->part_index >= cfg->part_count)) {
        ops->close(state);
        return sj_fail(SJ_ERR_ARG, "part %d of %d does not exist", cfg->part_index, cfg->part_count);
    }
    sj_join_part_rows(queries->n, nc, tri, cfg->part_index, cfg->part_count, &q_lo, &q_hi);
    const int64_t nq = q_hi - q_lo;
    const uint32_t rb = sj_hash_type_bytes(corpus->type);
    const int64_t bs = SJ_MAX(block_rows(ops, nq * per) / per, 1), nblocks = (nq + bs - 1) / bs;
    /* Corpus chunks: all rows at once, or as many as --max-memory allows
     * (a backend keeps about two packed copies of a row: 2 x 8-byte words
     * per 64 bits, plus bit planes). */
    const int64_t row_cost = sj_hash_type_binary(corpus->type)
                                 ? 2 * (int64_t)((rb + 7) / 8) * 8 + 64
                                 : 4 * (int64_t)((corpus->type.dim + 7) / 8 * 8) + 16; /* floats, norm */
    const int64_t chunk = cfg->max_memory > 0 ? SJ_MAX(cfg->max_memory / row_cost, 256)
                                              : SJ_MAX(nc, 1);
    int64_t total_work = 0;
    for (int64_t b = 0; b < nblocks; b++)
        total_work += block_work(q_lo + b * bs, SJ_MIN(bs, q_hi - (q_lo + b * bs)), nc, tri) * per;
    int nthreads = 1;
#ifdef _OPENMP
    nthreads = cfg->threads > 0 ? cfg->threads : omp_get_max_threads();
    if (!ops->parallel_calls)
        omp_set_num_threads(nthreads); /* the backend's own OpenMP regions */
#endif
    const int team = ops->parallel_calls ? nthreads : 1;
    sj_hits *hits = calloc((size_t)team, sizeof *hits);
    if (!hits) {
        ops->close(state);
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    }
    _Atomic int64_t work_done = 0, found = 0;
    _Atomic int failed = 0;
    sj_status first_err = SJ_OK;
    char first_msg[1024] = "";

    for (int64_t c_lo = 0; c_lo < nc && !first_err; c_lo += chunk) {
        const int64_t c_hi = SJ_MIN(c_lo + chunk, nc);
        if (tri && c_hi <= q_lo + 1)
            continue; /* every row of this chunk precedes every query */
        if ((st = ops->load_corpus(state, corpus->hashes + (size_t)c_lo * rb, c_hi - c_lo))) {
            first_err = st;
            snprintf(first_msg, sizeof first_msg, "%s", sj_last_error());
            break;
        }
#pragma omp parallel num_threads(team)
        {
            int tid = 0;
#ifdef _OPENMP
            tid = omp_get_thread_num();
#endif
            sj_hits *mine = &hits[tid];
#pragma omp for schedule(dynamic, 1)
            for (int64_t b = 0; b < nblocks; b++) {
                if (atomic_load(&failed))
                    continue;
                int64_t q0 = q_lo + b * bs, n = SJ_MIN(bs, q_hi - q0);
                int64_t c_from = SJ_MAX(tri ? q0 : 0, c_lo); /* global rows */
                if (c_from >= c_hi)
                    continue;
                const int64_t unit = cfg->unit_offset + (c_lo / chunk) * nblocks + b;
                if (cfg->unit_skip && cfg->unit_skip(cfg->unit_user, unit))
                    continue; /* done in an earlier run; its pairs come from the journal */
                int64_t before = mine->n;
                /* Rows relative to the chunk; the self test c > q holds the
                 * same for both when both are shifted by c_lo. */
                sj_status s;
                if (!dih) {
                    s = ops->compare(state, queries->hashes + (size_t)q0 * rb, q0 - c_lo, n,
                                     c_from - c_lo, c_hi - c_lo, self, mine);
                    for (int64_t k = before; k < mine->n; k++) {
                        mine->v[k].q += c_lo;
                        mine->v[k].c += c_lo;
                    }
                } else { /* rows image * 8 + transform of the query set */
                    s = ops->compare(state, queries->dihedral + (size_t)q0 * per * rb, q0 * per,
                                     n * per, c_from - c_lo, c_hi - c_lo, 0, mine);
                    for (int64_t k = before; k < mine->n; k++)
                        mine->v[k].c += c_lo;
                    dihedral_reduce(mine, before, self, queries->ids, corpus->ids);
                }
                if (!s && cfg->unit_done) {
                    sj_pair *up = malloc((size_t)SJ_MAX(mine->n - before, 1) * sizeof *up);
                    if (!up)
                        s = sj_fail(SJ_ERR_NOMEM, "out of memory");
                    for (int64_t k = before; up && k < mine->n; k++)
                        up[k - before] = hit_pair(&mine->v[k], queries, corpus, dih);
                    if (up) {
#pragma omp critical(sj_unit_done)
                        s = cfg->unit_done(cfg->unit_user, unit, up, mine->n - before);
                        free(up);
                    }
                }
                int64_t total_found = atomic_fetch_add(&found, mine->n - before) + mine->n - before;
                if (cfg->unit_only)
                    mine->n = before; /* streamed to unit_done, not kept */
                if (!s && cfg->max_pairs > 0 && total_found > cfg->max_pairs)
                    s = sj_fail(SJ_ERR_LIMIT,
                                "more than %lld pairs, the limit set by --max-pairs or --max-memory; "
                                "lower the threshold or raise the limit",
                                (long long)cfg->max_pairs);
                if (s) {
#pragma omp critical(sj_join_error)
                    if (!first_err) {
                        first_err = s;
                        snprintf(first_msg, sizeof first_msg, "%s", sj_last_error());
                    }
                    atomic_store(&failed, 1);
                }
                int64_t w = block_work(q0, n, nc, tri) * per * (c_hi - c_lo) / SJ_MAX(nc, 1);
                int64_t done = atomic_fetch_add(&work_done, w) + w;
                if (tid == 0 && cfg->progress)
                    cfg->progress(cfg->progress_user, SJ_MIN(done, total_work), total_work,
                                  atomic_load(&found));
            }
        }
    }
    ops->close(state);

    st = first_err;
    if (st) {
        sj_fail(st, "%s", first_msg);
    } else {
        int64_t total = out->n, first = out->n;
        for (int t = 0; t < team; t++)
            total += hits[t].n;
        st = sj_grow((void **)&out->v, &out->capacity, SJ_MAX(total, 1), sizeof *out->v);
        for (int t = 0; t < team && !st; t++)
            for (int64_t k = 0; k < hits[t].n; k++)
                out->v[out->n++] = hit_pair(&hits[t].v[k], queries, corpus, dih);
        if (!st && dih && self) { /* a pair met from both sides: keep the nearer */
            sj_pairs mine = {out->n - first, out->n - first, out->v + first};
            st = sj_pairs_canonicalize_min(&mine);
            out->n = first + mine.n;
        }
        if (!st && cfg->progress)
            cfg->progress(cfg->progress_user, total_work, total_work, out->n);
    }
    for (int t = 0; t < team; t++)
        free(hits[t].v);
    free(hits);
    return st;
}

/* run_join may set the OpenMP thread count for a backend's own parallel
 * regions; the caller's setting is restored, so a join leaves the host
 * process as it found it. */
static sj_status run_join_restoring_threads(const sj_join_config *cfg, const sj_hashes *queries,
                                            const sj_hashes *corpus, int self, sj_pairs *out)
{
    if (cfg->struct_size != sizeof *cfg) /* README "C library": ABI policy */
        return sj_fail(SJ_ERR_ARG, "sj_join_config: struct_size %u, but this library's is %zu "
                                   "(set the config up with sj_join_config_init)",
                       cfg->struct_size, sizeof *cfg);
#ifdef _OPENMP
    const int caller_threads = omp_get_max_threads();
#endif
    sj_status st = run_join(cfg, queries, corpus, self, out);
#ifdef _OPENMP
    omp_set_num_threads(caller_threads);
#endif
    return st;
}

sj_status sj_join_self(const sj_join_config *cfg, const sj_hashes *set, sj_pairs *out)
{
    return run_join_restoring_threads(cfg, set, set, 1, out);
}

sj_status sj_join_cross(const sj_join_config *cfg, const sj_hashes *queries,
                        const sj_hashes *corpus, sj_pairs *out)
{
    return run_join_restoring_threads(cfg, queries, corpus, 0, out);
}
