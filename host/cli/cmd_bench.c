/* cmd_bench.c - `simjoin bench`: every backend and ISA path on one join,
 * side by side, with agreement checks. A benchmark, not a test: it prints
 * figures, and fails only if two paths disagree. */
#include "cli/cli.h"

#include <getopt.h>
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
           "\n"
           "Generates M queries and N corpus hashes (simjoin gen data), joins them with\n"
           "every listed backend (cpu once per ISA path), checks that all results are\n"
           "identical, and checks a K-query slice against the naive reference loop.\n"
           "Prints comparisons per second (\"pairs/s\") and the ratio to the faiss\n"
           "backend measured in the same run. Best of R repeats. The cuda backend runs\n"
           "once per --kernel (default v1,v2,v3) and also prints its share of the H200\n"
           "ceilings (popc 4.8e11, INT8 tensor cores 3.9e12 pairs/s at 256 bits) and its\n"
           "speed-up over the fastest cpu path. Vector kinds: the cpu path as portable and\n"
           "avx2 code, faiss (IndexFlatL2/IP), cuda (cuBLAS + epilogue), with the share\n"
           "of the H200 tensor-core ceiling (fp16 989 TFLOPS for uint8 kinds, TF32 495\n"
           "TFLOPS for f32; 2 D operations per pair).\n"
           "\n"
           "  defaults: --kind pdq --corpus 1000000 --queries 10000 --threshold 31\n"
           "            --backends cpu,faiss (those built in) --isa every supported path\n"
           "            --naive-queries 20 --repeat 1 --series-fraction 0.3 (share of\n"
           "            the data in near-duplicate series; lower it for huge joins)\n"
           "  --dihedral   binary kinds: also time each path with join --dihedral (each\n"
           "               query's hash plus 7 unrelated transforms) and print its cost\n"
           "               against the plain join of the same path\n");
}

typedef struct run {
    char name[48];
    int cpu, cuda;
    double seconds;
    double rate;
    int64_t pairs;
    int agrees;
    double dihedral_seconds; /* --dihedral: the same join over 8 transforms */
    int64_t dihedral_pairs;
} run;

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
    const char *kind = "pdq", *backends = NULL, *isas = NULL, *stats = NULL, *kernels = "v1,v2,v3",
               *gpus = NULL;
    int64_t n = 1000000, m = 10000, threads = 0, seed = 7, naive_q = 20, repeat = 1;
    double series = -1, thr = -1;
    sj_metric metric = SJ_METRIC_DEFAULT;
    int c, dihedral = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'k': kind = optarg; break;
        case 'n': bad = cli_parse_i64(optarg, &n) || n < 1; break;
        case 'm': bad = cli_parse_i64(optarg, &m) || m < 1; break;
        case 't': bad = cli_parse_f64(optarg, &thr); break;
        case 'e':
            if (sj_metric_parse(optarg, &metric))
                return cli_fail(SJ_ERR_ARG);
            break;
        case 'b': backends = optarg; break;
        case 'I': isas = optarg; break;
        case 'j': bad = cli_parse_i64(optarg, &threads) || threads < 1; break;
        case 's': bad = cli_parse_i64(optarg, &seed); break;
        case 'N': bad = cli_parse_i64(optarg, &naive_q) || naive_q < 0; break;
        case 'r': bad = cli_parse_i64(optarg, &repeat) || repeat < 1; break;
        case 'J': stats = optarg; break;
        case 'K': kernels = optarg; break;
        case 'S': {
            char *end;
            series = strtod(optarg, &end);
            bad = end == optarg || *end || !(series >= 0 && series <= 1);
            break;
        }
        case 'g': gpus = optarg; break;
        case 'q': cli_quiet = 1; break;
        case 'D': dihedral = 1; break;
        case 'h': help(); return EXIT_OK;
        default: return cli_usage("bench", "bad option");
        }
        if (bad)
            return cli_usage("bench", "bad value for --%s", opts[0].name ? argv[optind - 1] + 2 : "");
    }
    if (optind < argc)
        return cli_usage("bench", "unexpected argument '%s'", argv[optind]);
    sj_hash_type type;
    sj_status st = sj_hash_type_parse(kind, &type);
    if (st || (st = sj_metric_check(type, &metric)))
        return cli_fail(st);
    naive_q = SJ_MIN(naive_q, m);
    const int vector = !sj_hash_type_binary(type);

    /* Data: one pool, split so that queries have near-duplicates in the corpus. */
    sj_gen_options go;
    sj_gen_defaults(type, n + m, (uint64_t)seed, &go);
    if (vector) /* zero vectors would be refused under cosine; the join excludes them anyway */
        go.degenerate_fraction = 0;
    if (thr == -1) /* the threshold gen places its series around */
        thr = go.threshold;
    else
        go.threshold = thr;
    if (series >= 0)
        go.series_fraction = series;
    sj_hashes *pool, *corpus = NULL, *queries = NULL;
    if ((st = sj_gen(&go, &pool)))
        return cli_fail(st);
    if ((st = sj_hashes_create(type, n, &corpus)) || (st = sj_hashes_create(type, m, &queries)))
        return cli_fail(st);
    uint32_t rb = sj_hash_type_bytes(type);
    memcpy(corpus->hashes, pool->hashes, (size_t)n * rb);
    memcpy(corpus->ids, pool->ids, (size_t)n * sizeof(int64_t));
    corpus->n = n;
    memcpy(queries->hashes, pool->hashes + (size_t)n * rb, (size_t)m * rb);
    memcpy(queries->ids, pool->ids + n, (size_t)m * sizeof(int64_t));
    queries->n = m;
    sj_hashes_free(pool);
    if (dihedral && vector)
        return cli_usage("bench", "--dihedral needs a binary kind (pdq, bits:N)");
    if (dihedral) { /* transform 0: the query; 1..7: unrelated hashes, as other images' are */
        queries->dihedral = malloc((size_t)m * SJ_DIHEDRAL * rb);
        if (!queries->dihedral)
            return cli_fail(sj_fail(SJ_ERR_NOMEM, "out of memory"));
        uint64_t z = (uint64_t)seed * 0x9e3779b97f4a7c15ULL + 1;
        for (int64_t i = 0; i < m; i++) {
            uint8_t *eight = queries->dihedral + (size_t)i * SJ_DIHEDRAL * rb;
            memcpy(eight, queries->hashes + (size_t)i * rb, rb);
            for (uint32_t k = rb; k < SJ_DIHEDRAL * rb; k++) {
                z ^= z << 13, z ^= z >> 7, z ^= z << 17; /* xorshift64 */
                eight[k] = (uint8_t)(z >> 24);
            }
        }
    }

    /* The list of runs. */
    char blist[256], ilist[256];
    snprintf(blist, sizeof blist, "%s", backends ? backends : sj_backend_available(SJ_BACKEND_FAISS) ? "cpu,faiss" : "cpu");
    if (isas)
        snprintf(ilist, sizeof ilist, "%s", isas);
    else if (vector) { /* the vector cpu paths: baseline code, AVX2+FMA, AVX-512 VNNI */
        snprintf(ilist, sizeof ilist, "portable%s", sj_isa_supported(SJ_ISA_AVX2) ? ",avx2" : "");
        if (sj_isa_supported(SJ_ISA_AVX2) && /* an AVX-512 path of its own (VNNI, outer FMA) */
            strcmp(sj_cpu_path_name(type, metric, SJ_ISA_AVX512), sj_cpu_path_name(type, metric, SJ_ISA_AVX2)))
            snprintf(ilist + strlen(ilist), sizeof ilist - strlen(ilist), ",avx512");
    }
    else {
        ilist[0] = 0;
        for (int i = SJ_ISA_PORTABLE; i <= SJ_ISA_AVX512; i++)
            if (sj_isa_supported((sj_isa)i))
                snprintf(ilist + strlen(ilist), sizeof ilist - strlen(ilist), "%s%s",
                         ilist[0] ? "," : "", sj_isa_name((sj_isa)i));
    }
    char nthreads[24] = "all";
    if (threads)
        snprintf(nthreads, sizeof nthreads, "%lld", (long long)threads);
    printf("simjoin bench: %s (%s), %lld queries x %lld corpus = %.3g comparisons, T = %g, threads = %s\n",
           kind, sj_metric_name(metric), (long long)m, (long long)n, (double)m * (double)n, thr,
           nthreads);
    fflush(stdout);

    run runs[32];
    int nr = 0, disagree = 0;
    sj_pairs reference = {0};
    int have_ref = 0;
    double faiss_rate = 0;
    char *save = NULL;
    for (char *b = strtok_r(blist, ",", &save); b && nr < 32; b = strtok_r(NULL, ",", &save)) {
        sj_join_config cfg;
        sj_join_config_defaults(&cfg);
        cfg.threshold = thr;
        cfg.metric = metric;
        cfg.threads = (int)threads;
        if ((st = sj_backend_parse(b, &cfg.backend)))
            return cli_fail(st);
        if (gpus && (st = sj_gpu_list_parse(gpus, &cfg)))
            return cli_fail(st);
        if (cfg.backend == SJ_BACKEND_CUDA && !sj_backend_available(SJ_BACKEND_CUDA)) {
            const char *why = "";
            sj_cuda_device_count(&why);
            printf("  %-14s skipped: no usable GPU (%s)\n", b, why);
            continue;
        }
        /* Variants: ISA paths for cpu, kernels for cuda, one run otherwise. */
        char icopy[256], *save2 = NULL;
        snprintf(icopy, sizeof icopy, "%s",
                 cfg.backend == SJ_BACKEND_CPU                ? ilist
                 : cfg.backend == SJ_BACKEND_CUDA && !vector ? kernels
                                                              : "-");
        for (char *is = strtok_r(icopy, ",", &save2); is && nr < 32; is = strtok_r(NULL, ",", &save2)) {
            if (cfg.backend == SJ_BACKEND_CPU) {
                if ((st = sj_isa_parse(is, &cfg.isa)))
                    return cli_fail(st);
                if (!sj_isa_supported(cfg.isa)) {
                    printf("  %-14s skipped: not supported on this CPU\n", is);
                    continue;
                }
            } else if (cfg.backend == SJ_BACKEND_CUDA && (st = sj_gpu_kernel_parse(is, &cfg.gpu_kernel))) {
                return cli_fail(st);
            }
            run *r = &runs[nr];
            r->cuda = cfg.backend == SJ_BACKEND_CUDA;
            r->cpu = cfg.backend == SJ_BACKEND_CPU;
            if (r->cpu)
                snprintf(r->name, sizeof r->name, "%s/%s", b, sj_cpu_path_name(type, metric, cfg.isa));
            else if (r->cuda && !vector)
                snprintf(r->name, sizeof r->name, "%s/%s", b, is);
            else
                snprintf(r->name, sizeof r->name, "%s", b);
            r->seconds = 1e300;
            sj_pairs p = {0};
            for (int64_t rep = 0; rep < repeat; rep++) {
                sj_pairs_free(&p);
                double t0 = sj_now();
                st = sj_join_cross(&cfg, queries, corpus, &p);
                double el = sj_now() - t0;
                if (st) {
                    char safe[4096];
                    fprintf(stderr, "simjoin: bench: %s: %s\n", r->name,
                            cli_safe(sj_last_error(), safe, sizeof safe));
                    break;
                }
                r->seconds = SJ_MIN(r->seconds, el);
            }
            if (st) {
                sj_pairs_free(&p);
                continue;
            }
            sj_pairs_canonicalize(&p);
            r->dihedral_seconds = 1e300;
            for (int64_t rep = 0; dihedral && rep < repeat && !st; rep++) {
                sj_join_config dcfg = cfg;
                dcfg.dihedral = 1;
                sj_pairs dp = {0};
                double t0 = sj_now();
                st = sj_join_cross(&dcfg, queries, corpus, &dp);
                r->dihedral_seconds = SJ_MIN(r->dihedral_seconds, sj_now() - t0);
                if (!st && !(st = sj_pairs_canonicalize(&dp)) && !covers(&dp, &p))
                    st = sj_fail(SJ_ERR_INTERNAL, "the dihedral join misses pairs of the plain join");
                r->dihedral_pairs = dp.n;
                sj_pairs_free(&dp);
            }
            if (st) {
                fprintf(stderr, "simjoin: bench: %s --dihedral: %s\n", r->name, sj_last_error());
                disagree = 1;
                st = SJ_OK;
            }
            r->pairs = p.n;
            r->rate = (double)n * (double)m / r->seconds;
            if (!have_ref) {
                reference = p;
                have_ref = 1;
                r->agrees = 1;
            } else {
                r->agrees = same_pairs(&reference, &p);
                sj_pairs_free(&p);
            }
            disagree |= !r->agrees;
            if (cfg.backend == SJ_BACKEND_FAISS)
                faiss_rate = r->rate;
            nr++;
            printf("  %-14s %8.3f s  %10.3g pairs/s  %lld hits  %s\n", r->name, r->seconds,
                   r->rate, (long long)r->pairs, r->agrees ? "" : "DISAGREES");
            if (dihedral && r->dihedral_seconds < 1e300)
                printf("  %-14s %8.3f s  %.2fx the plain join (8 rows per query)  %lld hits\n",
                       "  +dihedral", r->dihedral_seconds, r->dihedral_seconds / r->seconds,
                       (long long)r->dihedral_pairs);
            fflush(stdout);
        }
    }
    /* Naive reference on a slice of the queries. */
    double naive_rate = 0;
    int naive_ok = 1;
    if (naive_q > 0 && have_ref) {
        sj_join_config cfg;
        sj_join_config_defaults(&cfg);
        cfg.threshold = thr;
        cfg.metric = metric;
        cfg.threads = (int)threads;
        cfg.backend = SJ_BACKEND_NAIVE;
        int64_t keep = queries->n;
        queries->n = naive_q;
        sj_pairs np = {0};
        double t0 = sj_now();
        st = sj_join_cross(&cfg, queries, corpus, &np);
        double el = sj_now() - t0;
        queries->n = keep;
        if (st)
            return cli_fail(st);
        sj_pairs_canonicalize(&np);
        naive_rate = (double)naive_q * (double)n / el;
        naive_ok = subset_matches(&reference, &np, queries, naive_q);
        printf("  %-14s %8.3f s  %10.3g pairs/s  (%lld queries)  %s\n", "naive", el, naive_rate,
               (long long)naive_q, naive_ok ? "" : "DISAGREES");
        sj_pairs_free(&np);
    }
    printf("\n  %-14s %12s %12s %12s\n", "path", "pairs/s", "vs faiss", "vs naive");
    for (int i = 0; i < nr; i++) {
        char fr[32] = "-", nrr[32] = "-";
        if (faiss_rate > 0)
            snprintf(fr, sizeof fr, "%.2fx", runs[i].rate / faiss_rate);
        if (naive_rate > 0)
            snprintf(nrr, sizeof nrr, "%.1fx", runs[i].rate / naive_rate);
        printf("  %-14s %12.3g %12s %12s\n", runs[i].name, runs[i].rate, fr, nrr);
    }
    /* GPU runs against the H200 ceilings (DESIGN.md section 5), scaled from 256 bits. */
    double best_cpu = 0;
    int any_cuda = 0;
    for (int i = 0; i < nr; i++) {
        if (runs[i].cpu)
            best_cpu = SJ_MAX(best_cpu, runs[i].rate);
        any_cuda |= runs[i].cuda;
    }
    if (any_cuda && vector) { /* tensor-core ceilings: 2 D operations per pair */
        const int half = type.kind != SJ_KIND_F32;
        const double ceiling = (half ? 989e12 : 495e12) / (2.0 * type.dim);
        printf("\n  %-14s %12s %18s %12s\n", "gpu path", "pairs/s", half ? "of fp16 TC ceil" : "of TF32 TC ceil",
               "vs best cpu");
        for (int i = 0; i < nr; i++)
            if (runs[i].cuda)
                printf("  %-14s %12.3g %17.1f%% %11.0fx\n", runs[i].name, runs[i].rate,
                       100 * runs[i].rate / ceiling, best_cpu > 0 ? runs[i].rate / best_cpu : 0);
    } else if (any_cuda) {
        const double scale = 256.0 / type.bits, popc_ceiling = 4.8e11 * scale, tc_ceiling = 3.9e12 * scale;
        printf("\n  %-14s %12s %14s %14s %12s\n", "gpu path", "pairs/s", "of popc ceil", "of int8 TC ceil",
               "vs best cpu");
        for (int i = 0; i < nr; i++) {
            if (!runs[i].cuda)
                continue;
            char vc[32] = "-";
            if (best_cpu > 0)
                snprintf(vc, sizeof vc, "%.0fx", runs[i].rate / best_cpu);
            printf("  %-14s %12.3g %13.1f%% %13.1f%% %12s\n", runs[i].name, runs[i].rate,
                   100 * runs[i].rate / popc_ceiling, 100 * runs[i].rate / tc_ceiling, vc);
        }
    }
    if (nr == 0) {
        fprintf(stderr, "simjoin: bench: no path ran\n");
        return EXIT_RUNTIME;
    }
    printf("  all paths agree: %s\n", !disagree && naive_ok ? "yes" : "NO");
    int rc = EXIT_OK;
    if (stats) {
        cli_json j;
        cli_json_begin(&j);
        cli_json_str(&j, "command", "bench");
        cli_json_str(&j, "kind", kind);
        cli_json_int(&j, "corpus", n);
        cli_json_int(&j, "queries", m);
        cli_json_num(&j, "threshold", thr);
        cli_json_str(&j, "metric", sj_metric_name(metric));
        for (int i = 0; i < nr; i++) {
            cli_json_num(&j, runs[i].name, runs[i].rate);
            if (dihedral) {
                char key[80];
                snprintf(key, sizeof key, "%.48s dihedral_cost", runs[i].name);
                cli_json_num(&j, key, runs[i].dihedral_seconds / runs[i].seconds);
            }
        }
        if (naive_rate > 0)
            cli_json_num(&j, "naive", naive_rate);
        cli_json_int(&j, "agree", !disagree && naive_ok);
        rc = cli_json_write(&j, stats);
    }
    sj_pairs_free(&reference);
    sj_hashes_free(corpus);
    sj_hashes_free(queries);
    if (disagree || !naive_ok) {
        fprintf(stderr, "simjoin: bench: paths disagree: this is a bug\n");
        return EXIT_RUNTIME;
    }
    return rc;
}
