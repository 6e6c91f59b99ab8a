/* job.c - a whole join job (simjoin/job.h): shards in, one pairs file out,
 * resumable. What `simjoin join` does between parsing its options and
 * printing its summary.
 *
 * Steps: check the limits from the shard headers; read the shards with their
 * sources; settle the threshold; take out degenerate hashes; open the journal
 * (one per output, for this exact job); join (self, cross, and the queries
 * among themselves); add the pairs of the units done before; under MPI
 * gather them on rank 0; canonicalize, keep cross-source pairs if asked, and
 * write the pairs file. Under MPI every rank passes the same agreement
 * points (job->collective.agree), failed or not. */
#include "core/sha256.h"
#include "io/inputs.h"
#include "io/journal.h"
#include "io/pair_spill.h"
#include "io/pairs_io.h"
#include "io/outputs.h"
#include "join/limits.h"
#include "simjoin/job.h"
#include "simjoin/meta.h"

#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* How to raise join's pair limit (the CLI's options; the API's fields of the same names). */
static const char join_how[] =
    "Lower the threshold, or set the limit with --max-pairs N or --max-memory SIZE (0 or none: no limit)";

void sj_join_job_init(sj_join_job *job)
{
    memset(job, 0, sizeof *job);
    job->struct_size = sizeof *job;
    job->threshold = NAN;
    job->min_similarity = NAN;
    job->max_pairs = -1;
    job->max_memory = -1;
    job->min_quality = -1;
    job->min_ones = job->max_ones = -1;
}

void sj_join_job_result_init(sj_join_job_result *res)
{
    memset(res, 0, sizeof *res);
    res->struct_size = sizeof *res;
}

/* Everything one run holds; released by run_release. */
typedef struct job_run {
    const sj_join_job *job;
    int rank, ranks;
    const char *const *corpus_paths, *const *query_paths;
    int n_corpus, n_queries;
    sj_join_config cfg;
    sj_hashes *corpus, *queries;
    sj_sources srcs;
    sj_join_result res;
    sj_journal journal;
    sj_pair_limit lim;
    sj_memory_plan plan;  /* max_memory's split (zero without it) */
    sj_pair_spill *spill; /* max_memory: the pairs' sink, sorted runs on disk; NULL without */
    int spilled;          /* the pairs went to runs: written from their merge */
    int64_t n_spilled;    /* the pairs the merge gives */
    sj_degenerate_options dopt;
    int64_t comparisons;
    double t_join; /* sj_now() when the comparisons began */
    sj_input_sums *sums; /* the inputs' checksums, taken while the rows are prepared */
} job_run;

static void say(const job_run *r, sj_job_message_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(const job_run *r, sj_job_message_level level, const char *fmt, ...)
{
    if (!r->job->message)
        return;
    char text[5000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    r->job->message(r->job->message_user, level, text);
}

/* Every rank's status combined (one process: st itself). */
static sj_status agree(const job_run *r, sj_status st)
{
    const sj_job_collective *c = &r->job->collective;
    return r->ranks > 1 && c->agree ? c->agree(c->user, st) : st;
}

static const char *input_path(const job_run *r, int i)
{
    return i < r->n_corpus ? r->corpus_paths[i] : r->query_paths[i - r->n_corpus];
}

typedef struct id_rule {
    int64_t id;
    int rule;
} id_rule;

static int cmp_id_rule(const void *x, const void *y)
{
    const id_rule *a = x, *b = y;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Comparisons made by this run's part of a join (the whole join when not split). */
static int64_t part_comparisons(const sj_join_config *cfg, int64_t nq, int64_t nc, int self)
{
    int64_t lo, hi;
    if (cfg->dihedral) { /* 8 rows per query; a self-join runs the whole square */
        sj_join_part_rows(nq, nc, 0, cfg->part_index, cfg->part_count, &lo, &hi);
        return SJ_DIHEDRAL * (hi - lo) * (self ? nc - 1 : nc);
    }
    sj_join_part_rows(nq, nc, self, cfg->part_index, cfg->part_count, &lo, &hi);
    if (!self)
        return (hi - lo) * nc;
    /* rows lo..hi-1 each compare with the rows after them */
    return (2 * nc - 1 - lo - hi) * (hi - lo) / 2;
}

/* The comparisons of the whole job, every part (MPI: after the gather). */
static int64_t all_comparisons(const job_run *r)
{
    int64_t nc = r->corpus->n, nq = r->queries ? r->queries->n : 0;
    int self = r->job->self_queries;
    if (r->cfg.dihedral) /* 8 rows per query image; self-joins run the square */
        return SJ_DIHEDRAL * (r->queries ? nq * nc + (self ? nq * (nq - 1) : 0) : nc * (nc - 1));
    return r->queries ? nq * nc + (self ? nq * (nq - 1) / 2 : 0) : nc * (nc - 1) / 2;
}

/* The pair limit in force, and the backend's corpus chunks under max_memory:
 * the inputs, as loaded, must fit in about half of it; the corpus chunks and
 * the pairs share the rest. Checked from the shard headers, before anything
 * is read. */
static sj_status set_limits(job_run *r)
{
    const sj_join_job *job = r->job;
    sj_status st = SJ_OK;
    if (job->max_memory > 0) {
        int64_t input_bytes = 0;
        for (int i = 0; i < r->n_corpus + r->n_queries && !st; i++) {
            int64_t rows;
            uint32_t bytes;
            const char *path = input_path(r, i);
            if (!(st = sj_shard_peek(path, &rows, &bytes)))
                input_bytes += rows * ((int64_t)bytes + 40); /* hash, id, quality, label, node */
            int dihedral = 0;
            if (!st && !(st = sj_shard_has_dihedral(path, &dihedral)) && dihedral)
                input_bytes += rows * SJ_DIHEDRAL * (int64_t)bytes; /* read, kept for --dihedral */
        }
        if (!st && input_bytes > job->max_memory / 2)
            st = sj_fail(SJ_ERR_LIMIT,
                         "the inputs need about %.1f MB in memory, more than half of --max-memory "
                         "(%.1f MB); raise it, or split the join with --part",
                         (double)input_bytes / 1048576.0, (double)job->max_memory / 1048576.0);
        if (st)
            return st;
        if ((st = sj_memory_plan_make(job->max_memory, input_bytes, &r->plan)))
            return st;
        r->cfg.max_memory = r->plan.backend_bytes; /* the backend's corpus chunks */
        if (r->ranks == 1) { /* pairs beyond the budget go to sorted runs on disk */
            if ((st = sj_pair_limit_spill(job->out, &r->lim)))
                return st;
        } else if (job->max_pairs <= 0 || job->max_pairs > r->plan.pairs_in_memory) {
            r->lim.max_pairs = r->plan.pairs_in_memory; /* rank 0 gathers them all */
            snprintf(r->lim.why, sizeof r->lim.why, "the limit set by --max-memory %.1f MB (the "
                     "pairs' share of it)", (double)job->max_memory / 1048576.0);
        }
    }
    if (job->max_pairs > 0 && (r->lim.max_pairs == 0 || job->max_pairs <= r->lim.max_pairs)) {
        r->lim.max_pairs = job->max_pairs;
        snprintf(r->lim.why, sizeof r->lim.why, "the limit set by --max-pairs %lld",
                 (long long)job->max_pairs);
    }
    /* --dihedral: every shard of the side whose transforms are compared
     * (the queries; a self-join's corpus) must carry them. */
    for (int i = 0; r->cfg.dihedral && i < (r->n_queries ? r->n_queries : r->n_corpus) && !st; i++) {
        const char *path = r->n_queries ? r->query_paths[i] : r->corpus_paths[i];
        int has = 0;
        if (!(st = sj_shard_has_dihedral(path, &has)) && !has)
            st = sj_fail(SJ_ERR_FORMAT, "--dihedral: %s has no dihedral hashes (/dihedral); hash its "
                                     "images with `simjoin hash --dihedral`", path);
    }
    return st;
}

/* Read the shards, each recorded with its checksum (for cluster to check);
 * drop the dihedral hashes that are not compared; the machine's pair limit
 * when neither limit was given; kinds and ids checked across the inputs. */
static sj_status read_inputs(job_run *r)
{
    sj_status st;
    if ((st = sj_read_shards_summed((char **)r->corpus_paths, r->n_corpus, &r->corpus, &r->srcs,
                                    &r->res, "corpus", &r->sums)))
        return st;
    if (r->n_queries && (st = sj_read_shards_summed((char **)r->query_paths, r->n_queries, &r->queries,
                                                    &r->srcs, &r->res, "queries", &r->sums)))
        return st;
    sj_sources_finish(&r->srcs);
    for (int k = 0; k < 2; k++) { /* dihedral hashes not compared: not kept */
        sj_hashes *h = k ? r->queries : r->corpus;
        if (h && h->dihedral && !(r->cfg.dihedral && (k == 1 || !r->queries))) {
            free(h->dihedral);
            h->dihedral = NULL;
        }
    }
    if (r->job->max_pairs < 0 && r->job->max_memory < 0) { /* neither: limits from the machine */
        int64_t rows = r->corpus->n + (r->queries ? r->queries->n : 0);
        /* memory: the inputs as loaded (hash, id, quality, label, node); a pair
         * at its peak (SJ_PAIR_PEAK_BYTES: itself and the sort's copy);
         * disk: a pair in the journal and in the output (48 bytes) */
        if ((st = sj_pair_limit_default(r->job->out,
                                        rows * ((int64_t)sj_hash_type_bytes(r->corpus->type) + 40),
                                        SJ_PAIR_PEAK_BYTES, 48, &r->lim)))
            return st;
    }
    const sj_hashes *c = r->corpus, *q = r->queries;
    if (q && (q->type.kind != c->type.kind || q->type.bits != c->type.bits)) {
        char a[24], b[24];
        sj_hash_type_format(c->type, a, sizeof a);
        sj_hash_type_format(q->type, b, sizeof b);
        return sj_fail(SJ_ERR_MISMATCH, "%s: queries are %s hashes but the corpus (%s) is %s",
                       r->query_paths[0], b, r->corpus_paths[0], a);
    }
    if ((st = sj_check_ids_across(c, q)))
        return st;
    return sj_metric_check(c->type, &r->cfg.metric);
}

/* The threshold from job->threshold / min_similarity and the kind: misuse of
 * the options (SJ_ERR_ARG, *usage set) only known once the kind is. */
static sj_status settle_threshold(job_run *r, int *usage)
{
    double threshold = r->job->threshold;
    sj_metric m = r->cfg.metric;
    *usage = 1;
    if (!isnan(r->job->min_similarity)) {
        if (!isnan(threshold) || (m != SJ_METRIC_COSINE && m != SJ_METRIC_IP))
            return sj_fail(SJ_ERR_ARG, "--min-similarity goes with --metric cosine or ip, without --threshold");
        threshold = 1.0 - r->job->min_similarity;
    }
    if (isnan(threshold)) {
        if (r->corpus->type.kind != SJ_KIND_PDQ)
            return sj_fail(SJ_ERR_ARG, "--threshold is required for this kind (pdq alone has a default)");
        threshold = 31;
    }
    if (sj_metric_integral(r->corpus->type, m) &&
        (threshold != floor(threshold) || threshold < 0 || threshold > 2e9))
        return sj_fail(SJ_ERR_ARG, "--threshold needs an integer >= 0 for %s distances", sj_metric_name(m));
    *usage = 0;
    r->cfg.threshold = threshold;
    return SJ_OK;
}

/* Remove degenerates from h, appending to r->res.excluded_* (sized by the caller). */
static sj_status exclude(job_run *r, sj_hashes *h)
{
    int64_t ne = 0;
    sj_join_result *res = &r->res;
    sj_status st = sj_hashes_remove_degenerate(h, &r->dopt, res->excluded_id + res->n_excluded,
                                               res->excluded_rule + res->n_excluded, &ne);
    res->n_excluded += ne;
    return st;
}

/* Case metadata and the new/corpus side of every hash, kept before the
 * degenerate hashes are taken out (README "Case metadata"); then the
 * degenerate ones excluded and listed by id, and the nodes that take part. */
static sj_status prepare_rows(job_run *r)
{
    const sj_join_job *job = r->job;
    sj_join_result *res = &r->res;
    sj_hashes *corpus = r->corpus, *queries = r->queries;
    sj_status st;
    if (r->rank == 0 && ((corpus->meta || (queries && queries->meta)) || queries)) {
        const sj_hashes *sets[2] = {corpus, queries};
        const uint8_t side[2] = {queries ? 0 : 1, 1}; /* a self-join: every hash is new */
        if ((st = sj_meta_table_build(sets, side, queries ? 2 : 1, &res->meta)) ||
            (st = sj_meta_fill_sources(res->meta, &r->srcs)))
            return st;
    }
    sj_degenerate_defaults(corpus->type, &r->dopt);
    r->dopt.enabled = !job->keep_degenerate;
    if (job->min_quality >= 0)
        r->dopt.min_quality = job->min_quality;
    if (job->min_ones >= 0 && job->max_ones >= 0) {
        r->dopt.min_ones = job->min_ones;
        r->dopt.max_ones = job->max_ones;
    }
    int64_t total_in = corpus->n + (queries ? queries->n : 0);
    res->excluded_id = malloc((size_t)SJ_MAX(total_in, 1) * sizeof *res->excluded_id);
    res->excluded_rule = malloc((size_t)SJ_MAX(total_in, 1));
    res->nodes = malloc((size_t)SJ_MAX(total_in, 1) * sizeof *res->nodes);
    if (!res->excluded_id || !res->excluded_rule || !res->nodes)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    if ((st = sj_input_sums_finish(&r->sums, res)) || /* before the rows change */
        (st = exclude(r, corpus)) || (queries && (st = exclude(r, queries))))
        return st;
    /* Excluded sorted by id, rule carried along. */
    id_rule *ex = malloc((size_t)SJ_MAX(res->n_excluded, 1) * sizeof *ex);
    if (!ex)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < res->n_excluded; i++)
        ex[i] = (id_rule){res->excluded_id[i], res->excluded_rule[i]};
    qsort(ex, (size_t)res->n_excluded, sizeof *ex, cmp_id_rule);
    for (int64_t i = 0; i < res->n_excluded; i++) {
        res->excluded_id[i] = ex[i].id;
        res->excluded_rule[i] = (uint8_t)ex[i].rule;
    }
    free(ex);
    for (int64_t i = 0; i < corpus->n; i++)
        res->nodes[res->n_nodes++] = corpus->ids[i];
    for (int64_t i = 0; queries && i < queries->n; i++)
        res->nodes[res->n_nodes++] = queries->ids[i];
    return sj_sort_by_id(res->nodes, res->n_nodes, sizeof *res->nodes);
}

/* The journal: one per output, for this exact join (inputs and options),
 * named by a signature over both. */
static sj_status open_journal(job_run *r)
{
    const sj_join_job *job = r->job;
    const sj_join_config *cfg = &r->cfg;
    char band[32] = "", sig_text[1024];
    if (job->min_ones >= 0 && job->max_ones >= 0)
        snprintf(band, sizeof band, "%d:%d", (int)job->min_ones, (int)job->max_ones);
    snprintf(sig_text, sizeof sig_text,
             "T=%.17g m=%d self=%d cross=%d keep=%d q=%lld band=%s part=%d/%d mem=%lld be=%d",
             cfg->threshold, (int)cfg->metric, job->self_queries, job->cross_only,
             job->keep_degenerate, (long long)job->min_quality, band, cfg->part_index,
             cfg->part_count, (long long)cfg->max_memory, (int)cfg->backend);
    sj_sha256 sh;
    sj_sha256_init(&sh);
    sj_sha256_update(&sh, sig_text, strlen(sig_text));
    if (cfg->dihedral)
        sj_sha256_update(&sh, " dihedral", 9);
    for (int i = 0; i < r->n_corpus + r->n_queries; i++) {
        const char *path = input_path(r, i);
        struct stat sb;
        int known = stat(path, &sb) == 0;
        char one[4300];
        snprintf(one, sizeof one, "|%c:%s:%lld:%lld", i < r->n_corpus ? 'c' : 'q', path,
                 known ? (long long)sb.st_size : -1LL, known ? (long long)sb.st_mtime : -1LL);
        sj_sha256_update(&sh, one, strlen(one));
    }
    char sig[65];
    sj_sha256_hex(&sh, sig);
    sj_journal_rule rule = {r->res.nodes, r->res.n_nodes, cfg->threshold,
                            r->spill ? sj_pair_spill_add_unit : NULL, r->spill}; /* resumed pairs */
    sj_status st = sj_journal_open(&r->journal, job->out, sig, job->resume, &rule);
    if (st)
        return st;
    if (r->journal.warning[0]) /* damage or tampering */
        say(r, SJ_JOB_WARNING, "%s", r->journal.warning);
    if (r->journal.notice[0])
        say(r, SJ_JOB_NOTICE, "%s", r->journal.notice);
    r->cfg.unit_skip = sj_journal_skip;
    r->cfg.unit_done = sj_journal_done;
    r->cfg.unit_user = &r->journal;
    if (r->journal.n_units)
        say(r, SJ_JOB_NOTICE, "join: resuming: %lld work units already done (%lld pairs)",
            (long long)r->journal.n_units, (long long)(r->journal.saved.n + r->journal.restored));
    return SJ_OK;
}

/* The comparisons of this process's part, and the pairs of the units done
 * before (from the journal). */
static sj_status compare(job_run *r)
{
    sj_join_config *cfg = &r->cfg;
    sj_pairs *pairs = &r->res.pairs;
    sj_status st;
    if (!r->queries) {
        r->comparisons = part_comparisons(cfg, r->corpus->n, r->corpus->n, 1);
        st = sj_join_self(cfg, r->corpus, pairs);
    } else {
        r->comparisons = part_comparisons(cfg, r->queries->n, r->corpus->n, 0);
        st = sj_join_cross(cfg, r->queries, r->corpus, pairs);
        if (!st && r->job->self_queries) {
            r->comparisons += part_comparisons(cfg, r->queries->n, r->queries->n, 1);
            cfg->unit_offset = (int64_t)1 << 40; /* the second join's units */
            if (r->lim.max_pairs > 0) /* what the first join left of the limit */
                cfg->max_pairs =
                    SJ_MAX(r->lim.max_pairs - (r->spill ? sj_pair_spill_added(r->spill) : pairs->n), 1);
            st = sj_join_self(cfg, r->queries, pairs);
        }
    }
    for (int64_t i = 0; !st && i < r->journal.saved.n; i++) {
        if ((st = sj_grow((void **)&pairs->v, &pairs->capacity, pairs->n + 1, sizeof *pairs->v)))
            break;
        pairs->v[pairs->n++] = r->journal.saved.v[i];
    }
    int64_t found = r->spill ? sj_pair_spill_added(r->spill) : pairs->n;
    if ((st == SJ_ERR_LIMIT || (!st && found > r->lim.max_pairs)) && r->lim.max_pairs > 0)
        st = sj_pair_limit_exceeded("join", &r->lim, join_how);
    if (!st && r->spill) /* nothing spilled: the pairs come back to res.pairs */
        st = sj_pair_spill_finish(r->spill, pairs, &r->spilled, &r->n_spilled);
    return st;
}

/* cross_only as a filter of the pairs that go to the sink: user is the sj_sources. */
static int crosses_sources(void *user, const sj_pair *p)
{
    return sj_sources_of(user, p->a) != sj_sources_of(user, p->b);
}

/* max_memory on one process: the pairs go through a sink that spills sorted
 * runs beside the output, attached after the journal (which sees each unit first). */
static sj_status open_spill(job_run *r)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", r->job->out);
    sj_pair_spill_options so = {.dir = dirname(dir), .run_pairs = r->plan.run_pairs,
                                .merge_bytes = r->plan.merge_bytes, .dihedral = r->cfg.dihedral,
                                .keep = r->job->cross_only ? crosses_sources : NULL,
                                .keep_user = &r->srcs};
    return sj_pair_spill_create(&so, &r->spill);
}

/* Everything up to the comparisons done; *usage set for an options misuse. */
static sj_status run_local(job_run *r, int *usage)
{
    const sj_join_job *job = r->job;
    sj_status st;
    const char *outputs[] = {job->out};
    if ((st = sj_check_outputs(outputs, 1, (char *const *)r->corpus_paths, r->n_corpus)) ||
        (st = sj_check_outputs(outputs, 1, (char *const *)r->query_paths, r->n_queries)) ||
        (st = set_limits(r)) || (st = read_inputs(r)))
        return st;
    if ((st = settle_threshold(r, usage)) || (st = prepare_rows(r)))
        return st;
    const char *notice = NULL;
    r->cfg.backend = sj_backend_resolve_for(&r->cfg, r->corpus->type, &notice);
    if (notice)
        say(r, SJ_JOB_NOTICE, "%s", notice);
    if (r->cfg.backend == SJ_BACKEND_CUDA && !sj_backend_available(SJ_BACKEND_CUDA)) {
        const char *why = "";
        sj_cuda_device_count(&why);
        return sj_fail(SJ_ERR_NO_DEVICE, "--backend cuda: no usable GPU (%s)", why);
    }
    r->cfg.max_pairs = r->lim.max_pairs;
    if (r->plan.run_pairs > 0 && r->ranks == 1 && (st = open_spill(r)))
        return st;
    if (r->ranks == 1 && (st = open_journal(r)))
        return st;
    if (r->spill)
        sj_pair_spill_attach(r->spill, &r->cfg);
    r->t_join = sj_now();
    return compare(r);
}

/* MPI: rank 0 gathers every rank's pairs; the limit applies to them all. */
static sj_status gather(job_run *r)
{
    const sj_job_collective *c = &r->job->collective;
    int64_t local = r->res.pairs.n, bytes_sent = 0;
    sj_status st = c->gather_pairs ? c->gather_pairs(c->user, &r->res.pairs, &bytes_sent) : SJ_OK;
    if (!st && r->rank == 0 && r->lim.max_pairs > 0 && r->res.pairs.n > r->lim.max_pairs)
        st = sj_pair_limit_exceeded("join", &r->lim, join_how);
    say(r, SJ_JOB_VERBOSE, "rank %d of %d: %lld pairs, %lld bytes sent to rank 0", r->rank, r->ranks,
        (long long)local, (long long)bytes_sent);
    if ((st = agree(r, st)))
        return st;
    r->comparisons = all_comparisons(r);
    return SJ_OK;
}

/* Rank 0: pairs canonical (dihedral: a pair may come from both of its
 * images' blocks, the nearest kept) and, with cross_only, only pairs
 * between sources. */
static sj_status finish_pairs(job_run *r)
{
    sj_pairs *p = &r->res.pairs;
    sj_status st = r->cfg.dihedral ? sj_pairs_canonicalize_min(p) : sj_pairs_canonicalize(p);
    if (!st && r->job->cross_only) {
        int64_t k = 0;
        for (int64_t i = 0; i < p->n; i++)
            if (crosses_sources(&r->srcs, &p->v[i]))
                p->v[k++] = p->v[i];
        p->n = k;
    }
    return st;
}

/* Provenance (each hash's source) and the attributes of the pairs file. */
static sj_status describe(job_run *r)
{
    sj_join_result *res = &r->res;
    const sj_join_config *cfg = &r->cfg;
    res->cross_only = r->job->cross_only;
    res->dihedral = cfg->dihedral;
    res->sources = sj_sources_names(&r->srcs);
    res->node_source = malloc((size_t)SJ_MAX(res->n_nodes, 1) * sizeof *res->node_source);
    res->excluded_source = malloc((size_t)SJ_MAX(res->n_excluded, 1) * sizeof *res->excluded_source);
    if (!res->sources || !res->node_source || !res->excluded_source)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    sj_sources_of_each(&r->srcs, res->nodes, res->n_nodes, res->node_source);
    sj_sources_of_each(&r->srcs, res->excluded_id, res->n_excluded, res->excluded_source);
    res->type = r->corpus->type;
    res->metric = cfg->metric;
    res->threshold = cfg->threshold;
    if (cfg->backend == SJ_BACKEND_CPU)
        snprintf(res->backend, sizeof res->backend, "cpu/%s",
                 sj_cpu_path_name(r->corpus->type, cfg->metric, cfg->isa));
    else if (cfg->backend == SJ_BACKEND_CUDA)
        snprintf(res->backend, sizeof res->backend, "cuda/v%d", cfg->gpu_kernel ? cfg->gpu_kernel : 3);
    else
        snprintf(res->backend, sizeof res->backend, "%s", sj_backend_name(cfg->backend));
    if (cfg->part_count > 1 && r->ranks == 1)
        snprintf(res->part, sizeof res->part, "%d/%d", cfg->part_index, cfg->part_count);
    return SJ_OK;
}

static void report(const job_run *r, double join_s, sj_join_job_result *out)
{
    const sj_join_result *res = &r->res;
    out->corpus = r->corpus->n;
    out->queries = r->queries ? r->queries->n : 0;
    out->hashes = res->n_nodes;
    out->excluded = res->n_excluded;
    sj_excluded_text(res->excluded_rule, res->n_excluded, &r->dopt, out->excluded_text,
                     sizeof out->excluded_text);
    out->comparisons = r->comparisons;
    out->pairs = r->spilled ? r->n_spilled : res->pairs.n;
    out->spilled_runs = r->spill ? sj_pair_spill_runs(r->spill) : 0;
    out->resumed_units = r->journal.n_units;
    out->threshold = r->cfg.threshold;
    out->metric = r->cfg.metric;
    out->dihedral = r->cfg.dihedral;
    snprintf(out->backend, sizeof out->backend, "%s", res->backend);
    snprintf(out->part, sizeof out->part, "%s", res->part);
    out->join_seconds = join_s;
}

static sj_status check_job(const sj_join_job *job, const sj_join_job_result *res)
{
    if (!job || job->struct_size != sizeof *job)
        return sj_fail(SJ_ERR_ARG, "sj_join_job_run: the job was not set up by sj_join_job_init "
                                   "of this library (struct_size %u, expected %zu)",
                       job ? job->struct_size : 0u, sizeof *job);
    if (res && res->struct_size != sizeof *res)
        return sj_fail(SJ_ERR_ARG, "sj_join_job_run: the result was not set up by "
                                   "sj_join_job_result_init of this library (struct_size %u, "
                                   "expected %zu)", res->struct_size, sizeof *res);
    if (job->config && job->config->struct_size != sizeof *job->config)
        return sj_fail(SJ_ERR_ARG, "sj_join_job_run: the config was not set up by "
                                   "sj_join_config_init of this library (struct_size %u, expected %zu)",
                       job->config->struct_size, sizeof *job->config);
    if (job->n_corpus < 1 || !job->corpus || !job->out)
        return sj_fail(SJ_ERR_ARG, "sj_join_job_run: corpus shards and an output are required");
    if (job->n_queries < 0 || (job->n_queries && !job->queries))
        return sj_fail(SJ_ERR_ARG, "sj_join_job_run: n_queries without queries");
    if (job->self_queries && !job->n_queries)
        return sj_fail(SJ_ERR_ARG, "sj_join_job_run: self_queries needs queries (without them "
                                   "the corpus is self-joined)");
    return SJ_OK;
}

sj_status sj_join_job_run(const sj_join_job *job, sj_join_job_result *out)
{
    sj_status st = check_job(job, out);
    if (st)
        return st;
    job_run r;
    memset(&r, 0, sizeof r);
    r.job = job;
    r.rank = job->collective.ranks > 1 ? job->collective.rank : 0;
    r.ranks = job->collective.ranks > 1 ? job->collective.ranks : 1;
    r.corpus_paths = job->corpus;
    r.n_corpus = job->n_corpus;
    r.query_paths = job->queries;
    r.n_queries = job->n_queries;
    if (job->config)
        r.cfg = *job->config;
    else
        sj_join_config_init(&r.cfg);
    r.cfg.max_pairs = 0;
    r.cfg.max_memory = 0;
    r.cfg.unit_skip = NULL, r.cfg.unit_done = NULL, r.cfg.unit_user = NULL;
    r.cfg.unit_offset = 0, r.cfg.unit_only = 0;
    sj_join_result_init(&r.res);
    int usage = 0;
    double join_s = 0;
    st = run_local(&r, &usage);
    if (usage) /* every rank finds the same misuse: no agreement needed */
        goto done;
    /* every rank reaches this point, failed or not */
    if ((st = agree(&r, st)))
        goto done;
    if (r.ranks > 1 && (st = gather(&r)))
        goto done;
    if (r.rank == 0)
        st = finish_pairs(&r);
    if ((st = agree(&r, st)) || (st = describe(&r)))
        goto done;
    join_s = sj_now() - r.t_join;
    sj_pair_source merged = {r.n_spilled, sj_pair_spill_read, r.spill};
    if (r.rank == 0)
        st = r.spilled ? sj_pairs_file_write_stream(job->out, &r.res, &merged)
                       : sj_pairs_file_write(job->out, &r.res);
    st = agree(&r, st);
done:
    if (out) {
        out->usage_error = usage && st;
        if (!st)
            report(&r, join_s, out);
    }
    sj_input_sums_finish(&r.sums, NULL); /* a failure before they were wanted */
    sj_join_result_release(&r.res);
    sj_hashes_free(r.corpus);
    sj_hashes_free(r.queries);
    sj_sources_free(&r.srcs);
    sj_journal_close(&r.journal, 1); /* only a killed run leaves it, for resume */
    sj_pair_spill_free(r.spill);          /* its runs go with their descriptors */
    return st;
}
