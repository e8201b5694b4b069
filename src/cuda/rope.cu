// Rotary position embedding on the device (cuda/rope.hpp; maths: cpu/rope.hpp), HF's rotate-half layout.
//
//   y[i]   = x[i] cos a_i - x[i+h] sin a_i,   y[i+h] = x[i+h] cos a_i + x[i] sin a_i   (sin negated: inverse)
//
// One thread per pair (i, i+h) of one head of one row: it reads both inputs before writing both
// outputs, so y may alias x.

#include <cstdint>
#include <string>

#include <loramoe/core/exceptions.hpp>
#include <loramoe/cuda/rope.hpp>
#include "launch.cuh"

namespace loramoe {

namespace cuda_kernels {
namespace {

// x, y (rows, heads*Dh); positions (rows); cos, sin (P, Dh/2). pairs = rows * heads * half.
template <class T>
__global__ void rotate_pairs(const T* x, index x_stride, index half, index heads,
                             const std::int64_t* positions, const T* cos, index cos_stride, const T* sin,
                             index sin_stride, T direction, T* y, index y_stride, index pairs) {
    for (index p = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x; p < pairs;
         p += static_cast<index>(gridDim.x) * blockDim.x) {
        const index i = p % half, head = (p / half) % heads, t = p / (half * heads);
        const index position = positions[t];
        const T c = cos[position * cos_stride + i], si = direction * sin[position * sin_stride + i];
        const T* xh = x + t * x_stride + head * 2 * half;
        T* yh = y + t * y_stride + head * 2 * half;
        const T a = xh[i], b = xh[i + half];
        yh[i] = a * c - b * si;
        yh[i + half] = b * c + a * si;
    }
}

}  // namespace
}  // namespace cuda_kernels

template <class T>
void rotate(cuda, matrix_view<const T> x, index head_dim, const std::int64_t* positions,
            matrix_view<const T> cos, matrix_view<const T> sin, bool inverse, matrix_view<T> y) {
    if (head_dim <= 0 || head_dim % 2 != 0 || x.cols % head_dim != 0)
        throw value_error("rotate: head_dim " + std::to_string(head_dim) + " must be even and divide the " +
                          std::to_string(x.cols) + " columns of x");
    LORAMOE_ASSERT(x.rows == y.rows && x.cols == y.cols);
    const index half = head_dim / 2, heads = x.cols / head_dim, pairs = x.rows * heads * half;
    if (pairs == 0) return;
    cuda_kernels::rotate_pairs<<<cuda_kernels::blocks_for(pairs), cuda_kernels::block_threads, 0,
                                 cuda_kernels::stream()>>>(x.data, x.stride, half, heads, positions, cos.data,
                                                           cos.stride, sin.data, sin.stride,
                                                           inverse ? T(-1) : T(1), y.data, y.stride, pairs);
    LORAMOE_CUDA_LAUNCHED();
}

#define LORAMOE_INSTANTIATE(T)                                                                            \
    template void rotate<T>(cuda, matrix_view<const T>, index, const std::int64_t*, matrix_view<const T>, \
                            matrix_view<const T>, bool, matrix_view<T>);
LORAMOE_CUDA_FOR_FLOATS(LORAMOE_INSTANTIATE)
#undef LORAMOE_INSTANTIATE

}  // namespace loramoe
