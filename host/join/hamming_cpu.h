/* hamming_cpu.h - CPU Hamming tile kernels, one per ISA path, one signature.
 *
 * A corpus is packed once per join into the layout its ISA path wants:
 *   row-major  (portable, popcnt): words[n_pad][W]              uint64
 *   interleaved (avx512, G=8):          words[n_pad/G][W][G]    uint64
 *   bit planes (portable L=128, avx2 L=256), besides the row-major copy:
 *       planes[ceil(n/L)][K][L/64] uint64: plane j of a block = bit j of its
 *       L hashes, for the first K bits only (K chosen from T, see kbits)
 * where W = ceil(bits/64) (zero padded; zeros never add distance) and n_pad
 * rounds n up to G with zero rows that are never reported. */
#ifndef SIMJOIN_HAMMING_CPU_H
#define SIMJOIN_HAMMING_CPU_H

#include "join/backend.h"

typedef struct sj_packed_corpus {
    sj_isa isa;
    int words;      /* W: uint64 words per hash */
    int group;      /* G: rows interleaved together (1 for row-major) */
    int64_t n;      /* real rows */
    int64_t n_pad;  /* rows allocated, multiple of G */
    uint64_t *w;    /* packed words; owned, 64-byte aligned */
    int lanes;      /* L: hashes per bit-sliced block; 0 when no planes */
    int kbits;      /* K: leading bits kept as planes (multiple of 8, <= 1016) */
    uint64_t *planes; /* [ceil(n/L)][K][L/64]; owned, 64-byte aligned */
} sj_packed_corpus;

/* Pack rows [n, bytes] for `isa` (must be supported) and threshold T. */
sj_status sj_packed_corpus_init(sj_packed_corpus *pc, sj_isa isa, const uint8_t *rows, int64_t n,
                                uint32_t bytes, int32_t T);

/* The number of leading bits a bit-sliced filter counts for threshold T:
 * the multiple of 8 that minimizes planes counted plus lanes left to verify
 * (expected L * P(Binomial(K, 1/2) <= T) on unrelated hashes). */
int sj_bitslice_kbits(uint32_t bits, int32_t T, int lanes);
void sj_packed_corpus_release(sj_packed_corpus *pc);

/* Copy query rows [nq, bytes] into row-major words [nq][W] (q_words owned by caller). */
void sj_pack_rows(const uint8_t *rows, int64_t n, uint32_t bytes, int words, uint64_t *out);

/* Compare queries q[nq][W] (row numbers q0..) with corpus rows [c0, c1).
 * Appends hits with distance <= T; self: only corpus row > query row. */
typedef sj_status (*sj_hamming_block_fn)(const sj_packed_corpus *pc, const uint64_t *q,
                                         int64_t q0, int64_t nq, int64_t c0, int64_t c1,
                                         int32_t T, int self, sj_hits *out);

/* The kernel for an ISA path (NULL if not compiled in). */
sj_hamming_block_fn sj_hamming_block_for(sj_isa isa);

#endif
