/* backend_cuda_stub.c - stands in for the CUDA backend in builds without
 * CUDA, so that `--backend cuda` is a clear error and `auto` falls back. */
#include "join/vector.h"

int sj_cuda_compiled(void) { return 0; }
int sj_cuda_compiled_in(void) { return 0; }

int sj_cuda_blas_loadable(void) { return 0; }
int sj_cuda_vec_needs_blas(const sj_join_config *cfg, sj_hash_type type)
{
    (void)cfg, (void)type;
    return 1;
}

int sj_cuda_device_count(const char **reason)
{
    if (reason)
        *reason = "this simjoin was built without CUDA";
    return 0;
}

static sj_status cuda_open(const sj_join_config *cfg, sj_hash_type type, void **state)
{
    (void)cfg, (void)type, (void)state;
    return sj_fail(SJ_ERR_NO_DEVICE, "--backend cuda: this simjoin was built without CUDA "
                                     "(configure with nvcc on PATH and -DSIMJOIN_CUDA=ON)");
}

const sj_backend_ops sj_backend_cuda = {
    /* .name           = */ "cuda",
    /* .parallel_calls = */ 0,
    /* .open           = */ cuda_open,
    /* .load_corpus    = */ NULL,
    /* .compare        = */ NULL,
    /* .close          = */ NULL,
};

const sj_backend_ops sj_backend_cuda_vec = {
    /* .name           = */ "cuda",
    /* .parallel_calls = */ 0,
    /* .open           = */ cuda_open,
    /* .load_corpus    = */ NULL,
    /* .compare        = */ NULL,
    /* .close          = */ NULL,
};
