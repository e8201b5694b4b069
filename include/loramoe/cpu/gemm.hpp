#pragma once
// c = alpha * op(a) @ op(b) + beta * c on the host, by Eigen (threaded by OpenMP inside Eigen).

#include <loramoe/core/gemm.hpp>
#include <loramoe/cpu/eigen.hpp>

namespace loramoe {

template <class T>
void gemm(cpu, T alpha, matrix_view<const T> a, transpose op_a, matrix_view<const T> b, transpose op_b, T beta,
          matrix_view<T> c) {
    const bool ta = op_a == transpose::yes, tb = op_b == transpose::yes;
    [[maybe_unused]] const index m = ta ? a.cols : a.rows, k = ta ? a.rows : a.cols;
    [[maybe_unused]] const index n = tb ? b.rows : b.cols, kb = tb ? b.cols : b.rows;
    LORAMOE_ASSERT(k == kb && c.rows == m && c.cols == n);
    if (c.empty()) return;

    auto C = eigen_map(c);
    auto A = eigen_map(a);
    auto B = eigen_map(b);
    auto run = [&](const auto& left, const auto& right) {
        if (beta == T(0)) {
            C.noalias() = alpha * left * right;
        } else {
            if (beta != T(1)) C *= beta;
            C.noalias() += alpha * left * right;
        }
    };
    if (!ta && !tb) run(A, B);
    if (ta && !tb) run(A.transpose(), B);
    if (!ta && tb) run(A, B.transpose());
    if (ta && tb) run(A.transpose(), B.transpose());
}

}  // namespace loramoe
