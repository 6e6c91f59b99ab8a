/* cmd_hash.c - `simjoin hash`: image files -> shard (library: image_*.c). */
#include "cli/cli.h"
#include "simjoin/image.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(void)
{
    printf("usage: simjoin hash --kind pdq|phash|dhash --out SHARD.h5 PATH...\n"
           "                    [--dihedral] [--source NAME] [--first-id N] [--root DIR]\n"
           "                    [--threads N] [--reduced-min-side N] [--times] [--stats-json F]\n"
           "                    [--quiet]\n"
           "\n"
           "Hashes image files into a shard (README \"From images to hashes\"). PATH: a\n"
           "file, a directory (every file below it, recursively, in sorted order) or\n"
           "@LIST (a file of paths, one a line). Formats: JPEG, PNG, WebP, GIF (first\n"
           "frame), BMP, TIFF, HEIC where libheif decodes it; recognised by\n"
           "content, not name. The file at input position i gets id first-id + i.\n"
           "Per file the shard keeps /meta/path, /meta/md5, /meta/sha1 and (pdq)\n"
           "/quality. A file that cannot be read or decoded is listed in /failed with\n"
           "its reason and counted; it never stops the run. Identical files (same\n"
           "SHA-1) are listed in /exact_duplicates (id, id of the first copy).\n"
           "\n"
           "  --kind K        pdq (256 bits, ThreatExchange order), phash or dhash (64\n"
           "                  bits, as the imagehash package computes them)\n"
           "  --dihedral      pdq: also the 8 dihedral hashes, /dihedral [N, 8, 32]\n"
           "  --out SHARD.h5  the shard to write\n"
           "  --source NAME   the database of origin, stored with the shard\n"
           "  --first-id N    id of the first input file (default 0)\n"
           "  --root DIR      record paths below DIR relative to it\n"
           "  --threads N     decoding threads (default: all cores)\n"
           "  --reduced-min-side N  pdq, faster but inexact: decode JPEGs at 1/2..1/8 size\n"
           "                  while both sides stay >= N pixels (default 0: full size;\n"
           "                  it moves the hash by a few bits, README \"Reduced-size decoding\")\n"
           "  --times         print where the time went (decode, resize, DCT)\n"
           "  --stats-json F  write the run's figures as JSON\n"
           "  --quiet         no progress line and no summary\n");
}

static void on_progress(void *user, int64_t done, int64_t total)
{
    double rate, eta;
    if (cli_progress_due(user, done, total, &rate, &eta))
        fprintf(stderr, "\rhash: %lld/%lld files  %.1f files/s  ETA %.0fs   ", (long long)done,
                (long long)total, rate, eta);
}

int cmd_hash(int argc, char **argv)
{
    static const struct option opts[] = {
        {"kind", required_argument, 0, 'k'},     {"out", required_argument, 0, 'o'},
        {"dihedral", no_argument, 0, 'd'},       {"source", required_argument, 0, 's'},
        {"first-id", required_argument, 0, 'f'}, {"root", required_argument, 0, 'r'},
        {"threads", required_argument, 0, 't'},
        {"times", no_argument, 0, 'T'},          {"quiet", no_argument, 0, 'q'},
        {"reduced-min-side", required_argument, 0, 'M'}, {"stats-json", required_argument, 0, 'J'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *kind = NULL, *out = NULL, *source = "", *root = NULL, *stats = NULL;
    int64_t first_id = 0, threads = 0, min_side = 0;
    int show_times = 0, c;
    sj_image_options io;
    sj_image_options_defaults(&io);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': kind = optarg; break;
        case 'o': out = optarg; break;
        case 'd': io.dihedral = 1; break;
        case 's': source = optarg; break;
        case 'r': root = optarg; break;
        case 'M':
            if (cli_parse_i64(optarg, &min_side) || min_side < 0 || min_side > 65535)
                return cli_usage("hash", "--reduced-min-side needs an integer 0..65535");
            io.reduced_min_side = (int)min_side;
            break;
        case 'T': show_times = 1; break;
        case 'q': cli_quiet = 1; break;
        case 'J': stats = optarg; break;
        case 'f':
            if (cli_parse_i64(optarg, &first_id))
                return cli_usage("hash", "--first-id needs an integer");
            break;
        case 't':
            if (cli_parse_i64(optarg, &threads) || threads < 1 || threads > 4096)
                return cli_usage("hash", "--threads needs a positive integer");
            break;
        case 'h': help(); return EXIT_OK;
        default: return cli_usage("hash", "bad option");
        }
    }
    if (!kind || !out || optind >= argc)
        return cli_usage("hash", "--kind, --out and at least one PATH are required");
    if (sj_image_hash_parse(kind, &io.kind))
        return cli_usage("hash", "--kind must be pdq, phash or dhash");
    if (io.dihedral && io.kind != SJ_IMAGE_PDQ)
        return cli_usage("hash", "--dihedral is for --kind pdq");
    io.threads = (int)threads;
    { /* fail before hours of hashing, not after, when --out cannot be written */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", out);
        char *slash = strrchr(dir, '/');
        if (slash)
            *(slash == dir ? slash + 1 : slash) = 0;
        if (access(slash ? dir : ".", W_OK | X_OK) != 0) {
            fprintf(stderr, "simjoin: error: %s: cannot write into its directory\n", out);
            return EXIT_RUNTIME;
        }
    }

    char **paths = NULL;
    int64_t n = 0;
    sj_image_result *results = NULL;
    uint8_t (*dihedral)[8][32] = NULL;
    sj_image_set *set = NULL;
    int rc_stats = EXIT_OK;
    sj_status st = sj_image_expand_inputs((const char *const *)(argv + optind), argc - optind,
                                          &paths, &n);
    if (st)
        return cli_fail(st);
    if (first_id > INT64_MAX - n) {
        sj_image_paths_free(paths, n);
        return cli_usage("hash", "--first-id too large for %lld files", (long long)n);
    }
    const char *outputs[] = {out, stats}; /* never one of the images */
    if ((st = sj_check_outputs(outputs, 2, paths, (int)SJ_MIN(n, INT32_MAX))))
        goto done;
    results = calloc((size_t)SJ_MAX(n, 1), sizeof *results);
    if (io.dihedral)
        dihedral = calloc((size_t)SJ_MAX(n, 1), sizeof *dihedral);
    if (!results || (io.dihedral && !dihedral)) {
        st = sj_fail(SJ_ERR_NOMEM, "out of memory for %lld files", (long long)n);
        goto done;
    }
    cli_progress prog;
    cli_progress_init(&prog, "hash");
    io.progress = on_progress;
    io.progress_user = &prog;
    double times[3] = {0, 0, 0};
    double t0 = sj_now();
    if ((st = sj_hash_images((const char *const *)paths, n, &io, results, dihedral, times)))
        goto done;
    double elapsed = sj_now() - t0;
    cli_progress_end(&prog);
    sj_image_set_options so = {.kind = io.kind, .first_id = first_id, .root = root, .source = source};
    if ((st = sj_image_set_build((const char *const *)paths, results,
                                 (const uint8_t(*)[8][32])dihedral, n, &so, &set)) ||
        (st = sj_image_set_write(out, set)))
        goto done;
    int64_t bytes = 0;
    for (int64_t i = 0; i < n; i++)
        bytes += results[i].bytes;
    cli_notice("hash: %lld files, %lld hashed (%s%s), %lld failed, %lld exact duplicates in %lld "
               "groups; %.1f files/s, %.1f MB/s -> %s",
               (long long)n, (long long)set->hashes->n, sj_image_hash_name(io.kind),
               io.dihedral ? " + 8 dihedral" : "", (long long)set->n_failed,
               (long long)set->n_exact, (long long)set->n_exact_groups,
               elapsed > 0 ? n / elapsed : 0.0, elapsed > 0 ? bytes / elapsed / 1e6 : 0.0, out);
    if (set->n_failed)
        cli_notice("hash: failed files and reasons are in %s:/failed", out);
    if (show_times)
        cli_notice("hash: thread-seconds: decode %.3f, resize %.3f, dct %.3f (wall %.3f s)",
                   times[0], times[1], times[2], elapsed);
    if (stats) {
        cli_json j;
        cli_json_begin(&j);
        cli_json_str(&j, "command", "hash");
        cli_json_str(&j, "kind", sj_image_hash_name(io.kind));
        cli_json_int(&j, "dihedral", io.dihedral);
        cli_json_int(&j, "files", n);
        cli_json_int(&j, "hashed", set->hashes->n);
        cli_json_int(&j, "failed", set->n_failed);
        cli_json_int(&j, "exact_duplicates", set->n_exact);
        cli_json_int(&j, "bytes", bytes);
        cli_json_num(&j, "seconds", elapsed);
        cli_json_num(&j, "decode_thread_seconds", times[0]);
        cli_json_num(&j, "resize_thread_seconds", times[1]);
        cli_json_num(&j, "dct_thread_seconds", times[2]);
        rc_stats = cli_json_write(&j, stats); /* prints its own error */
    }
done:
    sj_image_set_free(set);
    free(results);
    free(dihedral);
    sj_image_paths_free(paths, n);
    return st ? cli_fail(st) : rc_stats;
}
