#pragma once
// c = alpha * op(a) @ op(b) + beta * c on the host, by Eigen.
//
// The threads are ours, not Eigen's: the output is cut into one block of rows (or columns) per
// OpenMP thread and each thread runs Eigen's product on its block alone. Eigen's own threading makes
// its threads wait for each other in spin loops at every panel, which collapses when the machine has
// other work; separate blocks only meet at the end of the parallel region. The cost is
// that each thread packs the shared operand itself, a small fraction of a large product.

// Narrow float outputs (n <= 64: the adapters' low-rank products) go to cpu/narrow_gemm.hpp instead.

#include <algorithm>
#include <type_traits>

#include <omp.h>

#include <loramoe/core/gemm.hpp>
#include <loramoe/cpu/eigen.hpp>
#include <loramoe/cpu/narrow_gemm.hpp>

namespace loramoe {

namespace detail {

// One thread's product, Eigen single-threaded (we are inside our own parallel region, or alone).
template <class T>
void gemm_block(T alpha, matrix_view<const T> a, bool ta, matrix_view<const T> b, bool tb, T beta,
                matrix_view<T> c) {
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

}  // namespace detail

template <class T>
void gemm(cpu, T alpha, matrix_view<const T> a, transpose op_a, matrix_view<const T> b, transpose op_b,
          T beta, matrix_view<T> c) {
    const bool ta = op_a == transpose::yes, tb = op_b == transpose::yes;
    const index m = ta ? a.cols : a.rows, k = ta ? a.rows : a.cols, n = tb ? b.rows : b.cols;
    LORAMOE_ASSERT(k == (tb ? b.cols : b.rows) && c.rows == m && c.cols == n);
    if (c.empty()) return;
    if constexpr (std::is_same_v<T, float> && narrow_gemm_available) {
        if (n <= detail::narrow::max_width && k > 0 && m >= 64 && m * k >= (index{1} << 14)) {
            narrow_gemm(alpha, a, op_a, b, op_b, beta, c);
            return;
        }
    }

    // Blocks of at least 64 rows or columns, and about a million multiply-adds each: below that a
    // thread team costs more than it saves.
    const double work =
        static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(std::max<index>(k, 1));
    const bool by_rows = m >= n;
    const index extent = by_rows ? m : n;
    const int parts = static_cast<int>(std::clamp<index>(
        std::min<index>(extent / 64, static_cast<index>(work / (1 << 20))), 1, omp_get_max_threads()));
    if (parts == 1 || omp_in_parallel()) {
        detail::gemm_block(alpha, a, ta, b, tb, beta, c);
        return;
    }
#pragma omp parallel num_threads(parts)
    {
        const index part = omp_get_thread_num(), count = omp_get_num_threads();
        // Block boundaries on multiples of 16: whole SIMD registers for Eigen's kernels.
        auto boundary = [&](index p) { return std::min(extent, (extent * p / count + 15) / 16 * 16); };
        const index first = boundary(part), size = boundary(part + 1) - first;
        if (size > 0) {
            if (by_rows)  // rows of c: rows of op(a)
                detail::gemm_block(alpha, ta ? a.col_block(first, size) : a.row_block(first, size), ta, b, tb,
                                   beta, c.row_block(first, size));
            else  // columns of c: columns of op(b)
                detail::gemm_block(alpha, a, ta, tb ? b.row_block(first, size) : b.col_block(first, size), tb,
                                   beta, c.col_block(first, size));
        }
    }
}

}  // namespace loramoe
