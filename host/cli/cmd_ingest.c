/* cmd_ingest.c - `simjoin ingest`: text hash lists -> shard(s). */
#include "cli/cli.h"
#include "io/text_out.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void help(void)
{
    printf("usage: simjoin ingest --kind pdq|bits:N|photodna|u8:D|f32:D --in FILE... --out SHARD.h5\n"
           "                      [--source NAME] [--first-id N] [--shard-rows R] [--stats-json F]\n"
           "                      [--quiet]\n"
           "\n"
           "Reads text hash lists and writes an HDF5 shard. Lines may be:\n"
           "  HEX                     a bare hash; ids are assigned from --first-id (0)\n"
           "  ID,HEX[,QUALITY]        CSV with an int64 id; a header line is allowed\n"
           "  HEX,QUALITY[,NAME]      ThreatExchange pdq-photo-hasher output\n"
           "or a table: a header naming its columns, separated by ',' or ';' (the\n"
           "ICSE-style export: MD5;SHA1;PhotoDNA;Image ID;...), \"quoted\" fields allowed.\n"
           "Columns are matched by name, case and spaces aside: id (Image ID), hash\n"
           "(PDQ for pdq), quality, series (Series name), victim identified, offender\n"
           "identified (yes/no/unknown), case id, category, source. Other columns are\n"
           "ignored and listed; every row must have the header's number of fields.\n"
           "Blank lines and '#' comments are skipped. Any malformed line or duplicate\n"
           "id is reported as FILE:LINE and nothing is written.\n"
           "\n"
           "  --kind K          pdq (256 bits), bits:N (N a multiple of 8), photodna\n"
           "                    (144 bytes), u8:D (D bytes) or f32:D (D float32 values)\n"
           "  --in FILE...      one or more input files (repeatable; - reads stdin)\n"
           "  --out SHARD.h5    output; with --shard-rows, SHARD-00000.h5, SHARD-00001.h5, ...\n"
           "  --source NAME     the database of origin, stored with the shard\n"
           "  --encoding E      of the input files: utf-8 (default: text that is not UTF-8\n"
           "                    is an error), cp1252 (Windows, Excel's plain CSV) or latin1\n"
           "                    (converted to UTF-8); a leading byte order mark is skipped\n"
           "  --first-id N      first id for bare-hash lines (default 0)\n"
           "  --shard-rows R    at most R rows per shard\n"
           "  --stats-json F    write the run's figures as JSON\n"
           "  --quiet           no summary line\n");
}

/* "dir/name.h5" + k -> "dir/name-0000k.h5" */
static void shard_name(const char *out, int64_t k, char *buf, size_t size)
{
    const char *dot = strrchr(out, '.');
    const char *slash = strrchr(out, '/');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - out) : strlen(out);
    snprintf(buf, size, "%.*s-%05lld%s", (int)stem, out, (long long)k, out + stem);
}

/* The shard names about to be written must not be inputs (or each other). */
static sj_status check_outputs(const char *out, int64_t shard_rows, int64_t n, char **inputs, int n_in)
{
    int64_t n_shards = !shard_rows ? 1 : n ? (n + shard_rows - 1) / shard_rows : 1;
    sj_status st = SJ_OK;
    char name[4200];
    for (int64_t k = 0; k < n_shards && !st; k++) {
        if (shard_rows)
            shard_name(out, k, name, sizeof name);
        const char *outputs[] = {shard_rows ? name : out};
        st = sj_check_outputs(outputs, 1, inputs, n_in);
    }
    return st;
}

int cmd_ingest(int argc, char **argv)
{
    static const struct option opts[] = {
        {"kind", required_argument, 0, 'k'},   {"in", required_argument, 0, 'i'},
        {"out", required_argument, 0, 'o'},    {"source", required_argument, 0, 's'},
        {"first-id", required_argument, 0, 'f'}, {"shard-rows", required_argument, 0, 'r'},
        {"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
        {"encoding", required_argument, 0, 'e'}, {"stats-json", required_argument, 0, 'J'},
        {0, 0, 0, 0}};
    const char *kind = NULL, *out = NULL, *source = "", *stats = NULL;
    int64_t first_id = 0, shard_rows = 0;
    sj_text_encoding encoding = SJ_TEXT_UTF8;
    char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    int n_in = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': kind = optarg; break;
        case 'i': inputs[n_in++] = optarg; break;
        case 'o': out = optarg; break;
        case 's': source = optarg; break;
        case 'f':
            if (cli_parse_i64(optarg, &first_id)) {
                free(inputs);
                return cli_usage("ingest", "--first-id needs an integer from %lld to %lld (int64)",
                                 (long long)INT64_MIN, (long long)INT64_MAX);
            }
            break;
        case 'r':
            if (cli_parse_i64(optarg, &shard_rows) || shard_rows <= 0) {
                free(inputs);
                return cli_usage("ingest", "--shard-rows needs a positive integer");
            }
            break;
        case 'e':
            if (sj_text_encoding_parse(optarg, &encoding)) {
                free(inputs);
                return cli_usage("ingest", "--encoding takes utf-8, cp1252 or latin1");
            }
            break;
        case 'J': stats = optarg; break;
        case 'q': cli_quiet = 1; break;
        case 'h': help(); free(inputs); return EXIT_OK;
        default: free(inputs); return cli_usage("ingest", "bad option");
        }
    }
    for (int i = optind; i < argc; i++) /* --in a b c */
        inputs[n_in++] = argv[i];
    if (!kind || !out || n_in == 0) {
        free(inputs);
        return cli_usage("ingest", "--kind, --in and --out are required");
    }
    if (sj_utf8_check(source, strlen(source)) < strlen(source)) {
        free(inputs);
        return cli_usage("ingest", "--source is not valid UTF-8");
    }
    int stdin_uses = 0;
    for (int i = 0; i < n_in; i++)
        stdin_uses += !strcmp(inputs[i], "-");
    int refused = stdin_uses > 1 ? cli_usage("ingest", "stdin (-) given more than once")
                                 : cli_refuse_stdout("ingest", "--out", out);
    if (refused) {
        free(inputs);
        return refused;
    }
    sj_ingest_options io = {.first_id = first_id, .encoding = encoding};
    sj_status st = sj_hash_type_parse(kind, &io.type);
    if (st) {
        free(inputs);
        return cli_fail(st);
    }
    sj_ingest *ing = NULL;
    sj_hashes *h = NULL;
    int rc = EXIT_OK;
    const double t0 = sj_now();
    if ((st = sj_ingest_create(&io, &ing)))
        goto done;
    for (int i = 0; i < n_in && !st; i++)
        st = sj_ingest_file(ing, inputs[i]);
    if (st || (st = sj_ingest_finish(ing, &h)))
        goto done;
    if (*sj_ingest_ignored_columns(ing))
        cli_notice("ingest: columns not used (ignored): %s", sj_ingest_ignored_columns(ing));
    const char *stats_out[] = {stats, out};
    if ((st = sj_hashes_set_source(h, source)) ||
        (st = check_outputs(out, shard_rows, h->n, inputs, n_in)) ||
        (st = sj_check_outputs(stats_out, 2, inputs, n_in)))
        goto done;
    if (!shard_rows) {
        st = sj_shard_write(out, h, 0, h->n);
        if (!st)
            cli_notice("ingest: %lld hashes from %d file(s)%s -> %s", (long long)h->n, n_in,
                       h->dihedral ? ", dihedral (8 per image)" : "", out);
    } else {
        int64_t n_shards = h->n ? (h->n + shard_rows - 1) / shard_rows : 1;
        char name[4200];
        int64_t k = 0;
        for (; k < n_shards && !st; k++) {
            shard_name(out, k, name, sizeof name);
            st = sj_shard_write(name, h, k * shard_rows, SJ_MIN(shard_rows, h->n - k * shard_rows));
        }
        if (st) /* all or nothing: take back the shards already written */
            for (int64_t j = 0; j + 1 < k; j++) {
                shard_name(out, j, name, sizeof name);
                remove(name);
            }
        else
            cli_notice("ingest: %lld hashes from %d file(s) -> %lld shards", (long long)h->n,
                       n_in, (long long)n_shards);
    }
    if (!st && stats) {
        cli_json j;
        cli_json_begin(&j);
        cli_json_str(&j, "command", "ingest");
        cli_json_str(&j, "kind", kind);
        cli_json_int(&j, "files", n_in);
        cli_json_int(&j, "hashes", h->n);
        cli_json_int(&j, "shards", shard_rows ? (h->n ? (h->n + shard_rows - 1) / shard_rows : 1) : 1);
        cli_json_int(&j, "dihedral", h->dihedral != NULL);
        cli_json_num(&j, "seconds", sj_now() - t0);
        rc = cli_json_write(&j, stats);
    }
done:
    if (st)
        rc = cli_fail(st);
    sj_hashes_free(h);
    sj_ingest_free(ing);
    free(inputs);
    return rc;
}
