#pragma once
// A frozen base held in bfloat16 on the device (llama::model_options::base_in_bf16 with loramoe::cuda):
// the products of a linear whose weight W (N, K) = (d_out, d_in) is bfloat16 in device memory,
// row-major, and the embedding of such a table. Defined in cuda/bf16.cu.
//
//   c = alpha * a op(W) + beta * c     a (M, K) or (M, N), float; W bfloat16; c float
//   PyTorch: y = x.bfloat16().float() @ W.float().T    (bfloat16 operands, float32 sums)
//
// The numerics are the host's (cpu/bf16_gemm.hpp): every element of a is rounded to bfloat16 as
// core/bfloat16.hpp rounds it (to nearest, ties to even; denormals to a zero of their sign; NaN stays
// NaN), into a device buffer of the calling thread, then cuBLAS multiplies the bfloat16 operands with
// float sums (cublasGemmEx, CUBLAS_COMPUTE_32F). Only the order of the sums differs from the host.

#include <cstdint>

#include <loramoe/core/bfloat16.hpp>
#include <loramoe/core/gemm.hpp>
#include <loramoe/core/view.hpp>

namespace loramoe {

namespace detail::cuda_bf16 {
// The functions below with W as its bits.
void gemm(float alpha, matrix_view<const float> a, const std::uint16_t* w, index w_rows, index w_cols,
          index w_stride, transpose op_w, float beta, matrix_view<float> c);
void embedding_forward(const std::uint16_t* table, index table_stride, const std::int64_t* ids,
                       matrix_view<float> out);
}  // namespace detail::cuda_bf16

#ifndef __CUDACC__  // the type is the host's (core/bfloat16.hpp)

inline void gemm(cuda, float alpha, matrix_view<const float> a, matrix_view<const bfloat16> w, transpose op_w,
                 float beta, matrix_view<float> c) {
    detail::cuda_bf16::gemm(alpha, a, reinterpret_cast<const std::uint16_t*>(w.data), w.rows, w.cols,
                            w.stride, op_w, beta, c);
}

// out[t, :] = table[ids[t], :], widened to float; ids in device memory.
inline void embedding_forward(cuda, matrix_view<const bfloat16> table, const std::int64_t* ids,
                              matrix_view<float> out) {
    LORAMOE_ASSERT(table.cols == out.cols);
    detail::cuda_bf16::embedding_forward(reinterpret_cast<const std::uint16_t*>(table.data), table.stride,
                                         ids, out);
}

#endif

}  // namespace loramoe
