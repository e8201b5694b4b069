// The SwiGLU gate on the device, forward and backward (cuda/swiglu.hpp; maths: cpu/swiglu.hpp).
//
//   a = silu(g) o u,   silu(g) = g sigma(g),   silu'(g) = sigma(g) (1 + g (1 - sigma(g)))
//   dg = da o u o silu'(g),   du = da o silu(g)
//
// One thread per element (a grid-stride loop over rows * cols); each reads its inputs before it
// writes, so an output may alias an input of the same element.

#include <cmath>

#include <loramoe/cuda/swiglu.hpp>
#include "launch.cuh"

namespace loramoe {

namespace cuda_kernels {
namespace {

// gate, up, out (rows, cols).
template <class T>
__global__ void swiglu_forward_elements(const T* gate, index gate_stride, const T* up, index up_stride,
                                        T* out, index out_stride, index rows, index cols) {
    const index count = rows * cols;
    for (index e = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x; e < count;
         e += static_cast<index>(gridDim.x) * blockDim.x) {
        const index t = e / cols, j = e % cols;
        const T g = gate[t * gate_stride + j];
        out[t * out_stride + j] = g / (T(1) + exp(-g)) * up[t * up_stride + j];
    }
}

template <class T>
__global__ void swiglu_backward_elements(const T* gate, index gate_stride, const T* up, index up_stride,
                                         const T* dout, index dout_stride, T* dgate, index dgate_stride,
                                         T* dup, index dup_stride, index rows, index cols) {
    const index count = rows * cols;
    for (index e = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x; e < count;
         e += static_cast<index>(gridDim.x) * blockDim.x) {
        const index t = e / cols, j = e % cols;
        const T g = gate[t * gate_stride + j], u = up[t * up_stride + j], da = dout[t * dout_stride + j];
        const T sigma = T(1) / (T(1) + exp(-g));
        const T silu = g * sigma;
        dgate[t * dgate_stride + j] = da * u * sigma * (T(1) + g * (T(1) - sigma));
        dup[t * dup_stride + j] = da * silu;
    }
}

}  // namespace
}  // namespace cuda_kernels

template <class T>
void swiglu_forward(cuda, matrix_view<const T> gate, matrix_view<const T> up, matrix_view<T> out) {
    LORAMOE_ASSERT(gate.rows == up.rows && gate.cols == up.cols && gate.rows == out.rows &&
                   gate.cols == out.cols);
    if (gate.empty()) return;
    cuda_kernels::swiglu_forward_elements<<<cuda_kernels::blocks_for(gate.size()),
                                            cuda_kernels::block_threads, 0, cuda_kernels::stream()>>>(
        gate.data, gate.stride, up.data, up.stride, out.data, out.stride, gate.rows, gate.cols);
    LORAMOE_CUDA_LAUNCHED();
}

// Overwrites dgate and dup.
template <class T>
void swiglu_backward(cuda, matrix_view<const T> gate, matrix_view<const T> up, matrix_view<const T> dout,
                     matrix_view<T> dgate, matrix_view<T> dup) {
    LORAMOE_ASSERT(gate.rows == up.rows && gate.cols == up.cols && gate.rows == dout.rows &&
                   gate.cols == dout.cols);
    LORAMOE_ASSERT(gate.rows == dgate.rows && gate.cols == dgate.cols && gate.rows == dup.rows &&
                   gate.cols == dup.cols);
    if (gate.empty()) return;
    cuda_kernels::swiglu_backward_elements<<<cuda_kernels::blocks_for(gate.size()),
                                             cuda_kernels::block_threads, 0, cuda_kernels::stream()>>>(
        gate.data, gate.stride, up.data, up.stride, dout.data, dout.stride, dgate.data, dgate.stride,
        dup.data, dup.stride, gate.rows, gate.cols);
    LORAMOE_CUDA_LAUNCHED();
}

#define LORAMOE_INSTANTIATE(T)                                                                               \
    template void swiglu_forward<T>(cuda, matrix_view<const T>, matrix_view<const T>, matrix_view<T>);       \
    template void swiglu_backward<T>(cuda, matrix_view<const T>, matrix_view<const T>, matrix_view<const T>, \
                                     matrix_view<T>, matrix_view<T>);
LORAMOE_CUDA_FOR_FLOATS(LORAMOE_INSTANTIATE)
#undef LORAMOE_INSTANTIATE

}  // namespace loramoe
