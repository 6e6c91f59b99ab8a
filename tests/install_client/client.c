/* client.c - a program outside the tree, built against an installed simjoin
 * (tests/test_install.sh): a self-join of random 64-bit hashes, checked
 * against its own naive loop. Exit 0 when they agree. */
#include <simjoin/simjoin.h>

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    enum { N = 300, T = 22 };
    uint8_t rows[N][8];
    srand(7);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 8; k++)
            rows[i][k] = (uint8_t)rand();
    int64_t expected = 0;
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) {
            int d = 0;
            for (int k = 0; k < 8; k++)
                d += __builtin_popcount(rows[i][k] ^ rows[j][k]);
            expected += d <= T;
        }

    sj_hash_type type;
    sj_hashes *set = NULL;
    sj_pairs pairs = {0};
    sj_join_config cfg;
    if (sj_hash_type_parse("bits:64", &type) || sj_hashes_create(type, N, &set))
        goto fail;
    for (int i = 0; i < N; i++)
        if (sj_hashes_append(set, 1000 + i, rows[i], -1))
            goto fail;
    sj_join_config_init(&cfg);
    cfg.threshold = T;
    cfg.backend = SJ_BACKEND_CPU;
    if (sj_join_self(&cfg, set, &pairs))
        goto fail;
    printf("simjoin %s: %lld pairs, expected %lld\n", sj_version(), (long long)pairs.n,
           (long long)expected);
    int ok = pairs.n == expected && expected > 0;
    sj_pairs_free(&pairs);
    sj_hashes_free(set);
    return ok ? 0 : 1;
fail:
    fprintf(stderr, "client: %s\n", sj_last_error());
    sj_hashes_free(set);
    return 1;
}
