// Token embedding on the device, forward and backward (cuda/embedding.hpp; maths: cpu/embedding.hpp).
//
//   forward:   out[t, :] = table[ids[t], :]
//   backward:  dtable[ids[t], :] += dout[t, :]
//
// Rows may repeat an id, so the backward runs in parallel over columns and loops over the rows in order,
// as the host does: no atomics, and the same sums in the same order on every run.

#include <cstdint>

#include <loramoe/cuda/embedding.hpp>
#include "launch.cuh"

namespace loramoe {

namespace cuda_kernels {
namespace {

// table (V, D), ids (rows), out (rows, D): one thread per element of out.
template <class T>
__global__ void embedding_gather(const T* table, index table_stride, const std::int64_t* ids, T* out,
                                 index out_stride, index rows, index cols) {
    const index count = rows * cols;
    for (index e = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x; e < count;
         e += static_cast<index>(gridDim.x) * blockDim.x) {
        const index t = e / cols, j = e % cols;
        out[t * out_stride + j] = table[ids[t] * table_stride + j];
    }
}

// One thread per column j: dtable[ids[t], j] += dout[t, j] for t = 0, 1, ... in order.
template <class T>
__global__ void embedding_scatter_add(const std::int64_t* ids, const T* dout, index dout_stride, T* dtable,
                                      index dtable_stride, index rows, index cols) {
    for (index j = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x; j < cols;
         j += static_cast<index>(gridDim.x) * blockDim.x)
        for (index t = 0; t < rows; ++t) dtable[ids[t] * dtable_stride + j] += dout[t * dout_stride + j];
}

}  // namespace
}  // namespace cuda_kernels

template <class T>
void embedding_forward(cuda, matrix_view<const T> table, const std::int64_t* ids, matrix_view<T> out) {
    LORAMOE_ASSERT(table.cols == out.cols);
    if (out.empty()) return;
    cuda_kernels::embedding_gather<<<cuda_kernels::blocks_for(out.size()), cuda_kernels::block_threads, 0,
                                     cuda_kernels::stream()>>>(table.data, table.stride, ids, out.data,
                                                               out.stride, out.rows, out.cols);
    LORAMOE_CUDA_LAUNCHED();
}

template <class T>
void embedding_backward(cuda, const std::int64_t* ids, matrix_view<const T> dout, matrix_view<T> dtable) {
    LORAMOE_ASSERT(dout.cols == dtable.cols);
    if (dout.empty()) return;
    cuda_kernels::embedding_scatter_add<<<cuda_kernels::blocks_for(dout.cols), cuda_kernels::block_threads, 0,
                                          cuda_kernels::stream()>>>(ids, dout.data, dout.stride, dtable.data,
                                                                    dtable.stride, dout.rows, dout.cols);
    LORAMOE_CUDA_LAUNCHED();
}

#define LORAMOE_INSTANTIATE(T)                                                                           \
    template void embedding_forward<T>(cuda, matrix_view<const T>, const std::int64_t*, matrix_view<T>); \
    template void embedding_backward<T>(cuda, const std::int64_t*, matrix_view<const T>, matrix_view<T>);
LORAMOE_CUDA_FOR_FLOATS(LORAMOE_INSTANTIATE)
#undef LORAMOE_INSTANTIATE

}  // namespace loramoe
