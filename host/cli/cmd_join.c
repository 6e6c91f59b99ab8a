/* cmd_join.c - `simjoin join`: all pairs within a Hamming threshold. */
#include "cli/cli.h"

#include <getopt.h>
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
           "                       (vector kinds: auto = AVX-512 when present, else AVX2+FMA;\n"
           "                       avx2 or portable force the narrower paths)\n"
           "  --kernel K           cuda backend kernel: v1 (tiled popc), v2 (register-blocked),\n"
           "                       v3 (binary tensor cores, the default)\n"
           "  --gpus LIST          cuda devices to use, e.g. 0,1 (default: all); each block's\n"
           "                       pairs are split evenly between them\n"
           "  --threads N          OpenMP threads (default: all cores)\n"
           "  --min-quality Q      exclude hashes with known quality < Q (pdq: 50)\n"
           "  --bit-band LO:HI     exclude hashes whose one-bit count is outside LO..HI\n"
           "                       (default bits/8 : bits - bits/8)\n"
           "  --keep-degenerate    exclude nothing (all-zero hashes match everything!)\n"
           "  --max-pairs N        stop with an error past N pairs (0 or none: no limit)\n"
           "  --max-memory SIZE    keep the run within SIZE of memory (e.g. 4G): read a corpus\n"
           "                       that does not fit from its shards in pieces that do (a\n"
           "                       self-join reads them again: README), compare it in chunks,\n"
           "                       and\n"
           "                       sort the pairs that do not fit in runs on disk beside the\n"
           "                       output, merged into the same file (0 or none: no limit;\n"
           "                       under mpirun: stop with an error instead). Without either\n"
           "                       option the pairs are capped\n"
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

/* "I/N" (--part) or "LO:HI" (--bit-band): two integers around sep; 0 on success. */
static int parse_two(const char *text, char sep, int64_t *x, int64_t *y)
{
    char tmp[64], *mid;
    snprintf(tmp, sizeof tmp, "%s", text);
    return !(mid = strchr(tmp, sep)) || (*mid = 0, cli_parse_i64(tmp, x)) || cli_parse_i64(mid + 1, y);
}

/* The job's messages: warnings always, notices unless --quiet, each rank's
 * share with --verbose (or SIMJOIN_MPI_REPORT). */
static void on_message(void *user, sj_job_message_level level, const char *text)
{
    char safe[5200];
    cli_progress_end(user);
    if (level == SJ_JOB_WARNING)
        fprintf(stderr, "simjoin: warning: %s\n", cli_safe(text, safe, sizeof safe));
    else if (level == SJ_JOB_NOTICE)
        cli_notice("%s", text);
    else if (cli_verbose || getenv("SIMJOIN_MPI_REPORT"))
        fprintf(stderr, "simjoin: %s\n", text);
}

/* One library call; its figures on stderr and in --stats-json. */
static int run(sj_join_job *job, sj_join_config *cfg, const char *stats, double t_start)
{
    cli_progress prog;
    cli_progress_init(&prog, "join");
    job->config = cfg;
    cfg->progress = cli_progress_cb;
    cfg->progress_user = &prog;
    job->message = on_message;
    job->message_user = &prog;
    sj_join_job_result r;
    sj_join_job_result_init(&r);
    sj_status st = sj_join_job_run(job, &r);
    cli_progress_end(&prog);
    if (st && r.usage_error)
        return cli_usage("join", "%s", sj_last_error());
    if (st)
        return cli_fail(st);
    double rate = r.join_seconds > 0 ? (double)r.comparisons / r.join_seconds : 0;
    cli_notice("join: %lld hashes (%s), %lld pairs at %s <= %g%s in %.2f s (%.3g comparisons/s, %s) -> %s",
               (long long)r.hashes, r.excluded_text, (long long)r.pairs, sj_metric_name(r.metric),
               r.threshold, r.dihedral ? " over 8 transforms" : "", r.join_seconds, rate, r.backend,
               job->out);
    if (!stats || job->collective.rank != 0)
        return EXIT_OK;
    cli_json j;
    cli_json_begin(&j);
    cli_json_str(&j, "command", "join");
    cli_json_int(&j, "ranks", SJ_MAX(job->collective.ranks, 1));
    cli_json_int(&j, "resumed_units", r.resumed_units);
    cli_json_str(&j, "part", r.part);
    cli_json_str(&j, "backend", r.backend);
    cli_json_num(&j, "threshold", r.threshold);
    cli_json_str(&j, "metric", sj_metric_name(r.metric));
    cli_json_int(&j, "corpus", r.corpus);
    cli_json_int(&j, "queries", r.queries);
    cli_json_int(&j, "excluded", r.excluded);
    cli_json_int(&j, "comparisons", r.comparisons);
    cli_json_int(&j, "pairs", r.pairs);
    cli_json_int(&j, "spilled_runs", r.spilled_runs);
    if (r.dihedral)
        cli_json_int(&j, "dihedral", 1);
    cli_json_num(&j, "join_seconds", r.join_seconds);
    cli_json_num(&j, "total_seconds", sj_now() - t_start);
    cli_json_num(&j, "comparisons_per_second", rate);
    return cli_json_write(&j, stats);
}

int cmd_join(int argc, char **argv)
{
    static const struct option opts[] = {
        {"corpus", required_argument, 0, 'c'}, {"queries", required_argument, 0, 'Q'},
        {"self", no_argument, 0, 'S'}, {"threshold", required_argument, 0, 't'},
        {"out", required_argument, 0, 'o'}, {"backend", required_argument, 0, 'b'},
        {"isa", required_argument, 0, 'I'}, {"threads", required_argument, 0, 'j'},
        {"min-quality", required_argument, 0, 'm'}, {"bit-band", required_argument, 0, 'B'},
        {"keep-degenerate", no_argument, 0, 'K'}, {"max-pairs", required_argument, 0, 'M'},
        {"stats-json", required_argument, 0, 'J'}, {"quiet", no_argument, 0, 'q'},
        {"verbose", no_argument, 0, 'v'}, {"help", no_argument, 0, 'h'},
        {"kernel", required_argument, 0, 'k'}, {"gpus", required_argument, 0, 'g'},
        {"part", required_argument, 0, 'P'}, {"max-memory", required_argument, 0, 'X'},
        {"cross-only", no_argument, 0, 'C'}, {"resume", no_argument, 0, 'U'},
        {"metric", required_argument, 0, 'e'}, {"min-similarity", required_argument, 0, 'y'},
        {"dihedral", no_argument, 0, 'D'}, {0, 0, 0, 0}};
    const char **corpus = calloc((size_t)argc + 1, sizeof(char *));
    const char **queries = calloc((size_t)argc + 1, sizeof(char *));
    const char *stats = NULL;
    int c, rc = EXIT_OK, rank = 0, ranks = 1;
    int64_t v, w;
    double t_start = sj_now();
    sj_join_config cfg;
    sj_join_config_init(&cfg);
    sj_join_job job;
    sj_join_job_init(&job);
    job.corpus = corpus;
    job.queries = queries;
    job.config = &cfg;
    sj_status st = SJ_OK;
    if ((rc = cli_mpi_start(&argc, &argv, &rank, &ranks)))
        goto done;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cli_take_list(argc, argv, corpus, &job.n_corpus); break;
        case 'Q': cli_take_list(argc, argv, queries, &job.n_queries); break;
        case 'S': job.self_queries = 1; break;
        case 'C': job.cross_only = 1; break;
        case 'U': job.resume = 1; break;
        case 'D': cfg.dihedral = 1; break;
        case 'K': job.keep_degenerate = 1; break;
        case 'o': job.out = optarg; break;
        case 'J': stats = optarg; break;
        case 'q': cli_quiet = 1; break;
        case 'v': cli_verbose = 1; break;
        case 'h': help(); goto done;
        case 'e': st = sj_metric_parse(optarg, &cfg.metric); break;
        case 'b': st = sj_backend_parse(optarg, &cfg.backend); break;
        case 'I': st = sj_isa_parse(optarg, &cfg.isa); break;
        case 'k': st = sj_gpu_kernel_parse(optarg, &cfg.gpu_kernel); break;
        case 'g': st = sj_gpu_list_parse(optarg, &cfg); break;
        case 't':
            if (cli_parse_f64(optarg, &job.threshold))
                rc = cli_usage("join", "--threshold needs a number");
            break;
        case 'y':
            if (cli_parse_f64(optarg, &job.min_similarity))
                rc = cli_usage("join", "--min-similarity needs a number");
            break;
        case 'X':
            if (cli_parse_limit(optarg, 1, &job.max_memory))
                rc = cli_usage("join", "--max-memory needs a size of at least 1M (like 512M, 8G), "
                                       "or 0 or none for no limit");
            break;
        case 'M':
            if (cli_parse_limit(optarg, 0, &job.max_pairs))
                rc = cli_usage("join", "--max-pairs needs a positive integer, or 0 or none for no limit");
            break;
        case 'P':
            if (parse_two(optarg, '/', &v, &w) || w < 1 || w > 1000000 || v < 0 || v >= w)
                rc = cli_usage("join", "--part needs I/N with 0 <= I < N");
            cfg.part_index = (int)v, cfg.part_count = (int)w;
            break;
        case 'j':
            if (cli_parse_i64(optarg, &v) || v < 1 || v > 4096)
                rc = cli_usage("join", "--threads needs a positive integer");
            cfg.threads = (int)v;
            break;
        case 'm':
            if (cli_parse_i64(optarg, &v) || v < 0 || v > 100)
                rc = cli_usage("join", "--min-quality needs 0..100");
            job.min_quality = (int)v;
            break;
        case 'B':
            if (parse_two(optarg, ':', &v, &w) || v < 0 || w < v || w > INT32_MAX)
                rc = cli_usage("join", "--bit-band needs LO:HI with 0 <= LO <= HI");
            job.min_ones = (int32_t)v, job.max_ones = (int32_t)w;
            break;
        default: rc = cli_usage("join", "bad option"); break;
        }
        if (st)
            goto fail;
        if (rc)
            goto done;
    }
    if (optind < argc)
        rc = cli_usage("join", "unexpected argument '%s'", argv[optind]);
    else if (!job.n_corpus || !job.out)
        rc = cli_usage("join", "--corpus and --out are required");
    else if (job.self_queries && !job.n_queries)
        rc = cli_usage("join", "--self needs --queries (without --queries the corpus is self-joined)");
    else
        rc = cli_refuse_stdout("join", "--out", job.out);
    if (rc)
        goto done;
    const char *outputs[] = {job.out, stats};
    if ((st = sj_check_outputs(outputs, 2, (char *const *)corpus, job.n_corpus)) ||
        (st = sj_check_outputs(outputs, 2, (char *const *)queries, job.n_queries))) {
        st = cli_mpi_agree(st);
        goto fail;
    }
    if (ranks > 1 && cfg.part_count > 1) {
        rc = cli_usage("join", "--part and mpirun both split the join: use one of them");
        goto done;
    }
    if (ranks > 1)
        cli_mpi_collective(&job.collective, &cfg, rank, ranks);
    rc = run(&job, &cfg, stats, t_start);
    goto done;
fail:
    rc = cli_fail(st);
done:
    free(corpus);
    free(queries);
    cli_mpi_finalize();
    return rc;
}
