// gpu_append.cuh - warp-aggregated append of hits, shared by the Hamming and
// vector kernels. One atomicAdd per warp; the lanes with a hit write at
// base + (hit lanes below them) (sj_warp_slot); past the buffer's capacity
// nothing is written but the counter still advances, so the host sees the
// true count and redoes the tile with a buffer that large.
#ifndef SIMJOIN_GPU_APPEND_CUH
#define SIMJOIN_GPU_APPEND_CUH

#include "hamming_tile.h"

// Every lane of `active` (the lanes that call together; all 32 in today's
// kernels, where lanes outside the tile call with keep = false) takes part.
// tests/test_gpu_tiles.c runs this same sequence on an emulated warp with
// partial masks (emulate_warp_append).
__device__ __forceinline__ void sj_warp_append(bool keep, sj_gpu_hit hit, sj_gpu_hit *hits,
                                               unsigned long long *count,
                                               unsigned long long capacity)
{
    const unsigned active = __activemask();
    const unsigned ballot = __ballot_sync(active, keep);
    if (!ballot)
        return;
    const int lane = threadIdx.x & 31;
    const int leader = sj_warp_leader(ballot);
    unsigned long long base = 0;
    if (lane == leader)
        base = atomicAdd(count, (unsigned long long)sj_popc32(ballot));
    base = __shfl_sync(active, base, leader);
    const uint64_t slot = sj_warp_append_slot(keep, ballot, lane, base, capacity);
    if (slot != SJ_NO_SLOT)
        hits[slot] = hit;
}

#endif
