/* mock_cuda/cublas_v2.h - as the real one: CUBLASAPI defined, then cublas_api.h. */
#ifndef CUBLASAPI
#define CUBLASAPI
#endif
#include "cublas_api.h"
