/* cmd_state.c - `simjoin state init|info|verify DIR`. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"
#include "state/state.h"
#include "simjoin/nightly.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void help(void)
{
    printf("usage: simjoin state init DIR --kind pdq|bits:N [--threshold T] [--stats-json F]\n"
           "       simjoin state init DIR [--kind K] [--threshold T] --corpus SHARDS.h5...\n"
           "       simjoin state info DIR [--json] [--stats-json F]\n"
           "       simjoin state verify DIR [--json] [--stats-json F]\n"
           "\n"
           "A state directory holds the corpus shards, the cluster state and a manifest\n"
           "(generation number and a SHA-256 per file) for `simjoin nightly`.\n"
           "  init     create an empty state (generation 0) for one hash kind and threshold\n"
           "           (default 31 for pdq). With --corpus: import those shards as\n"
           "           generation 1, their self-join clustered with stable ids, nothing\n"
           "           marked new (the kind is read from the first shard when not given);\n"
           "           the first night then reports only its own uploads as new\n"
           "  info     the generation, kind, threshold, files, hashes and batches\n"
           "  verify   check every file against its checksum; exit 1 naming the first bad one\n"
           "           (the manifest itself is checked by every command: its own checksum,\n"
           "           its generation against the files and batches it lists)\n"
           "  --json        info, verify: the figures as one JSON object on stdout instead\n"
           "                of the text (verify: valid true or false, with the error)\n"
           "  --stats-json F  write the figures (generation, files, batches, hashes) as JSON\n");
}

/* The state's figures as one JSON object, to path ("-": stdout): for
 * --stats-json and --json. verify: valid, with the error when not. */
static int state_json(const char *dir, const char *verb, const sj_manifest *m, const sj_status *verified,
                      const char *path)
{
    char kind[24] = "";
    if (m->type.kind)
        sj_hash_type_format(m->type, kind, sizeof kind);
    cli_json j;
    cli_json_begin(&j);
    cli_json_str(&j, "command", "state");
    cli_json_str(&j, "verb", verb);
    cli_json_str(&j, "dir", dir);
    cli_json_int(&j, "generation", m->generation);
    cli_json_str(&j, "kind", kind);
    cli_json_int(&j, "threshold", m->threshold);
    cli_json_int(&j, "files", m->n_files);
    cli_json_int(&j, "batches", m->n_batches);
    cli_json_int(&j, "next_cluster", m->next_cluster);
    cli_json_int(&j, "corpus_hashes", sj_manifest_corpus_hashes(dir, m));
    if (verified) {
        cli_json_bool(&j, "valid", !*verified);
        if (*verified)
            cli_json_str(&j, "error", sj_last_error());
    }
    return cli_json_write(&j, path);
}

/* init --stats-json: the state as created (and imported). */
static int init_stats(const char *dir, const char *path)
{
    sj_manifest m;
    sj_status st = sj_manifest_read(dir, &m);
    if (st)
        return cli_fail(st);
    int rc = state_json(dir, "init", &m, NULL, path);
    sj_manifest_free(&m);
    return rc;
}

static int state_init(const char *dir, int argc, char **argv)
{
    static const struct option opts[] = {{"kind", required_argument, 0, 'k'},
                                         {"threshold", required_argument, 0, 't'},
                                         {"corpus", required_argument, 0, 'c'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"stats-json", required_argument, 0, 'J'},
                                         {0, 0, 0, 0}};
    const char *kind = NULL, *stats = NULL;
    const char **corpus = calloc((size_t)argc + 1, sizeof *corpus);
    int rc = EXIT_OK, c;
    sj_state_init_options o;
    sj_state_init_options_init(&o);
    o.state_dir = dir;
    o.notice = cli_nightly_notice;
    if (!corpus)
        return cli_fail(sj_fail(SJ_ERR_NOMEM, "out of memory"));
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'k')
            kind = optarg;
        else if (c == 't' && !cli_parse_i64(optarg, &o.threshold) && o.threshold >= 0)
            ;
        else if (c == 'c') {
            corpus[o.n_corpus++] = optarg;
            while (optind < argc && argv[optind][0] != '-')
                corpus[o.n_corpus++] = argv[optind++];
        } else if (c == 'q')
            cli_quiet = 1;
        else if (c == 'J')
            stats = optarg;
        else {
            rc = cli_usage("state", "bad option for init");
            goto done;
        }
    }
    o.corpus = corpus;
    sj_status st;
    if (optind < argc)
        rc = cli_usage("state", "unexpected argument '%s'", argv[optind]);
    else if (kind && (st = sj_hash_type_parse(kind, &o.type)))
        rc = cli_fail(st);
    else if (!kind && !o.n_corpus)
        rc = cli_usage("state", "init needs --kind (or --corpus)");
    if (rc != EXIT_OK)
        goto done;
    sj_state_init_result r;
    sj_state_init_result_init(&r);
    if ((st = sj_state_init(&o, &r))) {
        if (st == SJ_ERR_ARG && r.type.kind == SJ_KIND_BITS && o.threshold < 0)
            rc = cli_usage("state", "init needs --threshold for bits:N hashes");
        else
            rc = cli_fail(st);
        if (r.created) /* the import failed */
            cli_notice("state: %s stays at generation 0 (empty); `simjoin nightly --state %s "
                       "--as-corpus --new ...` retries the import", dir, dir);
        goto done;
    }
    if (o.n_corpus)
        cli_nightly_summary(&r.import, 1);
    if (stats)
        rc = init_stats(dir, stats);
done:
    free(corpus);
    return rc;
}

int cmd_state(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        help();
        return EXIT_OK;
    }
    if (argc < 3)
        return cli_usage("state", "give init, info or verify and a directory");
    const char *verb = argv[1], *dir = argv[2];
    optind = 3;
    if (!strcmp(verb, "init"))
        return state_init(dir, argc, argv);
    static const struct option opts[] = {{"json", no_argument, 0, 'j'},
                                         {"stats-json", required_argument, 0, 'J'},
                                         {0, 0, 0, 0}};
    const char *stats = NULL;
    int c, json = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'j')
            json = 1;
        else if (c == 'J')
            stats = optarg;
        else
            return cli_usage("state", "bad option for %s", verb);
    }
    if (optind < argc)
        return cli_usage("state", "unexpected argument '%s'", argv[optind]);
    if (strcmp(verb, "verify") && strcmp(verb, "info"))
        return cli_usage("state", "unknown verb '%s' (init, info, verify)", verb);
    sj_manifest m;
    sj_status st = sj_manifest_read(dir, &m);
    if (st && json && !strcmp(verb, "verify")) { /* a manifest that fails its own check */
        memset(&m, 0, sizeof m);
        state_json(dir, verb, &m, &st, "-");
    }
    if (st)
        return cli_fail(st);
    int rc = EXIT_OK;
    char safe_dir[4 * 4096], safe_path[4096];
    const char *shown_dir = cli_safe(dir, safe_dir, sizeof safe_dir);
    int verify = !strcmp(verb, "verify");
    if (verify)
        st = sj_manifest_verify(dir, &m);
    if (json)
        rc = state_json(dir, verb, &m, verify ? &st : NULL, "-");
    if (verify && st) {
        rc = cli_fail(st);
    } else if (verify && !json) {
        printf("%s: generation %lld, %lld files, all checksums match\n", shown_dir,
               (long long)m.generation, (long long)m.n_files);
    } else if (!json) {
        char kind[24];
        sj_hash_type_format(m.type, kind, sizeof kind);
        printf("%s: generation %lld, kind %s, threshold %d, %lld files, %lld batches, next cluster id %lld\n",
               shown_dir, (long long)m.generation, kind, m.threshold, (long long)m.n_files, (long long)m.n_batches,
               (long long)m.next_cluster);
        for (int64_t i = 0; i < m.n_files; i++)
            printf("  %s  %.16s...\n", cli_safe(m.files[i].path, safe_path, sizeof safe_path),
                   m.files[i].sha);
        printf("  corpus hashes: %lld\n", (long long)sj_manifest_corpus_hashes(dir, &m));
    }
    if (rc == EXIT_OK && stats)
        rc = state_json(dir, verb, &m, verify ? &st : NULL, stats);
    sj_manifest_free(&m);
    return rc;
}
