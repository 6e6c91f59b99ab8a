/* test_unit.c - the small pieces: hex codec, kind parsing, degenerate rules,
 * clustering against a breadth-first search written here, ingest errors. */
#define _POSIX_C_SOURCE 200809L
#include "simjoin/formats.h"
#include "simjoin/meta.h"
#include "simjoin/simjoin.h"
#include "test_util.h"
#include "../host/core/sha256.h"

#include <string.h>
#include <unistd.h>

static void test_hex(void)
{
    uint8_t out[4];
    CHECK(sj_hex_decode("00ff10Ab", 8, out, 4) == 0, "valid hex rejected");
    CHECK(out[0] == 0x00 && out[1] == 0xff && out[2] == 0x10 && out[3] == 0xab, "decoded wrong");
    CHECK(sj_hex_decode("00ff10A", 7, out, 4) == -1, "short hex accepted");
    CHECK(sj_hex_decode("00fg10Ab", 8, out, 4) == 4, "bad digit not at column 4");
    char txt[9];
    uint8_t in[4] = {0xde, 0xad, 0x01, 0x20};
    sj_hex_encode(in, 4, txt);
    CHECK(strcmp(txt, "dead0120") == 0, "encoded %s", txt);
    for (int r = 0; r < 100; r++) { /* round trip on random bytes */
        uint8_t b[32], c[32];
        char h[65];
        for (int i = 0; i < 32; i++)
            b[i] = (uint8_t)t_rand();
        sj_hex_encode(b, 32, h);
        CHECK(sj_hex_decode(h, 64, c, 32) == 0 && memcmp(b, c, 32) == 0, "round trip");
    }
}

static void test_kinds(void)
{
    sj_hash_type t;
    CHECK(sj_hash_type_parse("pdq", &t) == SJ_OK && t.bits == 256, "pdq");
    CHECK(sj_hash_type_parse("bits:64", &t) == SJ_OK && t.bits == 64 && t.kind == SJ_KIND_BITS, "bits:64");
    CHECK(sj_hash_type_parse("bits:96", &t) == SJ_OK && t.bits == 96, "bits:96");
    CHECK(sj_hash_type_parse("bits:63", &t) == SJ_ERR_ARG, "bits:63 must fail");
    CHECK(sj_hash_type_parse("bits:", &t) == SJ_ERR_ARG, "bits: must fail");
    CHECK(sj_hash_type_parse("bits:0", &t) == SJ_ERR_ARG, "bits:0 must fail");
    CHECK(sj_hash_type_parse("md5", &t) == SJ_ERR_ARG, "md5 must fail");
    CHECK(strstr(sj_last_error(), "md5") != NULL, "message names the bad kind");
}

static void test_degenerate(void)
{
    sj_hash_type t = {SJ_KIND_PDQ, 256, 0};
    sj_degenerate_options o;
    sj_degenerate_defaults(t, &o);
    uint8_t h[32] = {0};
    CHECK(sj_degenerate_check(&o, t, h, -1) == SJ_DEGEN_ALL_ZERO, "all zero");
    h[0] = 0xff; /* 8 ones: below the default band (32) */
    CHECK(sj_degenerate_check(&o, t, h, -1) == SJ_DEGEN_BIT_BAND, "few ones");
    memset(h, 0xff, 32);
    CHECK(sj_degenerate_check(&o, t, h, -1) == SJ_DEGEN_BIT_BAND, "all ones");
    memset(h, 0x0f, 32); /* 128 ones */
    CHECK(sj_degenerate_check(&o, t, h, -1) == SJ_DEGEN_NONE, "balanced");
    CHECK(sj_degenerate_check(&o, t, h, 49) == SJ_DEGEN_LOW_QUALITY, "quality 49 < 50");
    CHECK(sj_degenerate_check(&o, t, h, 50) == SJ_DEGEN_NONE, "quality 50 is enough");
    /* band edges are inclusive */
    memset(h, 0, 32);
    for (int i = 0; i < 32; i++)
        h[i / 8] |= (uint8_t)(1u << (i % 8)); /* exactly 32 ones = min_ones */
    CHECK(sj_degenerate_check(&o, t, h, -1) == SJ_DEGEN_NONE, "min_ones inclusive");
    h[3] &= 0x7f; /* 31 ones */
    CHECK(sj_degenerate_check(&o, t, h, -1) == SJ_DEGEN_BIT_BAND, "below min_ones");
    o.enabled = 0;
    memset(h, 0, 32);
    CHECK(sj_degenerate_check(&o, t, h, -1) == SJ_DEGEN_NONE, "disabled");
}

/* Oracle: components by repeated BFS over an adjacency matrix. */
static void test_components(void)
{
    for (int round = 0; round < 30; round++) {
        int n = 1 + (int)(t_rand() % 60), m = (int)(t_rand() % (uint64_t)(2 * n));
        int64_t *ids = malloc((size_t)n * sizeof *ids);
        for (int i = 0; i < n; i++)
            ids[i] = (int64_t)(t_rand() % 1000000) * 64 + i; /* unique, unsorted */
        unsigned char *adj = calloc((size_t)n * n, 1);
        sj_pairs p = {0};
        p.v = malloc((size_t)(m + 1) * sizeof *p.v);
        for (int k = 0; k < m; k++) {
            int a = (int)(t_rand() % (uint64_t)n), b = (int)(t_rand() % (uint64_t)n);
            if (a == b || adj[a * n + b])
                continue;
            adj[a * n + b] = adj[b * n + a] = 1;
            int64_t x = ids[a], y = ids[b];
            p.v[p.n++] = (sj_pair){x < y ? x : y, x < y ? y : x, (int32_t)(t_rand() % 32), 0};
        }
        int *comp = malloc((size_t)n * sizeof *comp), *queue = malloc((size_t)n * sizeof *queue);
        for (int i = 0; i < n; i++)
            comp[i] = -1;
        int nc = 0;
        for (int s = 0; s < n; s++) {
            if (comp[s] >= 0)
                continue;
            int head = 0, tail = 0;
            queue[tail++] = s;
            comp[s] = nc;
            while (head < tail) {
                int u = queue[head++];
                for (int v = 0; v < n; v++)
                    if (adj[u * n + v] && comp[v] < 0) {
                        comp[v] = nc;
                        queue[tail++] = v;
                    }
            }
            nc++;
        }
        sj_clusters *c;
        CHECK(sj_cluster_components(ids, n, &p, &c) == SJ_OK, "cluster failed");
        CHECK(c->n_clusters == nc, "clusters %lld, oracle %d", (long long)c->n_clusters, nc);
        /* same partition: two nodes share a cluster iff they share a component */
        int ok = 1;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                int64_t ci = -1, cj = -1;
                for (int64_t k = 0; k < c->n_nodes; k++) {
                    if (c->ids[k] == ids[i]) ci = c->cluster[k];
                    if (c->ids[k] == ids[j]) cj = c->cluster[k];
                }
                ok &= (ci == cj) == (comp[i] == comp[j]);
            }
        CHECK(ok, "partition differs from BFS");
        int64_t seen = -1, numbering_ok = 1;
        for (int64_t k = 0; k < c->n_nodes; k++) { /* ids sorted: first sight of each cluster in order */
            if (c->cluster[k] > seen) {
                numbering_ok &= c->cluster[k] == seen + 1;
                seen = c->cluster[k];
            }
        }
        CHECK(numbering_ok, "clusters not numbered by smallest id");
        int64_t sum = 0, edges = 0;
        for (int64_t k = 0; k < c->n_clusters; k++)
            sum += c->size[k], edges += c->edges[k];
        CHECK(sum == n && edges == p.n, "sizes sum %lld, edges %lld", (long long)sum, (long long)edges);
        sj_clusters_free(c);
        free(ids);
        free(adj);
        free(comp);
        free(queue);
        sj_pairs_free(&p);
    }
}

static const char *write_tmp(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/simjoin-test-%d-%s", (int)getpid(), name);
    FILE *fp = fopen(path, "w");
    fputs(text, fp);
    fclose(fp);
    return path;
}

static sj_status ingest_text(const char *kind, const char *text, sj_hashes **out)
{
    sj_ingest_options o = {.first_id = 10};
    sj_hash_type_parse(kind, &o.type);
    sj_ingest *ing;
    sj_ingest_create(&o, &ing);
    const char *path = write_tmp("in.txt", text);
    sj_status st = sj_ingest_file(ing, path);
    *out = NULL;
    if (!st)
        st = sj_ingest_finish(ing, out);
    sj_ingest_free(ing);
    unlink(path);
    return st;
}

static void test_ingest(void)
{
    sj_hashes *h;
    const char *hx = "f162eb9daab170c0567fe3632d9a5548c5612982dd5e374a7424ebbc8a835c95";
    char buf[1024];
    /* bare hashes: ids from first_id */
    snprintf(buf, sizeof buf, "# comment\n%s\n\n%s\r\n", hx, hx);
    CHECK(ingest_text("pdq", buf, &h) == SJ_OK && h->n == 2 && h->ids[0] == 10 && h->ids[1] == 11,
          "bare lines: %s", sj_last_error());
    sj_hashes_free(h);
    /* CSV with header and quality */
    snprintf(buf, sizeof buf, "id,hash,quality\n-5,%s,90\n7,%s\n", hx, hx);
    CHECK(ingest_text("pdq", buf, &h) == SJ_OK && h->n == 2 && h->ids[0] == -5 && h->quality &&
              h->quality[0] == 90 && h->quality[1] == -1,
          "csv: %s", sj_last_error());
    sj_hashes_free(h);
    /* ThreatExchange hasher output: hash,quality,filename */
    snprintf(buf, sizeof buf, "%s,100,img/a.jpg\n", hx);
    CHECK(ingest_text("pdq", buf, &h) == SJ_OK && h->n == 1 && h->quality[0] == 100 && h->ids[0] == 10,
          "threatexchange form: %s", sj_last_error());
    sj_hashes_free(h);
    /* errors name file:line and never echo the data */
    snprintf(buf, sizeof buf, "%s\n%.63s\n", hx, hx);
    CHECK(ingest_text("pdq", buf, &h) == SJ_ERR_PARSE && strstr(sj_last_error(), ":2:") &&
              strstr(sj_last_error(), "63 hex digits") && !strstr(sj_last_error(), "f162eb"),
          "short hash: %s", sj_last_error());
    snprintf(buf, sizeof buf, "%s\n%.10sZ%s\n", hx, hx, hx + 11);
    CHECK(ingest_text("pdq", buf, &h) == SJ_ERR_PARSE && strstr(sj_last_error(), ":2:") &&
              strstr(sj_last_error(), "character 11"),
          "bad digit: %s", sj_last_error());
    snprintf(buf, sizeof buf, "1,%s\n2,%s\n1,%s\n", hx, hx, hx);
    CHECK(ingest_text("pdq", buf, &h) == SJ_ERR_DUPLICATE_ID && strstr(sj_last_error(), ":3:") &&
              strstr(sj_last_error(), ":1"),
          "duplicate id: %s", sj_last_error());
    snprintf(buf, sizeof buf, "1,%s,101\n", hx);
    CHECK(ingest_text("pdq", buf, &h) == SJ_ERR_PARSE && strstr(sj_last_error(), "quality"),
          "quality 101: %s", sj_last_error());
    snprintf(buf, sizeof buf, "99999999999999999999,%s\n", hx);
    CHECK(ingest_text("pdq", buf, &h) == SJ_ERR_PARSE, "id overflow: %s", sj_last_error());
    CHECK(ingest_text("bits:64", "98893570108d24f8\n0c5d744f34f4ee13\n", &h) == SJ_OK && h->n == 2,
          "bits:64: %s", sj_last_error());
    sj_hashes_free(h);
    CHECK(ingest_text("bits:64", "98893570108d24f8aa\n", &h) == SJ_ERR_PARSE, "wrong width for bits:64");
}

/* FIPS 180-2 test vectors, and one that crosses the 55/56-byte padding edge. */
static void test_sha256(void)
{
    const struct { const char *in, *want; } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"}};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        sj_sha256 s;
        char hex[65];
        sj_sha256_init(&s);
        sj_sha256_update(&s, v[i].in, strlen(v[i].in));
        sj_sha256_hex(&s, hex);
        CHECK(strcmp(hex, v[i].want) == 0, "sha256 vector %zu: %s", i, hex);
    }
    /* a million 'a' fed in odd-sized pieces */
    sj_sha256 s;
    char hex[65], chunk[997];
    memset(chunk, 'a', sizeof chunk);
    sj_sha256_init(&s);
    for (int left = 1000000; left > 0; left -= (int)sizeof chunk)
        sj_sha256_update(&s, chunk, left < (int)sizeof chunk ? (size_t)left : sizeof chunk);
    sj_sha256_hex(&s, hex);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
          "sha256 of a million a: %s", hex);
}

/* Case metadata: interning, flags, table ingest, and the triage rules on a
 * small constructed membership (expected classes worked out by hand from
 * README "Triage report"). */
static void test_meta(void)
{
    int8_t v;
    CHECK(sj_meta_parse_flag("Yes", 3, &v) == 0 && v == 1, "Yes");
    CHECK(sj_meta_parse_flag("FALSE", 5, &v) == 0 && v == 0, "FALSE");
    CHECK(sj_meta_parse_flag("", 0, &v) == 0 && v == -1, "empty is unknown");
    CHECK(sj_meta_parse_flag("perhaps", 7, &v) == -1, "perhaps rejected");

    sj_meta *m;
    CHECK(sj_meta_create(&m) == SJ_OK, "create");
    const char *r0[SJ_META_N_TEXT] = {"S1", "C1", NULL, "nl"};
    const char *r1[SJ_META_N_TEXT] = {"S1", "", "cat", "de"};
    CHECK(sj_meta_append(m, r0, 1, -1) == SJ_OK && sj_meta_append(m, r1, 0, 1) == SJ_OK &&
              sj_meta_append_row(m, NULL, 0) == SJ_OK,
          "append");
    CHECK(sj_meta_rows(m) == 3, "rows");
    CHECK(sj_meta_text_code(m, 0, SJ_META_SERIES) == sj_meta_text_code(m, 1, SJ_META_SERIES) &&
              sj_meta_text_code(m, 0, SJ_META_SERIES) >= 0,
          "equal text, equal code");
    CHECK(!strcmp(sj_meta_text_get(m, 1, SJ_META_CATEGORY), "cat") &&
              !*sj_meta_text_get(m, 1, SJ_META_CASE_ID) && !*sj_meta_text_get(m, 2, SJ_META_SERIES),
          "text values");
    CHECK(sj_meta_victim(m, 0) == 1 && sj_meta_offender(m, 1) == 1 && sj_meta_victim(m, 2) == -1,
          "flags");
    uint8_t keep[3] = {0, 1, 1};
    sj_meta_keep(m, keep);
    CHECK(sj_meta_rows(m) == 2 && !strcmp(sj_meta_text_get(m, 0, SJ_META_SOURCE), "de"), "keep");
    char longer[300];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    const char *r2[SJ_META_N_TEXT] = {longer, 0, 0, 0};
    CHECK(sj_meta_append(m, r2, -1, -1) == SJ_ERR_ARG, "a value over 255 bytes is refused");
    sj_meta_free(m);

    /* Table ingest: semicolons, quotes, unknown columns. */
    const char *hx = "f162eb9daab170c0567fe3632d9a5548c5612982dd5e374a7424ebbc8a835c95";
    char buf[2048];
    sj_hashes *h = NULL;
    snprintf(buf, sizeof buf,
             "MD5;PDQ;Image ID;Series name;Victim identified;Notes\n"
             "x;%s;7;\"A; B\";yes;n\n"
             "y;%s;9;;No;\"say \"\"hi\"\"\"\n", hx, hx);
    CHECK(ingest_text("pdq", buf, &h) == SJ_OK && h && h->n == 2 && h->meta, "icse table: %s",
          sj_last_error());
    if (h && h->meta) {
        CHECK(h->ids[0] == 7 && !strcmp(sj_meta_text_get(h->meta, 0, SJ_META_SERIES), "A; B") &&
                  sj_meta_victim(h->meta, 0) == 1 && sj_meta_victim(h->meta, 1) == 0 &&
                  !*sj_meta_text_get(h->meta, 1, SJ_META_SERIES),
              "icse table values");
    }
    sj_hashes_free(h);
    /* An ICSE-style export read as photodna: the PhotoDNA column is the hash
     * (base64 here), PDQ is then an unused column. */
    {
        char b64[200], hex288[300];
        uint8_t p[144];
        for (int i = 0; i < 144; i++)
            p[i] = (uint8_t)(i * 7 + 3);
        static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (int i = 0, o = 0; i < 144; i += 3) { /* base64 by hand: an independent encoder */
            uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
            for (int k = 3; k >= 0; k--)
                b64[o++] = al[(v >> (6 * k)) & 63];
            b64[o] = 0;
        }
        sj_hex_encode(p, 144, hex288);
        static char big[4096];
        snprintf(big, sizeof big, "MD5;PDQ;PhotoDNA;Image ID;Victim identified\n;%s;%s;5;No\n;;%s;6;\n",
                 hx, b64, hex288);
        sj_hashes *ph = NULL;
        CHECK(ingest_text("photodna", big, &ph) == SJ_OK && ph && ph->n == 2 &&
                  memcmp(ph->hashes, p, 144) == 0 && memcmp(ph->hashes + 144, p, 144) == 0 &&
                  ph->ids[0] == 5 && sj_meta_victim(ph->meta, 0) == 0,
              "icse photodna table: %s", sj_last_error());
        sj_hashes_free(ph);
    }
    snprintf(buf, sizeof buf, "id,hash,victim_identified\n1,%s,yes\n2,%s,maybe\n", hx, hx);
    CHECK(ingest_text("pdq", buf, &h) == SJ_ERR_PARSE && strstr(sj_last_error(), ":3:") &&
              strstr(sj_last_error(), "field 3"),
          "bad yes/no: %s", sj_last_error());
    snprintf(buf, sizeof buf, "id,hash,series\n1,%s,a,b\n", hx);
    CHECK(ingest_text("pdq", buf, &h) == SJ_ERR_PARSE && strstr(sj_last_error(), ":2:") &&
              strstr(sj_last_error(), "4 fields"),
          "too many fields: %s", sj_last_error());

    /* Triage: hashes 1..11; corpus 1-5, new 6-11 (README "Triage report").
     *   cluster 0 {1,6}:    series S (victim identified by hash 2)  -> 4 known_identified
     *   cluster 1 {3,7}:    series T, no identified victim          -> 1 unidentified victim
     *   cluster 2 {8,9}:    two new, nothing known                  -> 2 candidate new series
     *   cluster 3 {4,5,10}: series S and U (identified), a new one  -> 3 cross-case (merges)
     *   cluster 4 {2}:      corpus only                             -> not listed
     *   cluster 5 {11}:     a new upload alone                      -> not listed, unmatched */
    sj_hashes *c, *q;
    uint8_t zero[32] = {0};
    CHECK(sj_hashes_create((sj_hash_type){SJ_KIND_PDQ, 256, 0}, 0, &c) == SJ_OK &&
              sj_hashes_create((sj_hash_type){SJ_KIND_PDQ, 256, 0}, 0, &q) == SJ_OK,
          "sets");
    sj_meta_create(&c->meta);
    const char *S[SJ_META_N_TEXT] = {"S", 0, 0, 0}, *T[SJ_META_N_TEXT] = {"T", 0, 0, 0},
               *U[SJ_META_N_TEXT] = {"U", 0, 0, 0};
    const char *const *series_of[6] = {0, S, S, T, S, U};
    int8_t victim_of[6] = {0, -1, 1, 0, -1, 1};
    for (int i = 1; i <= 5; i++) {
        sj_meta *keepm = c->meta;
        c->meta = NULL;
        sj_hashes_append(c, i, zero, -1);
        c->meta = keepm;
        sj_meta_append(c->meta, series_of[i], victim_of[i], -1);
    }
    for (int i = 6; i <= 11; i++)
        sj_hashes_append(q, i, zero, -1);
    const sj_hashes *sets[2] = {c, q};
    const uint8_t side[2] = {0, 1};
    sj_meta_table *t = NULL;
    CHECK(sj_meta_table_build(sets, side, 2, &t) == SJ_OK && t->n == 11, "table");
    int64_t ids[11] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, cl[11] = {0, 4, 1, 3, 3, 0, 1, 2, 2, 3, 5};
    sj_case_summary *s = NULL;
    CHECK(sj_case_summarize(ids, cl, 11, 6, t, NULL, &s) == SJ_OK, "summarize: %s", sj_last_error());
    if (s) {
        int64_t want[4] = {1, 2, 3, 0};
        CHECK(s->n_ranked == 4, "listed %lld", (long long)s->n_ranked);
        for (int r = 0; r < 4 && r < s->n_ranked; r++)
            CHECK(s->ranked[r] == want[r], "rank %d: cluster %lld", r + 1, (long long)s->ranked[r]);
        CHECK(s->triage[0] == SJ_TRIAGE_KNOWN_IDENTIFIED && s->triage[1] == SJ_TRIAGE_UNIDENTIFIED_VICTIM &&
                  s->triage[2] == SJ_TRIAGE_NEW_SERIES && s->triage[3] == SJ_TRIAGE_CROSS_CASE &&
                  s->triage[4] == SJ_TRIAGE_NONE && s->triage[5] == SJ_TRIAGE_NONE,
              "classes");
        CHECK(s->n_unmatched == 1, "unmatched %lld", (long long)s->n_unmatched);
        CHECK((s->flags[3] & SJ_CASE_MERGES_SERIES) && !(s->flags[0] & SJ_CASE_MERGES_SERIES) &&
                  (s->flags[2] & SJ_CASE_NEW_NO_SERIES),
              "flags");
        CHECK(s->n_new[2] == 2 && s->n_known[0] == 1 && s->victim_identified[1] == 0 &&
                  s->victim_identified[4] == 1,
              "counts");
    }
    sj_case_summary_free(s);
    sj_meta_table_free(t);
    sj_hashes_free(c);
    sj_hashes_free(q);
}

int main(void)
{
    t_init_seed();
    test_sha256();
    test_hex();
    test_kinds();
    test_degenerate();
    test_components();
    test_ingest();
    test_meta();
    return t_finish("test_unit");
}
