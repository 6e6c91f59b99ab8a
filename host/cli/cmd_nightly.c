/* cmd_nightly.c - `simjoin nightly`: one night's uploads against the state.
 * Parses the options, runs sj_nightly_run (state/nightly.c) and prints what
 * it tells: its notices, the summary line and --stats-json. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"
#include "io/text_out.h"
#include "simjoin/nightly.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void help(void)
{
    printf("usage: simjoin nightly --state DIR --new UPLOADS.h5... [--source NAME]\n"
           "                       [--threshold T] [--backend B] [--threads N] [--stats-json F]\n"
           "                       [--quiet]\n"
           "\n"
           "Joins the night's uploads against the corpus (new x corpus and new x new),\n"
           "updates the clusters with stable ids, appends the uploads to the corpus and\n"
           "writes DIR/reports/gNNNNNN.json and .csv: the new matches (with both\n"
           "sources), the merges, the cross-database matches and the excluded hashes.\n"
           "Commits by replacing DIR/manifest atomically. A batch already committed is\n"
           "recognised (by the SHA-256 of its files) and nothing is done.\n"
           "\n"
           "Cluster ids: a cluster keeps its id as it grows; merged clusters take the\n"
           "smallest of their ids; a cluster of new hashes gets the next unused id (in\n"
           "order of smallest member id). Ids are never reused.\n"
           "\n"
           "  --source NAME   the database the uploads come from (default: each file's\n"
           "                  source attribute)\n"
           "  --threshold T   must equal the state's (set by `simjoin state init`)\n"
           "  --as-corpus     the shards are known corpus: nothing is marked new (what\n"
           "                  `simjoin state init DIR --corpus SHARDS...` runs)\n"
           "  --max-pairs N   stop past N pairs (0 or none: no limit); --max-memory SIZE:\n"
           "                  the pairs that fit in SIZE beside the inputs. Default: what fits\n"
           "                  in 3/4 of the memory available and 9/10 of the free disk.\n"
           "                  Past --max-pairs or --max-memory a batch is abnormal: the\n"
           "                  uploads with the most matches are quarantined until the rest\n"
           "                  fit (kept out of the clusters, listed in the report as\n"
           "                  \"quarantined\"); the batch is committed with a warning. Past\n"
           "                  the default limit (what this machine has) the run stops\n"
           "                  instead, with nothing changed: the result never depends on\n"
           "                  the machine\n"
           "  --max-matches K quarantine an upload with more than K matches tonight\n"
           "                  (default 1000, none with --as-corpus; 0 or none: no cap)\n"
           "  --dihedral      flip- and rotation-aware: each upload's 8 dihedral hashes\n"
           "                  (shards hashed with --dihedral) against the corpus's canonical\n"
           "                  ones, as `join --dihedral`; the report gives each match's\n"
           "                  transform\n"
           "  --stats-json F  write the night's figures as JSON (not when the batch was\n"
           "                  already committed: nothing ran)\n");
}

/* The library's notices: informational ones as cli_notice (not with
 * --quiet), warnings always. */
void cli_nightly_notice(void *user, sj_nightly_notice_level level, const char *message)
{
    if (level == SJ_NIGHTLY_WARNING)
        fprintf(stderr, "simjoin: warning: %s\n", message);
    else
        cli_notice("%s", message);
}

void cli_nightly_summary(const sj_nightly_result *r, int as_corpus)
{
    cli_notice("nightly: generation %lld: %lld %s (%s), %lld new matches "
               "(%lld across databases), %lld new clusters, %lld merges -> %s",
               (long long)r->generation, (long long)r->uploads,
               as_corpus ? "corpus hashes imported, none marked new" : "new hashes", r->excluded_text,
               (long long)r->new_matches, (long long)r->cross_database_matches, (long long)r->new_clusters,
               (long long)r->merges, r->report_json);
}

static int write_stats(const char *path, const sj_nightly_result *r)
{
    cli_json j;
    cli_json_begin(&j);
    cli_json_str(&j, "command", "nightly");
    cli_json_int(&j, "generation", r->generation);
    cli_json_int(&j, "uploads", r->uploads);
    cli_json_int(&j, "excluded", r->excluded);
    cli_json_int(&j, "quarantined", r->quarantined);
    cli_json_int(&j, "new_matches", r->new_matches);
    cli_json_int(&j, "cross_database_matches", r->cross_database_matches);
    cli_json_int(&j, "new_clusters", r->new_clusters);
    cli_json_int(&j, "merges", r->merges);
    cli_json_num(&j, "seconds", r->seconds);
    return cli_json_write(&j, path);
}

int cmd_nightly(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, 0, 's'},    {"new", required_argument, 0, 'n'},
        {"source", required_argument, 0, 'S'},   {"threshold", required_argument, 0, 't'},
        {"backend", required_argument, 0, 'b'},  {"threads", required_argument, 0, 'j'},
        {"quiet", no_argument, 0, 'q'},          {"help", no_argument, 0, 'h'},
        {"as-corpus", no_argument, 0, 'C'},      {"max-pairs", required_argument, 0, 'M'},
        {"max-memory", required_argument, 0, 'X'}, {"max-matches", required_argument, 0, 'K'},
        {"dihedral", no_argument, 0, 'D'},       {"stats-json", required_argument, 0, 'J'},
        {0, 0, 0, 0}};
    const char *stats = NULL;
    const char **uploads = calloc((size_t)argc + 1, sizeof *uploads);
    int n_up = 0, c, rc = EXIT_OK;
    int64_t threads = 0;
    sj_nightly_options o;
    sj_nightly_options_init(&o);
    o.notice = cli_nightly_notice;
    sj_status st;
    if (!uploads)
        return cli_fail(sj_fail(SJ_ERR_NOMEM, "out of memory"));
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': o.state_dir = optarg; break;
        case 'n':
            uploads[n_up++] = optarg;
            while (optind < argc && argv[optind][0] != '-')
                uploads[n_up++] = argv[optind++];
            break;
        case 'S': o.source = optarg; break;
        case 't':
            if (cli_parse_i64(optarg, &o.threshold) || o.threshold < 0) {
                rc = cli_usage("nightly", "--threshold needs an integer >= 0");
                goto done;
            }
            break;
        case 'b':
            if ((st = sj_backend_parse(optarg, &o.backend))) {
                rc = cli_fail(st);
                goto done;
            }
            break;
        case 'j':
            if (cli_parse_i64(optarg, &threads) || threads < 1 || threads > INT32_MAX) {
                rc = cli_usage("nightly", "--threads needs a positive integer");
                goto done;
            }
            o.threads = (int)threads;
            break;
        case 'q': cli_quiet = 1; break;
        case 'J': stats = optarg; break;
        case 'C': o.as_corpus = 1; break;
        case 'M':
            if (cli_parse_limit(optarg, 0, &o.max_pairs)) {
                rc = cli_usage("nightly", "--max-pairs needs a positive integer, or 0 or none for no limit");
                goto done;
            }
            break;
        case 'X':
            if (cli_parse_limit(optarg, 1, &o.max_memory)) {
                rc = cli_usage("nightly", "--max-memory needs a size of at least 1M (like 512M, 8G), "
                                          "or 0 or none for no limit");
                goto done;
            }
            break;
        case 'K':
            if (cli_parse_limit(optarg, 0, &o.max_matches)) {
                rc = cli_usage("nightly", "--max-matches needs a positive integer, or 0 or none for no cap");
                goto done;
            }
            break;
        case 'D': o.dihedral = 1; break;
        case 'h': help(); goto done;
        default: rc = cli_usage("nightly", "bad option"); goto done;
        }
    }
    if (!o.state_dir || !n_up) {
        rc = cli_usage("nightly", "--state and --new are required");
        goto done;
    }
    if (o.source && sj_utf8_check(o.source, strlen(o.source)) < strlen(o.source)) {
        rc = cli_usage("nightly", "--source is not valid UTF-8");
        goto done;
    }
    o.uploads = uploads;
    o.n_uploads = n_up;
    o.outputs = &stats; /* --stats-json is never an upload (NULL: skipped) */
    o.n_outputs = 1;
    sj_nightly_result r;
    sj_nightly_result_init(&r);
    if ((st = sj_nightly_run(&o, &r))) {
        rc = cli_fail(st);
        goto done;
    }
    if (r.already_committed) { /* nothing ran: no --stats-json */
        cli_notice("nightly: this batch was committed in generation %lld; nothing to do", (long long)r.generation);
        goto done;
    }
    cli_nightly_summary(&r, o.as_corpus);
    if (stats)
        rc = write_stats(stats, &r);
done:
    free(uploads);
    return rc;
}
