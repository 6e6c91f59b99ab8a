/* cuda_util.h - checking CUDA calls in the CUDA backends: a failure becomes
 * SJ_ERR_BACKEND naming the call, the file and the line. */
#ifndef SIMJOIN_CUDA_UTIL_H
#define SIMJOIN_CUDA_UTIL_H

#include "core/internal.h"

#include <cuda_runtime_api.h>

static inline sj_status sj_cuda_check(cudaError_t e, const char *call, const char *file, int line)
{
    if (e == cudaSuccess)
        return SJ_OK;
    return sj_fail(SJ_ERR_BACKEND, "cuda: %s failed at %s:%d: %s", call, file, line,
                   cudaGetErrorString(e));
}

/* Run a CUDA call; on failure record it in `st` and jump to `done`. */
#define CU(call)                                                                                  \
    do {                                                                                          \
        if ((st = sj_cuda_check((call), #call, __FILE__, __LINE__)))                              \
            goto done;                                                                            \
    } while (0)

/* Replace a device buffer and its pinned host mirror with new ones of
 * `bytes` each (contents not kept); both NULL on failure. */
static inline sj_status sj_cuda_realloc_mirrored(void **dev, void **host, size_t bytes)
{
    sj_status st = SJ_OK;
    cudaFree(*dev);
    cudaFreeHost(*host);
    *dev = NULL, *host = NULL;
    CU(cudaMalloc(dev, bytes));
    CU(cudaMallocHost(host, bytes));
done:
    return st;
}

#endif
