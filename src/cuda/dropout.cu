// Inverted dropout on the device with the counter-based mask of cpu/dropout.hpp (cuda/dropout.hpp):
//
//   y[t, j] = m[t, j] * x[t, j] / (1 - p),   m[t, j] = [uniform(seed, stream, c(t, j)) >= p]
//
// random_bits, unit_uniform and token_counter (core/random.hpp) are the same functions on host and
// device, so the mask is the host's bit for bit; the
// backward is the same call on dy. One thread per element in a grid-stride loop: y may alias x.

#include <cstdint>

#include <loramoe/core/random.hpp>
#include <loramoe/core/view.hpp>
#include <loramoe/cuda/dropout.hpp>
#include "launch.cuh"

namespace loramoe {

namespace cuda_kernels {
namespace {

template <class T>
__global__ void dropout(std::uint64_t seed, std::uint64_t stream, double p, T keep_scale, const T* x,
                        index x_stride, T* y, index y_stride, index rows, index cols, token_rows samples) {
    const index count = rows * cols;
    for (index k = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x; k < count;
         k += static_cast<index>(gridDim.x) * blockDim.x) {
        const index t = k / cols, j = k % cols;
        const auto counter =
            token_counter(static_cast<std::uint64_t>(samples.first_sample + t / samples.tokens),
                          static_cast<std::uint64_t>(t % samples.tokens), static_cast<std::uint64_t>(cols),
                          static_cast<std::uint64_t>(j));
        const bool kept = unit_uniform(random_bits(seed, stream, counter)) >= p;
        y[t * y_stride + j] = kept ? x[t * x_stride + j] * keep_scale : T(0);
    }
}

}  // namespace
}  // namespace cuda_kernels

template <class T>
void dropout(cuda, std::uint64_t seed, std::uint64_t stream, T p, matrix_view<const T> x, matrix_view<T> y,
             token_rows rows) {
    LORAMOE_ASSERT(x.rows == y.rows && x.cols == y.cols && p >= 0 && p < 1 && rows.tokens > 0);
    if (y.empty()) return;
    const T keep_scale = T(1) / (T(1) - p);
    cuda_kernels::dropout<<<cuda_kernels::blocks_for(y.size()), cuda_kernels::block_threads, 0,
                            cuda_kernels::stream()>>>(seed, stream, static_cast<double>(p), keep_scale,
                                                      x.data, x.stride, y.data, y.stride, y.rows, y.cols,
                                                      rows);
    LORAMOE_CUDA_LAUNCHED();
}

#define LORAMOE_INSTANTIATE(T)                                                                            \
    template void dropout<T>(cuda, std::uint64_t, std::uint64_t, T, matrix_view<const T>, matrix_view<T>, \
                             token_rows);
LORAMOE_CUDA_FOR_FLOATS(LORAMOE_INSTANTIATE)
#undef LORAMOE_INSTANTIATE

}  // namespace loramoe
