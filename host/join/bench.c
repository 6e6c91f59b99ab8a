/* bench.c - every backend and ISA path on one generated join, timed side by
 * side, with agreement checks (simjoin/bench.h). A benchmark, not a test: it
 * measures, and reports whether two paths disagree. */
#include "core/internal.h"
#include "simjoin/bench.h"
#include "simjoin/gen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sj_bench_options_init(sj_bench_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->type = (sj_hash_type){SJ_KIND_PDQ, 256, 0};
    o->corpus = 1000000;
    o->queries = 10000;
    o->threshold = NAN;
    o->seed = 7;
    o->naive_queries = 20;
    o->repeat = 1;
    o->series_fraction = -1;
}

/* Every pair of plain is in dih, no farther (the dihedral join adds transforms 1..7). */
static int covers(const sj_pairs *dih, const sj_pairs *plain)
{
    int64_t k = 0;
    for (int64_t i = 0; i < plain->n; i++) {
        while (k < dih->n && (dih->v[k].a < plain->v[i].a ||
                              (dih->v[k].a == plain->v[i].a && dih->v[k].b < plain->v[i].b)))
            k++;
        if (k == dih->n || dih->v[k].a != plain->v[i].a || dih->v[k].b != plain->v[i].b ||
            dih->v[k].distance > plain->v[i].distance)
            return 0;
    }
    return 1;
}

static int same_pairs(const sj_pairs *x, const sj_pairs *y)
{
    if (x->n != y->n)
        return 0;
    for (int64_t i = 0; i < x->n; i++)
        if (x->v[i].a != y->v[i].a || x->v[i].b != y->v[i].b ||
            x->v[i].distance != y->v[i].distance)
            return 0;
    return 1;
}

/* Pairs of `all` whose query side is among the first k queries (ids). */
static int subset_matches(const sj_pairs *all, const sj_pairs *naive, const sj_hashes *q, int64_t k)
{
    int64_t lo = q->ids[0], hi = q->ids[k - 1]; /* gen ids are consecutive per file */
    int64_t m = 0;
    for (int64_t i = 0; i < all->n; i++) {
        int64_t a = all->v[i].a, b = all->v[i].b;
        int in = (a >= lo && a <= hi) || (b >= lo && b <= hi);
        if (!in)
            continue;
        if (m >= naive->n || naive->v[m].a != a || naive->v[m].b != b ||
            naive->v[m].distance != all->v[i].distance)
            return 0;
        m++;
    }
    return m == naive->n;
}

/* Data: one pool, split so that queries have near-duplicates in the corpus;
 * with dihedral, each query gets 7 unrelated transforms, as other images' are. */
static sj_status make_data(const sj_bench_options *o, sj_bench_result *res, sj_hashes **corpus,
                           sj_hashes **queries)
{
    const int64_t n = o->corpus, m = o->queries;
    sj_gen_options go;
    sj_gen_defaults(o->type, n + m, o->seed, &go);
    if (!sj_hash_type_binary(o->type)) /* zero vectors would be refused under cosine */
        go.degenerate_fraction = 0;
    if (isnan(o->threshold)) /* the threshold gen places its series around */
        res->threshold = go.threshold;
    else
        go.threshold = res->threshold = o->threshold;
    if (o->series_fraction >= 0)
        go.series_fraction = o->series_fraction;
    sj_hashes *pool;
    sj_status st;
    if ((st = sj_gen(&go, &pool)))
        return st;
    if ((st = sj_hashes_create(o->type, n, corpus)) || (st = sj_hashes_create(o->type, m, queries))) {
        sj_hashes_free(pool);
        return st;
    }
    uint32_t rb = sj_hash_type_bytes(o->type);
    sj_hashes *c = *corpus, *q = *queries;
    memcpy(c->hashes, pool->hashes, (size_t)n * rb);
    memcpy(c->ids, pool->ids, (size_t)n * sizeof(int64_t));
    c->n = n;
    memcpy(q->hashes, pool->hashes + (size_t)n * rb, (size_t)m * rb);
    memcpy(q->ids, pool->ids + n, (size_t)m * sizeof(int64_t));
    q->n = m;
    sj_hashes_free(pool);
    if (!o->dihedral)
        return SJ_OK;
    if (!(q->dihedral = malloc((size_t)m * SJ_DIHEDRAL * rb)))
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    uint64_t z = o->seed * 0x9e3779b97f4a7c15ULL + 1;
    for (int64_t i = 0; i < m; i++) {
        uint8_t *eight = q->dihedral + (size_t)i * SJ_DIHEDRAL * rb;
        memcpy(eight, q->hashes + (size_t)i * rb, rb);
        for (uint32_t k = rb; k < SJ_DIHEDRAL * rb; k++) {
            z ^= z << 13, z ^= z >> 7, z ^= z << 17; /* xorshift64 */
            eight[k] = (uint8_t)(z >> 24);
        }
    }
    return SJ_OK;
}

/* The cpu paths to time: the given list, or every supported one. */
static void isa_list(const sj_bench_options *o, sj_metric metric, char *ilist, size_t size)
{
    sj_hash_type type = o->type;
    if (o->isas) {
        snprintf(ilist, size, "%s", o->isas);
    } else if (!sj_hash_type_binary(type)) { /* baseline code, AVX2+FMA, AVX-512 VNNI */
        snprintf(ilist, size, "portable%s", sj_isa_supported(SJ_ISA_AVX2) ? ",avx2" : "");
        if (sj_isa_supported(SJ_ISA_AVX2) && /* an AVX-512 path of its own (VNNI, outer FMA) */
            strcmp(sj_cpu_path_name(type, metric, SJ_ISA_AVX512), sj_cpu_path_name(type, metric, SJ_ISA_AVX2)))
            snprintf(ilist + strlen(ilist), size - strlen(ilist), ",avx512");
    } else {
        ilist[0] = 0;
        for (int i = SJ_ISA_PORTABLE; i <= SJ_ISA_AVX512; i++)
            if (sj_isa_supported((sj_isa)i))
                snprintf(ilist + strlen(ilist), size - strlen(ilist), "%s%s", ilist[0] ? "," : "",
                         sj_isa_name((sj_isa)i));
    }
}

/* Time one path (best of repeat), then its dihedral join. *p: its pairs, canonical. */
static void time_path(const sj_bench_options *o, const sj_join_config *cfg, const sj_hashes *queries,
                      const sj_hashes *corpus, sj_bench_run *r, sj_pairs *p)
{
    sj_status st = SJ_OK;
    r->seconds = 1e300;
    for (int rep = 0; rep < o->repeat; rep++) {
        sj_pairs_free(p);
        double t0 = sj_now();
        if ((st = sj_join_cross(cfg, queries, corpus, p))) {
            snprintf(r->error, sizeof r->error, "%s", sj_last_error());
            return;
        }
        r->seconds = SJ_MIN(r->seconds, sj_now() - t0);
    }
    sj_pairs_canonicalize(p);
    r->dihedral_seconds = 1e300;
    for (int rep = 0; o->dihedral && rep < o->repeat && !st; rep++) {
        sj_join_config dcfg = *cfg;
        dcfg.dihedral = 1;
        sj_pairs dp = {0};
        double t0 = sj_now();
        st = sj_join_cross(&dcfg, queries, corpus, &dp);
        r->dihedral_seconds = SJ_MIN(r->dihedral_seconds, sj_now() - t0);
        if (!st && !(st = sj_pairs_canonicalize(&dp)) && !covers(&dp, p))
            st = sj_fail(SJ_ERR_INTERNAL, "the dihedral join misses pairs of the plain join");
        r->dihedral_pairs = dp.n;
        sj_pairs_free(&dp);
    }
    if (st)
        snprintf(r->dihedral_error, sizeof r->dihedral_error, "%s", sj_last_error());
    r->pairs = p->n;
    r->rate = (double)o->corpus * (double)o->queries / r->seconds;
}

static void announce(const sj_bench_options *o, const sj_bench_run *r)
{
    if (o->on_run)
        o->on_run(o->user, r);
}

/* Every variant of one backend (ISA paths for cpu, kernels for cuda, one
 * run otherwise), each compared with the first path's pairs (*ref). */
static sj_status run_backend(const sj_bench_options *o, const char *b, const char *ilist,
                             const sj_hashes *queries, const sj_hashes *corpus, sj_bench_result *res,
                             sj_pairs *ref, int *have_ref)
{
    const int vector = !sj_hash_type_binary(o->type);
    sj_join_config cfg;
    sj_join_config_init(&cfg);
    cfg.threshold = res->threshold;
    cfg.metric = res->metric;
    cfg.threads = o->threads;
    sj_status st;
    if ((st = sj_backend_parse(b, &cfg.backend)) || (o->gpus && (st = sj_gpu_list_parse(o->gpus, &cfg))))
        return st;
    sj_bench_run skip;
    memset(&skip, 0, sizeof skip);
    if (cfg.backend == SJ_BACKEND_CUDA && !sj_backend_available(SJ_BACKEND_CUDA)) {
        const char *why = "";
        sj_cuda_device_count(&why);
        snprintf(skip.name, sizeof skip.name, "%s", b);
        snprintf(skip.skipped, sizeof skip.skipped, "no usable GPU (%s)", why);
        announce(o, &skip);
        return SJ_OK;
    }
    char variants[256], *save = NULL;
    snprintf(variants, sizeof variants, "%s",
             cfg.backend == SJ_BACKEND_CPU                ? ilist
             : cfg.backend == SJ_BACKEND_CUDA && !vector ? (o->kernels ? o->kernels : "v1,v2,v3")
             : cfg.backend == SJ_BACKEND_CUDA && o->kernels ? o->kernels /* vectors: v1 GEMM, v3 fused */
                                                          : "-");
    for (char *is = strtok_r(variants, ",", &save); is && res->n_runs < SJ_BENCH_MAX_RUNS;
         is = strtok_r(NULL, ",", &save)) {
        if (cfg.backend == SJ_BACKEND_CPU) {
            if ((st = sj_isa_parse(is, &cfg.isa)))
                return st;
            if (!sj_isa_supported(cfg.isa)) {
                snprintf(skip.name, sizeof skip.name, "%s", is);
                snprintf(skip.skipped, sizeof skip.skipped, "not supported on this CPU");
                announce(o, &skip);
                continue;
            }
        } else if (cfg.backend == SJ_BACKEND_CUDA && strcmp(is, "-") &&
                   (st = sj_gpu_kernel_parse(is, &cfg.gpu_kernel))) { /* "-": the default kernel */
            return st;
        }
        sj_bench_run *r = &res->runs[res->n_runs];
        memset(r, 0, sizeof *r);
        r->cuda = cfg.backend == SJ_BACKEND_CUDA;
        r->cpu = cfg.backend == SJ_BACKEND_CPU;
        if (r->cpu)
            snprintf(r->name, sizeof r->name, "%s/%s", b, sj_cpu_path_name(o->type, res->metric, cfg.isa));
        else if (r->cuda && strcmp(is, "-"))
            snprintf(r->name, sizeof r->name, "%s/%s", b, is);
        else
            snprintf(r->name, sizeof r->name, "%s", b);
        sj_pairs p = {0};
        time_path(o, &cfg, queries, corpus, r, &p);
        if (r->error[0]) {
            sj_pairs_free(&p);
            announce(o, r);
            continue;
        }
        res->disagree |= r->dihedral_error[0] != 0;
        if (!*have_ref) {
            *ref = p;
            *have_ref = 1;
            r->agrees = 1;
        } else {
            r->agrees = same_pairs(ref, &p);
            sj_pairs_free(&p);
        }
        res->disagree |= !r->agrees;
        if (cfg.backend == SJ_BACKEND_FAISS)
            res->faiss_rate = r->rate;
        res->n_runs++;
        announce(o, r);
    }
    return SJ_OK;
}

/* The naive reference loop on the first naive_queries queries. */
static sj_status run_naive(const sj_bench_options *o, sj_hashes *queries, const sj_hashes *corpus,
                           const sj_pairs *ref, sj_bench_result *res)
{
    sj_join_config cfg;
    sj_join_config_init(&cfg);
    cfg.threshold = res->threshold;
    cfg.metric = res->metric;
    cfg.threads = o->threads;
    cfg.backend = SJ_BACKEND_NAIVE;
    int64_t keep = queries->n, k = res->naive_queries;
    queries->n = k;
    sj_pairs np = {0};
    double t0 = sj_now();
    sj_status st = sj_join_cross(&cfg, queries, corpus, &np);
    res->naive_seconds = sj_now() - t0;
    queries->n = keep;
    if (!st) {
        sj_pairs_canonicalize(&np);
        res->naive_rate = (double)k * (double)o->corpus / res->naive_seconds;
        res->naive_ok = subset_matches(ref, &np, queries, k);
    }
    sj_pairs_free(&np);
    return st;
}

sj_status sj_bench_run_all(const sj_bench_options *o, sj_bench_result *res)
{
    memset(res, 0, sizeof *res);
    res->naive_ok = 1;
    if (o->struct_size != sizeof *o)
        return sj_fail(SJ_ERR_ARG, "sj_bench_run_all: options not set up by sj_bench_options_init "
                                   "of this library");
    if (o->corpus < 1 || o->queries < 1 || o->repeat < 1 || o->naive_queries < 0)
        return sj_fail(SJ_ERR_ARG, "sj_bench_run_all: corpus, queries and repeat must be >= 1");
    if (o->dihedral && !sj_hash_type_binary(o->type))
        return sj_fail(SJ_ERR_ARG, "--dihedral needs a binary kind (pdq, bits:N)");
    res->metric = o->metric;
    sj_status st = sj_metric_check(o->type, &res->metric);
    sj_hashes *corpus = NULL, *queries = NULL;
    if (st || (st = make_data(o, res, &corpus, &queries)))
        goto done;
    if (o->on_ready)
        o->on_ready(o->user, res);
    char blist[256], ilist[256], *save = NULL;
    snprintf(blist, sizeof blist, "%s",
             o->backends ? o->backends : sj_backend_available(SJ_BACKEND_FAISS) ? "cpu,faiss" : "cpu");
    isa_list(o, res->metric, ilist, sizeof ilist);
    sj_pairs ref = {0};
    int have_ref = 0;
    for (char *b = strtok_r(blist, ",", &save); b && res->n_runs < SJ_BENCH_MAX_RUNS && !st;
         b = strtok_r(NULL, ",", &save))
        st = run_backend(o, b, ilist, queries, corpus, res, &ref, &have_ref);
    res->naive_queries = SJ_MIN(o->naive_queries, o->queries);
    if (!st && res->naive_queries > 0 && have_ref)
        st = run_naive(o, queries, corpus, &ref, res);
    sj_pairs_free(&ref);
done:
    sj_hashes_free(corpus);
    sj_hashes_free(queries);
    return st;
}
