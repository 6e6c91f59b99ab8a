/* cmd_cluster.c - `simjoin cluster`: connected components of a pairs file. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(void)
{
    printf("usage: simjoin cluster --pairs PAIRS.h5 --out CLUSTERS.h5 [--hashes SHARD.h5...]\n"
           "                       [--diameter-max-size N] [--no-diameter-check]\n"
           "                       [--stats-json FILE] [--quiet]\n"
           "\n"
           "Groups the hashes of a join into connected components (union-find). Every\n"
           "hash of the join is listed once in /clusters; singletons are clusters of\n"
           "their own; degenerate hashes excluded by the join have cluster -1 and are\n"
           "listed with their rule in /excluded. Clusters are numbered by smallest id.\n"
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
        {"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *pairs_path = NULL, *out = NULL, *stats = NULL;
    char **hash_paths = calloc((size_t)argc + 1, sizeof(char *));
    char *inputs_copy = NULL;
    int n_hash = 0, no_check = 0, c, rc = EXIT_OK;
    int64_t max_size = 5000;
    sj_join_result res;
    sj_join_result_init(&res);
    sj_clusters *cl = NULL;
    sj_hashes *set = NULL;
    sj_status st = SJ_OK;
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
    double t0 = sj_now();
    if ((st = sj_pairs_file_read(pairs_path, &res)))
        goto fail;
    if ((st = sj_cluster_components(res.nodes, res.n_nodes, &res.pairs, &cl)))
        goto fail;
    if (!no_check && max_size > 1) {
        if (!n_hash) { /* the join's inputs, "corpus:PATH\nqueries:PATH..." */
            inputs_copy = strdup(res.inputs);
            for (char *save = NULL, *line = strtok_r(inputs_copy, "\n", &save); line;
                 line = strtok_r(NULL, "\n", &save)) {
                char *colon = strchr(line, ':');
                if (colon)
                    hash_paths[n_hash++] = colon + 1;
                if (n_hash >= argc)
                    break;
            }
        }
        int readable = n_hash > 0;
        for (int i = 0; i < n_hash; i++)
            readable &= access(hash_paths[i], R_OK) == 0;
        if (!readable) {
            cli_notice("cluster: the join's input shards are not readable here; diameters are "
                       "the largest edge (give --hashes to check them)");
        } else {
            if ((st = cli_read_shards(hash_paths, n_hash, &set)) ||
                (st = sj_clusters_check_diameter(cl, set, max_size)))
                goto fail;
        }
    }
    if ((st = sj_clusters_file_write(out, cl, &res)))
        goto fail;
    int64_t largest = 0, singletons = 0, unchecked = 0;
    for (int64_t k = 0; k < cl->n_clusters; k++) {
        largest = SJ_MAX(largest, cl->size[k]);
        singletons += cl->size[k] == 1;
        unchecked += !cl->diameter_checked[k];
    }
    cli_notice("cluster: %lld hashes, %lld pairs -> %lld clusters (%lld singletons, largest %lld), "
               "%lld excluded -> %s",
               (long long)cl->n_nodes, (long long)res.pairs.n, (long long)cl->n_clusters,
               (long long)singletons, (long long)largest, (long long)res.n_excluded, out);
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
    free(inputs_copy);
    free(hash_paths);
    return rc;
}
