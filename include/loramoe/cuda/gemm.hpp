#pragma once
// c = alpha * op(a) @ op(b) + beta * c on the device, by cuBLAS.
//
// cuBLAS is column-major; a row-major (r, c) matrix with row stride s is, to it, the column-major
// (c, r) transpose with leading dimension s. So the row-major product C = op(A) op(B) is computed as
// the column-major C^T = op(B)^T op(A)^T: B first, A second, m and n swapped.

#include <type_traits>

#include <loramoe/core/gemm.hpp>
#include <loramoe/core/view.hpp>
#include <loramoe/cuda/context.hpp>

namespace loramoe {

template <class T>
void gemm(cuda, T alpha, matrix_view<const T> a, transpose op_a, matrix_view<const T> b, transpose op_b,
          T beta, matrix_view<T> c) {
    const bool ta = op_a == transpose::yes, tb = op_b == transpose::yes;
    const index m = ta ? a.cols : a.rows, k = ta ? a.rows : a.cols, n = tb ? b.rows : b.cols;
    LORAMOE_ASSERT(k == (tb ? b.cols : b.rows) && c.rows == m && c.cols == n);
    if (c.empty()) return;
    // cuBLAS wants a leading dimension of at least 1 even for an empty operand.
    auto ld = [](index stride) { return static_cast<int>(stride > 0 ? stride : 1); };
    const cublasOperation_t first = tb ? CUBLAS_OP_T : CUBLAS_OP_N, second = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasHandle_t handle = cuda_context::current().blas();
    if constexpr (std::is_same_v<T, float>)
        LORAMOE_CUBLAS_CHECK(cublasSgemm(handle, first, second, static_cast<int>(n), static_cast<int>(m),
                                         static_cast<int>(k), &alpha, b.data, ld(b.stride), a.data,
                                         ld(a.stride), &beta, c.data, ld(c.stride)));
    else
        LORAMOE_CUBLAS_CHECK(cublasDgemm(handle, first, second, static_cast<int>(n), static_cast<int>(m),
                                         static_cast<int>(k), &alpha, b.data, ld(b.stride), a.data,
                                         ld(a.stride), &beta, c.data, ld(c.stride)));
}

}  // namespace loramoe
