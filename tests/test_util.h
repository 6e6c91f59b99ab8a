/* test_util.h - tiny assertion helpers for the C tests (no framework). Every
 * check counts; main() returns non-zero if any failed, and prints the seed so
 * a failure can be replayed with SIMJOIN_TEST_SEED. */
#ifndef SIMJOIN_TEST_UTIL_H
#define SIMJOIN_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int t_failed, t_checked;
static uint64_t t_seed;

#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        t_checked++;                                                                              \
        if (!(cond)) {                                                                            \
            t_failed++;                                                                           \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);              \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fprintf(stderr, "  [seed %llu]\n", (unsigned long long)t_seed);                       \
        }                                                                                         \
    } while (0)

static uint64_t t_rng_state;
static inline uint64_t t_rand(void)
{
    uint64_t z = (t_rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Fresh random seed each run unless SIMJOIN_TEST_SEED is set. */
static inline void t_init_seed(void)
{
    const char *s = getenv("SIMJOIN_TEST_SEED");
    t_seed = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
    t_rng_state = t_seed;
    printf("seed %llu\n", (unsigned long long)t_seed);
}

static inline int t_finish(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, t_checked, t_failed);
    if (t_checked == 0)
        return 1; /* a test that checked nothing has failed */
    return t_failed ? 1 : 0;
}

#endif
