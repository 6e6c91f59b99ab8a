// gpu_append.cuh - warp-aggregated append of hits, shared by the Hamming and
// vector kernels. One atomicAdd per warp; the lanes with a hit write at
// base + (hit lanes below them) (sj_warp_slot); past the buffer's capacity
// nothing is written but the counter still advances, so the host sees the
// true count and redoes the tile with a buffer that large.
#ifndef SIMJOIN_GPU_APPEND_CUH
#define SIMJOIN_GPU_APPEND_CUH

#include "hamming_tile.h"

__device__ __forceinline__ void sj_warp_append(bool keep, sj_gpu_hit hit, sj_gpu_hit *hits,
                                               unsigned long long *count,
                                               unsigned long long capacity)
{
    const unsigned ballot = __ballot_sync(0xffffffffu, keep);
    if (!ballot)
        return;
    const int lane = threadIdx.x & 31;
    const int leader = __ffs(ballot) - 1;
    unsigned long long base = 0;
    if (lane == leader)
        base = atomicAdd(count, (unsigned long long)__popc(ballot));
    base = __shfl_sync(0xffffffffu, base, leader);
    if (keep) {
        const unsigned long long slot = base + sj_warp_slot(ballot, lane);
        if (sj_slot_fits(slot, capacity))
            hits[slot] = hit;
    }
}

#endif
