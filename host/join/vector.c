/* vector.c - the vector backends' shared pieces (vector.h). */
#include "join/vector.h"

#include <math.h>
#include <string.h>

void sj_vec_join_init(sj_vec_join *v, const sj_join_config *cfg, sj_hash_type t)
{
    memset(v, 0, sizeof *v);
    v->type = t;
    v->metric = cfg->metric == SJ_METRIC_DEFAULT ? sj_metric_default(t) : cfg->metric;
    v->threshold = cfg->threshold;
    v->dim = t.dim;
    v->bytes = sj_hash_type_bytes(t);
    v->gamma = sj_vt_gamma(t.dim, 0.0); /* exact float inputs */
}

static float component(const sj_vec_join *v, const uint8_t *row, uint32_t j)
{
    if (v->type.kind != SJ_KIND_F32)
        return (float)row[j];
    float x;
    memcpy(&x, row + 4 * (size_t)j, 4);
    return x;
}

void sj_vec_to_float(const sj_vec_join *v, const uint8_t *rows, int64_t n, int ld, float *out,
                     double *norm)
{
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *row = rows + (size_t)i * v->bytes;
        float *o = out + (size_t)i * (size_t)ld;
        double sq = 0;
        for (uint32_t j = 0; j < v->dim; j++) {
            double x = component(v, row, j);
            sq += x * x;
        }
        double nrm = sqrt(sq);
        double scale = v->metric == SJ_METRIC_COSINE && nrm > 0 ? 1.0 / nrm : 1.0;
        for (uint32_t j = 0; j < v->dim; j++)
            o[j] = (float)(component(v, row, j) * scale);
        for (int j = (int)v->dim; j < ld; j++)
            o[j] = 0.0f;
        norm[i] = nrm;
    }
}

sj_status sj_vec_check_rows(const sj_vec_join *v, const uint8_t *rows, int64_t n, int64_t first,
                            const char *what)
{
    if (v->metric != SJ_METRIC_COSINE)
        return SJ_OK;
    for (int64_t i = 0; i < n; i++) {
        if (sj_row_is_zero_vector(v->type, rows + (size_t)i * v->bytes))
            return sj_fail(SJ_ERR_ARG,
                           "%s row %lld is the zero vector: its cosine is undefined (zero vectors "
                           "are excluded as degenerate unless --keep-degenerate)",
                           what, (long long)(first + i));
    }
    return SJ_OK;
}
