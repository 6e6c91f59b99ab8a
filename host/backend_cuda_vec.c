/* placeholder, replaced below */
#include "vector.h"
static sj_status cuda_vec_open(const sj_join_config *cfg, sj_hash_type type, void **state)
{
    (void)cfg, (void)type, (void)state;
    return sj_fail(SJ_ERR_UNSUPPORTED, "cuda: vector kinds not yet");
}
const sj_backend_ops sj_backend_cuda_vec = {"cuda", 0, cuda_vec_open, NULL, NULL, NULL};
