/* main.c - `simjoin <command> [options]`: git-style dispatch. */
#include "cli/cli.h"

#include <string.h>

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *summary;
} commands[] = {
#ifdef SIMJOIN_HAVE_HDF5
    {"ingest", cmd_ingest, "turn text hash lists into HDF5 shards"},
#ifdef SIMJOIN_HAVE_IMAGE
    {"hash", cmd_hash, "hash image files (PDQ + dihedrals, pHash, dHash) into a shard"},
#endif
    {"gen", cmd_gen, "write synthetic hashes with ground-truth labels"},
    {"join", cmd_join, "find all pairs within a distance threshold"},
    {"cluster", cmd_cluster, "group matched pairs into clusters (connected components)"},
    {"sweep", cmd_sweep, "every threshold from one join, scored against ground truth"},
    {"state", cmd_state, "create, describe or verify a nightly state directory"},
    {"nightly", cmd_nightly, "join a night's uploads against the state, update clusters, commit"},
    {"merge", cmd_merge, "combine the parts of a join split with --part"},
    {"report", cmd_report, "triage list of clusters with case metadata: CSV, JSONL, HTML"},
    {"export", cmd_export, "write a shard, pairs or clusters file as CSV or JSON Lines"},
    {"info", cmd_info, "describe an HDF5 file made by or for simjoin"},
#endif
    {"bench", cmd_bench, "time every backend and ISA path on the same join"},
};

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: simjoin <command> [options]\n"
            "\n"
            "simjoin compares perceptual hashes all-pairs under a distance threshold and\n"
            "clusters the near-duplicates. Kinds: pdq, bits:N (pHash, dHash, any binary\n"
            "width), photodna, u8:D (byte vectors), f32:D (float vectors); metrics:\n"
            "hamming (binary kinds), l2sq, l1, cosine and ip (README \"Metrics\").\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(fp, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp, "\n"
                "Run 'simjoin <command> --help' for a command's options.\n"
                "Exit status: 0 success, 1 runtime error, 2 usage error.\n");
}

/* OpenBLAS (linked for FAISS) starts a thread per core as it loads, each
 * spinning on sched_yield for about 0.1 s before it sleeps: a core taken
 * from a join while it reads its inputs. Stopped at once; OpenBLAS starts
 * them again at its next threaded call. NULL without OpenBLAS. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

int main(int argc, char **argv)
{
    if (blas_thread_shutdown_)
        blas_thread_shutdown_();
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("simjoin %s\nbuilt with:%s%s%s%s\n", sj_version(),
               sj_backend_available(SJ_BACKEND_FAISS) ? " faiss" : "", sj_cuda_compiled_in() ? " cuda" : "",
               cli_mpi_built() ? " mpi" : "",
#ifdef SIMJOIN_HAVE_HDF5
               " hdf5"
#else
               ""
#endif
        );
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
#ifndef SIMJOIN_HAVE_HDF5
    fprintf(stderr, "simjoin: this build has no HDF5 (configured with -DSIMJOIN_HDF5=OFF): only 'bench'\n");
#endif
    char safe[1024];
    fprintf(stderr, "simjoin: unknown command '%s'\n\n", cli_safe(argv[1], safe, sizeof safe));
    usage(stderr);
    return EXIT_USAGE;
}
