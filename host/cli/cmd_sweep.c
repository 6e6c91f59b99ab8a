/* cmd_sweep.c - `simjoin sweep`: every threshold from one join, scored
 * against ground truth, written as CSV or JSON, plotted on request. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"
#include "simjoin/sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SIMJOIN_SOURCE_DIR
#define SIMJOIN_SOURCE_DIR "."
#endif

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

/* A threshold as used and shown: rounded to 12 significant digits, so that
 * 0:0.5:0.1 gives 0.3 and not 0.30000000000000004. */
static double tidy(double t)
{
    char b[32];
    snprintf(b, sizeof b, "%.12g", t);
    return strtod(b, NULL);
}

static int parse_thresholds(const char *text, double **out, int *n)
{
    double lo, hi, step = 1;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    *n = 0;
    if (strchr(buf, ':')) {
        char *a = strtok(buf, ":"), *b = strtok(NULL, ":"), *c = strtok(NULL, ":");
        if (!a || !b || cli_parse_f64(a, &lo) || cli_parse_f64(b, &hi) ||
            (c && cli_parse_f64(c, &step)) || hi < lo || !(step > 0) || (hi - lo) / step > 100000)
            return -1;
        int64_t count = (int64_t)floor((hi - lo) / step * (1 + 1e-12)) + 1;
        *out = malloc((size_t)count * sizeof **out);
        for (int64_t k = 0; k < count; k++)
            (*out)[(*n)++] = tidy(lo + (double)k * step);
        return 0;
    }
    *out = malloc(sizeof **out * (strlen(buf) / 2 + 2));
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        double v;
        if (cli_parse_f64(t, &v))
            return -1;
        (*out)[(*n)++] = v;
    }
    return *n ? 0 : -1;
}

static int cmp_id_pos(const void *x, const void *y)
{
    const int64_t *a = x, *b = y;
    return a[0] < b[0] ? -1 : a[0] > b[0];
}

/* labels[i] for nodes[i] from the shards' (id, label) rows; -1 where none.
 * *found: how many nodes the shards list. */
static int64_t *align_labels(const sj_hashes *set, const int64_t *nodes, int64_t n, int64_t *found)
{
    int64_t *pairs = malloc((size_t)SJ_MAX(set->n, 1) * 2 * sizeof *pairs);
    int64_t *labels = malloc((size_t)SJ_MAX(n, 1) * sizeof *labels);
    if (!pairs || !labels) {
        free(pairs);
        free(labels);
        return NULL;
    }
    for (int64_t r = 0; r < set->n; r++)
        pairs[2 * r] = set->ids[r], pairs[2 * r + 1] = set->labels[r];
    qsort(pairs, (size_t)set->n, 2 * sizeof *pairs, cmp_id_pos);
    *found = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t key[2] = {nodes[i], 0};
        int64_t *hit = bsearch(key, pairs, (size_t)set->n, 2 * sizeof *pairs, cmp_id_pos);
        labels[i] = hit ? hit[1] : -1;
        *found += hit != NULL;
    }
    free(pairs);
    return labels;
}

/* Labels must describe at least this share of the join's hashes (compared
 * and excluded): fewer means the wrong label file, not ground truth. */
#define LABEL_MIN_COVERAGE 0.5
/* The largest cluster "jumps" where it grows at least this many times over
 * from one swept threshold to the next. */
#define LARGEST_JUMP_RATIO 2.0
#define MAX_LINKAGES 8

/* One linkage's sweep and its marked thresholds (row index, -1 none). */
typedef struct sweep_run {
    char linkage[64];
    sj_cluster_options o;
    sj_sweep *sw;
    int best_f1;      /* highest F1 (over all labelled hashes); ties: lower threshold */
    int largest_jump; /* largest growth largest[i] - largest[i-1] where it at least doubles
                       * (LARGEST_JUMP_RATIO); ties: lower threshold */
} sweep_run;

static void mark_rows(sweep_run *run)
{
    const sj_sweep *s = run->sw;
    double best = -1;
    int64_t grow = 0;
    run->best_f1 = run->largest_jump = -1;
    for (int i = 0; i < s->n_rows; i++) {
        const sj_sweep_row *r = &s->rows[i];
        if (!isnan(r->f1) && r->f1 > best)
            best = r->f1, run->best_f1 = i;
        int64_t before = i > 0 ? s->rows[i - 1].largest : 0;
        if (i > 0 && before > 0 && (double)r->largest >= LARGEST_JUMP_RATIO * (double)before &&
            r->largest - before > grow)
            grow = r->largest - before, run->largest_jump = i;
    }
}

/* "best_f1", "largest_jump", both joined by '|', or "". */
static const char *row_mark(const sweep_run *run, int i)
{
    int f = i == run->best_f1, j = i == run->largest_jump;
    return f && j ? "best_f1|largest_jump" : f ? "best_f1" : j ? "largest_jump" : "";
}

static void fmt_metric(char *buf, size_t size, double v)
{
    if (isnan(v))
        snprintf(buf, size, "%s", "");
    else
        snprintf(buf, size, "%.6f", v);
}

/* The histogram beside a CSV output: F.csv -> F.histogram.csv */
static void histogram_path(const char *out, char *buf, size_t size)
{
    const char *dot = strrchr(out, '.');
    size_t stem = dot && strcmp(dot, ".csv") == 0 ? (size_t)(dot - out) : strlen(out);
    snprintf(buf, size, "%.*s.histogram.csv", (int)stem, out);
}

#define N_METRICS 7
static void row_metrics(const sj_sweep_row *r, double m[N_METRICS])
{
    m[0] = r->precision, m[1] = r->recall, m[2] = r->f1, m[3] = r->b3_precision;
    m[4] = r->b3_recall, m[5] = r->ari, m[6] = r->recall_compared;
}
static const char *const metric_names[N_METRICS] = {"precision", "recall", "f1", "b3_precision",
                                                    "b3_recall", "ari", "recall_compared"};

static sj_status write_csv(const char *out, const sweep_run *runs, int n_runs)
{
    sj_text_file t;
    sj_status st = sj_text_open(&t, out);
    if (st)
        return st;
    fprintf(t.fp, "threshold,pairs,clusters,singletons,largest,quarantined");
    for (int k = 0; k < SJ_SWEEP_SIZE_CLASSES; k++)
        fprintf(t.fp, ",size_%s", sj_sweep_size_class_names[k]);
    for (int k = 0; k < N_METRICS; k++)
        fprintf(t.fp, ",%s", metric_names[k]);
    fprintf(t.fp, ",linkage,mark\n");
    for (int u = 0; u < n_runs; u++) {
        const sj_sweep *s = runs[u].sw;
        for (int i = 0; i < s->n_rows; i++) {
            const sj_sweep_row *r = &s->rows[i];
            fprintf(t.fp, "%.12g,%lld,%lld,%lld,%lld,%lld", r->threshold, (long long)r->pairs,
                    (long long)r->clusters, (long long)r->singletons, (long long)r->largest,
                    (long long)r->quarantined);
            for (int k = 0; k < SJ_SWEEP_SIZE_CLASSES; k++)
                fprintf(t.fp, ",%lld", (long long)r->size_classes[k]);
            double m[N_METRICS];
            row_metrics(r, m);
            for (int k = 0; k < N_METRICS; k++) {
                char b[32];
                fmt_metric(b, sizeof b, m[k]);
                fprintf(t.fp, ",%s", b);
            }
            fprintf(t.fp, ",%s,%s\n", runs[u].linkage, row_mark(&runs[u], i));
        }
    }
    st = sj_text_close(&t, 1);
    if (st || !out || !strcmp(out, "-"))
        return st;
    const sj_sweep *s = runs[0].sw; /* the histogram does not depend on the linkage */
    char hpath[4200];
    histogram_path(out, hpath, sizeof hpath);
    if ((st = sj_text_open(&t, hpath)))
        return st;
    fprintf(t.fp, "distance,pairs\n"); /* the lower edge of each bin */
    for (int k = 0; k < s->n_hist; k++)
        fprintf(t.fp, "%.12g,%lld\n", s->hist_lo + k * s->hist_width, (long long)s->histogram[k]);
    return sj_text_close(&t, 1);
}

static void json_threshold(FILE *fp, const char *key, const sweep_run *run, int i)
{
    if (i >= 0)
        fprintf(fp, "\"%s\": %.12g", key, run->sw->rows[i].threshold);
    else
        fprintf(fp, "\"%s\": null", key);
}

static void json_rows(FILE *fp, const sweep_run *run)
{
    const sj_sweep *s = run->sw;
    for (int i = 0; i < s->n_rows; i++) {
        const sj_sweep_row *r = &s->rows[i];
        fprintf(fp, "    {\"threshold\": %.12g, \"pairs\": %lld, \"clusters\": %lld, "
                    "\"singletons\": %lld, \"largest\": %lld, \"quarantined\": %lld, "
                    "\"size_classes\": [",
                r->threshold, (long long)r->pairs, (long long)r->clusters,
                (long long)r->singletons, (long long)r->largest, (long long)r->quarantined);
        for (int k = 0; k < SJ_SWEEP_SIZE_CLASSES; k++)
            fprintf(fp, "%s%lld", k ? ", " : "", (long long)r->size_classes[k]);
        double m[N_METRICS];
        row_metrics(r, m);
        fprintf(fp, "]");
        for (int k = 0; k < N_METRICS; k++) {
            if (isnan(m[k]))
                fprintf(fp, ", \"%s\": null", metric_names[k]);
            else
                fprintf(fp, ", \"%s\": %.9g", metric_names[k], m[k]);
        }
        fprintf(fp, ", \"mark\": \"%s\"}%s\n", row_mark(run, i), i + 1 < s->n_rows ? "," : "");
    }
}

/* One object: the first linkage at the top level (rows, marks), every
 * linkage in "runs", the histogram and the options used. */
static sj_status write_json(const char *out, const sweep_run *runs, int n_runs, double join_threshold,
                            int64_t labelled, int64_t excluded_labelled)
{
    sj_text_file t;
    sj_status st = sj_text_open(&t, out);
    if (st)
        return st;
    const sj_sweep *s = runs[0].sw;
    fprintf(t.fp, "{\n  \"join_threshold\": %.12g,\n  \"linkage\": \"%s\",\n  \"max_matches\": %lld,\n"
                  "  \"degree_ratio\": %g,\n  \"labels\": %s,\n  \"labelled_hashes\": %lld,\n"
                  "  \"excluded_labelled_hashes\": %lld,\n  \"incremental\": %s,\n  ",
            join_threshold, runs[0].linkage, (long long)runs[0].o.max_matches, runs[0].o.degree_ratio,
            s->has_labels ? "true" : "false", (long long)labelled, (long long)excluded_labelled,
            s->incremental ? "true" : "false");
    json_threshold(t.fp, "best_f1_threshold", &runs[0], runs[0].best_f1);
    fprintf(t.fp, ",\n  ");
    json_threshold(t.fp, "largest_jump_threshold", &runs[0], runs[0].largest_jump);
    fprintf(t.fp, ",\n  \"size_classes\": [");
    for (int k = 0; k < SJ_SWEEP_SIZE_CLASSES; k++)
        fprintf(t.fp, "%s\"%s\"", k ? ", " : "", sj_sweep_size_class_names[k]);
    fprintf(t.fp, "],\n  \"rows\": [\n");
    json_rows(t.fp, &runs[0]);
    fprintf(t.fp, "  ],\n  \"runs\": [\n");
    for (int u = 0; u < n_runs; u++) {
        fprintf(t.fp, "   {\"linkage\": \"%s\", ", runs[u].linkage);
        json_threshold(t.fp, "best_f1_threshold", &runs[u], runs[u].best_f1);
        fprintf(t.fp, ", ");
        json_threshold(t.fp, "largest_jump_threshold", &runs[u], runs[u].largest_jump);
        fprintf(t.fp, ", \"rows\": [\n");
        json_rows(t.fp, &runs[u]);
        fprintf(t.fp, "   ]}%s\n", u + 1 < n_runs ? "," : "");
    }
    fprintf(t.fp, "  ],\n  \"histogram_lo\": %.12g,\n  \"histogram_width\": %.12g,\n"
                  "  \"histogram\": [", s->hist_lo, s->hist_width);
    for (int k = 0; k < s->n_hist; k++)
        fprintf(t.fp, "%s%lld", k ? ", " : "", (long long)s->histogram[k]);
    fprintf(t.fp, "]\n}\n");
    return sj_text_close(&t, 1);
}

/* plot_sweep.py: $SIMJOIN_PLOT_SCRIPT, else the installed copy beside the
 * binary (BINDIR/../DATADIR/simjoin/), else the source tree it was built from. */
static const char *plot_script(char *buf, size_t size)
{
    const char *env = getenv("SIMJOIN_PLOT_SCRIPT");
    if (env)
        return env;
#ifdef SIMJOIN_REL_DATADIR
    char exe[2048];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0; /* the binary's directory: PREFIX/BINDIR */
            snprintf(buf, size, "%s/../%s/plot_sweep.py", exe, SIMJOIN_REL_DATADIR);
            if (access(buf, R_OK) == 0)
                return buf;
        }
    }
#endif
    snprintf(buf, size, "%s/scripts/plot_sweep.py", SIMJOIN_SOURCE_DIR);
    return buf;
}

/* The table on stderr (unless --quiet): one block per linkage. */
static void print_table(const sweep_run *runs, int n_runs)
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
            fmt_metric(p, sizeof p, r->precision);
            fmt_metric(rc, sizeof rc, r->recall);
            fmt_metric(rcmp, sizeof rcmp, r->recall_compared);
            fmt_metric(f, sizeof f, r->f1);
            fprintf(stderr, "%10.6g %10lld %9lld %8lld %9s %9s %16s %7s  %s\n", r->threshold,
                    (long long)r->pairs, (long long)r->clusters, (long long)r->largest, p, rc, rcmp,
                    f, row_mark(&runs[u], i));
        }
    }
}

/* Run scripts/plot_sweep.py on the JSON to make the PNG; the script writes
 * into our 0640 temporary file (as its descriptor 3), renamed into place
 * when it succeeds. */
static sj_status plot(const char *json, const char *png)
{
    char path[4096];
    const char *script = plot_script(path, sizeof path);
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    sj_atomic_file af;
    sj_status st = sj_atomic_begin(&af, png);
    if (st)
        return st;
    const char *fd3 = access("/dev/fd/0", F_OK) == 0 ? "/dev/fd/3" : "/proc/self/fd/3";
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        sj_atomic_abort(&af);
        return sj_fail(SJ_ERR_IO, "--plot: cannot start python: %s", strerror(errno));
    }
    if (pid == 0) { /* the script writes through our descriptor, never by the temp name */
        if (af.fd == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(af.fd, 3) < 0) /* dup2 clears CLOEXEC */
            _exit(127);
        execlp(py, py, script, json, fd3, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        sj_atomic_abort(&af);
        return sj_fail(SJ_ERR_IO, "--plot: %s %s failed (exit %d); is python3-matplotlib installed?",
                       py, script, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    return sj_atomic_commit(&af);
}

/* Score the rows of run over every labelled hash of the join: the
 * compared ones (run->sw) and the excluded ones as singletons, never
 * matched (missed). Recall over the compared hashes stays in
 * recall_compared. */
static sj_status score_all(sweep_run *run, const int64_t *all_ids, int64_t n_all,
                           const int64_t *all_labels, const sj_pairs *pairs, const double *thr,
                           int n_thr)
{
    sj_sweep *all = NULL;
    sj_status st = sj_sweep_run(all_ids, n_all, all_labels, pairs, thr, n_thr, &run->o, &all);
    if (st)
        return st;
    for (int i = 0; i < run->sw->n_rows; i++) {
        sj_sweep_row *r = &run->sw->rows[i];
        const sj_sweep_row *q = &all->rows[i];
        r->recall_compared = r->recall;
        r->precision = q->precision, r->recall = q->recall, r->f1 = q->f1;
        r->b3_precision = q->b3_precision, r->b3_recall = q->b3_recall, r->ari = q->ari;
    }
    sj_sweep_free(all);
    return SJ_OK;
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
    const char *pairs_path = NULL, *thr_text = NULL, *out = NULL, *png = NULL, *stats = NULL;
    char **label_paths = calloc((size_t)argc + 64, sizeof(char *));
    char **hash_paths = calloc((size_t)argc + 64, sizeof(char *));
    char linkage_text[MAX_LINKAGES][64];
    int n_label = 0, n_hash = 0, n_thr = 0, n_runs = 0, c, rc = EXIT_OK;
    double *thr = NULL;
    int64_t *labels = NULL, *all_ids = NULL, *all_labels = NULL;
    int64_t labelled = 0, excluded_labelled = 0;
    sj_hashes *label_set = NULL, *hash_set = NULL, *inputs_set = NULL;
    sweep_run runs[MAX_LINKAGES];
    memset(runs, 0, sizeof runs);
    sj_join_result res;
    sj_join_result_init(&res);
    sj_cluster_options copt;
    sj_cluster_options_defaults(&copt);
    sj_status st = SJ_OK;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': pairs_path = optarg; break;
        case 't': thr_text = optarg; break;
        case 'o': out = optarg; break;
        case 'P': png = optarg; break;
        case 'l':
            label_paths[n_label++] = optarg;
            while (optind < argc && argv[optind][0] != '-')
                label_paths[n_label++] = argv[optind++];
            break;
        case 'H':
            hash_paths[n_hash++] = optarg;
            while (optind < argc && argv[optind][0] != '-')
                hash_paths[n_hash++] = argv[optind++];
            break;
        case 'L': /* repeatable; a value may also list several, comma-separated */
            for (char *save = NULL, *tok = strtok_r(optarg, ",", &save); tok;
                 tok = strtok_r(NULL, ",", &save)) {
                if (n_runs == MAX_LINKAGES || strlen(tok) >= sizeof linkage_text[0]) {
                    rc = cli_usage("sweep", "at most %d --linkage values", MAX_LINKAGES);
                    goto done;
                }
                snprintf(linkage_text[n_runs++], sizeof linkage_text[0], "%s", tok);
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
    if (!pairs_path || !thr_text || !out) {
        rc = cli_usage("sweep", "--pairs, --thresholds and --out are required");
        goto done;
    }
    char hist[4200]; /* written beside a CSV output */
    histogram_path(out, hist, sizeof hist);
    const char *dot_out = strrchr(out, '.');
    int csv_out = strcmp(out, "-") && !(dot_out && !strcmp(dot_out, ".json"));
    const char *outputs[] = {out, png, csv_out ? hist : NULL, stats};
    char *pairs_input[] = {(char *)pairs_path};
    if ((st = sj_check_outputs(outputs, 4, pairs_input, 1)) ||
        (st = sj_check_outputs(outputs, 4, label_paths, n_label)) ||
        (st = sj_check_outputs(outputs, 4, hash_paths, n_hash)))
        goto fail;
    if (parse_thresholds(thr_text, &thr, &n_thr)) {
        rc = cli_usage("sweep", "bad --thresholds '%s' (LO:HI:STEP or a list)", thr_text);
        goto done;
    }
    if (!n_runs)
        snprintf(linkage_text[n_runs++], sizeof linkage_text[0], "components");
    int any_complete = 0;
    for (int u = 0; u < n_runs; u++) { /* the guards apply to every linkage */
        runs[u].o = copt;
        if ((rc = cli_guard_option('L', linkage_text[u], &runs[u].o, "sweep")))
            goto done;
        sj_linkage_format(&runs[u].o, runs[u].linkage, sizeof runs[u].linkage);
        any_complete |= runs[u].o.linkage == SJ_LINK_COMPLETE;
    }
    double t0 = sj_now();
    if ((st = sj_pairs_file_read(pairs_path, &res)) ||
        (st = sj_check_outputs_vs_join(outputs, 4, &res)))
        goto fail;
    for (int i = 0; i < n_thr; i++)
        if (thr[i] > res.threshold) {
            st = sj_fail(SJ_ERR_ARG, "%s was joined at threshold %.12g; cannot sweep to %.12g (join "
                                     "again at the largest threshold)", pairs_path, res.threshold, thr[i]);
            goto fail;
        }
    /* Shards: labels (explicit, or the join's inputs) and, for complete
     * linkage, the hashes. The join's inputs are found from the pairs
     * file's directory and checked against the join's checksums (NULL when
     * not readable here). */
    if ((!n_label || (any_complete && !n_hash)) && (st = sj_read_join_inputs(&res, &inputs_set)))
        goto fail;
    if (!n_label && inputs_set && inputs_set->labels) {
        label_set = inputs_set;
        inputs_set = NULL;
    } else if (n_label && (st = sj_read_shards(label_paths, n_label, &label_set, NULL))) {
        goto fail;
    }
    if (n_label && !label_set->labels) {
        st = sj_fail(SJ_ERR_FORMAT, "%s: no /labels dataset", label_paths[0]);
        goto fail;
    }
    if (label_set) { /* every hash of the join: the compared ones, then the excluded */
        int64_t n_all = res.n_nodes + res.n_excluded;
        all_ids = malloc((size_t)SJ_MAX(n_all, 1) * sizeof *all_ids);
        if (!all_ids) {
            st = sj_fail(SJ_ERR_NOMEM, "out of memory");
            goto fail;
        }
        memcpy(all_ids, res.nodes, (size_t)res.n_nodes * sizeof *all_ids);
        memcpy(all_ids + res.n_nodes, res.excluded_id, (size_t)res.n_excluded * sizeof *all_ids);
        int64_t found_nodes;
        if (!(all_labels = align_labels(label_set, all_ids, n_all, &labelled)) ||
            !(labels = align_labels(label_set, res.nodes, res.n_nodes, &found_nodes))) {
            st = sj_fail(SJ_ERR_NOMEM, "out of memory");
            goto fail;
        }
        excluded_labelled = labelled - found_nodes;
        if ((double)labelled < LABEL_MIN_COVERAGE * (double)n_all) {
            st = sj_fail(SJ_ERR_MISMATCH, "%s: the labels cover %lld of the join's %lld hashes "
                                          "(%.1f%%); at least %.0f%% must be labelled (are these "
                                          "the labels of this join's inputs?)",
                         n_label ? label_paths[0] : "the join's inputs", (long long)labelled,
                         (long long)n_all, n_all ? 100.0 * (double)labelled / (double)n_all : 0.0,
                         100 * LABEL_MIN_COVERAGE);
            goto fail;
        }
    }
    sj_hashes *hashes = NULL; /* borrowed: hash_set, inputs_set or label_set */
    if (any_complete) {
        /* --hashes, else the join's inputs (read once, perhaps as label_set) */
        hashes = inputs_set ? inputs_set : n_label ? NULL : label_set;
        if (n_hash && !(st = sj_read_shards(hash_paths, n_hash, &hash_set, NULL)))
            hashes = hash_set;
        if (!st && !hashes)
            st = sj_fail(SJ_ERR_ARG, "--linkage complete:D needs the hashes; the join's input "
                                     "shards are not readable here: give --hashes");
        if (st)
            goto fail;
        if (hashes->dihedral && !res.dihedral) { /* a plain join: canonical distances */
            free(hashes->dihedral);
            hashes->dihedral = NULL;
        }
        if (res.dihedral && !hashes->dihedral) {
            st = sj_fail(SJ_ERR_ARG, "--linkage complete:D on a --dihedral join needs dihedral "
                                     "hashes for every input (give --hashes with /dihedral)");
            goto fail;
        }
    }
    for (int u = 0; u < n_runs; u++) {
        if (runs[u].o.linkage == SJ_LINK_COMPLETE) {
            runs[u].o.hashes = hashes;
            runs[u].o.metric = res.metric;
        }
        if ((st = sj_sweep_run(res.nodes, res.n_nodes, labels, &res.pairs, thr, n_thr, &runs[u].o,
                               &runs[u].sw)) ||
            (labels && excluded_labelled > 0 &&
             (st = score_all(&runs[u], all_ids, res.n_nodes + res.n_excluded, all_labels, &res.pairs,
                             thr, n_thr))))
            goto fail;
        mark_rows(&runs[u]);
    }
    const char *dot = strrchr(out, '.');
    int json = dot && !strcmp(dot, ".json");
    if ((st = json ? write_json(out, runs, n_runs, res.threshold, labelled, excluded_labelled)
                   : write_csv(out, runs, n_runs)))
        goto fail;
    if (png) {
        char tmpjson[4200];
        const char *src = out;
        if (!json) { /* the plot script reads JSON: write a private temporary one */
            snprintf(tmpjson, sizeof tmpjson, "%s.plot-%ld.json", png, (long)getpid());
            if ((st = write_json(tmpjson, runs, n_runs, res.threshold, labelled, excluded_labelled)))
                goto fail;
            src = tmpjson;
        }
        st = plot(src, png);
        if (!json)
            remove(tmpjson);
        if (st)
            goto fail;
    }
    print_table(runs, n_runs);
    char scored[160] = "no labels";
    if (labels)
        snprintf(scored, sizeof scored, "scored against the labels of %lld hashes, %lld of them "
                                        "excluded from the join and counted as missed",
                 (long long)labelled, (long long)excluded_labelled);
    cli_notice("sweep: %d thresholds x %d linkage(s) over %lld pairs and %lld hashes (%s, %s) in "
               "%.2f s -> %s",
               n_thr, n_runs, (long long)res.pairs.n, (long long)res.n_nodes,
               runs[0].sw->incremental ? "one pass" : "clustered per threshold", scored,
               sj_now() - t0, out);
    if (stats) {
        cli_json j;
        cli_json_begin(&j);
        cli_json_str(&j, "command", "sweep");
        cli_json_int(&j, "thresholds", n_thr);
        cli_json_int(&j, "linkages", n_runs);
        cli_json_int(&j, "pairs", res.pairs.n);
        cli_json_int(&j, "hashes", res.n_nodes);
        cli_json_int(&j, "labelled", labelled);
        cli_json_int(&j, "excluded_labelled", excluded_labelled);
        cli_json_num(&j, "seconds", sj_now() - t0);
        rc = cli_json_write(&j, stats);
    }
    goto done;
fail:
    rc = cli_fail(st);
done:
    for (int u = 0; u < MAX_LINKAGES; u++)
        sj_sweep_free(runs[u].sw);
    sj_hashes_free(label_set);
    sj_hashes_free(hash_set);
    sj_hashes_free(inputs_set);
    sj_join_result_release(&res);
    free(labels);
    free(all_ids);
    free(all_labels);
    free(thr);
    free(label_paths);
    free(hash_paths);
    return rc;
}
