/* cmd_report.c - `simjoin report`: the triage list of a clusters file, as CSV,
 * JSON Lines, an ICSE-style CSV and one static HTML page. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"
#include "simjoin/report.h"
#include "state/state.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void help(void)
{
    printf("usage: simjoin report --clusters CLUSTERS.h5 [--pairs PAIRS.h5] --out DIR\n"
           "       simjoin report --state DIR --out DIR   (the last nightly run)\n"
           "                      [--min-size N] [--classes LIST] [--title TEXT]\n"
           "                      [--html-clusters N] [--html-members N]\n"
           "                      [--stats-json FILE] [--quiet]\n"
           "\n"
           "Writes the triage list of a clusters file into DIR, as a whole: into a new\n"
           "directory beside DIR (0750, files 0640), which then replaces DIR in one step;\n"
           "the previous report is kept as DIR.prev. DIR must be new, empty or a report\n"
           "(its files are listed in DIR/.simjoin-report):\n"
           "  triage.csv, triage.jsonl     one row per listed entry, in priority order\n"
           "  members.csv, members.jsonl   the members of those entries with metadata and\n"
           "                               (with --pairs) their nearest and nearest known match\n"
           "  unmatched.csv                single new uploads that matched nothing (not listed)\n"
           "  icse.csv                     the listed members, ICSE-style (semicolons)\n"
           "  report.html                  one self-contained page (no external resources,\n"
           "                               no network): counts per class, one section each\n"
           "\n"
           "Which new uploads need a human first? (README \"Triage report\")\n"
           "Only clusters of 2+ hashes holding a new upload are listed. The class follows\n"
           "the case metadata (series, case, victim flag), never the source, which is\n"
           "provenance and shown beside it. A series' victim is identified when any hash\n"
           "of that series, anywhere in the file, says yes.\n");
    for (int c = 1; c < SJ_TRIAGE_N_CLASSES; c++) { /* the rule wrapped under its name */
        printf("  %d %s\n", c, sj_triage_name((sj_triage)c));
        const char *rule = sj_triage_rule((sj_triage)c);
        while (*rule) {
            int len = (int)strlen(rule), cut = len;
            if (len > 72)
                for (cut = 72; cut > 0 && rule[cut] != ' '; cut--)
                    ;
            if (cut == 0) /* one word longer than a line */
                cut = SJ_MIN(len, 72);
            printf("      %.*s\n", cut, rule);
            rule += cut + (rule[cut] == ' ');
        }
    }
    printf("Within a class: larger clusters first, then more distinct sources, then the\n"
           "smaller smallest match distance (unknown last), then the lower cluster number;\n"
           "not_compared uploads by rule (all_zero, bit_band, low_quality), then id.\n"
           "A single new upload that matched nothing is not listed: it is counted and\n"
           "written to unmatched.csv. Known hashes alone are never listed.\n"
           "New uploads are the --queries side of the join (a self-join: every hash);\n"
           "with --state, the uploads of the last committed nightly run, and clusters\n"
           "are shown by their stable ids (distances are not kept in the state).\n"
           "With --pairs (the join's pairs file) each member's nearest match and its\n"
           "nearest known (corpus-side) match are given, with their distances. The\n"
           "report holds ids, metadata and distances, never hashes.\n"
           "\n"
           "  --min-size N        list only entries of at least N hashes (ranks unchanged)\n"
           "  --classes LIST      list only these classes: names or numbers, comma-separated\n"
           "                      (e.g. unidentified_victim,2)\n"
           "  --html-clusters N   entries shown in report.html (default 2000)\n"
           "  --html-members N    members shown per entry in report.html (default 500)\n");
}

/* "unidentified_victim,2,..." -> a mask of class bits; 0 on success. */
static int parse_classes(const char *list, unsigned *mask)
{
    char buf[512];
    if (strlen(list) >= sizeof buf)
        return -1;
    strcpy(buf, list);
    *mask = 0;
    for (char *p = buf, *tok; (tok = strtok_r(p, ",", &p));) {
        int found = 0;
        for (int c = 1; c < SJ_TRIAGE_N_CLASSES && !found; c++) {
            char num[4];
            snprintf(num, sizeof num, "%d", c);
            if (!strcmp(tok, sj_triage_name((sj_triage)c)) || !strcmp(tok, num))
                *mask |= 1u << c, found = 1;
        }
        if (!found)
            return -1;
    }
    return *mask ? 0 : -1;
}

/* --state DIR: the cluster state of the last committed nightly run, into buf. */
static sj_status state_clusters(const char *state, char *buf, size_t size)
{
    sj_manifest m;
    sj_status st = sj_manifest_read(state, &m);
    if (st)
        return st;
    buf[0] = 0;
    for (int64_t i = 0; i < m.n_files; i++)
        if (!strncmp(m.files[i].path, "clusters/", 9))
            snprintf(buf, size, "%s/%s", state, m.files[i].path);
    sj_manifest_free(&m);
    if (!buf[0])
        return sj_fail(SJ_ERR_ARG, "%s: no nightly run has been committed yet", state);
    return SJ_OK;
}

int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"clusters", required_argument, 0, 'c'}, {"pairs", required_argument, 0, 'p'},
        {"state", required_argument, 0, 'S'},
        {"out", required_argument, 0, 'o'},      {"title", required_argument, 0, 'T'},
        {"html-clusters", required_argument, 0, 'C'}, {"html-members", required_argument, 0, 'M'},
        {"stats-json", required_argument, 0, 'J'}, {"quiet", no_argument, 0, 'q'},
        {"min-size", required_argument, 0, 'm'},   {"classes", required_argument, 0, 'K'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *clusters = NULL, *dir = NULL, *stats = NULL, *state = NULL;
    char state_path[4400];
    sj_report_options o;
    sj_report_options_init(&o);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': clusters = optarg; break;
        case 'p': o.pairs_path = optarg; break;
        case 'S': state = optarg; break;
        case 'o': dir = optarg; break;
        case 'T': o.title = optarg; break;
        case 'C':
            if (cli_parse_i64(optarg, &o.html_clusters) || o.html_clusters < 0)
                return cli_usage("report", "--html-clusters needs a count");
            break;
        case 'M':
            if (cli_parse_i64(optarg, &o.html_members) || o.html_members < 0)
                return cli_usage("report", "--html-members needs a count");
            break;
        case 'm':
            if (cli_parse_i64(optarg, &o.min_size) || o.min_size < 1)
                return cli_usage("report", "--min-size needs a count of at least 1");
            break;
        case 'K':
            if (parse_classes(optarg, &o.classes))
                return cli_usage("report", "--classes: a comma-separated list of class names or "
                                           "numbers 1..%d (see --help)", SJ_TRIAGE_N_CLASSES - 1);
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
    if (state && o.pairs_path)
        return cli_usage("report", "--pairs goes with --clusters, not --state");
    if (!strcmp(dir, "-"))
        return cli_usage("report", "--out -: the report is a directory of files; give a directory");
    if (state) {
        sj_status st = state_clusters(state, state_path, sizeof state_path);
        if (st)
            return cli_fail(st);
        clusters = state_path;
    }
    const char *others[] = {stats}; /* checked with the report's outputs */
    o.other_outputs = others;
    o.n_other_outputs = 1;
    double t0 = sj_now();
    sj_report_result r = {.struct_size = sizeof r};
    sj_status st = sj_report_write(clusters, dir, &o, &r);
    if (st)
        return cli_fail(st);
    if (!r.has_meta)
        cli_notice("report: %s carries no case metadata (a self-join without it): every hash "
                   "counts as a new upload", clusters);
    if (r.notice[0])
        cli_notice("%s", r.notice);
    cli_notice("report: %lld listed (%lld unidentified victim, %lld candidate new series, "
               "%lld cross-case, %lld identified series, %lld not compared); %lld single "
               "uploads matched nothing (unmatched.csv) -> %s",
               (long long)r.listed, (long long)r.per_class[1], (long long)r.per_class[2],
               (long long)r.per_class[3], (long long)r.per_class[4], (long long)r.per_class[5],
               (long long)r.unmatched, dir);
    if (!stats)
        return EXIT_OK;
    cli_json j;
    cli_json_begin(&j);
    cli_json_str(&j, "command", "report");
    cli_json_int(&j, "clusters", r.clusters);
    cli_json_int(&j, "listed", r.listed);
    for (int k = 1; k < SJ_TRIAGE_N_CLASSES; k++)
        cli_json_int(&j, sj_triage_name((sj_triage)k), r.per_class[k]);
    cli_json_int(&j, "unmatched", r.unmatched);
    cli_json_num(&j, "seconds", sj_now() - t0);
    return cli_json_write(&j, stats);
}
