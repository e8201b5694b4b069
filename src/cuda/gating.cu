// Scaling each expert's low-rank activations by its gate on the device, forward and backward
// (cuda/gating.hpp; maths: cpu/gating.hpp).
//
// h (M, N*r) holds the N experts' activations side by side; g (M, N) the gates.
//   forward:   hs[t, i*r + j] = s * g[t, i] * h[t, i*r + j]
//   backward:  dh[t, i*r + j] = s * g[t, i] * dhs[t, i*r + j]
//              dg[t, i]       = s * sum_j dhs[t, i*r + j] * h[t, i*r + j]
//
// Forward: one thread per element of h, in a grid-stride loop. Backward: one thread per gate (t, i),
// which walks the r columns of its expert, as the host does: it reads dhs[t, i*r + j] before it writes
// dh[t, i*r + j], and no other thread touches those columns, so dh may alias dhs.

#include <loramoe/core/view.hpp>
#include <loramoe/cuda/gating.hpp>
#include "launch.cuh"

namespace loramoe {

namespace cuda_kernels {
namespace {

// h, hs (rows, experts * rank); gates (rows, experts).
template <class T>
__global__ void scale_by_gates(const T* h, index h_stride, const T* gates, index gates_stride, T s,
                               index rank, T* hs, index hs_stride, index rows, index cols) {
    const index count = rows * cols;
    for (index k = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x; k < count;
         k += static_cast<index>(gridDim.x) * blockDim.x) {
        const index t = k / cols, c = k % cols;
        const T a = s * gates[t * gates_stride + c / rank];
        hs[t * hs_stride + c] = a * h[t * h_stride + c];
    }
}

// One thread per (t, i): rows * experts threads.
template <class T>
__global__ void scale_by_gates_backward(const T* h, index h_stride, const T* gates, index gates_stride,
                                        const T* dhs, index dhs_stride, T s, index rank, T* dh,
                                        index dh_stride, T* dgates, index dgates_stride, index rows,
                                        index experts) {
    const index count = rows * experts;
    for (index k = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x; k < count;
         k += static_cast<index>(gridDim.x) * blockDim.x) {
        const index t = k / experts, i = k % experts;
        const T* ht = h + t * h_stride;
        const T* dhst = dhs + t * dhs_stride;
        T* dht = dh + t * dh_stride;
        const T gate = s * gates[t * gates_stride + i];
        T dgate = 0;
        for (index j = i * rank; j < (i + 1) * rank; ++j) {
            const T d = dhst[j];
            dgate += d * ht[j];
            dht[j] = gate * d;
        }
        dgates[t * dgates_stride + i] = s * dgate;
    }
}

}  // namespace
}  // namespace cuda_kernels

template <class T>
void scale_by_gates(cuda, matrix_view<const T> h, matrix_view<const T> gates, T s, index rank,
                    matrix_view<T> hs) {
    LORAMOE_ASSERT(rank > 0 && h.cols == gates.cols * rank && gates.rows == h.rows && hs.rows == h.rows &&
                   hs.cols == h.cols);
    if (h.empty()) return;
    cuda_kernels::scale_by_gates<<<cuda_kernels::blocks_for(h.size()), cuda_kernels::block_threads, 0,
                                   cuda_kernels::stream()>>>(h.data, h.stride, gates.data, gates.stride, s,
                                                             rank, hs.data, hs.stride, h.rows, h.cols);
    LORAMOE_CUDA_LAUNCHED();
}

template <class T>
void scale_by_gates_backward(cuda, matrix_view<const T> h, matrix_view<const T> gates,
                             matrix_view<const T> dhs, T s, index rank, matrix_view<T> dh,
                             matrix_view<T> dgates) {
    LORAMOE_ASSERT(rank > 0 && h.cols == gates.cols * rank && gates.rows == h.rows && dhs.rows == h.rows &&
                   dhs.cols == h.cols && dh.rows == h.rows && dh.cols == h.cols &&
                   dgates.rows == gates.rows && dgates.cols == gates.cols);
    if (gates.empty()) return;
    cuda_kernels::scale_by_gates_backward<<<cuda_kernels::blocks_for(gates.size()),
                                            cuda_kernels::block_threads, 0, cuda_kernels::stream()>>>(
        h.data, h.stride, gates.data, gates.stride, dhs.data, dhs.stride, s, rank, dh.data, dh.stride,
        dgates.data, dgates.stride, gates.rows, gates.cols);
    LORAMOE_CUDA_LAUNCHED();
}

#define LORAMOE_INSTANTIATE(T)                                                                  \
    template void scale_by_gates<T>(cuda, matrix_view<const T>, matrix_view<const T>, T, index, \
                                    matrix_view<T>);                                            \
    template void scale_by_gates_backward<T>(cuda, matrix_view<const T>, matrix_view<const T>,  \
                                             matrix_view<const T>, T, index, matrix_view<T>,    \
                                             matrix_view<T>);
LORAMOE_CUDA_FOR_FLOATS(LORAMOE_INSTANTIATE)
#undef LORAMOE_INSTANTIATE

}  // namespace loramoe
