#pragma once
// The solution of exercise 07 (examples/07_exercise_router_lbc.cpp): try it yourself first.
//
// With R = I ⊙ Q (K = B*N values), μ its mean, σ² its unbiased variance, eps = 1e-10, b(t) = t / S
// (docs/tutorial.md, section 4):
//   ∂lbc/∂R_n = 2 (R_n - μ) / (K - 1) / (μ² + eps) - σ² 2μ / (μ² + eps)² / K,   dQ = I ⊙ ∂lbc/∂R
//   dg[t, i]  = probe[t, i] + β mask[t] dQ[b(t), i]    both terms join here, before the softmax
//   dz[t, i]  = g[t, i] (dg[t, i] - sum_k g[t, k] dg[t, k])
//   dW_r += dz^T x,   dx = dz W_r
// The library's version is loramoe_linear::router_backward in include/loramoe/moe/loramoe_linear.hpp,
// with dQ from detail::lbc_from_importance in include/loramoe/moe/balance/lbc.hpp.

#include <algorithm>
#include <cstddef>
#include <vector>

namespace solutions {

inline void router_lbc_backward(const std::vector<double>& x, const std::vector<double>& w_r,
                                const std::vector<double>& g, const std::vector<double>& mask,
                                const std::vector<double>& localisation, const std::vector<double>& probe,
                                double beta, std::size_t samples, std::size_t positions, std::size_t d,
                                std::size_t n, std::vector<double>& dx, std::vector<double>& dw_r) {
    constexpr double eps = 1e-10;  // as the exercise's forward
    const std::size_t m = samples * positions, k = samples * n;

    // The forward's statistics again: R = I ⊙ Q (samples, n), μ, var.
    std::vector<double> weighted(k, 0.0);
    for (std::size_t t = 0; t < m; ++t)
        for (std::size_t i = 0; i < n; ++i) weighted[t / positions * n + i] += mask[t] * g[t * n + i];
    for (std::size_t j = 0; j < k; ++j) weighted[j] *= localisation[j];
    double mean = 0;
    for (double value : weighted) mean += value;
    mean /= static_cast<double>(k);
    double variance = 0;
    for (double value : weighted) variance += (value - mean) * (value - mean);
    variance /= static_cast<double>(k - 1);
    const double denominator = mean * mean + eps;

    std::vector<double> dq(k);  // dlbc/dQ (samples, n)
    for (std::size_t j = 0; j < k; ++j) {
        const double dweighted = 2 * (weighted[j] - mean) / static_cast<double>(k - 1) / denominator -
                                 variance * 2 * mean / (denominator * denominator) / static_cast<double>(k);
        dq[j] = localisation[j] * dweighted;  // dQ = I ⊙ ∂lbc/∂R
    }

    std::fill(dx.begin(), dx.end(), 0.0);
    std::vector<double> dg(n), dlogits(n);  // one row's dL/dg and dL/dz
    for (std::size_t t = 0; t < m; ++t) {
        const double* gt = &g[t * n];
        for (std::size_t i = 0; i < n; ++i)
            dg[i] = probe[t * n + i] + beta * mask[t] * dq[t / positions * n + i];
        double inner = 0;  // sum_k g[t, k] dg[t, k]
        for (std::size_t i = 0; i < n; ++i) inner += gt[i] * dg[i];
        for (std::size_t i = 0; i < n; ++i) dlogits[i] = gt[i] * (dg[i] - inner);
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t c = 0; c < d; ++c) {
                dw_r[i * d + c] += dlogits[i] * x[t * d + c];
                dx[t * d + c] += dlogits[i] * w_r[i * d + c];
            }
    }
}

}  // namespace solutions
