/* mock_cuda/cuda_runtime_api.h - just enough of the CUDA runtime, on the
 * host, for tests/test_cuda_mock.c to run host/join/backend_cuda.c without a GPU:
 * "device" memory is host memory, copies and memsets happen at once, streams
 * and events are no-ops (so this checks the backend's arithmetic and
 * bookkeeping, not its concurrency). Everything is static: nothing here is
 * linked into anything else. It records what the backend asked for (the
 * largest pinned and device allocations) for the test to check. */
#ifndef SIMJOIN_MOCK_CUDA_RUNTIME_API_H
#define SIMJOIN_MOCK_CUDA_RUNTIME_API_H

#include <stdlib.h>
#include <string.h>

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidDevice = 101,
} cudaError_t;
typedef struct mock_stream *cudaStream_t;
typedef struct mock_event *cudaEvent_t;
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2 };
enum cudaDeviceAttr { cudaDevAttrComputeCapabilityMajor = 75, cudaDevAttrComputeCapabilityMinor = 76 };
#define cudaStreamNonBlocking 0x01
#define cudaEventDisableTiming 0x02

static int mock_devices = 1;                  /* what cudaGetDeviceCount reports */
static size_t mock_free_bytes = (size_t)1 << 30;
static _Thread_local int mock_current;
static size_t mock_max_pinned, mock_max_device; /* largest single allocations */
static unsigned mock_devices_set;              /* bit d: cudaSetDevice(d) was called */
static size_t mock_h2d_bytes[32];              /* per device: bytes copied host to device */

static inline const char *cudaGetErrorString(cudaError_t e) { return e ? "mock cuda error" : "no error"; }
static inline cudaError_t cudaGetDeviceCount(int *n) { *n = mock_devices; return cudaSuccess; }
static inline cudaError_t cudaSetDevice(int d)
{
    if (d < 0 || d >= mock_devices)
        return cudaErrorInvalidDevice;
    mock_current = d;
    __atomic_fetch_or(&mock_devices_set, 1u << d, __ATOMIC_RELAXED);
    return cudaSuccess;
}
static inline cudaError_t cudaDeviceGetAttribute(int *v, enum cudaDeviceAttr a, int d)
{
    (void)d;
    *v = a == cudaDevAttrComputeCapabilityMajor ? 9 : 0;
    return cudaSuccess;
}
static inline cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total_b)
{
    *free_b = mock_free_bytes, *total_b = mock_free_bytes;
    return cudaSuccess;
}
static inline cudaError_t cudaMalloc(void **p, size_t n)
{
    *p = malloc(n ? n : 1);
    if (n > mock_max_device)
        mock_max_device = n;
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
static inline cudaError_t cudaMallocHost(void **p, size_t n)
{
    *p = malloc(n ? n : 1);
    if (n > mock_max_pinned)
        mock_max_pinned = n;
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
static inline cudaError_t cudaFree(void *p) { free(p); return cudaSuccess; }
static inline cudaError_t cudaFreeHost(void *p) { free(p); return cudaSuccess; }
static inline cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n,
                                          enum cudaMemcpyKind k, cudaStream_t s)
{
    (void)s;
    if (k == cudaMemcpyHostToDevice)
        mock_h2d_bytes[mock_current] += n; /* a device's copies come from one thread at a time */
    memcpy(dst, src, n);
    return cudaSuccess;
}
static inline cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s)
{
    (void)s;
    memset(p, v, n);
    return cudaSuccess;
}
static inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned f)
{
    (void)f;
    *s = (cudaStream_t)malloc(1);
    return cudaSuccess;
}
static inline cudaError_t cudaStreamDestroy(cudaStream_t s) { free(s); return cudaSuccess; }
static inline cudaError_t cudaStreamSynchronize(cudaStream_t s) { (void)s; return cudaSuccess; }
static inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned f)
{
    (void)f;
    *e = (cudaEvent_t)malloc(1);
    return cudaSuccess;
}
static inline cudaError_t cudaEventDestroy(cudaEvent_t e) { free(e); return cudaSuccess; }
static inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) { (void)e, (void)s; return cudaSuccess; }
static inline cudaError_t cudaEventSynchronize(cudaEvent_t e) { (void)e; return cudaSuccess; }

#endif
