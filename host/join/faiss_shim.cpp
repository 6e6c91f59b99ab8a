// faiss_shim.cpp - the one piece of C++ in simjoin: FAISS 1.7.3's C API has
// no constructor for binary indexes, so this exposes IndexBinaryFlat's.
#include <faiss/IndexBinaryFlat.h>

#include <cstdint>

extern "C" {
struct FaissIndexBinary_H;

// Create an IndexBinaryFlat over d_bits-bit codes. *out is freed with
// faiss_IndexBinary_free. Returns 0, or -1 if FAISS threw.
int sj_faiss_binary_flat_new(FaissIndexBinary_H **out, int64_t d_bits)
{
    try {
        faiss::IndexBinary *index = new faiss::IndexBinaryFlat(d_bits);
        *out = reinterpret_cast<FaissIndexBinary_H *>(index);
        return 0;
    } catch (...) {
        *out = nullptr;
        return -1;
    }
}
}
