/* cmd_cluster.c - `simjoin cluster`: connected components of a pairs file. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(void)
{
    printf("usage: simjoin cluster --pairs PAIRS.h5 --out CLUSTERS.h5 [--hashes SHARD.h5...]\n"
           "                       [--linkage components|core:K|complete:D]\n"
           "                       [--max-matches K] [--degree-ratio R]\n"
           "                       [--diameter-max-size N] [--no-diameter-check]\n"
           "                       [--stats-json FILE] [--quiet]\n"
           "\n"
           "Groups the hashes of a join into clusters. Every hash of the join is listed\n"
           "once in /clusters; singletons are clusters of their own; degenerate hashes\n"
           "excluded by the join have cluster -1 (listed with their rule in /excluded),\n"
           "quarantined hashes -2 (listed with their match count in /quarantined).\n"
           "Clusters are numbered by smallest id.\n"
           "\n"
           "Linkage (guards against chaining):\n"
           "  components    connected components (default; Meta's snowball clustering)\n"
           "  core:K        only hashes with at least K matches link clusters; any other\n"
           "                hash joins the cluster of its nearest such neighbour (ties:\n"
           "                smaller id) or stays alone\n"
           "  complete:D    pairs are merged in (distance, id) order, and a merge happens\n"
           "                only if every two members of the result are within D (checked\n"
           "                on the hashes): a chain splits where it would stretch past D\n"
           "Match caps (their pairs are dropped before linkage):\n"
           "  --max-matches K     quarantine a hash that matches more than K others\n"
           "  --degree-ratio R    quarantine a hash with at least 4 matches and more than\n"
           "                      R times the median match count of its neighbours\n"
           "\n"
           "Per cluster: size, edges, smallest and largest edge distance, and the\n"
           "diameter. The true diameter (largest distance between any two members) is\n"
           "checked against the hashes for clusters up to --diameter-max-size members\n"
           "(default 5000); for the others diameter is the largest edge and\n"
           "diameter_checked is 0. The hashes are read from the join's inputs, or\n"
           "from --hashes.\n");
}

int cmd_cluster(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pairs", required_argument, 0, 'p'},  {"out", required_argument, 0, 'o'},
        {"hashes", required_argument, 0, 'H'}, {"diameter-max-size", required_argument, 0, 'd'},
        {"no-diameter-check", no_argument, 0, 'N'}, {"stats-json", required_argument, 0, 'J'},
        {"linkage", required_argument, 0, 'L'}, {"max-matches", required_argument, 0, 'M'},
        {"degree-ratio", required_argument, 0, 'R'},
        {"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *pairs_path = NULL, *out = NULL, *stats = NULL;
    char **hash_paths = calloc((size_t)argc + 1, sizeof(char *));
    int n_hash = 0, no_check = 0, c, rc = EXIT_OK;
    int64_t max_size = 5000;
    sj_join_result res;
    sj_join_result_init(&res);
    sj_clusters *cl = NULL;
    sj_hashes *set = NULL;
    sj_status st = SJ_OK;
    sj_cluster_options copt;
    sj_cluster_options_defaults(&copt);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': pairs_path = optarg; break;
        case 'o': out = optarg; break;
        case 'H':
            hash_paths[n_hash++] = optarg;
            while (optind < argc && argv[optind][0] != '-')
                hash_paths[n_hash++] = argv[optind++];
            break;
        case 'd':
            if (cli_parse_i64(optarg, &max_size) || max_size < 0) {
                rc = cli_usage("cluster", "--diameter-max-size needs a count");
                goto done;
            }
            break;
        case 'N': no_check = 1; break;
        case 'L':
        case 'M':
        case 'R':
            if ((rc = cli_guard_option(c, optarg, &copt, "cluster")))
                goto done;
            break;
        case 'J': stats = optarg; break;
        case 'q': cli_quiet = 1; break;
        case 'h': help(); goto done;
        default: rc = cli_usage("cluster", "bad option"); goto done;
        }
    }
    if (optind < argc) {
        rc = cli_usage("cluster", "unexpected argument '%s'", argv[optind]);
        goto done;
    }
    if (!pairs_path || !out) {
        rc = cli_usage("cluster", "--pairs and --out are required");
        goto done;
    }
    if ((rc = cli_refuse_stdout("cluster", "--out", out)))
        goto done;
    const char *outputs[] = {out, stats};
    char *pairs_input[] = {(char *)pairs_path};
    if ((st = sj_check_outputs(outputs, 2, pairs_input, 1)) ||
        (st = sj_check_outputs(outputs, 2, hash_paths, n_hash)))
        goto fail;
    double t0 = sj_now();
    if ((st = sj_pairs_file_read(pairs_path, &res)) || (st = sj_check_outputs_vs_join(outputs, 2, &res)))
        goto fail;
    /* The hashes: needed by complete linkage, used for true diameters. */
    int want_hashes = copt.linkage == SJ_LINK_COMPLETE || (!no_check && max_size > 1);
    if (want_hashes && !n_hash) { /* the join's inputs, checked against the join's checksums */
        if ((st = sj_read_join_inputs(&res, &set)))
            goto fail;
    } else if (want_hashes) {
        int readable = 1;
        for (int i = 0; i < n_hash; i++)
            readable &= access(hash_paths[i], R_OK) == 0;
        if (readable && (st = sj_read_shards(hash_paths, n_hash, &set, NULL)))
            goto fail;
    }
    int dihedral_missing = 0;
    if (set && set->dihedral && !res.dihedral) { /* a plain join: canonical distances */
        free(set->dihedral);
        set->dihedral = NULL;
    }
    if (set && res.dihedral && !set->dihedral) { /* distances over 8 transforms need them all */
        if (copt.linkage == SJ_LINK_COMPLETE) {
            st = sj_fail(SJ_ERR_ARG, "--linkage complete:D on a --dihedral join needs dihedral "
                                     "hashes for every input (give --hashes with /dihedral)");
            goto fail;
        }
        if (!no_check && max_size > 1)
            cli_notice("cluster: not every input has dihedral hashes; diameters are the largest edge");
        dihedral_missing = 1;
        sj_hashes_free(set);
        set = NULL;
    }
    if (copt.linkage == SJ_LINK_COMPLETE && !set) {
        st = sj_fail(SJ_ERR_ARG, "--linkage complete:D needs the hashes: the join's input shards "
                                 "are not readable here; give --hashes");
        goto fail;
    }
    copt.hashes = set;
    copt.metric = res.metric;
    if ((st = sj_cluster(res.nodes, res.n_nodes, &res.pairs, &copt, &cl)))
        goto fail;
    if (!no_check && max_size > 1) {
        if (!set && !dihedral_missing)
            cli_notice("cluster: the join's input shards are not readable here; diameters are "
                       "the largest edge (give --hashes to check them)");
        else if (set && (st = sj_clusters_check_diameter(cl, set, res.metric, max_size)))
            goto fail;
    }
    if ((st = sj_clusters_file_write(out, cl, &res, &copt)))
        goto fail;
    int64_t largest = 0, singletons = 0, unchecked = 0;
    for (int64_t k = 0; k < cl->n_clusters; k++) {
        largest = SJ_MAX(largest, cl->size[k]);
        singletons += cl->size[k] == 1;
        unchecked += !cl->diameter_checked[k];
    }
    char linkage[64];
    sj_linkage_format(&copt, linkage, sizeof linkage);
    char excluded[256];
    sj_excluded_text(res.excluded_rule, res.n_excluded, NULL, excluded, sizeof excluded);
    cli_notice("cluster: %lld hashes, %lld pairs -> %lld clusters (%lld singletons, largest %lld; "
               "linkage %s), %s, %lld quarantined -> %s",
               (long long)cl->n_nodes, (long long)res.pairs.n, (long long)cl->n_clusters,
               (long long)singletons, (long long)largest, linkage, excluded,
               (long long)cl->n_quarantined, out);
    if (stats) {
        cli_json j;
        cli_json_begin(&j);
        cli_json_str(&j, "command", "cluster");
        cli_json_int(&j, "nodes", cl->n_nodes);
        cli_json_int(&j, "pairs", res.pairs.n);
        cli_json_int(&j, "clusters", cl->n_clusters);
        cli_json_int(&j, "singletons", singletons);
        cli_json_int(&j, "largest_cluster", largest);
        cli_json_int(&j, "excluded", res.n_excluded);
        cli_json_int(&j, "quarantined", cl->n_quarantined);
        cli_json_str(&j, "linkage", linkage);
        cli_json_int(&j, "diameters_unchecked", unchecked);
        cli_json_num(&j, "seconds", sj_now() - t0);
        rc = cli_json_write(&j, stats);
    }
    goto done;
fail:
    rc = cli_fail(st);
done:
    sj_hashes_free(set);
    sj_clusters_free(cl);
    sj_join_result_release(&res);
    free(hash_paths);
    return rc;
}
