/* cmd_gen.c - `simjoin gen`: synthetic shards with ground-truth labels. */
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void help(void)
{
    printf("usage: simjoin gen --n N --out SHARD.h5 [--kind pdq|bits:N|photodna|u8:D|f32:D]\n"
           "                   [--seed S]\n"
           "                   [--queries M --queries-out Q.h5] [--series-fraction F]\n"
           "                   [--chain-fraction F] [--degenerate-fraction F] [--threshold T]\n"
           "                   [--first-id N] [--source NAME] [--low-quality F] [--quiet]\n"
           "\n"
           "Writes PDQ-like synthetic hashes: uniform background, near-duplicate series\n"
           "with power-law sizes spread around the threshold, random-walk chains and a\n"
           "few degenerate hashes. /labels holds the series (-1: none). The same seed\n"
           "and options give the same file. Vector kinds: noisy copies of base vectors\n"
           "(integer noise for photodna and u8:D, a turn of the vector for f32:D) with\n"
           "the same plan and ground truth; zero vectors are the degenerate ones.\n"
           "\n"
           "  --n N                   corpus hashes\n"
           "  --queries M             also make M query hashes from the same pool (so\n"
           "                          some match the corpus), written to --queries-out\n"
           "  --kind K                pdq (default), bits:N, photodna, u8:D, f32:D\n"
           "  --seed S                random seed (default 1)\n"
           "  --series-fraction F     share of hashes in series (0.3)\n"
           "  --chain-fraction F      share of series that are chains (0.1)\n"
           "  --degenerate-fraction F share of degenerate hashes (0.001)\n"
           "  --threshold T           threshold the spreads are placed around (31 for pdq;\n"
           "                          100*D for photodna and u8:D; 0.05 for f32:D)\n"
           "  --first-id N            first id (default 0)\n"
           "  --stats-json F          write the run's figures as JSON\n"
           "  --source NAME           source attribute of the shards\n"
           "  --low-quality F         write /quality: a share F of series and background\n"
           "                          images are smooth (base quality 10..49), the others\n"
           "                          100 (70%%) or 50..99; members are their series' base\n"
           "                          +-5. The hashes do not change. Default: no quality\n");
}

static int parse_frac(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0 && v <= 1))
        return -1;
    *out = v;
    return 0;
}

int cmd_gen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"n", required_argument, 0, 'n'},          {"out", required_argument, 0, 'o'},
        {"kind", required_argument, 0, 'k'},       {"seed", required_argument, 0, 's'},
        {"queries", required_argument, 0, 'Q'},    {"queries-out", required_argument, 0, 'O'},
        {"series-fraction", required_argument, 0, 'S'},
        {"chain-fraction", required_argument, 0, 'C'},
        {"degenerate-fraction", required_argument, 0, 'D'},
        {"threshold", required_argument, 0, 't'},  {"first-id", required_argument, 0, 'f'},
        {"source", required_argument, 0, 'r'},     {"quiet", no_argument, 0, 'q'},
        {"low-quality", required_argument, 0, 'L'}, {"stats-json", required_argument, 0, 'J'},
        {"help", no_argument, 0, 'h'},             {0, 0, 0, 0}};
    const char *out = NULL, *qout = NULL, *kind = "pdq", *source = "", *stats = NULL;
    int64_t n = -1, nq = 0, seed = 1, first_id = 0;
    double thr = -1;
    double series = -1, chain = -1, degen = -1, low_quality = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': if (cli_parse_i64(optarg, &n) || n < 0) return cli_usage("gen", "--n needs a count"); break;
        case 'o': out = optarg; break;
        case 'k': kind = optarg; break;
        case 's': if (cli_parse_i64(optarg, &seed)) return cli_usage("gen", "--seed needs an integer"); break;
        case 'Q': if (cli_parse_i64(optarg, &nq) || nq < 0) return cli_usage("gen", "--queries needs a count"); break;
        case 'O': qout = optarg; break;
        case 'S': if (parse_frac(optarg, &series)) return cli_usage("gen", "--series-fraction needs 0..1"); break;
        case 'C': if (parse_frac(optarg, &chain)) return cli_usage("gen", "--chain-fraction needs 0..1"); break;
        case 'D': if (parse_frac(optarg, &degen)) return cli_usage("gen", "--degenerate-fraction needs 0..1"); break;
        case 't': if (cli_parse_f64(optarg, &thr) || thr < 0) return cli_usage("gen", "--threshold needs a number >= 0"); break;
        case 'f': if (cli_parse_i64(optarg, &first_id)) return cli_usage("gen", "--first-id needs an integer from %lld to %lld (int64)", (long long)INT64_MIN, (long long)INT64_MAX); break;
        case 'r': source = optarg; break;
        case 'L': if (parse_frac(optarg, &low_quality)) return cli_usage("gen", "--low-quality needs 0..1"); break;
        case 'J': stats = optarg; break;
        case 'q': cli_quiet = 1; break;
        case 'h': help(); return EXIT_OK;
        default: return cli_usage("gen", "bad option");
        }
    }
    if (optind < argc)
        return cli_usage("gen", "unexpected argument '%s'", argv[optind]);
    if (n < 0 || !out)
        return cli_usage("gen", "--n and --out are required");
    if (nq > 0 && !qout)
        return cli_usage("gen", "--queries needs --queries-out");
    if (n + nq > 0 && first_id > INT64_MAX - (n + nq - 1))
        return cli_usage("gen", "--first-id %lld: the last of %lld ids would pass the int64 limit %lld",
                         (long long)first_id, (long long)(n + nq), (long long)INT64_MAX);
    if (cli_refuse_stdout("gen", "--out", out) || cli_refuse_stdout("gen", "--queries-out", qout))
        return EXIT_USAGE;
    const char *outputs[] = {out, nq > 0 ? qout : NULL, stats};
    sj_status out_st = sj_check_outputs(outputs, 3, NULL, 0);
    if (out_st)
        return cli_fail(out_st);
    sj_hash_type t;
    sj_status st = sj_hash_type_parse(kind, &t);
    if (st)
        return cli_fail(st);
    sj_gen_options go;
    sj_gen_defaults(t, n + nq, (uint64_t)seed, &go);
    go.first_id = first_id;
    if (series >= 0) go.series_fraction = series;
    if (chain >= 0) go.chain_fraction = chain;
    if (degen >= 0) go.degenerate_fraction = degen;
    if (thr >= 0) go.threshold = thr;
    go.low_quality_fraction = low_quality;
    double t0 = sj_now();
    sj_hashes *h;
    if ((st = sj_gen(&go, &h)))
        return cli_fail(st);
    if ((st = sj_hashes_set_source(h, source))) {
        sj_hashes_free(h);
        return cli_fail(st);
    }
    /* Rows are shuffled: the first n are the corpus, the last nq the queries. */
    st = sj_shard_write(out, h, 0, n);
    if (!st && nq > 0) {
        st = sj_shard_write(qout, h, n, nq);
        if (st)
            remove(out);
    }
    sj_hashes_free(h);
    if (st)
        return cli_fail(st);
    cli_notice("gen: %lld hashes -> %s%s%s in %.1f s", (long long)n, out, nq ? ", queries -> " : "",
               nq ? qout : "", sj_now() - t0);
    if (!stats)
        return EXIT_OK;
    cli_json j;
    cli_json_begin(&j);
    cli_json_str(&j, "command", "gen");
    cli_json_str(&j, "kind", kind);
    cli_json_int(&j, "hashes", n);
    cli_json_int(&j, "queries", nq);
    cli_json_int(&j, "seed", seed);
    cli_json_num(&j, "seconds", sj_now() - t0);
    return cli_json_write(&j, stats);
}
