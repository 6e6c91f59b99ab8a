/* mock_cuda/cublas_api.h - the cuBLAS types host/join/backend_cuda_vec.c names,
 * for tests/test_cuda_mock_vec.c (the entry points themselves come through
 * dlsym, which that test also mocks). */
#ifndef SIMJOIN_MOCK_CUBLAS_API_H
#define SIMJOIN_MOCK_CUBLAS_API_H

#include "cuda_runtime_api.h"

typedef struct mock_blas *cublasHandle_t;
typedef enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID_VALUE = 7 } cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUDA_R_32F = 0, CUDA_R_16F = 2 } cudaDataType;
typedef enum { CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_FAST_TF32 = 77 } cublasComputeType_t;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;

#endif
