/* cmd_sweep.c - `simjoin sweep`: every threshold from one join, scored
 * against ground truth, written as CSV or JSON, plotted on request. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "simjoin/sweep.h"

#include <errno.h>
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
           "                     [--degree-ratio R] [--quiet]\n"
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
           "                    have labels); label -1 means no series\n"
           "  --out             .json: one object with rows and histogram; otherwise CSV,\n"
           "                    with the histogram in F.histogram.csv beside it\n"
           "  --plot F.png      draw clusters, quality and the histogram (scripts/plot_sweep.py,\n"
           "                    Debian's python3-matplotlib)\n");
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

/* labels[i] for nodes[i] from the shards' (id, label) rows; -1 where none. */
static int64_t *align_labels(const sj_hashes *set, const int64_t *nodes, int64_t n)
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
    for (int64_t i = 0; i < n; i++) {
        int64_t key[2] = {nodes[i], 0};
        int64_t *hit = bsearch(key, pairs, (size_t)set->n, 2 * sizeof *pairs, cmp_id_pos);
        labels[i] = hit ? hit[1] : -1;
    }
    free(pairs);
    return labels;
}

static void fmt_metric(char *buf, size_t size, double v)
{
    if (isnan(v))
        snprintf(buf, size, "%s", "");
    else
        snprintf(buf, size, "%.6f", v);
}

static sj_status write_csv(const char *out, const sj_sweep *s)
{
    cli_text t;
    sj_status st = cli_text_open(&t, out);
    if (st)
        return st;
    fprintf(t.fp, "threshold,pairs,clusters,singletons,largest,quarantined");
    for (int k = 0; k < SJ_SWEEP_SIZE_CLASSES; k++)
        fprintf(t.fp, ",size_%s", sj_sweep_size_class_names[k]);
    fprintf(t.fp, ",precision,recall,f1,b3_precision,b3_recall,ari\n");
    for (int i = 0; i < s->n_rows; i++) {
        const sj_sweep_row *r = &s->rows[i];
        fprintf(t.fp, "%.12g,%lld,%lld,%lld,%lld,%lld", r->threshold, (long long)r->pairs,
                (long long)r->clusters, (long long)r->singletons, (long long)r->largest,
                (long long)r->quarantined);
        for (int k = 0; k < SJ_SWEEP_SIZE_CLASSES; k++)
            fprintf(t.fp, ",%lld", (long long)r->size_classes[k]);
        const double m[6] = {r->precision, r->recall, r->f1, r->b3_precision, r->b3_recall, r->ari};
        for (int k = 0; k < 6; k++) {
            char b[32];
            fmt_metric(b, sizeof b, m[k]);
            fprintf(t.fp, ",%s", b);
        }
        fputc('\n', t.fp);
    }
    st = cli_text_close(&t, 1);
    if (st || !out || !strcmp(out, "-"))
        return st;
    /* F.csv -> F.histogram.csv */
    char hpath[4200];
    const char *dot = strrchr(out, '.');
    size_t stem = dot && strcmp(dot, ".csv") == 0 ? (size_t)(dot - out) : strlen(out);
    snprintf(hpath, sizeof hpath, "%.*s.histogram.csv", (int)stem, out);
    if ((st = cli_text_open(&t, hpath)))
        return st;
    fprintf(t.fp, "distance,pairs\n"); /* the lower edge of each bin */
    for (int k = 0; k < s->n_hist; k++)
        fprintf(t.fp, "%.12g,%lld\n", s->hist_lo + k * s->hist_width, (long long)s->histogram[k]);
    return cli_text_close(&t, 1);
}

static sj_status write_json(const char *out, const sj_sweep *s, const char *linkage,
                            const sj_cluster_options *o, double join_threshold)
{
    cli_text t;
    sj_status st = cli_text_open(&t, out);
    if (st)
        return st;
    fprintf(t.fp, "{\n  \"join_threshold\": %.12g,\n  \"linkage\": \"%s\",\n  \"max_matches\": %lld,\n"
                  "  \"degree_ratio\": %g,\n  \"labels\": %s,\n  \"incremental\": %s,\n"
                  "  \"size_classes\": [",
            join_threshold, linkage, (long long)o->max_matches, o->degree_ratio,
            s->has_labels ? "true" : "false", s->incremental ? "true" : "false");
    for (int k = 0; k < SJ_SWEEP_SIZE_CLASSES; k++)
        fprintf(t.fp, "%s\"%s\"", k ? ", " : "", sj_sweep_size_class_names[k]);
    fprintf(t.fp, "],\n  \"rows\": [\n");
    for (int i = 0; i < s->n_rows; i++) {
        const sj_sweep_row *r = &s->rows[i];
        fprintf(t.fp, "    {\"threshold\": %.12g, \"pairs\": %lld, \"clusters\": %lld, "
                      "\"singletons\": %lld, \"largest\": %lld, \"quarantined\": %lld, "
                      "\"size_classes\": [",
                r->threshold, (long long)r->pairs, (long long)r->clusters,
                (long long)r->singletons, (long long)r->largest, (long long)r->quarantined);
        for (int k = 0; k < SJ_SWEEP_SIZE_CLASSES; k++)
            fprintf(t.fp, "%s%lld", k ? ", " : "", (long long)r->size_classes[k]);
        const char *names[6] = {"precision", "recall", "f1", "b3_precision", "b3_recall", "ari"};
        const double m[6] = {r->precision, r->recall, r->f1, r->b3_precision, r->b3_recall, r->ari};
        fprintf(t.fp, "]");
        for (int k = 0; k < 6; k++) {
            if (isnan(m[k]))
                fprintf(t.fp, ", \"%s\": null", names[k]);
            else
                fprintf(t.fp, ", \"%s\": %.9g", names[k], m[k]);
        }
        fprintf(t.fp, "}%s\n", i + 1 < s->n_rows ? "," : "");
    }
    fprintf(t.fp, "  ],\n  \"histogram_lo\": %.12g,\n  \"histogram_width\": %.12g,\n"
                  "  \"histogram\": [", s->hist_lo, s->hist_width);
    for (int k = 0; k < s->n_hist; k++)
        fprintf(t.fp, "%s%lld", k ? ", " : "", (long long)s->histogram[k]);
    fprintf(t.fp, "]\n}\n");
    return cli_text_close(&t, 1);
}

/* Run scripts/plot_sweep.py on the JSON to make the PNG; the script writes
 * into our 0640 temporary file, renamed into place when it succeeds. */
static sj_status plot(const char *json, const char *png)
{
    const char *script = getenv("SIMJOIN_PLOT_SCRIPT");
    char path[4096];
    if (!script) {
        snprintf(path, sizeof path, "%s/scripts/plot_sweep.py", SIMJOIN_SOURCE_DIR);
        script = path;
    }
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    sj_atomic_file af;
    sj_status st = sj_atomic_begin(&af, png);
    if (st)
        return st;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        sj_atomic_abort(&af);
        return sj_fail(SJ_ERR_IO, "--plot: cannot start python: %s", strerror(errno));
    }
    if (pid == 0) {
        execlp(py, py, script, json, af.temp_path, (char *)NULL);
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

int cmd_sweep(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pairs", required_argument, 0, 'p'},      {"thresholds", required_argument, 0, 't'},
        {"labels", required_argument, 0, 'l'},     {"out", required_argument, 0, 'o'},
        {"plot", required_argument, 0, 'P'},       {"hashes", required_argument, 0, 'H'},
        {"linkage", required_argument, 0, 'L'},    {"max-matches", required_argument, 0, 'M'},
        {"degree-ratio", required_argument, 0, 'R'}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},             {0, 0, 0, 0}};
    const char *pairs_path = NULL, *thr_text = NULL, *out = NULL, *png = NULL;
    char **label_paths = calloc((size_t)argc + 64, sizeof(char *));
    char **hash_paths = calloc((size_t)argc + 64, sizeof(char *));
    int n_label = 0, n_hash = 0, n_thr = 0, c, rc = EXIT_OK;
    double *thr = NULL;
    char *inputs_copy = NULL;
    int64_t *labels = NULL;
    sj_hashes *label_set = NULL, *hash_set = NULL;
    sj_sweep *sw = NULL;
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
        case 'L':
        case 'M':
        case 'R':
            if ((rc = cli_guard_option(c, optarg, &copt, "sweep")))
                goto done;
            break;
        case 'q': cli_quiet = 1; break;
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
    if (parse_thresholds(thr_text, &thr, &n_thr)) {
        rc = cli_usage("sweep", "bad --thresholds '%s' (LO:HI:STEP or a list)", thr_text);
        goto done;
    }
    double t0 = sj_now();
    if ((st = sj_pairs_file_read(pairs_path, &res)))
        goto fail;
    for (int i = 0; i < n_thr; i++)
        if (thr[i] > res.threshold) {
            st = sj_fail(SJ_ERR_ARG, "%s was joined at threshold %.12g; cannot sweep to %.12g (join "
                                     "again at the largest threshold)", pairs_path, res.threshold, thr[i]);
            goto fail;
        }
    /* Shards: labels (explicit, or the join's inputs) and, for complete
     * linkage, the hashes. */
    inputs_copy = strdup(res.inputs);
    char *from_inputs[64];
    int n_inputs = cli_join_inputs(inputs_copy, from_inputs, 64);
    if (!n_label && n_inputs) {
        sj_hashes *set = NULL;
        if (cli_read_shards(from_inputs, n_inputs, &set, NULL) == SJ_OK && set->labels)
            label_set = set;
        else
            sj_hashes_free(set);
    } else if (n_label && (st = cli_read_shards(label_paths, n_label, &label_set, NULL))) {
        goto fail;
    }
    if (n_label && !label_set->labels) {
        st = sj_fail(SJ_ERR_FORMAT, "%s: no /labels dataset", label_paths[0]);
        goto fail;
    }
    if (label_set && !(labels = align_labels(label_set, res.nodes, res.n_nodes))) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (copt.linkage == SJ_LINK_COMPLETE) {
        if (n_hash)
            st = cli_read_shards(hash_paths, n_hash, &hash_set, NULL);
        else if (n_inputs)
            st = cli_read_shards(from_inputs, n_inputs, &hash_set, NULL);
        else
            st = sj_fail(SJ_ERR_ARG, "--linkage complete:D needs the hashes; give --hashes");
        if (st)
            goto fail;
        if (hash_set->dihedral && !res.dihedral) { /* a plain join: canonical distances */
            free(hash_set->dihedral);
            hash_set->dihedral = NULL;
        }
        if (res.dihedral && !hash_set->dihedral) {
            st = sj_fail(SJ_ERR_ARG, "--linkage complete:D on a --dihedral join needs dihedral "
                                     "hashes for every input (give --hashes with /dihedral)");
            goto fail;
        }
        copt.hashes = hash_set;
        copt.metric = res.metric;
    }
    if ((st = sj_sweep_run(res.nodes, res.n_nodes, labels, &res.pairs, thr, n_thr, &copt, &sw)))
        goto fail;
    char linkage[64];
    sj_linkage_format(&copt, linkage, sizeof linkage);
    const char *dot = strrchr(out, '.');
    int json = dot && !strcmp(dot, ".json");
    if ((st = json ? write_json(out, sw, linkage, &copt, res.threshold) : write_csv(out, sw)))
        goto fail;
    if (png) {
        char tmpjson[4200];
        const char *src = out;
        if (!json) { /* the plot script reads JSON: write a private temporary one */
            snprintf(tmpjson, sizeof tmpjson, "%s.plot-%ld.json", png, (long)getpid());
            if ((st = write_json(tmpjson, sw, linkage, &copt, res.threshold)))
                goto fail;
            src = tmpjson;
        }
        st = plot(src, png);
        if (!json)
            remove(tmpjson);
        if (st)
            goto fail;
    }
    cli_notice("sweep: %d thresholds over %lld pairs and %lld hashes (%s%s, %s) in %.2f s -> %s",
               n_thr, (long long)res.pairs.n, (long long)res.n_nodes, linkage,
               sw->incremental ? ", one pass" : ", clustered per threshold",
               labels ? "scored against labels" : "no labels", sj_now() - t0, out);
    goto done;
fail:
    rc = cli_fail(st);
done:
    sj_sweep_free(sw);
    sj_hashes_free(label_set);
    sj_hashes_free(hash_set);
    sj_join_result_release(&res);
    free(labels);
    free(thr);
    free(inputs_copy);
    free(label_paths);
    free(hash_paths);
    return rc;
}
