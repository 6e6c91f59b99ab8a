// te_flat_driver.cpp - a benchmark driver around ThreatExchange's PDQ flat
// scanner (pdq/cpp/index/flat.h, BSD licence, Meta Platforms), built by
// scripts/build_te_scanner.sh. Our code: reading the rows, the threads and
// the timing. Not part of simjoin, never needed by its tests.
//
//   te_flat_driver QUERIES.bin CORPUS.bin T [THREADS] [--pairs-out FILE]
//
// The .bin files are raw PDQ rows, 32 bytes each, as `simjoin`'s shards hold
// them in /hashes (scripts/bench_peers.py writes them with h5py). Every query
// is compared with every corpus row; a pair matches at distance <= T (as
// simjoin). Queries go to Flat 8 at a time (the scanner's unit; the last
// batch is padded with copies of the last query, whose matches are dropped),
// the batches are dealt round-robin to THREADS threads, each scanning the
// whole corpus per batch, as ThreatExchange's own benchmark-query does on
// one thread. Prints one line of key=value figures; the timing covers the
// scan and the collection of matches, not the file reading. --pairs-out
// writes the matches as int64 (query row, corpus row), sorted.
#include <pdq/cpp/index/flat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sys/resource.h>

using facebook::pdq::hashing::Hash256;

static std::vector<Hash256> read_rows(const char *path)
{
    FILE *f = std::fopen(path, "rb");
    if (!f) {
        std::fprintf(stderr, "te_flat_driver: cannot open %s\n", path);
        std::exit(1);
    }
    std::fseek(f, 0, SEEK_END);
    long bytes = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    if (bytes < 0 || bytes % 32) {
        std::fprintf(stderr, "te_flat_driver: %s: size is not a multiple of 32 bytes\n", path);
        std::exit(1);
    }
    std::vector<Hash256> rows((size_t)bytes / 32);
    for (Hash256 &h : rows) { // the bytes as they are: the Hamming distance does not
        unsigned char raw[32]; // depend on how they are grouped into words
        if (std::fread(raw, 1, 32, f) != 32) {
            std::fprintf(stderr, "te_flat_driver: %s: short read\n", path);
            std::exit(1);
        }
        std::memcpy(h.w, raw, 32);
    }
    std::fclose(f);
    return rows;
}

int main(int argc, char **argv)
{
    const char *pairs_out = nullptr;
    std::vector<const char *> pos;
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--pairs-out") == 0 && i + 1 < argc)
            pairs_out = argv[++i];
        else
            pos.push_back(argv[i]);
    }
    if (pos.size() < 3 || pos.size() > 4) {
        std::fprintf(stderr, "usage: te_flat_driver QUERIES.bin CORPUS.bin T [THREADS] [--pairs-out FILE]\n");
        return 2;
    }
    const std::vector<Hash256> queries = read_rows(pos[0]);
    const std::vector<Hash256> corpus = read_rows(pos[1]);
    const int threshold = std::atoi(pos[2]);
    const int threads = pos.size() > 3 ? std::max(1, std::atoi(pos[3])) : 2;
    const size_t nq = queries.size(), nb = (nq + 7) / 8;

    using match_list = std::vector<std::pair<size_t, size_t>>; // (corpus row, query row)
    std::vector<match_list> found((size_t)threads);
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; t++) {
        pool.emplace_back([&, t] {
            match_list local, &out = found[(size_t)t];
            for (size_t b = (size_t)t; b < nb; b += (size_t)threads) {
                std::array<Hash256, 8> needles;
                for (size_t j = 0; j < 8; j++)
                    needles[j] = queries[std::min(b * 8 + j, nq - 1)];
                const facebook::pdq::index::Flat flat(needles);
                local.clear();
                flat.queryAll(corpus.data(), corpus.size(), threshold, local);
                for (const auto &m : local) // (haystack index, needle index)
                    if (b * 8 + m.second < nq)
                        out.emplace_back(m.first, b * 8 + m.second);
            }
        });
    }
    for (std::thread &th : pool)
        th.join();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    size_t n_pairs = 0;
    for (const match_list &m : found)
        n_pairs += m.size();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double comparisons = (double)nq * (double)corpus.size();
    std::printf("scanner=%s queries=%zu corpus=%zu threshold=%d threads=%d pairs=%zu seconds=%.6f "
                "pairs_per_second=%.4g max_rss_kb=%ld\n",
                facebook::pdq::index::Flat::SIMD_ACCELERATED ? "flat-avx512-vpopcntdq" : "flat-scalar",
                nq, corpus.size(), threshold, threads, n_pairs, seconds,
                seconds > 0 ? comparisons / seconds : 0.0, ru.ru_maxrss);

    if (pairs_out) {
        std::vector<std::pair<int64_t, int64_t>> all;
        all.reserve(n_pairs);
        for (const match_list &m : found)
            for (const auto &p : m)
                all.emplace_back((int64_t)p.second, (int64_t)p.first);
        std::sort(all.begin(), all.end());
        FILE *f = std::fopen(pairs_out, "wb");
        if (!f) {
            std::fprintf(stderr, "te_flat_driver: cannot write %s\n", pairs_out);
            return 1;
        }
        for (const auto &p : all) {
            int64_t v[2] = {p.first, p.second};
            std::fwrite(v, sizeof v, 1, f);
        }
        if (std::fclose(f) != 0) {
            std::fprintf(stderr, "te_flat_driver: cannot write %s\n", pairs_out);
            return 1;
        }
    }
    return 0;
}
