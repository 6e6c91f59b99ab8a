/* cli_mpi.c - `mpirun -np N simjoin join ...`: each rank joins one part of
 * the query x corpus grid (sj_join_part_rows), rank 0 gathers the pairs and
 * writes the one output file. Every rank passes the same agreement points, so
 * a failure on any rank fails the whole job, with its message, and nothing
 * is published. Built only when CMake finds MPI; otherwise one process. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#ifdef SIMJOIN_HAVE_MPI
#include <mpi.h>

static int mpi_on;

int cli_mpi_init(int *argc, char ***argv, int *rank, int *size)
{
    *rank = 0;
    *size = 1;
    /* Only under a launcher: a plain run stays a plain process. */
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE") && !getenv("PMIX_RANK"))
        return 0;
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return -1;
    mpi_on = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    return 0;
}

void cli_mpi_finalize(void)
{
    if (mpi_on)
        MPI_Finalize();
    mpi_on = 0;
}

sj_status cli_mpi_agree(sj_status st)
{
    if (!mpi_on)
        return st;
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int mine = (int)st, worst = 0;
    MPI_Allreduce(&mine, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (!worst)
        return SJ_OK;
    /* The first failing rank's message, everywhere. */
    char msg[512] = "", *all = malloc((size_t)size * sizeof msg);
    if (st)
        snprintf(msg, sizeof msg, "%s", sj_last_error());
    MPI_Allgather(msg, sizeof msg, MPI_CHAR, all, sizeof msg, MPI_CHAR, MPI_COMM_WORLD);
    int bad = 0;
    while (bad < size && !all[bad * sizeof msg])
        bad++;
    sj_status out = sj_fail((sj_status)worst, "rank %d of %d failed: %s", bad, size,
                            bad < size ? all + bad * sizeof msg : "unknown error");
    free(all);
    return out;
}

sj_status cli_mpi_gather_pairs(sj_pairs *pairs, int64_t *bytes_sent)
{
    *bytes_sent = 0;
    if (!mpi_on)
        return SJ_OK;
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    /* Counts first (in pairs), then the pairs as bytes in chunks below 2 GiB. */
    long long mine = pairs->n, *counts = malloc((size_t)size * sizeof *counts);
    MPI_Gather(&mine, 1, MPI_LONG_LONG, counts, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
    sj_status st = SJ_OK;
    if (rank == 0) {
        int64_t total = 0;
        for (int r = 0; r < size; r++)
            total += counts[r];
        st = sj_grow((void **)&pairs->v, &pairs->capacity, SJ_MAX(total, 1), sizeof *pairs->v);
        for (int r = 1; r < size && !st; r++) {
            for (long long done = 0; done < counts[r];) {
                int chunk = (int)SJ_MIN(counts[r] - done, (1 << 30) / (long long)sizeof(sj_pair));
                MPI_Recv(pairs->v + pairs->n, chunk * (int)sizeof(sj_pair), MPI_BYTE, r, 7,
                         MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                pairs->n += chunk;
                done += chunk;
            }
        }
    } else {
        for (long long done = 0; done < mine;) {
            int chunk = (int)SJ_MIN(mine - done, (1 << 30) / (long long)sizeof(sj_pair));
            MPI_Send(pairs->v + done, chunk * (int)sizeof(sj_pair), MPI_BYTE, 0, 7, MPI_COMM_WORLD);
            done += chunk;
        }
        *bytes_sent = mine * (int64_t)sizeof(sj_pair);
        pairs->n = 0;
    }
    free(counts);
    return st;
}

int cli_mpi_built(void) { return 1; }

#else /* no MPI */

int cli_mpi_init(int *argc, char ***argv, int *rank, int *size)
{
    (void)argc, (void)argv;
    *rank = 0;
    *size = 1;
    return 0;
}
void cli_mpi_finalize(void) {}
sj_status cli_mpi_agree(sj_status st) { return st; }
sj_status cli_mpi_gather_pairs(sj_pairs *pairs, int64_t *bytes_sent)
{
    (void)pairs;
    *bytes_sent = 0;
    return SJ_OK;
}
int cli_mpi_built(void) { return 0; }
#endif

int cli_mpi_start(int *argc, char ***argv, int *rank, int *ranks)
{
    if (cli_mpi_init(argc, argv, rank, ranks)) {
        fprintf(stderr, "simjoin: error: MPI_Init failed\n");
        return EXIT_RUNTIME;
    }
    cli_rank = *rank;
    if (*rank)
        cli_quiet = 1; /* rank 0 speaks for the job */
    sj_status st = cli_mpi_check_launch(*ranks);
    return st ? cli_fail(st) : EXIT_OK;
}

/* The job's hooks (simjoin/job.h) over the functions above. The test hook
 * SIMJOIN_TEST_FAIL_RANK=R fails rank R at the first agreement point, once
 * its part of the join is done (fault injection for test_mpi.sh). */
static int job_agreements;
static sj_status job_agree(void *user, sj_status st)
{
    int rank = *(const int *)user;
    const char *fail_rank = getenv("SIMJOIN_TEST_FAIL_RANK");
    if (job_agreements++ == 0 && !st && fail_rank && atoi(fail_rank) == rank)
        st = sj_fail(SJ_ERR_INTERNAL, "injected failure (SIMJOIN_TEST_FAIL_RANK=%d)", rank);
    return cli_mpi_agree(st);
}

static sj_status job_gather(void *user, sj_pairs *pairs, int64_t *bytes_sent)
{
    (void)user;
    return cli_mpi_gather_pairs(pairs, bytes_sent);
}

void cli_mpi_collective(sj_job_collective *c, sj_join_config *cfg, int rank, int ranks)
{
    static int the_rank;
    the_rank = rank;
    job_agreements = 0;
    c->rank = rank;
    c->ranks = ranks;
    c->agree = job_agree;
    c->gather_pairs = job_gather;
    c->user = &the_rank;
    cfg->part_index = rank;
    cfg->part_count = ranks;
    /* One GPU per rank: the node-local rank picks a device among those
     * visible (a scheduler that binds one GPU per task shows just one). */
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    if (!local)
        local = getenv("SLURM_LOCALID");
    int visible = sj_cuda_device_count(NULL);
    if (cfg->n_gpus == 0 && local && visible > 0) {
        cfg->n_gpus = 1;
        cfg->gpus[0] = atoi(local) % visible;
    }
}

/* A Slurm step's task count: SLURM_STEP_NUM_TASKS inside srun, else SLURM_NTASKS. */
static long slurm_tasks(void)
{
    const char *v = getenv("SLURM_STEP_NUM_TASKS");
    if (!v || !*v)
        v = getenv("SLURM_NTASKS");
    return v ? strtol(v, NULL, 10) : 0;
}

sj_status cli_mpi_check_launch(int ranks)
{
    long tasks = slurm_tasks();
    if (ranks > 1 || tasks <= 1)
        return SJ_OK;
    /* srun -n N with MpiDefault=none starts N plain processes: N whole joins
     * onto one output and one journal. */
    if (!cli_mpi_built())
        return sj_fail(SJ_ERR_UNSUPPORTED, "Slurm started %ld tasks, but this simjoin was built without MPI: "
                                   "each task would run the whole join onto the same output. Run one "
                                   "task (srun -n 1), or an array job of `join --part i/N` and "
                                   "`merge` (docs/slurm.md)", tasks);
    return sj_fail(SJ_ERR_UNSUPPORTED, "Slurm started %ld tasks, but they are not MPI ranks (no PMI/PMIx "
                               "in the environment; the site's MpiDefault is probably none): each "
                               "would run the whole join onto the same output. Launch with "
                               "`srun --mpi=pmix -n %ld simjoin join ...` (docs/slurm.md), or run "
                               "one task (srun -n 1)", tasks, tasks);
}
