// A frozen base held in bfloat16 on the device: its products and its embedding (cuda/bf16_gemm.hpp).

#include <cstdint>

#include <loramoe/cuda/bf16_gemm.hpp>
#include <loramoe/cuda/error.hpp>
#include <loramoe/cuda/memory.hpp>
#include "launch.cuh"

namespace loramoe {

namespace cuda_kernels {
namespace {

// out (rows, cols), contiguous = a rounded to bfloat16.
__global__ void round_to_bfloat16(const float* a, index a_stride, index rows, index cols,
                                  std::uint16_t* out) {
    const index count = rows * cols;
    for (index e = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x; e < count;
         e += static_cast<index>(gridDim.x) * blockDim.x)
        out[e] = bfloat16_bits(a[(e / cols) * a_stride + e % cols]);
}

__global__ void embedding_gather_bf16(const std::uint16_t* table, index table_stride, const std::int64_t* ids,
                                      float* out, index out_stride, index rows, index cols) {
    const index count = rows * cols;
    for (index e = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x; e < count;
         e += static_cast<index>(gridDim.x) * blockDim.x) {
        const index t = e / cols, j = e % cols;
        out[t * out_stride + j] = bfloat16_value(table[ids[t] * table_stride + j]);
    }
}

}  // namespace
}  // namespace cuda_kernels

namespace detail::cuda_bf16 {

// Row-major c = a op(W) is, to column-major cuBLAS, c^T = op(W)^T a^T (cuda/gemm.hpp): W first.
void gemm(float alpha, matrix_view<const float> a, const std::uint16_t* w, index w_rows, index w_cols,
          index w_stride, transpose op_w, float beta, matrix_view<float> c) {
    const bool tw = op_w == transpose::yes;
    const index m = a.rows, k = a.cols, n = tw ? w_rows : w_cols;
    LORAMOE_ASSERT(k == (tw ? w_cols : w_rows) && c.rows == m && c.cols == n);
    if (c.empty()) return;
    // a in bfloat16, contiguous: the calling thread's buffer, grown as needed (kept for the next call).
    thread_local buffer<std::uint16_t, cuda> rounded;
    rounded.resize(a.size());
    if (k > 0) {
        cuda_kernels::round_to_bfloat16<<<cuda_kernels::blocks_for(a.size()), cuda_kernels::block_threads, 0,
                                          cuda_kernels::stream()>>>(a.data, a.stride, a.rows, a.cols,
                                                                    rounded.data());
        LORAMOE_CUDA_LAUNCHED();
    }
    auto ld = [](index stride) { return static_cast<int>(stride > 0 ? stride : 1); };
    LORAMOE_CUBLAS_CHECK(cublasGemmEx(cuda_context::current().blas(), tw ? CUBLAS_OP_T : CUBLAS_OP_N,
                                      CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m),
                                      static_cast<int>(k), &alpha, w, CUDA_R_16BF, ld(w_stride),
                                      rounded.data(), CUDA_R_16BF, ld(k), &beta, c.data, CUDA_R_32F,
                                      ld(c.stride), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void embedding_forward(const std::uint16_t* table, index table_stride, const std::int64_t* ids,
                       matrix_view<float> out) {
    if (out.empty()) return;
    cuda_kernels::embedding_gather_bf16<<<cuda_kernels::blocks_for(out.size()), cuda_kernels::block_threads,
                                          0, cuda_kernels::stream()>>>(table, table_stride, ids, out.data,
                                                                       out.stride, out.rows, out.cols);
    LORAMOE_CUDA_LAUNCHED();
}

}  // namespace detail::cuda_bf16

}  // namespace loramoe
