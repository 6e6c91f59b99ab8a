/* bench_sha256.c - MB/s of sj_sha256_file (host/core/sha256.c) on one file, best
 * of 3 reads from the page cache. BENCHMARKS.md "State checksums":
 *   cc -O3 -Ihost scripts/bench_sha256.c host/core/sha256.c -lcrypto -o /tmp/bench_sha256
 *   head -c 300000000 /dev/urandom > /tmp/blob && /tmp/bench_sha256 /tmp/blob */
#include "sha256.h"

#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

int main(int argc, char **argv)
{
    struct stat st;
    char digest[65];
    if (argc != 2 || stat(argv[1], &st) || sj_sha256_file(argv[1], digest)) {
        fprintf(stderr, "usage: bench_sha256 FILE (readable)\n");
        return 2;
    }
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        sj_sha256_file(argv[1], digest);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double t = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
        best = t < best ? t : best;
    }
    printf("%s  %.0f MB/s\n", digest, (double)st.st_size / best / 1e6);
    return 0;
}
