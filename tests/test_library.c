/* test_library.c - the library leaves its host process alone: a join does
 * not change the caller's OpenMP thread count, and failing calls print
 * nothing (the error is in sj_last_error()). */
#include "simjoin/simjoin.h"
#include "test_util.h"

#include <fcntl.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static sj_hashes *random_set(int n)
{
    sj_hash_type t;
    sj_hashes *h = NULL;
    CHECK(sj_hash_type_parse("bits:64", &t) == SJ_OK, "parse");
    CHECK(sj_hashes_create(t, n, &h) == SJ_OK, "create");
    for (int i = 0; i < n; i++) {
        uint8_t row[8];
        for (int k = 0; k < 8; k++)
            row[k] = (uint8_t)(i * 31 + k * 7 + (i >> 3));
        CHECK(sj_hashes_append(h, i, row, -1) == SJ_OK, "append");
    }
    return h;
}

static void join_keeps_thread_count(sj_backend_kind backend, const char *name)
{
    if (!sj_backend_available(backend)) {
        printf("skip: %s backend not built\n", name);
        return;
    }
    sj_hashes *set = random_set(200);
    sj_join_config cfg;
    sj_join_config_init(&cfg);
    cfg.threshold = 20;
    cfg.backend = backend;
    cfg.threads = 1;
    omp_set_num_threads(3);
    sj_pairs pairs = {0};
    CHECK(sj_join_self(&cfg, set, &pairs) == SJ_OK, "%s", sj_last_error());
    CHECK(omp_get_max_threads() == 3, "%s join left the OpenMP thread count at %d, not 3", name,
           omp_get_max_threads());
    sj_pairs_free(&pairs);
    sj_hashes_free(set);
}

/* Run fn with stdout and stderr sent to a file; return how many bytes it printed. */
static long printed_by(void (*fn)(void))
{
    char path[] = "/tmp/sj_quiet_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    fflush(stdout);
    fflush(stderr);
    int out = dup(1), err = dup(2);
    dup2(fd, 1);
    dup2(fd, 2);
    fn();
    fflush(stdout);
    fflush(stderr);
    dup2(out, 1);
    dup2(err, 2);
    close(out);
    close(err);
    struct stat st;
    fstat(fd, &st);
    close(fd);
    unlink(path);
    return (long)st.st_size;
}

static void failing_calls(void)
{
    sj_hash_type t;
    sj_hashes *h = NULL;
    (void)sj_hash_type_parse("no-such-kind", &t);
#ifdef SIMJOIN_HAVE_HDF5
    (void)sj_shard_read("/nonexistent/dir/x.h5", &h);
#endif
    sj_hashes_free(h);
    sj_backend_kind b;
    (void)sj_backend_parse("warp-drive", &b);
}

int main(void)
{
    join_keeps_thread_count(SJ_BACKEND_CPU, "cpu");
    join_keeps_thread_count(SJ_BACKEND_FAISS, "faiss");
    long n = printed_by(failing_calls);
    CHECK(n == 0, "failing library calls printed %ld bytes", n);
    CHECK(strlen(sj_last_error()) > 0, "no error message");
    return t_finish("test_library");
}
