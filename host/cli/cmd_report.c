/* cmd_report.c - `simjoin report`: the triage list of a clusters file, as CSV,
 * JSON Lines, an ICSE-style CSV and one static HTML page. */
#define _POSIX_C_SOURCE 200809L
#include "cli_case.h"
#include "state.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void help(void)
{
    printf("usage: simjoin report --clusters CLUSTERS.h5 [--pairs PAIRS.h5] --out DIR\n"
           "       simjoin report --state DIR --out DIR   (the last nightly run)\n"
           "                      [--title TEXT] [--html-clusters N] [--html-members N]\n"
           "                      [--stats-json FILE] [--quiet]\n"
           "\n"
           "Writes the triage list of a clusters file into DIR, as a whole: into a new\n"
           "directory beside DIR (0750, files 0640), which then replaces DIR in one step;\n"
           "the previous report is kept as DIR.prev. DIR must be new, empty or a report\n"
           "(its files are listed in DIR/.simjoin-report):\n"
           "  triage.csv, triage.jsonl     one row per listed cluster, in priority order\n"
           "  members.csv, members.jsonl   the members of those clusters with metadata and\n"
           "                               (with --pairs) their nearest and nearest known match\n"
           "  icse.csv                     the same members, ICSE-style (semicolons)\n"
           "  report.html                  one self-contained page (no external resources,\n"
           "                               no network), sortable tables\n"
           "\n"
           "Priority (README \"Triage report\"):\n"
           "  1 candidate_new_victim        new uploads in a cluster touching no known series\n"
           "  2 unidentified_victim_series new uploads in a series whose victim is not\n"
           "                               identified (by any hash of that series)\n"
           "  3 cross_case_link            the cluster spans 2+ cases, sources or series\n"
           "  4 known_identified_series    new uploads of series with identified victims\n"
           "Clusters in none of these are not listed. Within a class: more new uploads\n"
           "first, then larger clusters, then lower cluster number.\n"
           "New uploads are the --queries side of the join (a self-join: every hash);\n"
           "with --state, the uploads of the last committed nightly run, and clusters\n"
           "are shown by their stable ids (distances are not kept in the state).\n"
           "With --pairs (the join's pairs file) each member's nearest match and its\n"
           "nearest known (corpus-side) match are given, with their distances. The\n"
           "report holds ids, metadata and distances, never hashes.\n"
           "\n"
           "  --html-clusters N   clusters shown in report.html (default 2000)\n"
           "  --html-members N    members shown per cluster in report.html (default 500)\n");
}

typedef void (*writer_fn)(FILE *fp, const case_view *v);

static sj_status write_one(const char *dir, const char *name, writer_fn fn, const case_view *v)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cli_text t;
    sj_status st = cli_text_open(&t, path);
    if (st)
        return st;
    fn(t.fp, v);
    sj_fault_step(name);
    return cli_text_close(&t, 1);
}

static void write_icse_listed(FILE *fp, const case_view *v) { case_write_icse(fp, v, 0); }

static const char *html_title;
static int64_t html_clusters = 2000, html_members = 500;
static void write_html(FILE *fp, const case_view *v)
{
    case_write_html(fp, v, html_title, html_clusters, html_members);
}

int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"clusters", required_argument, 0, 'c'}, {"pairs", required_argument, 0, 'p'},
        {"state", required_argument, 0, 'S'},
        {"out", required_argument, 0, 'o'},      {"title", required_argument, 0, 'T'},
        {"html-clusters", required_argument, 0, 'C'}, {"html-members", required_argument, 0, 'M'},
        {"stats-json", required_argument, 0, 'J'}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *clusters = NULL, *pairs = NULL, *dir = NULL, *stats = NULL, *state = NULL;
    char state_clusters[4400];
    int c;
    html_title = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': clusters = optarg; break;
        case 'p': pairs = optarg; break;
        case 'S': state = optarg; break;
        case 'o': dir = optarg; break;
        case 'T': html_title = optarg; break;
        case 'C':
            if (cli_parse_i64(optarg, &html_clusters) || html_clusters < 0)
                return cli_usage("report", "--html-clusters needs a count");
            break;
        case 'M':
            if (cli_parse_i64(optarg, &html_members) || html_members < 0)
                return cli_usage("report", "--html-members needs a count");
            break;
        case 'J': stats = optarg; break;
        case 'q': cli_quiet = 1; break;
        case 'h': help(); return EXIT_OK;
        default: return cli_usage("report", "bad option");
        }
    }
    if (optind < argc)
        return cli_usage("report", "unexpected argument '%s'", argv[optind]);
    if (!!clusters + !!state != 1 || !dir)
        return cli_usage("report", "--out and one of --clusters or --state are required");
    if (state && pairs)
        return cli_usage("report", "--pairs goes with --clusters, not --state");
    if (!strcmp(dir, "-"))
        return cli_usage("report", "--out -: the report is a directory of files; give a directory");
    if (state) { /* the cluster state of the last committed generation */
        sj_manifest m;
        sj_status st = sj_manifest_read(state, &m);
        if (st)
            return cli_fail(st);
        state_clusters[0] = 0;
        for (int64_t i = 0; i < m.n_files; i++)
            if (!strncmp(m.files[i].path, "clusters/", 9))
                snprintf(state_clusters, sizeof state_clusters, "%s/%s", state, m.files[i].path);
        sj_manifest_free(&m);
        if (!state_clusters[0])
            return cli_fail(sj_fail(SJ_ERR_ARG, "%s: no nightly run has been committed yet", state));
        clusters = state_clusters;
    }
    /* The report never lands on its inputs: DIR is replaced as a whole. */
    {
        const char *outputs[] = {dir, stats};
        char *inputs[] = {(char *)clusters, (char *)pairs};
        char *in_dir[] = {(char *)clusters, (char *)pairs, (char *)stats};
        sj_status out_st = cli_check_outputs(outputs, 2, inputs, 2);
        if (!out_st)
            out_st = cli_check_not_inside(dir, in_dir, 3, "the report replaces as a whole");
        if (out_st)
            return cli_fail(out_st);
    }
    if (!html_title) {
        const char *slash = strrchr(clusters, '/');
        html_title = slash ? slash + 1 : clusters;
    }
    double t0 = sj_now();
    case_view v;
    sj_status st = case_view_load(&v, clusters, pairs);
    if (st)
        return cli_fail(st);
    /* Written into a new directory beside DIR, swapped in when complete. */
    const char *report_dir = dir;
    cli_outdir outdir;
    if (!st && !(st = cli_outdir_begin(&outdir, report_dir)))
        dir = outdir.temp;
    if (!st && !v.has_meta)
        cli_notice("report: %s carries no case metadata (a self-join without it): every hash "
                   "counts as a new upload", clusters);
    if (!st)
        st = write_one(dir, "triage.csv", case_write_triage_csv, &v);
    if (!st)
        st = write_one(dir, "triage.jsonl", case_write_triage_jsonl, &v);
    if (!st)
        st = write_one(dir, "members.csv", case_write_members_csv, &v);
    if (!st)
        st = write_one(dir, "members.jsonl", case_write_members_jsonl, &v);
    if (!st)
        st = write_one(dir, "icse.csv", write_icse_listed, &v);
    if (!st)
        st = write_one(dir, "report.html", write_html, &v);
    if (!st)
        st = cli_outdir_commit(&outdir);
    else if (dir != report_dir)
        cli_outdir_abort(&outdir);
    dir = report_dir;
    int rc = EXIT_OK;
    if (st) {
        rc = cli_fail(st);
    } else {
        int64_t per[5] = {0};
        for (int64_t r = 0; r < v.sum->n_ranked; r++)
            per[v.sum->triage[v.sum->ranked[r]]]++;
        cli_notice("report: %lld clusters listed (%lld candidate new victim, %lld unidentified-victim "
                   "series, %lld cross-case, %lld known series) -> %s",
                   (long long)v.sum->n_ranked, (long long)per[1], (long long)per[2],
                   (long long)per[3], (long long)per[4], dir);
        if (stats) {
            cli_json j;
            cli_json_begin(&j);
            cli_json_str(&j, "command", "report");
            cli_json_int(&j, "clusters", v.n_clusters);
            cli_json_int(&j, "listed", v.sum->n_ranked);
            for (int k = 1; k <= 4; k++)
                cli_json_int(&j, sj_triage_name((sj_triage)k), per[k]);
            cli_json_num(&j, "seconds", sj_now() - t0);
            rc = cli_json_write(&j, stats);
        }
    }
    case_view_free(&v);
    return rc;
}
