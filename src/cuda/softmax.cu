// Row-wise softmax on the device, one warp per row (cuda/softmax.hpp; maths: cpu/softmax.hpp).

#include <cmath>

#include <loramoe/core/exceptions.hpp>
#include <loramoe/cuda/softmax.hpp>
#include "launch.cuh"

namespace loramoe {

namespace cuda_kernels {

template <class T>
__global__ void softmax_rows(const T* z, index z_stride, T* p, index p_stride, index rows, index cols) {
    const index row = warp_row();
    if (row >= rows) return;
    warp_softmax(z + row * z_stride, p + row * p_stride, cols);
}

// dz = p o (dp - <p, dp>)
template <class T>
__global__ void softmax_rows_backward(const T* p, index p_stride, const T* dp, index dp_stride, T* dz,
                                      index dz_stride, index rows, index cols) {
    const index row = warp_row();
    if (row >= rows) return;
    const T* pr = p + row * p_stride;
    const T* dpr = dp + row * dp_stride;
    T* dzr = dz + row * dz_stride;
    T inner = 0;
    for (index j = lane(); j < cols; j += warp_size) inner += pr[j] * dpr[j];
    inner = warp_sum(inner);
    for (index j = lane(); j < cols; j += warp_size) dzr[j] = pr[j] * (dpr[j] - inner);
}

// One thread per row: k and the number of experts (at most 64, a bit each) are small.
template <class T>
__global__ void keep_top_k(index k, T* p, index stride, index rows, index cols) {
    const index row = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x;
    if (row >= rows) return;
    T* pr = p + row * stride;
    // Entry j is kept when fewer than k entries beat it (greater, or equal with a lower index).
    std::uint64_t keep = 0;
    T kept = 0;
    for (index j = 0; j < cols; ++j) {
        index better = 0;
        for (index i = 0; i < cols; ++i) better += pr[i] > pr[j] || (pr[i] == pr[j] && i < j);
        if (better < k) {
            keep |= std::uint64_t{1} << j;
            kept += pr[j];
        }
    }
    for (index j = 0; j < cols; ++j) pr[j] = (keep >> j & 1) ? pr[j] / kept : T(0);
}

}  // namespace cuda_kernels

template <class T>
void softmax_rows(cuda, matrix_view<const T> logits, matrix_view<T> probs) {
    if (logits.empty()) return;
    cuda_kernels::softmax_rows<<<cuda_kernels::blocks_for_rows(logits.rows), cuda_kernels::block_threads, 0,
                                 cuda_kernels::stream()>>>(logits.data, logits.stride, probs.data,
                                                           probs.stride, logits.rows, logits.cols);
    LORAMOE_CUDA_LAUNCHED();
}

template <class T>
void softmax_rows_backward(cuda, matrix_view<const T> probs, matrix_view<const T> dprobs,
                           matrix_view<T> dlogits) {
    if (probs.empty()) return;
    cuda_kernels::softmax_rows_backward<<<cuda_kernels::blocks_for_rows(probs.rows),
                                          cuda_kernels::block_threads, 0, cuda_kernels::stream()>>>(
        probs.data, probs.stride, dprobs.data, dprobs.stride, dlogits.data, dlogits.stride, probs.rows,
        probs.cols);
    LORAMOE_CUDA_LAUNCHED();
}

template <class T>
void keep_top_k(cuda, index k, matrix_view<T> probs) {
    if (k <= 0 || k >= probs.cols || probs.empty()) return;
    if (probs.cols > 64)
        throw value_error("keep_top_k: the CUDA backend keeps the top k of at most 64 experts");
    cuda_kernels::keep_top_k<<<cuda_kernels::blocks_for(probs.rows), cuda_kernels::block_threads, 0,
                               cuda_kernels::stream()>>>(k, probs.data, probs.stride, probs.rows, probs.cols);
    LORAMOE_CUDA_LAUNCHED();
}

#define LORAMOE_INSTANTIATE(T)                                                               \
    template void softmax_rows<T>(cuda, matrix_view<const T>, matrix_view<T>);               \
    template void softmax_rows_backward<T>(cuda, matrix_view<const T>, matrix_view<const T>, \
                                           matrix_view<T>);                                  \
    template void keep_top_k<T>(cuda, index, matrix_view<T>);
LORAMOE_CUDA_FOR_FLOATS(LORAMOE_INSTANTIATE)
#undef LORAMOE_INSTANTIATE

}  // namespace loramoe
