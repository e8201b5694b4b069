#pragma once
// What the kernels of cuda/*.cu share: launch sizes, the stream, warp reductions, and the explicit
// instantiation of each kernel's host function for float and double. Included by nvcc only.

#include <algorithm>
#include <cstdint>

#include <cuda_runtime.h>

#include <loramoe/core/backend.hpp>
#include <loramoe/cuda/context.hpp>

namespace loramoe::cuda_kernels {

inline constexpr int block_threads = 256;
inline constexpr int warp_size = 32;
inline constexpr int warps_per_block = block_threads / warp_size;

// Blocks for a grid-stride loop over n items, at most a few per multiprocessor's worth.
inline unsigned blocks_for(index n, index per_block = block_threads) {
    return static_cast<unsigned>(std::clamp<index>((n + per_block - 1) / per_block, 1, 1 << 16));
}

// Blocks for one warp per row.
inline unsigned blocks_for_rows(index rows) {
    return static_cast<unsigned>((rows + warps_per_block - 1) / warps_per_block);
}

inline cudaStream_t stream() {
    return cuda_context::current().stream();
}

template <class T>
__device__ inline T warp_sum(T value) {
    for (int offset = warp_size / 2; offset > 0; offset /= 2)
        value += __shfl_xor_sync(0xffffffffu, value, offset);
    return value;
}

template <class T>
__device__ inline T warp_max(T value) {
    for (int offset = warp_size / 2; offset > 0; offset /= 2)
        value = max(value, __shfl_xor_sync(0xffffffffu, value, offset));
    return value;
}

// The row of this warp, when a kernel is launched with one warp per row.
__device__ inline index warp_row() {
    return static_cast<index>(blockIdx.x) * warps_per_block + static_cast<index>(threadIdx.x) / warp_size;
}
__device__ inline int lane() {
    return static_cast<int>(threadIdx.x) % warp_size;
}

// One warp's softmax of in[0, count) into out[0, count) (the two may be the same row). Lane l handles
// the elements j = l mod 32 in every loop, so with in == out a lane only reads back what it wrote.
template <class T>
__device__ inline void warp_softmax(const T* in, T* out, index count) {
    T top = -INFINITY;
    for (index j = lane(); j < count; j += warp_size) top = max(top, in[j]);
    top = warp_max(top);
    T sum = 0;
    for (index j = lane(); j < count; j += warp_size) {
        const T e = exp(in[j] - top);
        out[j] = e;
        sum += e;
    }
    const T inverse = T(1) / warp_sum(sum);
    for (index j = lane(); j < count; j += warp_size) out[j] *= inverse;
}

}  // namespace loramoe::cuda_kernels

// Instantiates MACRO(float) and MACRO(double): each .cu file defines a macro that spells out the
// explicit instantiations of its host functions for one type.
#define LORAMOE_CUDA_FOR_FLOATS(MACRO) \
    MACRO(float)                       \
    MACRO(double)
