"""Generate the cffi extension module's C source (API mode).

Run by python/CMakeLists.txt: python _ffi_build.py OUT.c. Struct declarations
end in "...;": cffi takes their layout from the compiler, so fields added to
the C structs later do not break the module.
"""
import sys

import cffi

CDEF = r"""
typedef int... sj_status;
typedef int... sj_metric;
typedef int... sj_backend_kind;
typedef int... sj_kind;
typedef int... sj_meta_text;
#define SJ_META_N_TEXT ...
#define SJ_CLUSTER_QUARANTINED ...

typedef struct { sj_kind kind; uint32_t bits; uint32_t dim; ...; } sj_hash_type;
typedef struct sj_meta sj_meta;
typedef struct {
    sj_hash_type type; int64_t n; int64_t capacity; uint8_t *hashes; int64_t *ids;
    int16_t *quality; int64_t *labels; sj_meta *meta; ...;
} sj_hashes;
typedef struct { int64_t a; int64_t b; double distance; ...; } sj_pair;
typedef struct { int64_t n; int64_t capacity; sj_pair *v; ...; } sj_pairs;
typedef struct {
    double threshold; sj_metric metric; sj_backend_kind backend; int threads;
    int64_t max_pairs; int64_t max_memory; ...;
} sj_join_config;
typedef struct { const sj_hashes *hashes; sj_metric metric; ...; } sj_cluster_options;
typedef struct {
    int64_t n_nodes; int64_t *ids; int64_t *cluster; int64_t *matches; int64_t n_clusters;
    int64_t n_quarantined; int64_t *size; ...;
} sj_clusters;
typedef struct {
    double threshold; int64_t pairs; int64_t clusters; int64_t singletons; int64_t largest;
    int64_t quarantined; double precision, recall, f1; double b3_precision, b3_recall; double ari;
    ...;
} sj_sweep_row;
typedef struct { int n_rows; sj_sweep_row *rows; int has_labels; ...; } sj_sweep;

const char *sj_version(void);
const char *sj_status_str(sj_status st);
const char *sj_last_error(void);
sj_status sj_hash_type_parse(const char *text, sj_hash_type *out);
void sj_hash_type_format(sj_hash_type t, char *buf, size_t buf_size);
sj_status sj_metric_parse(const char *text, sj_metric *out);
sj_status sj_metric_check(sj_hash_type t, sj_metric *m);
const char *sj_metric_name(sj_metric m);
sj_status sj_backend_parse(const char *text, sj_backend_kind *out);
int sj_backend_available(sj_backend_kind b);

sj_status sj_hashes_create(sj_hash_type type, int64_t capacity, sj_hashes **out);
void sj_hashes_free(sj_hashes *h);
sj_status sj_hashes_check_unique_ids(const sj_hashes *h, const char *what);
sj_status sj_shard_read(const char *path, sj_hashes **out);
sj_status sj_shard_write(const char *path, const sj_hashes *h, int64_t first, int64_t count);

sj_status sj_meta_create(sj_meta **out);
void sj_meta_free(sj_meta *m);
int64_t sj_meta_rows(const sj_meta *m);
const char *sj_meta_text_name(sj_meta_text f);
sj_status sj_meta_append(sj_meta *m, const char *const text[], int8_t victim, int8_t offender);
const char *sj_meta_text_get(const sj_meta *m, int64_t row, sj_meta_text f);
int8_t sj_meta_victim(const sj_meta *m, int64_t row);
int8_t sj_meta_offender(const sj_meta *m, int64_t row);

void sj_join_config_init(sj_join_config *cfg);
sj_status sj_join_self(const sj_join_config *cfg, const sj_hashes *set, sj_pairs *out);
sj_status sj_join_cross(const sj_join_config *cfg, const sj_hashes *queries,
                        const sj_hashes *corpus, sj_pairs *out);
void sj_pairs_free(sj_pairs *p);

void sj_cluster_options_defaults(sj_cluster_options *o);
sj_status sj_linkage_parse(const char *text, sj_cluster_options *o);
sj_status sj_cluster(const int64_t *ids, int64_t n, const sj_pairs *pairs,
                     const sj_cluster_options *o, sj_clusters **out);
void sj_clusters_free(sj_clusters *c);

sj_status sj_sweep_run(const int64_t *ids, int64_t n, const int64_t *labels, const sj_pairs *pairs,
                       const double *thresholds, int n_thr, const sj_cluster_options *o,
                       sj_sweep **out);
void sj_sweep_free(sj_sweep *s);
"""

# simjoin hash's library half, when the build has the image decoders
# (python/CMakeLists.txt passes --images).
CDEF_IMAGES = r"""
typedef int... sj_image_hash;
typedef void (*sj_image_progress_fn)(void *user, int64_t done, int64_t total);
typedef struct {
    int ok; char reason[96]; uint8_t hash[32]; int quality; uint8_t md5[16], sha1[20];
    int digests; int64_t bytes; int width, height; ...;
} sj_image_result;
typedef struct { sj_image_hash kind; int dihedral; int threads; ...; } sj_image_options;
sj_status sj_image_hash_parse(const char *text, sj_image_hash *out);
uint32_t sj_image_hash_bytes(sj_image_hash h);
void sj_image_options_defaults(sj_image_options *o);
sj_status sj_image_expand_inputs(const char *const *inputs, int n_inputs, char ***paths,
                                 int64_t *n_paths);
void sj_image_paths_free(char **paths, int64_t n);
sj_status sj_hash_images(const char *const *paths, int64_t n, const sj_image_options *o,
                         sj_image_result *results, uint8_t (*dihedral)[8][32], double times[3]);
"""

SOURCE = r"""
#include "simjoin/simjoin.h"
#include "simjoin/formats.h"
#include "simjoin/meta.h"
#include "simjoin/sweep.h"
"""
IMAGES_SOURCE = r"""
#include "simjoin/image.h"
"""


def main(out_path, images=False):
    ffi = cffi.FFI()
    ffi.cdef(CDEF + (CDEF_IMAGES if images else "") + "\nstatic const int SIMJOIN_PY_IMAGES;")
    source = SOURCE + (IMAGES_SOURCE if images else "") + \
        f"\nstatic const int SIMJOIN_PY_IMAGES = {1 if images else 0};\n"
    ffi.set_source("simjoin._simjoin_cffi", source)
    ffi.emit_c_code(out_path)


if __name__ == "__main__":
    main(sys.argv[1], images="--images" in sys.argv[2:])
