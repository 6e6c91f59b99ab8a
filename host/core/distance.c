/* distance.c - the reference distance of every kind and metric (simjoin.h).
 * Plain loops, double precision, dimensions summed in order: the value every
 * backend reports and, for floats, the one that decides the threshold. */
#include "core/internal.h"

#include <math.h>
#include <string.h>

static double f32_distance(sj_metric m, const uint8_t *a, const uint8_t *b, uint32_t dim)
{
    double dot = 0, na = 0, nb = 0, l2 = 0;
    for (uint32_t i = 0; i < dim; i++) {
        float x, y; /* rows are bytes: no alignment assumed */
        memcpy(&x, a + 4 * (size_t)i, 4);
        memcpy(&y, b + 4 * (size_t)i, 4);
        double dx = x, dy = y;
        dot += dx * dy;
        na += dx * dx;
        nb += dy * dy;
        l2 += (dx - dy) * (dx - dy);
    }
    switch (m) {
    case SJ_METRIC_L2SQ: return l2;
    case SJ_METRIC_IP: return 1.0 - dot;
    case SJ_METRIC_COSINE: return na > 0 && nb > 0 ? 1.0 - dot / sqrt(na * nb) : NAN;
    default: return NAN;
    }
}

double sj_distance(sj_hash_type t, sj_metric m, const uint8_t *a, const uint8_t *b)
{
    const uint32_t bytes = sj_hash_type_bytes(t);
    if (m == SJ_METRIC_DEFAULT)
        m = sj_metric_default(t);
    if (sj_hash_type_binary(t)) {
        int64_t d = 0;
        for (uint32_t i = 0; i < bytes; i++)
            d += __builtin_popcount((unsigned)(a[i] ^ b[i]));
        return (double)d;
    }
    if (t.kind == SJ_KIND_F32)
        return f32_distance(m, a, b, t.dim);
    int64_t d = 0; /* uint8 vectors: exact in int64 */
    for (uint32_t i = 0; i < bytes; i++) {
        int64_t x = (int64_t)a[i] - (int64_t)b[i];
        d += m == SJ_METRIC_L1 ? (x < 0 ? -x : x) : x * x;
    }
    return (double)d;
}
