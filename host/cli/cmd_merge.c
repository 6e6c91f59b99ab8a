/* cmd_merge.c - `simjoin merge`: the N outputs of `join --part i/N` into the
 * pairs file that one unsplit run would have written. */
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void help(void)
{
    printf("usage: simjoin merge PART.h5... --out PAIRS.h5 [--stats-json F] [--quiet]\n"
           "\n"
           "Checks that the files are parts 0..N-1 of one split join (same inputs,\n"
           "kind, threshold, hashes and exclusions; each part exactly once), then\n"
           "writes their pairs as one canonical pairs file, identical in every dataset\n"
           "to the file an unsplit `simjoin join` writes. A missing, repeated or\n"
           "foreign part is an error and nothing is written.\n"
           "\n"
           "  --max-pairs N      stop with an error past N pairs (0 or none: no limit)\n"
           "  --max-memory SIZE  stop before the pairs would exceed SIZE of memory (0 or\n"
           "                     none: no limit). Default: the pairs that fit in 3/4 of the\n"
           "                     memory available and 9/10 of the free disk beside the output\n"
           "  --stats-json F     write the run's figures as JSON\n");
}

static int same_i64(const int64_t *a, const int64_t *b, int64_t n)
{
    return n == 0 || memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

/* The same input files: role and checksum (or, for old files, the path). */
static int same_inputs(const sj_join_result *a, const sj_join_result *b)
{
    if (a->n_inputs != b->n_inputs)
        return 0;
    for (int64_t i = 0; i < a->n_inputs; i++) {
        const sj_join_input *x = &a->inputs[i], *y = &b->inputs[i];
        if (strcmp(x->role, y->role) != 0 || strcmp(x->checksum, y->checksum) != 0 ||
            (!x->checksum[0] && strcmp(x->path, y->path) != 0))
            return 0;
    }
    return 1;
}

int cmd_merge(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},
                                         {"max-pairs", required_argument, 0, 'M'},
                                         {"max-memory", required_argument, 0, 'X'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"stats-json", required_argument, 0, 'J'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *out = NULL, *stats = NULL;
    const double t0 = sj_now();
    int c;
    int64_t max_pairs = -1, max_memory = -1; /* -1: not given */
    sj_pair_limit lim = {0, ""};
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'J': stats = optarg; break;
        case 'q': cli_quiet = 1; break;
        case 'M':
            if (cli_parse_limit(optarg, 0, &max_pairs))
                return cli_usage("merge", "--max-pairs needs a positive integer, or 0 or none for no limit");
            break;
        case 'X':
            if (cli_parse_limit(optarg, 1, &max_memory))
                return cli_usage("merge", "--max-memory needs a size of at least 1M (like 512M, 8G), "
                                          "or 0 or none for no limit");
            break;
        case 'h': help(); return EXIT_OK;
        default: return cli_usage("merge", "bad option");
        }
    }
    int n_in = argc - optind;
    if (!out || n_in < 1)
        return cli_usage("merge", "give the part files and --out");
    int refused = cli_refuse_stdout("merge", "--out", out);
    if (refused)
        return refused;
    const char *outputs[] = {out, stats};
    sj_status out_st = sj_check_outputs(outputs, 2, argv + optind, n_in);
    if (out_st)
        return cli_fail(out_st);
    /* a pair: in the merged list, in the part being read, in the output
     * columns (72 bytes); on disk, in the output (24) */
    sj_status st = SJ_OK;
    if (max_pairs > 0) {
        lim.max_pairs = max_pairs;
        snprintf(lim.why, sizeof lim.why, "the limit set by --max-pairs %lld", (long long)max_pairs);
    } else if (max_memory > 0) {
        lim.max_pairs = max_memory / 72;
        snprintf(lim.why, sizeof lim.why, "the limit set by --max-memory %.1f MB", (double)max_memory / 1048576.0);
    } else if (max_pairs < 0 && max_memory < 0 && (st = sj_pair_limit_default(out, 0, 72, 24, &lim))) {
        return cli_fail(st);
    }
    sj_join_result all, part;
    sj_join_result_init(&all);
    sj_join_result_init(&part);
    char *seen = NULL;
    int n_parts = 0, rc = EXIT_OK;
    for (int k = 0; k < n_in && !st; k++) {
        const char *path = argv[optind + k];
        sj_join_result *r = k == 0 ? &all : &part;
        if (k > 0) {
            sj_join_result_release(&part);
            sj_join_result_init(&part);
        }
        if ((st = sj_pairs_file_read(path, r)))
            break;
        int i = -1, n = 0;
        if (sscanf(r->part, "%d/%d", &i, &n) != 2 || n < 1 || i < 0 || i >= n) {
            st = sj_fail(SJ_ERR_FORMAT, "%s: not a part of a split join (no part attribute)", path);
            break;
        }
        if (k == 0) {
            n_parts = n;
            seen = calloc((size_t)n, 1);
        } else if (n != n_parts || r->threshold != all.threshold || r->type.bits != all.type.bits ||
                   r->type.kind != all.type.kind || r->dihedral != all.dihedral ||
                   !same_inputs(r, &all) ||
                   strcmp(r->backend, all.backend) != 0 || r->n_nodes != all.n_nodes ||
                   r->n_excluded != all.n_excluded || !same_i64(r->nodes, all.nodes, all.n_nodes) ||
                   !same_i64(r->excluded_id, all.excluded_id, all.n_excluded)) {
            st = sj_fail(SJ_ERR_MISMATCH, "%s: not a part of the same join as %s (inputs, options "
                                          "or backend differ)", path, argv[optind]);
            break;
        }
        if (seen[i]) {
            st = sj_fail(SJ_ERR_ARG, "%s: part %d/%d given twice", path, i, n);
            break;
        }
        seen[i] = 1;
        if (k > 0) {
            if ((st = sj_grow((void **)&all.pairs.v, &all.pairs.capacity, all.pairs.n + part.pairs.n,
                              sizeof *all.pairs.v)))
                break;
            memcpy(all.pairs.v + all.pairs.n, part.pairs.v, (size_t)part.pairs.n * sizeof *part.pairs.v);
            all.pairs.n += part.pairs.n;
        }
        if (lim.max_pairs > 0 && all.pairs.n > lim.max_pairs) {
            st = sj_pair_limit_exceeded("merge", &lim, "Set the limit with --max-pairs N or --max-memory SIZE "
                                                   "(0 or none: no limit)");
            break;
        }
    }
    for (int i = 0; !st && i < n_parts; i++)
        if (!seen[i])
            st = sj_fail(SJ_ERR_ARG, "part %d/%d is missing", i, n_parts);
    if (!st) {
        all.part[0] = 0;
        /* dihedral self-joins: a pair may come from two parts, nearer side kept */
        if (!(st = all.dihedral ? sj_pairs_canonicalize_min(&all.pairs)
                                : sj_pairs_canonicalize(&all.pairs)))
            st = sj_pairs_file_write(out, &all);
    }
    if (st)
        rc = cli_fail(st);
    else
        cli_notice("merge: %d parts, %lld pairs -> %s", n_parts, (long long)all.pairs.n, out);
    if (!st && stats) {
        cli_json j;
        cli_json_begin(&j);
        cli_json_str(&j, "command", "merge");
        cli_json_int(&j, "parts", n_parts);
        cli_json_int(&j, "pairs", all.pairs.n);
        cli_json_num(&j, "seconds", sj_now() - t0);
        rc = cli_json_write(&j, stats);
    }
    free(seen);
    sj_join_result_release(&all);
    sj_join_result_release(&part);
    return rc;
}
