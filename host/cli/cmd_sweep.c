/* cmd_sweep.c - `simjoin sweep`: every threshold from one join, scored
 * against ground truth, written as CSV or JSON, plotted on request. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"
#include "simjoin/sweep.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(void)
{
    printf("usage: simjoin sweep --pairs PAIRS.h5 --thresholds LO:HI:STEP|T,T,... --out F.csv|F.json\n"
           "                     [--labels SHARD.h5...] [--plot F.png] [--hashes SHARD.h5...]\n"
           "                     [--linkage components|core:K|complete:D] [--max-matches K]\n"
           "                     [--degree-ratio R] [--stats-json F] [--quiet]\n"
           "\n"
           "From one join (at the largest threshold swept, or above), reports for every\n"
           "threshold: pairs, clusters, singletons, the largest cluster and clusters per\n"
           "size class; with ground-truth labels, pairwise precision/recall/F1 over the\n"
           "pairs placed together, B-cubed precision/recall and the adjusted Rand index.\n"
           "Also the histogram of all pair distances. Connected components are one pass\n"
           "over the pairs in distance order with incremental union-find; a stricter\n"
           "--linkage or a match cap (see simjoin cluster --help) clusters anew at each\n"
           "threshold.\n"
           "\n"
           "  --thresholds      0:64:2 (inclusive range) or a list 16,24,31\n"
           "  --labels          shards with /labels (default: the join's inputs, if they\n"
           "                    have labels); label -1 means no series. Labels that cover\n"
           "                    fewer than half of the join's hashes are refused.\n"
           "                    Recall (and F1, B-cubed, ARI) count every labelled hash of\n"
           "                    the join: a hash excluded as degenerate is a missed match.\n"
           "                    recall_compared is the recall over the compared hashes only\n"
           "  --linkage L       repeatable (or L1,L2): one sweep per linkage, written and\n"
           "                    plotted together; guards apply to each\n"
           "  --out             .json: one object with rows and histogram; otherwise CSV,\n"
           "                    with the histogram in F.histogram.csv beside it\n"
           "  --plot F.png      draw clusters, quality and the histogram (scripts/plot_sweep.py,\n"
           "                    Debian's python3-matplotlib), with the marked thresholds\n"
           "\n"
           "Marks (column mark, JSON best_f1_threshold / largest_jump_threshold, and the\n"
           "table printed on stderr): best_f1, the threshold of the highest F1 per linkage\n"
           "(ties: the lower threshold); largest_jump, the threshold at which the largest\n"
           "cluster grows by the most hashes over the previous swept threshold while at\n"
           "least doubling (ties: the lower), where chaining starts.\n");
}

/* The table on stderr (unless --quiet): one block per linkage. */
static void print_table(const sj_sweep_linkage *runs, int n_runs)
{
    if (cli_quiet)
        return;
    for (int u = 0; u < n_runs; u++) {
        const sj_sweep *s = runs[u].sw;
        fprintf(stderr, "linkage %s\n%10s %10s %9s %8s %9s %9s %16s %7s  %s\n", runs[u].linkage,
                "threshold", "pairs", "clusters", "largest", "precision", "recall",
                "recall_compared", "f1", "mark");
        for (int i = 0; i < s->n_rows; i++) {
            const sj_sweep_row *r = &s->rows[i];
            char p[32], rc[32], rcmp[32], f[32];
            sj_sweep_metric_text(r->precision, p, sizeof p);
            sj_sweep_metric_text(r->recall, rc, sizeof rc);
            sj_sweep_metric_text(r->recall_compared, rcmp, sizeof rcmp);
            sj_sweep_metric_text(r->f1, f, sizeof f);
            fprintf(stderr, "%10.6g %10lld %9lld %8lld %9s %9s %16s %7s  %s\n", r->threshold,
                    (long long)r->pairs, (long long)r->clusters, (long long)r->largest, p, rc, rcmp,
                    f, sj_sweep_row_mark(&runs[u], i));
        }
    }
}

int cmd_sweep(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pairs", required_argument, 0, 'p'},      {"thresholds", required_argument, 0, 't'},
        {"labels", required_argument, 0, 'l'},     {"out", required_argument, 0, 'o'},
        {"plot", required_argument, 0, 'P'},       {"hashes", required_argument, 0, 'H'},
        {"linkage", required_argument, 0, 'L'},    {"max-matches", required_argument, 0, 'M'},
        {"degree-ratio", required_argument, 0, 'R'}, {"quiet", no_argument, 0, 'q'},
        {"stats-json", required_argument, 0, 'J'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *thr_text = NULL, *out = NULL, *png = NULL, *stats = NULL;
    const char **label_paths = calloc((size_t)argc + 64, sizeof(char *));
    const char **hash_paths = calloc((size_t)argc + 64, sizeof(char *));
    char linkage_text[SJ_SWEEP_MAX_LINKAGES][64];
    int n_links = 0, c, rc = EXIT_OK;
    double *thr = NULL;
    sj_sweep_table *table = NULL;
    sj_sweep_table_options to;
    sj_sweep_table_options_init(&to);
    sj_cluster_options copt, links[SJ_SWEEP_MAX_LINKAGES];
    sj_cluster_options_defaults(&copt);
    sj_status st = SJ_OK;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': to.pairs_path = optarg; break;
        case 't': thr_text = optarg; break;
        case 'o': out = optarg; break;
        case 'P': png = optarg; break;
        case 'l': cli_take_list(argc, argv, label_paths, &to.n_label); break;
        case 'H': cli_take_list(argc, argv, hash_paths, &to.n_hash); break;
        case 'L': /* repeatable; a value may also list several, comma-separated */
            for (char *save = NULL, *tok = strtok_r(optarg, ",", &save); tok;
                 tok = strtok_r(NULL, ",", &save)) {
                if (n_links == SJ_SWEEP_MAX_LINKAGES || strlen(tok) >= sizeof linkage_text[0]) {
                    rc = cli_usage("sweep", "at most %d --linkage values", SJ_SWEEP_MAX_LINKAGES);
                    goto done;
                }
                snprintf(linkage_text[n_links++], sizeof linkage_text[0], "%s", tok);
            }
            break;
        case 'M':
        case 'R':
            if ((rc = cli_guard_option(c, optarg, &copt, "sweep")))
                goto done;
            break;
        case 'q': cli_quiet = 1; break;
        case 'J': stats = optarg; break;
        case 'h': help(); goto done;
        default: rc = cli_usage("sweep", "bad option"); goto done;
        }
    }
    if (optind < argc) {
        rc = cli_usage("sweep", "unexpected argument '%s'", argv[optind]);
        goto done;
    }
    if (!to.pairs_path || !thr_text || !out) {
        rc = cli_usage("sweep", "--pairs, --thresholds and --out are required");
        goto done;
    }
    char hist[4200]; /* written beside a CSV output */
    sj_sweep_histogram_path(out, hist, sizeof hist);
    const char *dot = strrchr(out, '.');
    int json = dot && !strcmp(dot, ".json"), csv_out = strcmp(out, "-") && !json;
    const char *outputs[] = {out, png, csv_out ? hist : NULL, stats};
    char *pairs_input[] = {(char *)to.pairs_path};
    if ((st = sj_check_outputs(outputs, 4, pairs_input, 1)) ||
        (st = sj_check_outputs(outputs, 4, (char *const *)label_paths, to.n_label)) ||
        (st = sj_check_outputs(outputs, 4, (char *const *)hash_paths, to.n_hash)))
        goto fail;
    if (sj_sweep_thresholds_parse(thr_text, &thr, &to.n_thr)) {
        rc = cli_usage("sweep", "bad --thresholds '%s' (LO:HI:STEP or a list)", thr_text);
        goto done;
    }
    if (!n_links)
        snprintf(linkage_text[n_links++], sizeof linkage_text[0], "components");
    for (int u = 0; u < n_links; u++) { /* the guards apply to every linkage */
        links[u] = copt;
        if ((rc = cli_guard_option('L', linkage_text[u], &links[u], "sweep")))
            goto done;
    }
    double t0 = sj_now();
    to.thresholds = thr, to.linkages = links, to.n_linkages = n_links;
    to.label_paths = label_paths, to.hash_paths = hash_paths;
    to.outputs = outputs, to.n_outputs = 4;
    if ((st = sj_sweep_table_run(&to, &table)) || (st = sj_sweep_table_write(table, out, json)))
        goto fail;
    if (png) {
        char tmpjson[4200];
        const char *src = out;
        if (!json) { /* the plot script reads JSON: write a private temporary one */
            snprintf(tmpjson, sizeof tmpjson, "%s.plot-%ld.json", png, (long)getpid());
            if ((st = sj_sweep_table_write(table, tmpjson, 1)))
                goto fail;
            src = tmpjson;
        }
        st = cli_plot_sweep(src, png);
        if (!json)
            remove(tmpjson);
        if (st)
            goto fail;
    }
    print_table(table->runs, table->n_runs);
    char scored[160] = "no labels";
    if (table->has_labels)
        snprintf(scored, sizeof scored, "scored against the labels of %lld hashes, %lld of them "
                                        "excluded from the join and counted as missed",
                 (long long)table->labelled, (long long)table->excluded_labelled);
    cli_notice("sweep: %d thresholds x %d linkage(s) over %lld pairs and %lld hashes (%s, %s) in "
               "%.2f s -> %s",
               to.n_thr, n_links, (long long)table->n_pairs, (long long)table->n_hashes,
               table->runs[0].sw->incremental ? "one pass" : "clustered per threshold", scored,
               sj_now() - t0, out);
    if (stats) {
        cli_json j;
        cli_json_begin(&j);
        cli_json_str(&j, "command", "sweep");
        cli_json_int(&j, "thresholds", to.n_thr);
        cli_json_int(&j, "linkages", n_links);
        cli_json_int(&j, "pairs", table->n_pairs);
        cli_json_int(&j, "hashes", table->n_hashes);
        cli_json_int(&j, "labelled", table->labelled);
        cli_json_int(&j, "excluded_labelled", table->excluded_labelled);
        cli_json_num(&j, "seconds", sj_now() - t0);
        rc = cli_json_write(&j, stats);
    }
    goto done;
fail:
    rc = cli_fail(st);
done:
    sj_sweep_table_free(table);
    free(thr);
    free(label_paths);
    free(hash_paths);
    return rc;
}
