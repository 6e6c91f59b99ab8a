/* test_dihedral.c - flip- and rotation-aware joins (cfg.dihedral) against a
 * brute force over all 8 transforms written here, independent of the
 * library: exact pair sets, distances and transforms for every backend
 * (cpu with each ISA path this CPU has, naive, faiss and cuda when present),
 * cross and self joins, sizes 0, 1 and around the scheduler's block (32
 * images of 8 rows) and the kernels' tiles and lanes, planted pairs at T-1,
 * T and T+1, ties between transforms, both directions of a self-join, a
 * corpus in chunks, a split join; and the hash-set plumbing (concat,
 * degenerate removal, canonicalize_min). */
#include "simjoin/simjoin.h"
#include "test_util.h"

#include <string.h>

#define D SJ_DIHEDRAL

/* The inverse transform in the hasher's numbering (0 none, 1 rot90, 2 rot180,
 * 3 rot270, 4..7 flips): written out here, not taken from the library. */
static const int inverse[D] = {0, 3, 2, 1, 4, 5, 6, 7};

static int distance(const uint8_t *x, const uint8_t *y, uint32_t rb)
{
    int d = 0;
    for (uint32_t k = 0; k < rb; k++)
        d += __builtin_popcount((unsigned)(x[k] ^ y[k]));
    return d;
}

static void flip_bits(uint8_t *row, uint32_t bits, int k)
{
    /* k distinct bits */
    uint8_t seen[1024] = {0};
    for (int done = 0; done < k;) {
        uint32_t b = (uint32_t)(t_rand() % bits);
        if (seen[b])
            continue;
        seen[b] = 1;
        row[b / 8] ^= (uint8_t)(1u << (b % 8));
        done++;
    }
}

/* n images with random transforms; with near (may be the set itself, then
 * earlier rows), about a third get a transform planted at distance T-1, T,
 * T+1 or less from a near row's canonical hash, some twice (a tie between two
 * transforms). */
static sj_hashes *dihedral_set(sj_hash_type t, int64_t n, int64_t first_id, const sj_hashes *near,
                               int T)
{
    sj_hashes *h;
    sj_hashes_create(t, 0, &h);
    const uint32_t rb = t.bits / 8;
    uint8_t eight[D * 128];
    for (int64_t i = 0; i < n; i++) {
        for (uint32_t k = 0; k < D * rb; k++)
            eight[k] = (uint8_t)t_rand();
        const sj_hashes *src = near ? near : h;
        if (src->n > 0 && t_rand() % 3 == 0) {
            const uint8_t *target = src->hashes + (size_t)(t_rand() % (uint64_t)src->n) * rb;
            int tr = (int)(t_rand() % D);
            int k = T - 1 + (int)(t_rand() % 3) - (t_rand() % 4 == 0 ? (int)(t_rand() % (T / 2 + 1)) : 0);
            k = k < 0 ? 0 : k;
            memcpy(eight + tr * rb, target, rb);
            flip_bits(eight + tr * rb, t.bits, k);
            if (t_rand() % 4 == 0) { /* the same distance from another transform */
                int tr2 = (int)(t_rand() % D);
                memcpy(eight + tr2 * rb, target, rb);
                flip_bits(eight + tr2 * rb, t.bits, k);
            }
        }
        CHECK(sj_hashes_append_dihedral(h, first_id + i, eight, -1) == SJ_OK, "append: %s",
              sj_last_error());
    }
    return h;
}

/* Self-join sets: also make some earlier image's transform near a later
 * image's canonical hash, so both directions of a pair compete. */
static void plant_reverse(sj_hashes *h, int T)
{
    const uint32_t rb = h->type.bits / 8;
    for (int64_t j = 1; j < h->n; j++) {
        if (t_rand() % 4)
            continue;
        int64_t i = (int64_t)(t_rand() % (uint64_t)j);
        int s = 1 + (int)(t_rand() % (D - 1)); /* transform 0 is the canonical hash itself */
        uint8_t *row = h->dihedral + ((size_t)i * D + s) * rb;
        memcpy(row, h->hashes + (size_t)j * rb, rb);
        flip_bits(row, h->type.bits, T - (int)(t_rand() % 3));
    }
}

static int cmp_pair(const void *x, const void *y)
{
    const sj_pair *a = x, *b = y;
    if (a->a != b->a)
        return a->a < b->a ? -1 : 1;
    return a->b < b->b ? -1 : a->b > b->b;
}

/* Keep candidate (d, t) if better than the pair's current best. */
static void offer(sj_pair *best, int d, int t)
{
    if (d < best->distance || (d == best->distance && t < best->transform)) {
        best->distance = d;
        best->transform = t;
    }
}

/* Every pair within T: cross (queries' transforms against corpus canonical
 * hashes) or, with corpus NULL, self (both directions). */
static void oracle(const sj_hashes *q, const sj_hashes *c, int T, sj_pairs *out)
{
    const uint32_t rb = q->type.bits / 8;
    const int self = c == NULL;
    if (self)
        c = q;
    out->n = 0;
    out->capacity = q->n * c->n + 1;
    out->v = malloc((size_t)out->capacity * sizeof *out->v);
    for (int64_t i = 0; i < q->n; i++)
        for (int64_t j = self ? i + 1 : 0; j < c->n; j++) {
            const int64_t qi = q->ids[i], cj = c->ids[j];
            sj_pair best = {qi < cj ? qi : cj, qi < cj ? cj : qi, 1e9, 99};
            for (int t = 0; t < D; t++) {
                int d = distance(q->dihedral + ((size_t)i * D + t) * rb, c->hashes + (size_t)j * rb, rb);
                offer(&best, d, qi < cj ? t : inverse[t]);
                if (self) { /* j's transform t against i's canonical hash */
                    d = distance(c->dihedral + ((size_t)j * D + t) * rb, q->hashes + (size_t)i * rb, rb);
                    offer(&best, d, cj < qi ? t : inverse[t]);
                }
            }
            if (best.distance <= T)
                out->v[out->n++] = best;
        }
    qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_pair);
}

static int64_t count_at(const sj_pairs *p, int d)
{
    int64_t k = 0;
    for (int64_t i = 0; i < p->n; i++)
        k += p->v[i].distance == d;
    return k;
}

static void expect_same(const char *what, const sj_pairs *want, const sj_pairs *got)
{
    int64_t bad = -1;
    for (int64_t i = 0; i < want->n && i < got->n && bad < 0; i++)
        if (want->v[i].a != got->v[i].a || want->v[i].b != got->v[i].b ||
            want->v[i].distance != got->v[i].distance || want->v[i].transform != got->v[i].transform)
            bad = i;
    CHECK(want->n == got->n && bad < 0, "%s: %lld pairs, oracle %lld; first difference at %lld",
          what, (long long)got->n, (long long)want->n, (long long)bad);
}

/* Join q x c (c NULL: self-join of q) with cfg and compare with the oracle. */
static void check_join(const char *what, sj_join_config cfg, const sj_hashes *q, const sj_hashes *c,
                       const sj_pairs *want)
{
    sj_pairs got = {0};
    sj_status st = c ? sj_join_cross(&cfg, q, c, &got) : sj_join_self(&cfg, q, &got);
    if (!st)
        st = sj_pairs_canonicalize(&got); /* every pair once: a repeat fails here */
    char label[160];
    snprintf(label, sizeof label, "%s [%s%s%s, T=%g]", what, sj_backend_name(cfg.backend),
             cfg.backend == SJ_BACKEND_CPU ? "/" : "",
             cfg.backend == SJ_BACKEND_CPU ? sj_isa_name(cfg.isa) : "", cfg.threshold);
    CHECK(st == SJ_OK, "%s: %s", label, sj_last_error());
    if (!st)
        expect_same(label, want, &got);
    sj_pairs_free(&got);
}

/* The backends (and cpu ISA paths) this build and machine can run. */
static int backends(sj_join_config *out)
{
    int n = 0;
    const sj_isa isas[] = {SJ_ISA_PORTABLE, SJ_ISA_POPCNT, SJ_ISA_AVX2, SJ_ISA_AVX512};
    for (size_t k = 0; k < sizeof isas / sizeof *isas; k++) {
        if (!sj_isa_supported(isas[k])) {
            printf("note: --isa %s not supported here; not tested\n", sj_isa_name(isas[k]));
            continue;
        }
        sj_join_config_init(&out[n]);
        out[n].backend = SJ_BACKEND_CPU;
        out[n++].isa = isas[k];
    }
    const sj_backend_kind others[] = {SJ_BACKEND_NAIVE, SJ_BACKEND_FAISS, SJ_BACKEND_CUDA};
    for (size_t k = 0; k < sizeof others / sizeof *others; k++) {
        if (!sj_backend_available(others[k])) {
            printf("note: backend %s not available here; not tested\n", sj_backend_name(others[k]));
            continue;
        }
        sj_join_config_init(&out[n]);
        out[n++].backend = others[k];
    }
    for (int i = 0; i < n; i++)
        out[i].dihedral = 1;
    return n;
}

static void test_joins(void)
{
    sj_join_config be[8];
    const int nbe = backends(be);
    const struct { sj_hash_type t; int T; } widths[] = {
        {{SJ_KIND_PDQ, 256, 0}, 31}, {{SJ_KIND_BITS, 64, 0}, 10}, {{SJ_KIND_BITS, 96, 0}, 14}};
    /* queries x corpus: empty, single, around the block of 32 images (256
     * rows), the avx512 group (8), the bit-sliced lanes (128, 256) */
    const int64_t sizes[][2] = {{0, 5}, {5, 0}, {1, 1}, {1, 300}, {31, 129}, {32, 256},
                                {33, 257}, {65, 255}, {200, 520}};
    for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
        const int T = widths[w].T;
        int64_t at_t = 0, below = 0;
        for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
            sj_hashes *c = dihedral_set(widths[w].t, sizes[z][1], 1000000, NULL, T);
            sj_hashes *q = dihedral_set(widths[w].t, sizes[z][0], 1, c, T);
            sj_hashes *s = dihedral_set(widths[w].t, sizes[z][0] + sizes[z][1] / 4, 5000000, NULL, T);
            plant_reverse(s, T);
            sj_pairs want_x = {0}, want_s = {0};
            oracle(q, c, T, &want_x);
            oracle(s, NULL, T, &want_s);
            at_t += count_at(&want_x, T) + count_at(&want_s, T);
            below += count_at(&want_x, T - 1) + count_at(&want_s, T - 1);
            char what[96];
            for (int b = 0; b < nbe; b++) {
                sj_join_config cfg = be[b];
                cfg.threshold = T;
                snprintf(what, sizeof what, "bits %u, %lld x %lld cross", widths[w].t.bits,
                         (long long)q->n, (long long)c->n);
                check_join(what, cfg, q, c, &want_x);
                snprintf(what, sizeof what, "bits %u, %lld self", widths[w].t.bits, (long long)s->n);
                check_join(what, cfg, s, NULL, &want_s);
            }
            /* a corpus in chunks (256 rows at least), two threads, a split join */
            if (z == sizeof sizes / sizeof *sizes - 1) {
                sj_join_config cfg = be[0];
                cfg.threshold = T;
                cfg.max_memory = 1; /* the smallest chunks: 256 rows */
                cfg.threads = 2;
                check_join("chunked cross", cfg, q, c, &want_x);
                check_join("chunked self", cfg, s, NULL, &want_s);
                sj_join_config part = be[0];
                part.threshold = T;
                sj_pairs all = {0};
                for (part.part_index = 0, part.part_count = 3; part.part_index < 3; part.part_index++)
                    CHECK(sj_join_self(&part, s, &all) == SJ_OK, "part %d: %s", part.part_index,
                          sj_last_error());
                sj_pairs_canonicalize_min(&all);
                expect_same("self-join in 3 parts, merged", &want_s, &all);
                sj_pairs_free(&all);
            }
            sj_pairs_free(&want_x);
            sj_pairs_free(&want_s);
            sj_hashes_free(q);
            sj_hashes_free(c);
            sj_hashes_free(s);
        }
        /* the data must reach the boundary, or the checks above prove little */
        CHECK(at_t > 0 && below > 0, "bits %u: %lld pairs at exactly T, %lld at T-1", widths[w].t.bits,
              (long long)at_t, (long long)below);
    }
}

/* A flipped copy: transform 4 of the query is the corpus hash exactly, its
 * canonical hash is far. Found only with dihedral on. */
static void test_flipped_copy(void)
{
    sj_hash_type pdq = {SJ_KIND_PDQ, 256, 0};
    sj_hashes *none, *q;
    sj_hashes_create(pdq, 0, &none);
    sj_hashes *c = dihedral_set(pdq, 50, 100, none, 31); /* unrelated random images */
    sj_hashes_free(none);
    sj_hashes_create(pdq, 0, &q);
    uint8_t eight[D * 32];
    for (int k = 0; k < D * 32; k++)
        eight[k] = (uint8_t)t_rand();
    memcpy(eight + 4 * 32, c->hashes + 7 * 32, 32);
    sj_hashes_append_dihedral(q, 1, eight, -1); /* id 1 < 107: transform 4 as is */
    sj_join_config cfg;
    sj_join_config_init(&cfg);
    cfg.backend = SJ_BACKEND_CPU;
    sj_pairs plain = {0}, dih = {0};
    CHECK(sj_join_cross(&cfg, q, c, &plain) == SJ_OK && plain.n == 0,
          "plain join finds the flipped copy? %lld pairs", (long long)plain.n);
    cfg.dihedral = 1;
    CHECK(sj_join_cross(&cfg, q, c, &dih) == SJ_OK && dih.n == 1 && dih.v[0].a == 1 &&
              dih.v[0].b == 107 && dih.v[0].distance == 0 && dih.v[0].transform == 4,
          "dihedral join: %lld pairs", (long long)dih.n);
    /* and a rotation by 90 degrees seen from the larger id: reported as 270 */
    sj_hashes *q2;
    sj_hashes_create(pdq, 0, &q2);
    memset(eight + 4 * 32, 0x5a, 32);
    memcpy(eight + 1 * 32, c->hashes + 7 * 32, 32);
    sj_hashes_append_dihedral(q2, 900, eight, -1);
    sj_pairs r = {0};
    CHECK(sj_join_cross(&cfg, q2, c, &r) == SJ_OK && r.n == 1 && r.v[0].a == 107 &&
              r.v[0].b == 900 && r.v[0].transform == 3,
          "rotation from the larger id: %lld pairs, transform %d", (long long)r.n,
          r.n ? r.v[0].transform : -1);
    /* queries without dihedral hashes: a clear error */
    sj_hashes *plainq;
    sj_hashes_create(pdq, 0, &plainq);
    sj_hashes_append(plainq, 2, eight, -1);
    CHECK(sj_join_cross(&cfg, plainq, c, &r) == SJ_ERR_ARG, "no dihedral hashes: %s", sj_last_error());
    sj_pairs_free(&plain);
    sj_pairs_free(&dih);
    sj_pairs_free(&r);
    sj_hashes_free(q);
    sj_hashes_free(q2);
    sj_hashes_free(plainq);
    sj_hashes_free(c);
}

static void test_plumbing(void)
{
    sj_hash_type pdq = {SJ_KIND_PDQ, 256, 0};
    sj_hashes *a = dihedral_set(pdq, 40, 0, NULL, 31), *b = dihedral_set(pdq, 30, 100, NULL, 31);
    sj_hashes *all;
    sj_hashes_create(pdq, 0, &all);
    CHECK(sj_hashes_concat(all, a) == SJ_OK && sj_hashes_concat(all, b) == SJ_OK && all->dihedral,
          "concat keeps dihedral hashes");
    int aligned = all->n == 70;
    for (int64_t i = 0; aligned && i < all->n; i++) {
        const sj_hashes *src = i < 40 ? a : b;
        aligned = !memcmp(all->dihedral + i * D * 32, src->dihedral + (i < 40 ? i : i - 40) * D * 32, D * 32) &&
                  !memcmp(all->dihedral + i * D * 32, all->hashes + i * 32, 32);
    }
    CHECK(aligned, "concatenated dihedral rows follow their hashes");
    /* degenerate removal moves the dihedral rows with the others */
    memset(all->hashes + 5 * 32, 0, 32);
    memset(all->dihedral + 5 * D * 32, 0, 32);
    sj_degenerate_options o;
    sj_degenerate_defaults(pdq, &o);
    o.enabled = 1;
    int64_t ex_id[70], n_ex = 0;
    uint8_t ex_rule[70];
    CHECK(sj_hashes_remove_degenerate(all, &o, ex_id, ex_rule, &n_ex) == SJ_OK && n_ex >= 1,
          "degenerate removal");
    aligned = 1;
    for (int64_t i = 0; i < all->n; i++)
        aligned &= !memcmp(all->dihedral + i * D * 32, all->hashes + i * 32, 32) &&
                   all->ids[i] != 5;
    CHECK(aligned, "after degenerate removal, transform 0 is still each row's hash");
    /* a set without them makes the union plain; a plain row cannot join a dihedral set */
    sj_hashes *plain;
    sj_hashes_create(pdq, 0, &plain);
    sj_hashes_append(plain, 500, a->hashes, -1);
    CHECK(sj_hashes_append(a, 501, a->hashes, -1) == SJ_ERR_MISMATCH, "plain row into a dihedral set");
    CHECK(sj_hashes_append_dihedral(plain, 502, a->dihedral, -1) == SJ_ERR_MISMATCH,
          "dihedral row into a plain set");
    CHECK(sj_hashes_concat(all, plain) == SJ_OK && !all->dihedral, "mixed union has no dihedral");
    sj_hashes *v;
    sj_hash_type f32;
    sj_hash_type_parse("f32:8", &f32);
    sj_hashes_create(f32, 0, &v);
    CHECK(sj_hashes_append_dihedral(v, 1, a->dihedral, -1) == SJ_ERR_MISMATCH, "vector kinds: none");
    sj_hashes_free(v);
    sj_hashes_free(plain);
    sj_hashes_free(all);
    sj_hashes_free(a);
    sj_hashes_free(b);
    /* canonicalize_min: repeats keep the smallest distance, then transform */
    sj_pairs p = {0};
    p.capacity = 6;
    p.v = malloc(6 * sizeof *p.v);
    const sj_pair in[] = {{3, 9, 7, 2}, {1, 2, 5, 6}, {3, 9, 4, 5}, {3, 9, 4, 1}, {1, 2, 5, 0}, {0, 9, 1, 3}};
    memcpy(p.v, in, sizeof in);
    p.n = 6;
    sj_pairs_canonicalize_min(&p);
    CHECK(p.n == 3 && p.v[0].a == 0 && p.v[1].a == 1 && p.v[1].transform == 0 && p.v[2].a == 3 &&
              p.v[2].distance == 4 && p.v[2].transform == 1,
          "canonicalize_min: %lld pairs", (long long)p.n);
    sj_pairs_free(&p);
    for (int t = 0; t < D; t++)
        CHECK(sj_dihedral_inverse(sj_dihedral_inverse(t)) == t && sj_dihedral_inverse(t) == inverse[t],
              "inverse of %d", t);
}

int main(void)
{
    t_init_seed();
    test_plumbing();
    test_flipped_copy();
    test_joins();
    return t_finish("test_dihedral");
}
