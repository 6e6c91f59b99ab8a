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

/* The digest of a streamed piece's rows as read: SHA-256 of its hash bytes
 * and of its ids, two streams, so that its rows may come in any split (the
 * first pass's pieces are not the join's). */
typedef struct piece_sum {
    sj_sha256 hashes, ids;
} piece_sum;

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
    int64_t max_memory;   /* the budget in force: --max-memory, or the default's when the
                           * corpus is streamed under it; 0: none */
    sj_hash_type type;    /* the inputs' kind */
    int64_t corpus_rows;  /* the corpus's rows that take part (degenerate ones out) */
    /* A streamed corpus (set_limits: the inputs as loaded do not fit the
     * budget): read in pieces of piece_rows rows, NULL corpus. */
    int streamed;
    sj_corpus_stream stream;
    int64_t piece_rows, pieces;
    int64_t scan_rows;             /* rows a piece of the first pass (dihedral hashes checked) */
    char (*piece_sums)[130];       /* [pieces]: each piece's digest in the first pass; owned */
    piece_sum scan_sum;            /* the digest of the piece the first pass is in */
    int64_t scan_row;              /* the first pass's next row */
    int64_t excluded_cap;          /* res.excluded_*'s room, while the scan grows them */
    int64_t work_before;           /* comparisons of the earlier piece joins (progress) */
    int64_t found_before;          /* pairs found before the piece join under way (progress) */
    sj_progress_fn progress;       /* the caller's, given the whole join's progress */
    void *progress_user;
} job_run;

/* A streamed join keeps, per corpus row: its id among the nodes (8 bytes),
 * its id and source in the sources (12), and during the first pass the id
 * list that checks ids across shards (8). */
#define SJ_STREAM_ROW_BYTES 28
/* A row as loaded: hash, id, quality, label, node (see set_limits). */
#define SJ_LOADED_ROW_BYTES(hash_bytes) ((int64_t)(hash_bytes) + 40)

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

/* The bytes a streamed join holds at once: what it keeps of every corpus
 * row, the pieces in memory together (a self-join: a piece against another;
 * its query piece with its dihedral hashes under --dihedral), the queries. */
static int64_t plan_stream_bytes(const job_run *r, int64_t corpus_rows, uint32_t row_bytes,
                                 int64_t query_bytes)
{
    const int64_t loaded = SJ_LOADED_ROW_BYTES(row_bytes);
    int64_t piece_row = r->n_queries ? loaded : 2 * loaded;
    if (!r->n_queries && r->cfg.dihedral)
        piece_row += SJ_DIHEDRAL * (int64_t)row_bytes;
    return corpus_rows * SJ_STREAM_ROW_BYTES + r->piece_rows * piece_row + query_bytes;
}

/* The inputs as loaded (input_bytes) do not fit in half of the budget: read
 * the corpus in pieces that do, or say why it cannot be. */
static sj_status plan_stream(job_run *r, int64_t input_bytes, int64_t corpus_rows, uint32_t row_bytes,
                             int64_t query_bytes, int corpus_dihedral)
{
    const sj_join_job *job = r->job;
    const int by_default = job->max_memory <= 0;
    char limit[96], need[160];
    if (by_default)
        snprintf(limit, sizeof limit, "3/4 of the memory available (%.1f MB)",
                 (double)r->max_memory / 0.75 / 1048576.0);
    else
        snprintf(limit, sizeof limit, "half of --max-memory (%.1f MB)",
                 (double)r->max_memory / 1048576.0);
    snprintf(need, sizeof need, "the inputs need about %.1f MB in memory, more than %s",
             (double)input_bytes / 1048576.0, limit);
    const char *how = by_default ? "free memory, or set --max-memory SIZE (0 or none: no limit)"
                                 : "raise it";
    if (r->ranks > 1)
        return sj_fail(SJ_ERR_LIMIT, "%s, and a corpus streamed in pieces does not run under MPI; "
                                     "%s", need, how);
    if (!r->n_queries && r->cfg.part_count > 1)
        return sj_fail(SJ_ERR_LIMIT, "%s, and a self-join whose corpus is streamed in pieces cannot "
                                     "be split with --part; %s, or leave out --part", need, how);
    r->piece_rows = 0;
    const int64_t fixed = plan_stream_bytes(r, corpus_rows, row_bytes, query_bytes);
    r->piece_rows = 1;
    const int64_t per_row = plan_stream_bytes(r, corpus_rows, row_bytes, query_bytes) - fixed;
    const int64_t room = r->max_memory / 2 - fixed;
    if (room < per_row)
        return sj_fail(SJ_ERR_LIMIT, "%s, and even with the corpus streamed in pieces its ids and "
                                     "sources (%d bytes a row) and the queries take %.1f MB of it; %s",
                       need, SJ_STREAM_ROW_BYTES, (double)fixed / 1048576.0, how);
    r->piece_rows = SJ_MIN(room / per_row, SJ_MAX(corpus_rows, 1));
    r->pieces = (corpus_rows + r->piece_rows - 1) / r->piece_rows;
    /* the first pass reads one piece at a time, with its dihedral hashes (checked) */
    r->scan_rows = SJ_MAX(room / (SJ_LOADED_ROW_BYTES(row_bytes) +
                                  (corpus_dihedral ? SJ_DIHEDRAL * (int64_t)row_bytes : 0)), 1);
    r->streamed = 1;
    return SJ_OK;
}

/* The pair limit in force, and the backend's corpus chunks under max_memory:
 * the inputs, as loaded, must fit in about half of it; the corpus chunks and
 * the pairs share the rest. Checked from the shard headers, before anything
 * is read. */
static sj_status set_limits(job_run *r)
{
    const sj_join_job *job = r->job;
    sj_status st = SJ_OK;
    int64_t input_bytes = 0, corpus_rows = 0, query_bytes = 0;
    uint32_t row_bytes = 0;
    int corpus_dihedral = 0;
    for (int i = 0; i < r->n_corpus + r->n_queries && !st; i++) {
        int64_t rows, bytes_here;
        uint32_t bytes;
        const char *path = input_path(r, i);
        if ((st = sj_shard_peek(path, &rows, &bytes)))
            break;
        bytes_here = rows * SJ_LOADED_ROW_BYTES(bytes);
        int dihedral = 0;
        if (!(st = sj_shard_has_dihedral(path, &dihedral)) && dihedral)
            bytes_here += rows * SJ_DIHEDRAL * (int64_t)bytes; /* read, kept for --dihedral */
        if (dihedral && i < r->n_corpus)
            corpus_dihedral = 1;
        input_bytes += bytes_here;
        if (i < r->n_corpus)
            corpus_rows += rows, row_bytes = bytes;
        else
            query_bytes += bytes_here;
    }
    if (st)
        return st;
    r->max_memory = job->max_memory > 0 ? job->max_memory : 0;
    int64_t budget = -1;
    if (job->max_memory < 0 && job->max_pairs < 0 && /* the default limit, which the inputs overrun */
        !(st = sj_memory_budget_default(job->out, &budget)) && budget > 0 && input_bytes >= budget)
        r->max_memory = budget;
    if (st)
        return st;
    if (r->max_memory > 0 && input_bytes > r->max_memory / 2) {
        st = plan_stream(r, input_bytes, corpus_rows, row_bytes, query_bytes, corpus_dihedral);
        if (st && job->max_memory < 0) { /* the default's: the loaded join says why it cannot run */
            r->max_memory = 0;
            st = SJ_OK;
        }
        if (st)
            return st;
    }
    if (r->max_memory > 0) {
        if (r->streamed) /* what it holds at once: the rows kept, the pieces, the queries */
            input_bytes = plan_stream_bytes(r, corpus_rows, row_bytes, query_bytes);
        if ((st = sj_memory_plan_make(r->max_memory, input_bytes, &r->plan)))
            return st;
        r->cfg.max_memory = r->plan.backend_bytes; /* the backend's corpus chunks */
        if (r->ranks == 1) { /* pairs beyond the budget go to sorted runs on disk */
            if ((st = sj_pair_limit_spill(job->out, &r->lim)))
                return st;
        } else if (job->max_pairs <= 0 || job->max_pairs > r->plan.pairs_in_memory) {
            r->lim.max_pairs = r->plan.pairs_in_memory; /* rank 0 gathers them all */
            snprintf(r->lim.why, sizeof r->lim.why, "the limit set by --max-memory %.1f MB (the "
                     "pairs' share of it)", (double)r->max_memory / 1048576.0);
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

/* res.nodes for every row of the inputs (rows, exactly: 8 bytes a row). */
static sj_status reserve_nodes(job_run *r, int64_t rows)
{
    r->res.nodes = malloc((size_t)SJ_MAX(rows, 1) * sizeof *r->res.nodes);
    return r->res.nodes ? SJ_OK : sj_fail(SJ_ERR_NOMEM, "out of memory for %lld ids", (long long)rows);
}

/* The degenerate hashes of h excluded (and listed), the rest among the
 * nodes (reserved by reserve_nodes). */
static sj_status exclude_and_list(job_run *r, sj_hashes *h)
{
    sj_join_result *res = &r->res;
    int64_t cap = r->excluded_cap;
    sj_status st = sj_grow((void **)&res->excluded_id, &cap, res->n_excluded + h->n,
                           sizeof *res->excluded_id);
    if (st)
        return st;
    if (cap != r->excluded_cap) {
        uint8_t *rule = realloc(res->excluded_rule, (size_t)cap);
        if (!rule)
            return sj_fail(SJ_ERR_NOMEM, "out of memory");
        res->excluded_rule = rule;
        r->excluded_cap = cap;
    }
    if ((st = exclude(r, h)))
        return st;
    memcpy(res->nodes + res->n_nodes, h->ids, (size_t)h->n * sizeof *h->ids);
    res->n_nodes += h->n;
    return SJ_OK;
}

static void piece_sum_init(piece_sum *p)
{
    sj_sha256_init(&p->hashes);
    sj_sha256_init(&p->ids);
}

/* Rows [from, from + n) of h into p. */
static void piece_sum_rows(piece_sum *p, const sj_hashes *h, int64_t from, int64_t n)
{
    const size_t rb = sj_hash_type_bytes(h->type);
    sj_sha256_update(&p->hashes, h->hashes + (size_t)from * rb, (size_t)n * rb);
    sj_checksum_add_ids(&p->ids, h->ids + from, n);
}

/* Finish p (and free it): the two digests, one after the other. */
static void piece_sum_hex(piece_sum *p, char out[130])
{
    sj_sha256_hex(&p->hashes, out);
    sj_sha256_hex(&p->ids, out + 64);
}

/* The corpus scan's step: the digests of the join's pieces as their rows
 * pass (before the degenerate ones are taken out), then the piece's rows
 * excluded or listed. */
static sj_status scan_piece(void *user, sj_hashes *piece)
{
    job_run *r = user;
    const int64_t P = r->piece_rows;
    for (int64_t i = 0; i < piece->n;) {
        const int64_t g = r->scan_row + i, k = g / P, m = SJ_MIN(piece->n - i, (k + 1) * P - g);
        if (g % P == 0)
            piece_sum_init(&r->scan_sum);
        piece_sum_rows(&r->scan_sum, piece, i, m);
        if ((g + m) % P == 0 || g + m == r->stream.rows)
            piece_sum_hex(&r->scan_sum, r->piece_sums[k]);
        i += m;
    }
    r->scan_row += piece->n;
    sj_status st = exclude_and_list(r, piece);
    r->corpus_rows += piece->n;
    return st;
}

/* The degenerate-hash rules in force (the kind's defaults and the options). */
static void set_degenerate_options(job_run *r)
{
    const sj_join_job *job = r->job;
    sj_degenerate_defaults(r->type, &r->dopt);
    r->dopt.enabled = !job->keep_degenerate;
    if (job->min_quality >= 0)
        r->dopt.min_quality = job->min_quality;
    if (job->min_ones >= 0 && job->max_ones >= 0) {
        r->dopt.min_ones = job->min_ones;
        r->dopt.max_ones = job->max_ones;
    }
}

/* Excluded sorted by id (rule carried along), nodes sorted. */
static sj_status sort_rows(job_run *r)
{
    sj_join_result *res = &r->res;
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
    return sj_sort_by_id(res->nodes, res->n_nodes, sizeof *res->nodes);
}

/* The case metadata table of sets[n] (side: each set's new/corpus flag),
 * when there is any metadata or there are queries. */
static sj_status build_meta(job_run *r, const sj_hashes *const *sets, const uint8_t *side, int n)
{
    int any = r->queries != NULL;
    for (int k = 0; k < n; k++)
        any |= sets[k] && sets[k]->meta;
    if (r->rank != 0 || !any)
        return SJ_OK;
    sj_status st = sj_meta_table_build(sets, side, n, &r->res.meta);
    return st ? st : sj_meta_fill_sources(r->res.meta, &r->srcs);
}

/* Case metadata and the new/corpus side of every hash, kept before the
 * degenerate hashes are taken out (README "Case metadata"); then the
 * degenerate ones excluded and listed by id, and the nodes that take part. */
static sj_status prepare_rows(job_run *r)
{
    sj_hashes *corpus = r->corpus, *queries = r->queries;
    sj_status st;
    const sj_hashes *sets[2] = {corpus, queries};
    const uint8_t side[2] = {queries ? 0 : 1, 1}; /* a self-join: every hash is new */
    if ((st = build_meta(r, sets, side, queries ? 2 : 1)) ||
        (st = reserve_nodes(r, corpus->n + (queries ? queries->n : 0))))
        return st;
    set_degenerate_options(r);
    if ((st = sj_input_sums_finish(&r->sums, &r->res)) || /* before the rows change */
        (st = exclude_and_list(r, corpus)) || (queries && (st = exclude_and_list(r, queries))))
        return st;
    r->corpus_rows = corpus->n;
    return sort_rows(r);
}

/* read_inputs' corpus when it is streamed: one pass over its pieces
 * (checksums, sources, degenerate hashes, nodes), then the queries read
 * whole; ids checked across the shards and with the queries by the id list of
 * that pass, and the metadata table made from each shard's. */
static sj_status read_streamed(job_run *r)
{
    sj_corpus_stream *cs = &r->stream;
    int64_t *ids = NULL;
    sj_meta **meta = NULL;
    const sj_hashes **sets = NULL;
    uint8_t *side = NULL;
    sj_hashes *views = NULL;
    int64_t query_rows = 0;
    sj_status st;
    for (int i = 0; i < r->n_queries; i++) {
        uint32_t bytes;
        int64_t rows;
        if ((st = sj_shard_peek(r->query_paths[i], &rows, &bytes)))
            return st;
        query_rows += rows;
    }
    if ((st = sj_corpus_stream_open((char *const *)r->corpus_paths, r->n_corpus, cs)) ||
        (st = reserve_nodes(r, cs->rows + query_rows)))
        return st;
    r->type = cs->type;
    set_degenerate_options(r);
    if (!(r->piece_sums = calloc((size_t)SJ_MAX(r->pieces, 1), sizeof *r->piece_sums)))
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    st = sj_corpus_stream_scan(cs, r->scan_rows, &r->srcs, &r->res, "corpus", scan_piece, r, &ids,
                               &meta);
    if (r->scan_sum.hashes.ctx) { /* a piece left open by a failed pass */
        char unused[130];
        piece_sum_hex(&r->scan_sum, unused);
    }
    if (st)
        goto done;
    if (r->n_queries && (st = sj_read_shards_as((char **)r->query_paths, r->n_queries, &r->queries,
                                                &r->srcs, &r->res, "queries")))
        goto done;
    sj_sources_finish(&r->srcs);
    sj_hashes all = {.type = cs->type, .n = cs->rows, .capacity = cs->rows, .ids = ids};
    const sj_hashes *q = r->queries;
    if (q && (q->type.kind != r->type.kind || q->type.bits != r->type.bits))
        goto done; /* read_inputs says so */
    if ((st = sj_check_ids_across(&all, q)))
        goto done;
    sets = calloc((size_t)cs->n_shards + 1, sizeof *sets);
    side = calloc((size_t)cs->n_shards + 1, 1);
    views = calloc((size_t)cs->n_shards, sizeof *views);
    if (!sets || !side || !views) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < cs->n_shards; i++) { /* each shard's rows: ids and metadata */
        int64_t lo = cs->first_row[i];
        views[i] = (sj_hashes){.type = cs->type, .n = cs->first_row[i + 1] - lo, .ids = ids + lo,
                               .meta = meta[i]};
        sets[i] = &views[i];
        side[i] = q ? 0 : 1; /* a self-join: every hash is new */
    }
    sets[cs->n_shards] = q;
    side[cs->n_shards] = 1;
    st = build_meta(r, sets, side, cs->n_shards + (q ? 1 : 0));
done:
    for (int i = 0; meta && i < cs->n_shards; i++)
        sj_meta_free(meta[i]);
    free(meta);
    free(ids);
    free(sets);
    free(side);
    free(views);
    return st;
}

/* prepare_rows for a streamed corpus (read_streamed did the corpus's part). */
static sj_status prepare_rows_streamed(job_run *r)
{
    sj_status st = r->queries ? exclude_and_list(r, r->queries) : SJ_OK;
    return st ? st : sort_rows(r);
}

/* Read the shards, each recorded with its checksum (for cluster to check);
 * drop the dihedral hashes that are not compared; the machine's pair limit
 * when neither limit was given; kinds and ids checked across the inputs. */
static sj_status read_inputs(job_run *r)
{
    sj_status st;
    if (r->streamed) {
        if ((st = read_streamed(r)))
            return st;
    } else {
        if ((st = sj_read_shards_summed((char **)r->corpus_paths, r->n_corpus, &r->corpus,
                                        &r->srcs, &r->res, "corpus", &r->sums)))
            return st;
        r->type = r->corpus->type;
        if (r->n_queries &&
            (st = sj_read_shards_summed((char **)r->query_paths, r->n_queries, &r->queries,
                                        &r->srcs, &r->res, "queries", &r->sums)))
            return st;
        sj_sources_finish(&r->srcs);
    }
    for (int k = 0; k < 2; k++) { /* dihedral hashes not compared: not kept */
        sj_hashes *h = k ? r->queries : r->corpus;
        if (h && h->dihedral && !(r->cfg.dihedral && (k == 1 || !r->queries))) {
            free(h->dihedral);
            h->dihedral = NULL;
        }
    }
    if (r->job->max_pairs < 0 && r->job->max_memory < 0 && !r->max_memory) { /* neither: limits from the machine */
        int64_t rows = r->corpus->n + (r->queries ? r->queries->n : 0);
        /* memory: the inputs as loaded (hash, id, quality, label, node); a pair
         * at its peak (SJ_PAIR_PEAK_BYTES: itself and the sort's copy);
         * disk: a pair in the journal and in the output (48 bytes) */
        if ((st = sj_pair_limit_default(r->job->out,
                                        rows * ((int64_t)sj_hash_type_bytes(r->corpus->type) + 40),
                                        SJ_PAIR_PEAK_BYTES, 48, &r->lim)))
            return st;
    }
    const sj_hashes *q = r->queries;
    if (q && (q->type.kind != r->type.kind || q->type.bits != r->type.bits)) {
        char a[24], b[24];
        sj_hash_type_format(r->type, a, sizeof a);
        sj_hash_type_format(q->type, b, sizeof b);
        return sj_fail(SJ_ERR_MISMATCH, "%s: queries are %s hashes but the corpus (%s) is %s",
                       r->query_paths[0], b, r->corpus_paths[0], a);
    }
    if (!r->streamed && (st = sj_check_ids_across(r->corpus, q))) /* streamed: in prepare_rows */
        return st;
    return sj_metric_check(r->type, &r->cfg.metric);
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
        if (r->type.kind != SJ_KIND_PDQ)
            return sj_fail(SJ_ERR_ARG, "--threshold is required for this kind (pdq alone has a default)");
        threshold = 31;
    }
    if (sj_metric_integral(r->type, m) &&
        (threshold != floor(threshold) || threshold < 0 || threshold > 2e9))
        return sj_fail(SJ_ERR_ARG, "--threshold needs an integer >= 0 for %s distances", sj_metric_name(m));
    *usage = 0;
    r->cfg.threshold = threshold;
    return SJ_OK;
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
    if (r->streamed) { /* a unit is a block of one piece join: the pieces must be the same */
        char pieces[64];
        snprintf(pieces, sizeof pieces, " pieces=%lld", (long long)r->piece_rows);
        sj_sha256_update(&sh, pieces, strlen(pieces));
    }
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

/* The pairs found so far (in memory, or given to the spilling sink). */
static int64_t pairs_found(const job_run *r)
{
    return r->spill ? sj_pair_spill_added(r->spill) : r->res.pairs.n;
}

/* Before a join after the first: what the earlier ones left of the pair limit. */
static void limit_rest(job_run *r)
{
    if (r->lim.max_pairs > 0)
        r->cfg.max_pairs = SJ_MAX(r->lim.max_pairs - pairs_found(r), 1);
}

/* The comparisons of this process's part with the corpus in memory. */
static sj_status compare_loaded(job_run *r)
{
    sj_join_config *cfg = &r->cfg;
    sj_pairs *pairs = &r->res.pairs;
    sj_status st;
    if (!r->queries) {
        r->comparisons = part_comparisons(cfg, r->corpus->n, r->corpus->n, 1);
        return sj_join_self(cfg, r->corpus, pairs);
    }
    r->comparisons = part_comparisons(cfg, r->queries->n, r->corpus->n, 0);
    st = sj_join_cross(cfg, r->queries, r->corpus, pairs);
    if (!st && r->job->self_queries) {
        r->comparisons += part_comparisons(cfg, r->queries->n, r->queries->n, 1);
        cfg->unit_offset = (int64_t)1 << 40; /* the second join's units */
        limit_rest(r);
        st = sj_join_self(cfg, r->queries, pairs);
    }
    return st;
}

/* The caller's progress for one piece join, told as the whole join's. */
static void piece_progress(void *user, int64_t done, int64_t total, int64_t found)
{
    job_run *r = user;
    (void)total;
    r->progress(r->progress_user, SJ_MIN(r->work_before + done, r->comparisons), r->comparisons,
                r->found_before + found);
}

/* Piece `k` of the streamed corpus (rows [k * piece_rows, ...)), its
 * degenerate hashes taken out (listed by the first pass); *out owned by the caller. */
static sj_status read_piece(job_run *r, int64_t k, int dihedral, sj_hashes **out)
{
    const int64_t first = k * r->piece_rows, n = SJ_MIN(r->piece_rows, r->stream.rows - first);
    sj_status st = sj_corpus_stream_read(&r->stream, first, n, dihedral, out);
    if (st)
        return st;
    piece_sum sum;
    char now[130];
    piece_sum_init(&sum);
    piece_sum_rows(&sum, *out, 0, (*out)->n);
    piece_sum_hex(&sum, now);
    if (strcmp(now, r->piece_sums[k]) != 0) { /* the recorded checksums would not be of what was joined */
        int i = 0;
        while (i + 1 < r->stream.n_shards && r->stream.first_row[i + 1] <= first)
            i++;
        sj_hashes_free(*out);
        *out = NULL;
        return sj_fail(SJ_ERR_MISMATCH, "%s: the corpus's rows %lld..%lld (from row %lld of this shard) "
                                        "are not those its first pass read: a shard changed while the "
                                        "join ran; nothing was written, join again",
                       r->corpus_paths[i], (long long)first, (long long)(first + n - 1),
                       (long long)(first - r->stream.first_row[i]));
    }
    int64_t *ex_id = malloc((size_t)SJ_MAX(n, 1) * sizeof *ex_id), ne;
    uint8_t *ex_rule = malloc((size_t)SJ_MAX(n, 1));
    st = ex_id && ex_rule ? sj_hashes_remove_degenerate(*out, &r->dopt, ex_id, ex_rule, &ne)
                          : sj_fail(SJ_ERR_NOMEM, "out of memory");
    free(ex_id);
    free(ex_rule);
    if (st) {
        sj_hashes_free(*out);
        *out = NULL;
    }
    return st;
}

/* One join of the streamed corpus (queries: a piece or the query set;
 * corpus: a piece, or NULL for queries against themselves) as units
 * (pair << 42) + the scheduler's, so that units stay distinct across the
 * joins of a run and the same from run to run (README "Corpus larger than
 * memory"). */
static sj_status join_piece(job_run *r, int64_t pair, const sj_hashes *queries, const sj_hashes *corpus)
{
    sj_join_config *cfg = &r->cfg;
    const int self = corpus == NULL;
    const int64_t work = SJ_MAX(part_comparisons(cfg, queries->n, self ? queries->n : corpus->n, self), 0);
    cfg->unit_offset = pair << 42;
    limit_rest(r);
    r->found_before = pairs_found(r);
    sj_status st = self ? sj_join_self(cfg, queries, &r->res.pairs)
                        : sj_join_cross(cfg, queries, corpus, &r->res.pairs);
    r->work_before += work;
    return st;
}

/* The comparisons with the corpus streamed in pieces. A self-join walks the
 * block triangle: piece i against itself and against each later piece j
 * (pieces i and j in memory together; piece j read again for each i); under
 * --dihedral the whole square, as the loaded self-join compares each image's
 * transforms with every other image. Queries meet each piece once, then
 * (--self) themselves. Every pair goes to the same sink as when loaded. */
static sj_status compare_streamed(job_run *r)
{
    sj_join_config *cfg = &r->cfg;
    const int64_t K = r->pieces, n = r->corpus_rows;
    const int dih = cfg->dihedral != 0;
    sj_status st = SJ_OK;
    r->progress = cfg->progress, r->progress_user = cfg->progress_user;
    if (cfg->progress)
        cfg->progress = piece_progress, cfg->progress_user = r;
    if (!r->queries) {
        r->comparisons = part_comparisons(cfg, n, n, 1);
        for (int64_t i = 0; i < K && !st; i++) {
            sj_hashes *qi;
            if ((st = read_piece(r, i, dih, &qi)))
                break;
            for (int64_t j = dih ? 0 : i; j < K && !st; j++) {
                sj_hashes *cj = NULL;
                if (j != i && (st = read_piece(r, j, 0, &cj)))
                    break;
                st = join_piece(r, i * K + j, qi, cj);
                sj_hashes_free(cj);
            }
            sj_hashes_free(qi);
        }
    } else {
        const int64_t nq = r->queries->n;
        r->comparisons = part_comparisons(cfg, nq, n, 0) +
                         (r->job->self_queries ? part_comparisons(cfg, nq, nq, 1) : 0);
        for (int64_t j = 0; j < K && !st; j++) {
            sj_hashes *cj;
            if ((st = read_piece(r, j, 0, &cj)))
                break;
            st = join_piece(r, j, r->queries, cj);
            sj_hashes_free(cj);
        }
        if (!st && r->job->self_queries)
            st = join_piece(r, K, r->queries, NULL);
    }
    cfg->progress = r->progress, cfg->progress_user = r->progress_user;
    return st;
}

/* The comparisons of this process's part, and the pairs of the units done
 * before (from the journal). */
static sj_status compare(job_run *r)
{
    sj_pairs *pairs = &r->res.pairs;
    sj_status st = r->streamed ? compare_streamed(r) : compare_loaded(r);
    for (int64_t i = 0; !st && i < r->journal.saved.n; i++) {
        if ((st = sj_grow((void **)&pairs->v, &pairs->capacity, pairs->n + 1, sizeof *pairs->v)))
            break;
        pairs->v[pairs->n++] = r->journal.saved.v[i];
    }
    int64_t found = pairs_found(r);
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
        (st = set_limits(r)))
        return st;
    if (r->streamed)
        say(r, SJ_JOB_NOTICE, "join: the corpus does not fit in memory as loaded: it is streamed in "
            "%lld pieces of up to %lld rows%s", (long long)r->pieces, (long long)r->piece_rows,
            r->n_queries || r->pieces < 2 ? "" : " (a self-join reads each piece again for every "
                                                 "earlier one)");
    if ((st = read_inputs(r)))
        return st;
    if ((st = settle_threshold(r, usage)) ||
        (st = r->streamed ? prepare_rows_streamed(r) : prepare_rows(r)))
        return st;
    const char *notice = NULL;
    r->cfg.backend = sj_backend_resolve_for(&r->cfg, r->type, &notice);
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
    res->type = r->type;
    res->metric = cfg->metric;
    res->threshold = cfg->threshold;
    if (cfg->backend == SJ_BACKEND_CPU)
        snprintf(res->backend, sizeof res->backend, "cpu/%s",
                 sj_cpu_path_name(r->type, cfg->metric, cfg->isa));
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
    out->corpus = r->corpus_rows;
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
    sj_corpus_stream_close(&r.stream);
    free(r.piece_sums);
    sj_hashes_free(r.queries);
    sj_sources_free(&r.srcs);
    sj_journal_close(&r.journal, 1); /* only a killed run leaves it, for resume */
    sj_pair_spill_free(r.spill);          /* its runs go with their descriptors */
    return st;
}
