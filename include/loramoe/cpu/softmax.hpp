#pragma once
// Row-wise softmax on the host, forward and backward, and top-k selection.
//
//   forward:   p = softmax(z) = exp(z - max z) / sum(exp(z - max z))
//   backward:  dz = p o (dp - <p, dp>)                       (the Jacobian of softmax is diag(p) - p p^T)

#include <algorithm>
#include <numeric>
#include <vector>

#include <loramoe/core/view.hpp>
#include <loramoe/cpu/parallel.hpp>
#include <loramoe/cpu/simd.hpp>

namespace loramoe {

// p[0:n] = softmax(z[0:n]); p may alias z.
template <class T>
void softmax_row(const T* z, T* p, index n) {
    const T sum = simd::exp_shifted(z, simd::max(z, n), p, n);
    simd::scale(T(1) / sum, p, p, n);
}

// dz[0:n] = p o (dp - <p, dp>); dz may alias dp.
template <class T>
void softmax_row_backward(const T* p, const T* dp, T* dz, index n) {
    const T inner = simd::dot(p, dp, n);
    for (index j = 0; j < n; ++j) dz[j] = p[j] * (dp[j] - inner);
}

template <class T>
void softmax_rows(cpu, matrix_view<const T> logits, matrix_view<T> probs) {
    LORAMOE_ASSERT(logits.rows == probs.rows && logits.cols == probs.cols);
    parallel_for(cpu{}, logits.rows, 8 * logits.cols,
                 [&](index t) { softmax_row(logits.row(t), probs.row(t), logits.cols); });
}

// Activation gradient: overwrites dlogits (which may alias dprobs).
template <class T>
void softmax_rows_backward(cpu, matrix_view<const T> probs, matrix_view<const T> dprobs,
                           matrix_view<T> dlogits) {
    LORAMOE_ASSERT(probs.rows == dprobs.rows && probs.rows == dlogits.rows);
    parallel_for(cpu{}, probs.rows, 4 * probs.cols, [&](index t) {
        softmax_row_backward(probs.row(t), dprobs.row(t), dlogits.row(t), probs.cols);
    });
}

// Keeps the k largest probabilities of each row (the lower index first among ties), zeroes the rest
// and renormalises. This equals a softmax over the kept logits, so softmax_rows_backward applies
// unchanged: dropped entries have p = 0 and get no gradient.
template <class T>
void keep_top_k(cpu, index k, matrix_view<T> probs) {
    if (k <= 0 || k >= probs.cols) return;
    parallel_for(cpu{}, probs.rows, 4 * probs.cols, [&](index t) {
        T* p = probs.row(t);
        std::vector<index> order(static_cast<std::size_t>(probs.cols));
        std::iota(order.begin(), order.end(), index{0});
        std::stable_sort(order.begin(), order.end(), [p](index a, index b) { return p[a] > p[b]; });
        T kept = 0;
        for (index j = 0; j < k; ++j) kept += p[order[j]];
        for (index j = k; j < probs.cols; ++j) p[order[j]] = 0;
        for (index j = 0; j < k; ++j) p[order[j]] /= kept;
    });
}

}  // namespace loramoe
