/* cmd_bench.c - `simjoin bench`: every backend and ISA path on one join,
 * side by side, with agreement checks. A benchmark, not a test: it prints
 * figures, and fails only if two paths disagree. */
#include "cli/cli.h"
#include "simjoin/bench.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void help(void)
{
    printf("usage: simjoin bench [--kind pdq|bits:N|photodna|u8:D|f32:D] [--metric M]\n"
           "                     [--corpus N] [--queries M] [--threshold T]\n"
           "                     [--backends LIST] [--isa LIST] [--threads N] [--seed S]\n"
           "                     [--naive-queries K] [--repeat R] [--stats-json FILE]\n"
           "                     [--kernel LIST] [--gpus LIST] [--series-fraction F]\n"
           "                     [--dihedral]\n"
           "       simjoin bench --peers [--python PY] [--te-scanner PATH] [--kind K]\n"
           "                     [--metric M] [--corpus N] [--queries M] [--threshold T]\n"
           "                     [--threads N] [--seed S] [--repeat R]\n"
           "\n"
           "Generates M queries and N corpus hashes (simjoin gen data), joins them with\n"
           "every listed backend (cpu once per ISA path), checks that all results are\n"
           "identical, and checks a K-query slice against the naive reference loop.\n"
           "Prints comparisons per second (\"pairs/s\") and the ratio to the faiss\n"
           "backend measured in the same run. Best of R repeats. The cuda backend runs\n"
           "once per --kernel (default v1,v2,v3) and also prints its share of the H200\n"
           "ceilings (popc 4.8e11, INT8 tensor cores 3.9e12 pairs/s at 256 bits) and its\n"
           "speed-up over the fastest cpu path. Vector kinds: the cpu path as portable and\n"
           "avx2 code, faiss (IndexFlatL2/IP), cuda (the fused int8/TF32 tensor-core\n"
           "kernels; with --kernel v1 the cuBLAS GEMM + epilogue, v1,v3 both), with the share\n"
           "of the H200 tensor-core ceiling (fp16 989 TFLOPS for uint8 kinds, TF32 495\n"
           "TFLOPS for f32; 2 D operations per pair).\n"
           "\n"
           "  defaults: --kind pdq --corpus 1000000 --queries 10000 --threshold 31\n"
           "            --backends cpu,faiss (those built in) --isa every supported path\n"
           "            --naive-queries 20 --repeat 1 --series-fraction 0.3 (share of\n"
           "            the data in near-duplicate series; lower it for huge joins)\n"
           "  --dihedral   binary kinds: also time each path with join --dihedral (each\n"
           "               query's hash plus 7 unrelated transforms) and print its cost\n"
           "               against the plain join of the same path\n"
           "  --peers      run scripts/bench_peers.py instead: this binary beside the\n"
           "               faiss-cpu wheel, numpy + BLAS and (pdq) ThreatExchange's flat\n"
           "               scanner on the same rows: ratios, and whether all found the same\n"
           "               pairs. --python: a benchmark venv's (else $SIMJOIN_BENCH_PYTHON,\n"
           "               else python3; needs faiss, numpy, h5py); --te-scanner: the folder\n"
           "               scripts/build_te_scanner.sh built (else $SIMJOIN_TE_SCANNER)\n");
}

/* What the callbacks print with: the options and the kind as given. */
typedef struct bench_print {
    const sj_bench_options *o;
    const char *kind;
} bench_print;

/* A path's line as it finishes (errors on stderr). */
static void on_run(void *user, const sj_bench_run *r)
{
    const bench_print *bp = user;
    char safe[4096];
    if (r->skipped[0]) {
        printf("  %-16s skipped: %s\n", r->name, r->skipped);
        return;
    }
    if (r->error[0]) {
        fprintf(stderr, "simjoin: bench: %s: %s\n", r->name, cli_safe(r->error, safe, sizeof safe));
        return;
    }
    if (r->dihedral_error[0])
        fprintf(stderr, "simjoin: bench: %s --dihedral: %s\n", r->name, r->dihedral_error);
    printf("  %-16s %8.3f s  %10.3g pairs/s  %lld hits%s\n", r->name, r->seconds, r->rate,
           (long long)r->pairs, r->agrees ? "" : "  DISAGREES");
    if (bp->o->dihedral && r->dihedral_seconds < 1e300)
        printf("  %-16s %8.3f s  %.2fx the plain join (8 rows per query)  %lld hits\n", "  +dihedral",
               r->dihedral_seconds, r->dihedral_seconds / r->seconds, (long long)r->dihedral_pairs);
    fflush(stdout);
}

static void on_ready(void *user, const sj_bench_result *res)
{
    const bench_print *bp = user;
    const sj_bench_options *o = bp->o;
    char nthreads[24] = "all";
    if (o->threads)
        snprintf(nthreads, sizeof nthreads, "%d", o->threads);
    printf("simjoin bench: %s (%s), %lld queries x %lld corpus = %.3g comparisons, T = %g, threads = %s\n",
           bp->kind, sj_metric_name(res->metric), (long long)o->queries, (long long)o->corpus,
           (double)o->queries * (double)o->corpus, res->threshold, nthreads);
    fflush(stdout);
}

/* The tables after the runs: against faiss and naive, and GPU runs against
 * the H200 ceilings (DESIGN.md section 5), scaled from 256 bits. */
static void print_summary(const sj_bench_options *o, const sj_bench_result *res)
{
    const sj_bench_run *runs = res->runs;
    const int nr = res->n_runs;
    if (res->naive_rate > 0)
        printf("  %-16s %8.3f s  %10.3g pairs/s  (%lld queries)%s\n", "naive", res->naive_seconds,
               res->naive_rate, (long long)res->naive_queries, res->naive_ok ? "" : "  DISAGREES");
    printf("\n  %-16s %12s %12s %12s\n", "path", "pairs/s", "vs faiss", "vs naive");
    for (int i = 0; i < nr; i++) {
        char fr[32] = "-", nrr[32] = "-";
        if (res->faiss_rate > 0)
            snprintf(fr, sizeof fr, "%.2fx", runs[i].rate / res->faiss_rate);
        if (res->naive_rate > 0)
            snprintf(nrr, sizeof nrr, "%.1fx", runs[i].rate / res->naive_rate);
        printf("  %-16s %12.3g %12s %12s\n", runs[i].name, runs[i].rate, fr, nrr);
    }
    double best_cpu = 0;
    int any_cuda = 0;
    for (int i = 0; i < nr; i++) {
        if (runs[i].cpu)
            best_cpu = SJ_MAX(best_cpu, runs[i].rate);
        any_cuda |= runs[i].cuda;
    }
    const sj_hash_type type = o->type;
    if (any_cuda && !sj_hash_type_binary(type)) { /* tensor-core ceilings: 2 D operations per pair */
        const int half = type.kind != SJ_KIND_F32;
        const double ceiling = (half ? 989e12 : 495e12) / (2.0 * type.dim);
        printf("\n  %-16s %12s %18s %12s\n", "gpu path", "pairs/s", half ? "of fp16 TC ceil" : "of TF32 TC ceil",
               "vs best cpu");
        for (int i = 0; i < nr; i++)
            if (runs[i].cuda)
                printf("  %-16s %12.3g %17.1f%% %11.0fx\n", runs[i].name, runs[i].rate,
                       100 * runs[i].rate / ceiling, best_cpu > 0 ? runs[i].rate / best_cpu : 0);
    } else if (any_cuda) {
        const double scale = 256.0 / type.bits, popc_ceiling = 4.8e11 * scale, tc_ceiling = 3.9e12 * scale;
        printf("\n  %-16s %12s %14s %14s %12s\n", "gpu path", "pairs/s", "of popc ceil", "of int8 TC ceil",
               "vs best cpu");
        for (int i = 0; i < nr; i++) {
            if (!runs[i].cuda)
                continue;
            char vc[32] = "-";
            if (best_cpu > 0)
                snprintf(vc, sizeof vc, "%.0fx", runs[i].rate / best_cpu);
            printf("  %-16s %12.3g %13.1f%% %13.1f%% %12s\n", runs[i].name, runs[i].rate,
                   100 * runs[i].rate / popc_ceiling, 100 * runs[i].rate / tc_ceiling, vc);
        }
    }
}

static int write_stats(const char *path, const char *kind, const sj_bench_options *o,
                       const sj_bench_result *res, int agree)
{
    cli_json j;
    cli_json_begin(&j);
    cli_json_str(&j, "command", "bench");
    cli_json_str(&j, "kind", kind);
    cli_json_int(&j, "corpus", o->corpus);
    cli_json_int(&j, "queries", o->queries);
    cli_json_num(&j, "threshold", res->threshold);
    cli_json_str(&j, "metric", sj_metric_name(res->metric));
    for (int i = 0; i < res->n_runs; i++) {
        cli_json_num(&j, res->runs[i].name, res->runs[i].rate);
        if (o->dihedral) {
            char key[80];
            snprintf(key, sizeof key, "%.48s dihedral_cost", res->runs[i].name);
            cli_json_num(&j, key, res->runs[i].dihedral_seconds / res->runs[i].seconds);
        }
    }
    if (res->naive_rate > 0)
        cli_json_num(&j, "naive", res->naive_rate);
    cli_json_int(&j, "agree", agree);
    return cli_json_write(&j, path);
}

int cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {
        {"kind", required_argument, 0, 'k'},     {"corpus", required_argument, 0, 'n'},
        {"queries", required_argument, 0, 'm'},  {"threshold", required_argument, 0, 't'},
        {"backends", required_argument, 0, 'b'}, {"isa", required_argument, 0, 'I'},
        {"threads", required_argument, 0, 'j'},  {"seed", required_argument, 0, 's'},
        {"naive-queries", required_argument, 0, 'N'}, {"repeat", required_argument, 0, 'r'},
        {"stats-json", required_argument, 0, 'J'}, {"quiet", no_argument, 0, 'q'},
        {"kernel", required_argument, 0, 'K'},   {"gpus", required_argument, 0, 'g'},
        {"series-fraction", required_argument, 0, 'S'}, {"metric", required_argument, 0, 'e'},
        {"dihedral", no_argument, 0, 'D'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *kind = "pdq", *stats = NULL;
    int64_t threads = 0, seed = 7, repeat = 1;
    sj_bench_options o;
    sj_bench_options_init(&o);
    if (cli_bench_peers_wanted(argc, argv)) /* bench_peers.py's run instead (cli_script.c) */
        return cli_bench_peers(argc, argv, help);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int bad = 0;
        char *end;
        switch (c) {
        case 'k': kind = optarg; break;
        case 'n': bad = cli_parse_i64(optarg, &o.corpus) || o.corpus < 1; break;
        case 'm': bad = cli_parse_i64(optarg, &o.queries) || o.queries < 1; break;
        case 't': bad = cli_parse_f64(optarg, &o.threshold); break;
        case 'e':
            if (sj_metric_parse(optarg, &o.metric))
                return cli_fail(SJ_ERR_ARG);
            break;
        case 'b': o.backends = optarg; break;
        case 'I': o.isas = optarg; break;
        case 'j': bad = cli_parse_i64(optarg, &threads) || threads < 1 || threads > 4096; break;
        case 's': bad = cli_parse_i64(optarg, &seed); break;
        case 'N': bad = cli_parse_i64(optarg, &o.naive_queries) || o.naive_queries < 0; break;
        case 'r': bad = cli_parse_i64(optarg, &repeat) || repeat < 1 || repeat > 1000000; break;
        case 'J': stats = optarg; break;
        case 'K': o.kernels = optarg; break;
        case 'S':
            o.series_fraction = strtod(optarg, &end);
            bad = end == optarg || *end || !(o.series_fraction >= 0 && o.series_fraction <= 1);
            break;
        case 'g': o.gpus = optarg; break;
        case 'q': cli_quiet = 1; break;
        case 'D': o.dihedral = 1; break;
        case 'h': help(); return EXIT_OK;
        default: return cli_usage("bench", "bad option");
        }
        if (bad)
            return cli_usage("bench", "bad value for --%s", opts[0].name ? argv[optind - 1] + 2 : "");
    }
    if (optind < argc)
        return cli_usage("bench", "unexpected argument '%s'", argv[optind]);
    sj_status st = sj_hash_type_parse(kind, &o.type);
    sj_metric metric = o.metric;
    if (st || (st = sj_metric_check(o.type, &metric)))
        return cli_fail(st);
    if (o.dihedral && !sj_hash_type_binary(o.type))
        return cli_usage("bench", "--dihedral needs a binary kind (pdq, bits:N)");
    o.threads = (int)threads, o.seed = (uint64_t)seed, o.repeat = (int)repeat;
    bench_print bp = {&o, kind};
    o.on_ready = on_ready, o.on_run = on_run, o.user = &bp;
    sj_bench_result *res = malloc(sizeof *res);
    if (!res)
        return cli_fail(sj_fail(SJ_ERR_NOMEM, "out of memory"));
    int rc = EXIT_OK;
    if ((st = sj_bench_run_all(&o, res))) {
        rc = cli_fail(st);
        goto done;
    }
    print_summary(&o, res);
    if (res->n_runs == 0) {
        fprintf(stderr, "simjoin: bench: no path ran\n");
        rc = EXIT_RUNTIME;
        goto done;
    }
    int agree = !res->disagree && res->naive_ok;
    printf("  all paths agree: %s\n", agree ? "yes" : "NO");
    if (stats)
        rc = write_stats(stats, kind, &o, res, agree);
    if (!agree) {
        fprintf(stderr, "simjoin: bench: paths disagree: this is a bug\n");
        rc = EXIT_RUNTIME;
    }
done:
    free(res);
    return rc;
}
