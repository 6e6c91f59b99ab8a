/* cmd_join.c - `simjoin join`: all pairs within a Hamming threshold. */
#include "cli/cli.h"
#include "simjoin/meta.h"

#include "core/sha256.h"

#include <getopt.h>
#include <math.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

static void help(void)
{
    printf("usage: simjoin join --corpus C.h5... [--queries Q.h5... [--self]] --threshold T\n"
           "                    --out PAIRS.h5 [options]\n"
           "\n"
           "Without --queries: every pair inside the corpus (self-join).\n"
           "With --queries: every query against every corpus hash; --self adds the pairs\n"
           "among the queries. A pair matches when distance <= T. Ids must be unique\n"
           "across all inputs. Pairs are stored once as (a, b), a < b, sorted; the file\n"
           "is identical for every backend and thread count.\n"
           "\n"
           "  --corpus FILE...     corpus shards (repeatable)\n"
           "  --queries FILE...    query shards (repeatable)\n"
           "  --self               with --queries: also queries x queries\n"
           "  --cross-only         keep only pairs whose two hashes come from different\n"
           "                       sources (the shards' source attribute)\n"
           "  --threshold T        a pair matches when distance <= T (pdq default: 31):\n"
           "                       hamming in bits; l2sq and l1 integers for photodna and\n"
           "                       u8:D; a real number for f32:D (cosine: 1 - cos)\n"
           "  --metric M           hamming (pdq, bits:N); l2sq (default) or l1 (photodna,\n"
           "                       u8:D); cosine (default), ip or l2sq (f32:D). cosine is\n"
           "                       1 - cos(a, b) and ip is 1 - <a, b>, so that every metric\n"
           "                       is a distance (README \"Metrics\")\n"
           "  --min-similarity S   cosine and ip: the same as --threshold 1-S\n"
           "  --out PAIRS.h5       output pairs file\n"
           "  --backend B          auto (default: cuda if a GPU is usable, else cpu),\n"
           "                       cpu, faiss, cuda, naive (reference loop)\n"
           "  --isa I              cpu backend path: auto, portable, popcnt, avx2, avx512\n"
           "                       (vector kinds: portable, or auto = AVX2+FMA when present)\n"
           "  --kernel K           cuda backend kernel: v1 (tiled popc), v2 (register-blocked),\n"
           "                       v3 (binary tensor cores, the default)\n"
           "  --gpus LIST          cuda devices to use, e.g. 0,1 (default: all); the corpus\n"
           "                       is split between them\n"
           "  --threads N          OpenMP threads (default: all cores)\n"
           "  --min-quality Q      exclude hashes with known quality < Q (pdq: 50)\n"
           "  --bit-band LO:HI     exclude hashes whose one-bit count is outside LO..HI\n"
           "                       (default bits/8 : bits - bits/8)\n"
           "  --keep-degenerate    exclude nothing (all-zero hashes match everything!)\n"
           "  --max-pairs N        stop with an error past N pairs (0 or none: no limit)\n"
           "  --max-memory SIZE    keep the run within SIZE of memory (e.g. 4G): refuse inputs\n"
           "                       that do not fit, compare the corpus in chunks that do, and\n"
           "                       stop with an error before the pairs would exceed it (0 or\n"
           "                       none: no limit). Without either option the pairs are capped\n"
           "                       at what fits in 3/4 of the memory available beside the\n"
           "                       inputs and in 9/10 of the free disk beside the output\n"
           "  --part I/N           join only part I (0-based) of N of the query x corpus grid,\n"
           "                       cut for equal work; `simjoin merge` joins the N outputs\n"
           "                       into the file one run would write. Under `mpirun -np N`\n"
           "                       (when built with MPI) the ranks split the join this way\n"
           "                       by themselves and rank 0 writes the one output.\n"
           "  --resume             continue a killed run from its journal (.OUT.journal, kept\n"
           "                       beside the output while a join runs): finished blocks are\n"
           "                       not compared again, no pair is lost or duplicated\n"
           "  --dihedral           flip- and rotation-aware: compare each query's 8 dihedral\n"
           "                       hashes (shards hashed with --dihedral; self-join: every\n"
           "                       image's) with the other side's canonical hash; a pair is\n"
           "                       kept once, at the smallest distance, with its transform\n"
           "                       (/pairs/transform; README \"Flip- and rotation-aware joins\")\n"
           "  --stats-json FILE    write the run's figures as JSON\n"
           "  --quiet              no progress line and no summary\n"
           "  --verbose            more detail on stderr (under mpirun: each rank's share);\n"
           "                       never hashes or ids\n");
}

/* How to raise join's pair limit. */
static const char join_how[] =
    "Lower the threshold, or set the limit with --max-pairs N or --max-memory SIZE (0 or none: no limit)";

/* Append an input list: "--corpus a b c" takes the following non-option words. */
static int take_list(int argc, char **argv, char **list, int *n)
{
    list[(*n)++] = optarg;
    while (optind < argc && argv[optind][0] != '-')
        list[(*n)++] = argv[optind++];
    return 0;
}

typedef struct id_origin {
    int64_t id;
    int set;
} id_origin;

static int cmp_excl(const void *x, const void *y)
{
    const id_origin *a = x, *b = y; /* set holds the rule here */
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Remove degenerates from h, appending to r->excluded_* (sized by caller). */
static sj_status exclude(sj_hashes *h, const sj_degenerate_options *o, sj_join_result *r)
{
    int64_t ne = 0;
    sj_status st = sj_hashes_remove_degenerate(h, o, r->excluded_id + r->n_excluded,
                                               r->excluded_rule + r->n_excluded, &ne);
    r->n_excluded += ne;
    return st;
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

int cmd_join(int argc, char **argv)
{
    static const struct option opts[] = {
        {"corpus", required_argument, 0, 'c'},     {"queries", required_argument, 0, 'Q'},
        {"self", no_argument, 0, 'S'},             {"threshold", required_argument, 0, 't'},
        {"out", required_argument, 0, 'o'},        {"backend", required_argument, 0, 'b'},
        {"isa", required_argument, 0, 'I'},        {"threads", required_argument, 0, 'j'},
        {"min-quality", required_argument, 0, 'm'}, {"bit-band", required_argument, 0, 'B'},
        {"keep-degenerate", no_argument, 0, 'K'},  {"max-pairs", required_argument, 0, 'M'},
        {"stats-json", required_argument, 0, 'J'}, {"quiet", no_argument, 0, 'q'},
        {"verbose", no_argument, 0, 'v'},          {"help", no_argument, 0, 'h'},
        {"kernel", required_argument, 0, 'k'},     {"gpus", required_argument, 0, 'g'},
        {"part", required_argument, 0, 'P'},      {"max-memory", required_argument, 0, 'X'},
        {"cross-only", no_argument, 0, 'C'},      {"resume", no_argument, 0, 'U'},
        {"metric", required_argument, 0, 'e'},    {"min-similarity", required_argument, 0, 'y'},
        {"dihedral", no_argument, 0, 'D'},
        {0, 0, 0, 0}};
    char **corpus_paths = calloc((size_t)argc + 1, sizeof(char *));
    char **query_paths = calloc((size_t)argc + 1, sizeof(char *));
    int n_corpus = 0, n_queries = 0, self = 0, keep_degenerate = 0, cross_only = 0, resume = 0, c,
        rc = EXIT_OK;
    sj_journal journal;
    memset(&journal, 0, sizeof journal);
    sj_sources srcs;
    memset(&srcs, 0, sizeof srcs);
    const char *out = NULL, *stats = NULL, *band = NULL;
    int64_t threads = 0, min_quality = -1, max_pairs = -1, comparisons = 0, max_memory = -1;
    sj_pair_limit lim = {0, ""}; /* the pair limit in force (-1 above: option not given) */
    double threshold = NAN, min_similarity = NAN;
    double t_start = sj_now(), t_join = 0, join_s = 0;
    int rank = 0, ranks = 1;
    if (cli_mpi_init(&argc, &argv, &rank, &ranks)) {
        fprintf(stderr, "simjoin: error: MPI_Init failed\n");
        return EXIT_RUNTIME;
    }
    cli_rank = rank;
    if (rank)
        cli_quiet = 1; /* rank 0 speaks for the job */
    sj_status launch = cli_mpi_check_launch(ranks);
    if (launch)
        return cli_fail(launch);
    sj_join_config cfg;
    sj_join_config_defaults(&cfg);
    sj_hashes *corpus = NULL, *queries = NULL;
    sj_join_result res;
    sj_join_result_init(&res);
    sj_status st = SJ_OK;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': take_list(argc, argv, corpus_paths, &n_corpus); break;
        case 'Q': take_list(argc, argv, query_paths, &n_queries); break;
        case 'S': self = 1; break;
        case 'C': cross_only = 1; break;
        case 'U': resume = 1; break;
        case 'D': cfg.dihedral = 1; break;
        case 't':
            if (cli_parse_f64(optarg, &threshold)) {
                rc = cli_usage("join", "--threshold needs a number");
                goto done;
            }
            break;
        case 'y':
            if (cli_parse_f64(optarg, &min_similarity)) {
                rc = cli_usage("join", "--min-similarity needs a number");
                goto done;
            }
            break;
        case 'e':
            if ((st = sj_metric_parse(optarg, &cfg.metric))) {
                rc = cli_fail(st);
                goto done;
            }
            break;
        case 'o': out = optarg; break;
        case 'b':
            if ((st = sj_backend_parse(optarg, &cfg.backend))) {
                rc = cli_fail(st);
                goto done;
            }
            break;
        case 'I':
            if ((st = sj_isa_parse(optarg, &cfg.isa))) {
                rc = cli_fail(st);
                goto done;
            }
            break;
        case 'k':
            if ((st = sj_gpu_kernel_parse(optarg, &cfg.gpu_kernel))) {
                rc = cli_fail(st);
                goto done;
            }
            break;
        case 'g':
            if ((st = sj_gpu_list_parse(optarg, &cfg))) {
                rc = cli_fail(st);
                goto done;
            }
            break;
        case 'X':
            if (cli_parse_limit(optarg, 1, &max_memory)) {
                rc = cli_usage("join", "--max-memory needs a size of at least 1M (like 512M, 8G), "
                                       "or 0 or none for no limit");
                goto done;
            }
            break;
        case 'P': {
            int64_t i, n;
            char tmp[64], *slash;
            snprintf(tmp, sizeof tmp, "%s", optarg);
            if (!(slash = strchr(tmp, '/')) || (*slash = 0, cli_parse_i64(tmp, &i)) ||
                cli_parse_i64(slash + 1, &n) || n < 1 || n > 1000000 || i < 0 || i >= n) {
                rc = cli_usage("join", "--part needs I/N with 0 <= I < N");
                goto done;
            }
            cfg.part_index = (int)i;
            cfg.part_count = (int)n;
            break;
        }
        case 'j':
            if (cli_parse_i64(optarg, &threads) || threads < 1 || threads > 4096) {
                rc = cli_usage("join", "--threads needs a positive integer");
                goto done;
            }
            break;
        case 'm':
            if (cli_parse_i64(optarg, &min_quality) || min_quality < 0 || min_quality > 100) {
                rc = cli_usage("join", "--min-quality needs 0..100");
                goto done;
            }
            break;
        case 'B': band = optarg; break;
        case 'K': keep_degenerate = 1; break;
        case 'M':
            if (cli_parse_limit(optarg, 0, &max_pairs)) {
                rc = cli_usage("join", "--max-pairs needs a positive integer, or 0 or none for no limit");
                goto done;
            }
            break;
        case 'J': stats = optarg; break;
        case 'q': cli_quiet = 1; break;
        case 'v': cli_verbose = 1; break;
        case 'h': help(); goto done;
        default: rc = cli_usage("join", "bad option"); goto done;
        }
    }
    if (optind < argc) {
        rc = cli_usage("join", "unexpected argument '%s'", argv[optind]);
        goto done;
    }
    if (!n_corpus || !out) {
        rc = cli_usage("join", "--corpus and --out are required");
        goto done;
    }
    if (self && !n_queries) {
        rc = cli_usage("join", "--self needs --queries (without --queries the corpus is self-joined)");
        goto done;
    }
    if ((rc = cli_refuse_stdout("join", "--out", out)))
        goto done;
    {
        const char *outputs[] = {out, stats};
        if ((st = sj_check_outputs(outputs, 2, corpus_paths, n_corpus)) ||
            (st = sj_check_outputs(outputs, 2, query_paths, n_queries)))
            goto sync;
    }
    if (ranks > 1 && cfg.part_count > 1) {
        rc = cli_usage("join", "--part and mpirun both split the join: use one of them");
        goto done;
    }
    if (ranks > 1) {
        cfg.part_index = rank;
        cfg.part_count = ranks;
        /* One GPU per rank: the node-local rank picks a device among those
         * visible (a scheduler that binds one GPU per task shows just one). */
        const char *local = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
        if (!local)
            local = getenv("SLURM_LOCALID");
        int visible = sj_cuda_device_count(NULL);
        if (cfg.n_gpus == 0 && local && visible > 0) {
            cfg.n_gpus = 1;
            cfg.gpus[0] = atoi(local) % visible;
        }
    }
    /* --max-memory: the inputs, as loaded, must fit in about half of it;
     * the corpus chunks and the pairs share the rest. Checked from the shard
     * headers, before anything is read. */
    int64_t input_bytes = 0;
    if (max_memory > 0) {
        for (int i = 0; i < n_corpus + n_queries && !st; i++) {
            int64_t rows;
            uint32_t bytes;
            const char *path = i < n_corpus ? corpus_paths[i] : query_paths[i - n_corpus];
            if (!(st = sj_shard_peek(path, &rows, &bytes)))
                input_bytes += rows * ((int64_t)bytes + 40); /* hash, id, quality, label, node */
            int dihedral = 0;
            if (!st && !(st = sj_shard_has_dihedral(path, &dihedral)) && dihedral)
                input_bytes += rows * SJ_DIHEDRAL * (int64_t)bytes; /* read, kept for --dihedral */
        }
        if (!st && input_bytes > max_memory / 2)
            st = sj_fail(SJ_ERR_LIMIT,
                         "the inputs need about %.1f MB in memory, more than half of --max-memory "
                         "(%.1f MB); raise it, or split the join with --part",
                         (double)input_bytes / 1048576.0, (double)max_memory / 1048576.0);
        if (st)
            goto sync;
        int64_t rest = max_memory - input_bytes;
        cfg.max_memory = rest / 2;                      /* the backend's corpus chunks */
        int64_t pair_cap = rest / 2 / (2 * (int64_t)sizeof(sj_pair)); /* hits, then pairs */
        if (max_pairs <= 0 || max_pairs > pair_cap) {
            lim.max_pairs = pair_cap;
            snprintf(lim.why, sizeof lim.why, "the limit set by --max-memory %.1f MB (the pairs' "
                     "share of it)", (double)max_memory / 1048576.0);
        }
    }
    if (max_pairs > 0 && (lim.max_pairs == 0 || max_pairs <= lim.max_pairs)) {
        lim.max_pairs = max_pairs;
        snprintf(lim.why, sizeof lim.why, "the limit set by --max-pairs %lld", (long long)max_pairs);
    }
    /* --dihedral: every shard of the side whose transforms are compared
     * (the queries; a self-join's corpus) must carry them. */
    for (int i = 0; cfg.dihedral && i < (n_queries ? n_queries : n_corpus) && !st; i++) {
        const char *path = n_queries ? query_paths[i] : corpus_paths[i];
        int has = 0;
        if (!(st = sj_shard_has_dihedral(path, &has)) && !has)
            st = sj_fail(SJ_ERR_FORMAT, "--dihedral: %s has no dihedral hashes (/dihedral); hash its "
                                     "images with `simjoin hash --dihedral`", path);
    }
    if (st)
        goto sync;
    /* Each input is recorded with its checksum, for cluster to check. */
    if ((st = sj_read_shards_as(corpus_paths, n_corpus, &corpus, &srcs, &res, "corpus")))
        goto sync;
    if (n_queries &&
        (st = sj_read_shards_as(query_paths, n_queries, &queries, &srcs, &res, "queries")))
        goto sync;
    sj_sources_finish(&srcs);
    for (int k = 0; k < 2; k++) { /* dihedral hashes not compared: not kept */
        sj_hashes *h = k ? queries : corpus;
        if (h && h->dihedral && !(cfg.dihedral && (k == 1 || !queries))) {
            free(h->dihedral);
            h->dihedral = NULL;
        }
    }
    if (max_pairs < 0 && max_memory < 0) { /* neither option: limits from the machine */
        int64_t rows = corpus->n + (queries ? queries->n : 0);
        /* memory: the inputs as loaded (hash, id, quality, label, node); a pair
         * held as a hit, then as a pair, then as output columns (72 bytes);
         * disk: a pair in the journal and in the output (48 bytes) */
        if ((st = sj_pair_limit_default(out, rows * ((int64_t)sj_hash_type_bytes(corpus->type) + 40),
                                     72, 48, &lim)))
            goto sync;
    }
    if (queries && (queries->type.kind != corpus->type.kind || queries->type.bits != corpus->type.bits)) {
        char a[24], b[24];
        sj_hash_type_format(corpus->type, a, sizeof a);
        sj_hash_type_format(queries->type, b, sizeof b);
        st = sj_fail(SJ_ERR_MISMATCH, "%s: queries are %s hashes but the corpus (%s) is %s",
                     query_paths[0], b, corpus_paths[0], a);
        goto sync;
    }
    if ((st = sj_check_ids_across(corpus, queries)))
        goto sync;
    if ((st = sj_metric_check(corpus->type, &cfg.metric)))
        goto sync;
    if (!isnan(min_similarity)) {
        if (!isnan(threshold) || (cfg.metric != SJ_METRIC_COSINE && cfg.metric != SJ_METRIC_IP)) {
            rc = cli_usage("join", "--min-similarity goes with --metric cosine or ip, without --threshold");
            goto done;
        }
        threshold = 1.0 - min_similarity;
    }
    if (isnan(threshold)) {
        if (corpus->type.kind != SJ_KIND_PDQ) {
            rc = cli_usage("join", "--threshold is required for this kind (pdq alone has a default)");
            goto done;
        }
        threshold = 31;
    }
    if (sj_metric_integral(corpus->type, cfg.metric) &&
        (threshold != floor(threshold) || threshold < 0 || threshold > 2e9)) {
        rc = cli_usage("join", "--threshold needs an integer >= 0 for %s distances",
                       sj_metric_name(cfg.metric));
        goto done;
    }
    /* Case metadata and the new/corpus side of every hash, kept before the
     * degenerate ones are taken out (README "Case metadata"): when an input
     * has metadata, or there are queries (new uploads). */
    if (rank == 0 && ((corpus->meta || (queries && queries->meta)) || queries)) {
        const sj_hashes *sets[2] = {corpus, queries};
        const uint8_t side[2] = {queries ? 0 : 1, 1}; /* a self-join: every hash is new */
        if ((st = sj_meta_table_build(sets, side, queries ? 2 : 1, &res.meta)))
            goto sync;
        if ((st = sj_meta_fill_sources(res.meta, &srcs)))
            goto sync;
    }
    /* Degenerate hashes: excluded and listed. */
    sj_degenerate_options dopt;
    sj_degenerate_defaults(corpus->type, &dopt);
    dopt.enabled = !keep_degenerate;
    if (min_quality >= 0)
        dopt.min_quality = (int32_t)min_quality;
    if (band) {
        int64_t lo, hi;
        char tmp[64], *colon;
        snprintf(tmp, sizeof tmp, "%s", band);
        if (!(colon = strchr(tmp, ':')) || (*colon = 0, cli_parse_i64(tmp, &lo)) ||
            cli_parse_i64(colon + 1, &hi) || lo < 0 || hi < lo) {
            rc = cli_usage("join", "--bit-band needs LO:HI with 0 <= LO <= HI");
            goto done;
        }
        dopt.min_ones = (int32_t)lo;
        dopt.max_ones = (int32_t)hi;
    }
    int64_t total_in = corpus->n + (queries ? queries->n : 0);
    res.excluded_id = malloc((size_t)SJ_MAX(total_in, 1) * sizeof *res.excluded_id);
    res.excluded_rule = malloc((size_t)SJ_MAX(total_in, 1));
    res.nodes = malloc((size_t)SJ_MAX(total_in, 1) * sizeof *res.nodes);
    if (!res.excluded_id || !res.excluded_rule || !res.nodes) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
        goto sync;
    }
    if ((st = exclude(corpus, &dopt, &res)) || (queries && (st = exclude(queries, &dopt, &res))))
        goto sync;
    /* Excluded sorted by id, rule carried along. */
    {
        id_origin *ex = malloc((size_t)SJ_MAX(res.n_excluded, 1) * sizeof *ex);
        if (!ex) {
            st = sj_fail(SJ_ERR_NOMEM, "out of memory");
            goto sync;
        }
        for (int64_t i = 0; i < res.n_excluded; i++)
            ex[i] = (id_origin){res.excluded_id[i], res.excluded_rule[i]};
        qsort(ex, (size_t)res.n_excluded, sizeof *ex, cmp_excl);
        for (int64_t i = 0; i < res.n_excluded; i++) {
            res.excluded_id[i] = ex[i].id;
            res.excluded_rule[i] = (uint8_t)ex[i].set;
        }
        free(ex);
    }
    for (int64_t i = 0; i < corpus->n; i++)
        res.nodes[res.n_nodes++] = corpus->ids[i];
    for (int64_t i = 0; queries && i < queries->n; i++)
        res.nodes[res.n_nodes++] = queries->ids[i];
    if ((st = sj_sort_by_id(res.nodes, res.n_nodes, sizeof *res.nodes)))
        goto sync;

    const char *notice = NULL;
    cfg.backend = sj_backend_resolve_for(&cfg, corpus->type, &notice);
    if (notice)
        cli_notice("%s", notice);
    if (cfg.backend == SJ_BACKEND_CUDA && !sj_backend_available(SJ_BACKEND_CUDA)) {
        const char *why = "";
        sj_cuda_device_count(&why);
        st = sj_fail(SJ_ERR_NO_DEVICE, "--backend cuda: no usable GPU (%s)", why);
        goto sync;
    }
    cfg.threshold = threshold;
    cfg.threads = (int)threads;
    cfg.max_pairs = lim.max_pairs;
    cli_progress prog;
    cli_progress_init(&prog, "join");
    cfg.progress = cli_progress_cb;
    cfg.progress_user = &prog;
    /* The journal: one per output, for this exact join (inputs and options). */
    if (ranks == 1) {
        char sig_text[1024];
        snprintf(sig_text, sizeof sig_text, "T=%.17g m=%d self=%d cross=%d keep=%d q=%lld band=%s part=%d/%d mem=%lld be=%d",
                 cfg.threshold, (int)cfg.metric, self, cross_only, keep_degenerate, (long long)min_quality,
                 band ? band : "", cfg.part_index, cfg.part_count, (long long)cfg.max_memory, (int)cfg.backend);
        sj_sha256 sh;
        sj_sha256_init(&sh);
        sj_sha256_update(&sh, sig_text, strlen(sig_text));
        if (cfg.dihedral)
            sj_sha256_update(&sh, " dihedral", 9);
        for (int i = 0; i < n_corpus + n_queries; i++) {
            const char *path = i < n_corpus ? corpus_paths[i] : query_paths[i - n_corpus];
            struct stat sb;
            char one[4300];
            snprintf(one, sizeof one, "|%c:%s:%lld:%lld", i < n_corpus ? 'c' : 'q', path,
                     stat(path, &sb) == 0 ? (long long)sb.st_size : -1LL,
                     stat(path, &sb) == 0 ? (long long)sb.st_mtime : -1LL);
            sj_sha256_update(&sh, one, strlen(one));
        }
        char sig[65];
        sj_sha256_hex(&sh, sig);
        sj_journal_rule rule = {res.nodes, res.n_nodes, cfg.threshold};
        if ((st = sj_journal_open(&journal, out, sig, resume, &rule)))
            goto sync;
        char safe[4700];
        if (journal.warning[0]) /* damage or tampering: said even under --quiet */
            fprintf(stderr, "simjoin: warning: %s\n", cli_safe(journal.warning, safe, sizeof safe));
        if (journal.notice[0])
            cli_notice("%s", journal.notice);
        cfg.unit_skip = sj_journal_skip;
        cfg.unit_done = sj_journal_done;
        cfg.unit_user = &journal;
        if (journal.n_units)
            cli_notice("join: resuming: %lld work units already done (%lld pairs)",
                       (long long)journal.n_units, (long long)journal.saved.n);
    }
    t_join = sj_now();
    if (!queries) {
        comparisons = part_comparisons(&cfg, corpus->n, corpus->n, 1);
        st = sj_join_self(&cfg, corpus, &res.pairs);
    } else {
        comparisons = part_comparisons(&cfg, queries->n, corpus->n, 0);
        st = sj_join_cross(&cfg, queries, corpus, &res.pairs);
        if (!st && self) {
            comparisons += part_comparisons(&cfg, queries->n, queries->n, 1);
            cfg.unit_offset = (int64_t)1 << 40; /* the second join's units */
            if (lim.max_pairs > 0) /* what the first join left of the limit */
                cfg.max_pairs = SJ_MAX(lim.max_pairs - res.pairs.n, 1);
            st = sj_join_self(&cfg, queries, &res.pairs);
        }
    }
    cli_progress_end(&prog);
    for (int64_t i = 0; !st && i < journal.saved.n; i++) { /* pairs of the units done before */
        if ((st = sj_grow((void **)&res.pairs.v, &res.pairs.capacity, res.pairs.n + 1, sizeof *res.pairs.v)))
            break;
        res.pairs.v[res.pairs.n++] = journal.saved.v[i];
    }
    if ((st == SJ_ERR_LIMIT || (!st && res.pairs.n > lim.max_pairs)) && lim.max_pairs > 0)
        st = sj_pair_limit_exceeded("join", &lim, join_how);
    const char *fail_rank = getenv("SIMJOIN_TEST_FAIL_RANK"); /* test hook: fault injection */
    if (!st && ranks > 1 && fail_rank && atoi(fail_rank) == rank)
        st = sj_fail(SJ_ERR_INTERNAL, "injected failure (SIMJOIN_TEST_FAIL_RANK=%d)", rank);
sync: /* every rank reaches this point, failed or not */
    if ((st = cli_mpi_agree(st)))
        goto fail;
    int64_t bytes_sent = 0;
    if (ranks > 1) {
        int64_t local = res.pairs.n;
        st = cli_mpi_gather_pairs(&res.pairs, &bytes_sent);
        if (!st && rank == 0 && lim.max_pairs > 0 && res.pairs.n > lim.max_pairs) /* all ranks' */
            st = sj_pair_limit_exceeded("join", &lim, join_how);
        if (cli_verbose || getenv("SIMJOIN_MPI_REPORT"))
            fprintf(stderr, "simjoin: rank %d of %d: %lld pairs, %lld bytes sent to rank 0\n", rank,
                    ranks, (long long)local, (long long)bytes_sent);
        if ((st = cli_mpi_agree(st)))
            goto fail;
        comparisons = queries ? queries->n * corpus->n + (self ? queries->n * (queries->n - 1) / 2 : 0)
                              : corpus->n * (corpus->n - 1) / 2;
        if (cfg.dihedral) /* 8 rows per query image; self-joins run the square */
            comparisons = SJ_DIHEDRAL * (queries ? queries->n * corpus->n +
                                                       (self ? queries->n * (queries->n - 1) : 0)
                                                 : corpus->n * (corpus->n - 1));
    }
    if (rank == 0) /* dihedral: a pair may come from both of its images' blocks */
        st = cfg.dihedral ? sj_pairs_canonicalize_min(&res.pairs) : sj_pairs_canonicalize(&res.pairs);
    if (rank == 0 && !st && cross_only) { /* drop pairs inside one source */
        int64_t k = 0;
        for (int64_t i = 0; i < res.pairs.n; i++)
            if (sj_sources_of(&srcs, res.pairs.v[i].a) != sj_sources_of(&srcs, res.pairs.v[i].b))
                res.pairs.v[k++] = res.pairs.v[i];
        res.pairs.n = k;
    }
    if ((st = cli_mpi_agree(st)))
        goto fail;
    /* Provenance: each hash's source, carried into the pairs file. */
    res.cross_only = cross_only;
    res.dihedral = cfg.dihedral;
    res.sources = sj_sources_names(&srcs);
    res.node_source = malloc((size_t)SJ_MAX(res.n_nodes, 1) * sizeof *res.node_source);
    res.excluded_source = malloc((size_t)SJ_MAX(res.n_excluded, 1) * sizeof *res.excluded_source);
    if (!res.sources || !res.node_source || !res.excluded_source) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
        goto fail;
    }
    sj_sources_of_each(&srcs, res.nodes, res.n_nodes, res.node_source);
    sj_sources_of_each(&srcs, res.excluded_id, res.n_excluded, res.excluded_source);
    join_s = sj_now() - t_join;
    res.type = corpus->type;
    res.metric = cfg.metric;
    res.threshold = cfg.threshold;
    if (cfg.backend == SJ_BACKEND_CPU)
        snprintf(res.backend, sizeof res.backend, "cpu/%s",
                 sj_cpu_path_name(corpus->type, cfg.metric, cfg.isa));
    else if (cfg.backend == SJ_BACKEND_CUDA)
        snprintf(res.backend, sizeof res.backend, "cuda/v%d", cfg.gpu_kernel ? cfg.gpu_kernel : 3);
    else
        snprintf(res.backend, sizeof res.backend, "%s", sj_backend_name(cfg.backend));
    if (cfg.part_count > 1 && ranks == 1)
        snprintf(res.part, sizeof res.part, "%d/%d", cfg.part_index, cfg.part_count);
    if (rank == 0)
        st = sj_pairs_file_write(out, &res);
    if ((st = cli_mpi_agree(st)))
        goto fail;
    double rate = join_s > 0 ? (double)comparisons / join_s : 0;
    char excluded[256];
    sj_excluded_text(res.excluded_rule, res.n_excluded, &dopt, excluded, sizeof excluded);
    cli_notice("join: %lld hashes (%s), %lld pairs at %s <= %g%s "
               "in %.2f s (%.3g comparisons/s, %s) -> %s",
               (long long)res.n_nodes, excluded, (long long)res.pairs.n,
               sj_metric_name(cfg.metric), cfg.threshold, cfg.dihedral ? " over 8 transforms" : "",
               join_s, rate, res.backend, out);
    if (stats && rank == 0) {
        cli_json j;
        cli_json_begin(&j);
        cli_json_str(&j, "command", "join");
        cli_json_int(&j, "ranks", ranks);
        cli_json_int(&j, "resumed_units", journal.n_units);
        cli_json_str(&j, "part", res.part);
        cli_json_str(&j, "backend", res.backend);
        cli_json_num(&j, "threshold", cfg.threshold);
        cli_json_str(&j, "metric", sj_metric_name(cfg.metric));
        cli_json_int(&j, "corpus", corpus->n);
        cli_json_int(&j, "queries", queries ? queries->n : 0);
        cli_json_int(&j, "excluded", res.n_excluded);
        cli_json_int(&j, "comparisons", comparisons);
        cli_json_int(&j, "pairs", res.pairs.n);
        if (cfg.dihedral)
            cli_json_int(&j, "dihedral", 1);
        cli_json_num(&j, "join_seconds", join_s);
        cli_json_num(&j, "total_seconds", sj_now() - t_start);
        cli_json_num(&j, "comparisons_per_second", rate);
        rc = cli_json_write(&j, stats);
    }
    goto done;
fail:
    rc = cli_fail(st);
done:
    sj_join_result_release(&res);
    sj_hashes_free(corpus);
    sj_hashes_free(queries);
    free(corpus_paths);
    free(query_paths);
    sj_sources_free(&srcs);
    sj_journal_close(&journal, 1); /* only a killed run leaves it, for --resume */
    cli_mpi_finalize();
    return rc;
}
