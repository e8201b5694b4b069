#pragma once
// RMSNorm on the host (LLaMA's LlamaRMSNorm), forward and backward, per row of D features.
//
//   forward:   rstd = 1 / sqrt(mean(x^2) + eps),   n = x * rstd,   y = w o n
//   backward:  dn = dy o w
//              dx = rstd * (dn - n * mean(dn o n))
//              dw += sum_t dy o n

#include <cmath>

#include <loramoe/core/gradient_mode.hpp>
#include <loramoe/core/view.hpp>
#include <loramoe/cpu/parallel.hpp>
#include <loramoe/cpu/simd.hpp>

namespace loramoe {

template <class T>
void rmsnorm_forward(cpu, matrix_view<const T> x, const T* weight, T eps, matrix_view<T> y, T* rstd) {
    LORAMOE_ASSERT(x.rows == y.rows && x.cols == y.cols);
    parallel_for(cpu{}, x.rows, 4 * x.cols, [&](index t) {
        const T* xt = x.row(t);
        const T r = T(1) / std::sqrt(simd::dot(xt, xt, x.cols) / static_cast<T>(x.cols) + eps);
        rstd[t] = r;
        T* yt = y.row(t);
        for (index j = 0; j < x.cols; ++j) yt[j] = weight[j] * (xt[j] * r);
    });
}

// dx is overwritten or accumulated (mode); dweight (if not null) accumulates.
template <class T>
void rmsnorm_backward(cpu, matrix_view<const T> x, const T* weight, const T* rstd, matrix_view<const T> dy,
                      matrix_view<T> dx, gradient_mode mode, T* dweight) {
    LORAMOE_ASSERT(x.rows == dy.rows && x.cols == dy.cols && dx.rows == x.rows && dx.cols == x.cols);
    const index d = x.cols;
    parallel_for(cpu{}, x.rows, 6 * d, [&](index t) {
        const T* xt = x.row(t);
        const T* dyt = dy.row(t);
        T* dxt = dx.row(t);
        const T r = rstd[t];
        T mean_dn_n = 0;  // mean(dn o n)
        for (index j = 0; j < d; ++j) mean_dn_n += dyt[j] * weight[j] * xt[j] * r;
        mean_dn_n /= static_cast<T>(d);
        for (index j = 0; j < d; ++j) {
            const T g = r * (dyt[j] * weight[j] - xt[j] * r * mean_dn_n);
            dxt[j] = mode == gradient_mode::accumulate ? dxt[j] + g : g;
        }
    });
    if (dweight != nullptr)  // dw += sum_t dy o (x * rstd); a row loop, vectorised over the features
        for (index t = 0; t < x.rows; ++t)
            for (index j = 0; j < d; ++j) dweight[j] += dy(t, j) * x(t, j) * rstd[t];
}

}  // namespace loramoe
