#pragma once
// The elementwise steps of training on the host: the AdamW update and the gradient's global norm.
//
// AdamW, exactly as PyTorch's torch.optim.AdamW (decoupled weight decay), at update number t >= 1:
//   p <- p - lr * weight_decay * p
//   m <- b1 m + (1 - b1) g,         v <- b2 v + (1 - b2) g^2
//   p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

#include <cmath>

#include <loramoe/core/adamw_hyperparameters.hpp>
#include <loramoe/core/backend.hpp>
#include <loramoe/cpu/parallel.hpp>

namespace loramoe {

template <class T>
void adamw_update(cpu, T* p, const T* g, T* m, T* v, index n, const adamw_hyperparameters& h, index t) {
    const double step_size = h.lr / (1 - std::pow(h.beta1, static_cast<double>(t)));
    const double correction2 = std::sqrt(1 - std::pow(h.beta2, static_cast<double>(t)));
    const T decay = static_cast<T>(1 - h.lr * h.weight_decay), b1 = static_cast<T>(h.beta1),
            b2 = static_cast<T>(h.beta2);
    // 1 - beta in double, as PyTorch: in float, 1 - 0.999f loses a part in 1e5 of the second moment.
    const T one_minus_b1 = static_cast<T>(1 - h.beta1), one_minus_b2 = static_cast<T>(1 - h.beta2);
    const index chunk = 4096;
    parallel_for(cpu{}, (n + chunk - 1) / chunk, 16 * chunk, [&](index c) {
        for (index i = c * chunk; i < std::min(n, (c + 1) * chunk); ++i) {
            p[i] *= decay;
            m[i] = b1 * m[i] + one_minus_b1 * g[i];
            v[i] = b2 * v[i] + one_minus_b2 * g[i] * g[i];
            const T denominator = std::sqrt(v[i]) / static_cast<T>(correction2) + static_cast<T>(h.eps);
            p[i] -= static_cast<T>(step_size) * m[i] / denominator;
        }
    });
}

// sum_i g_i^2, accumulated in double.
template <class T>
double sum_of_squares(cpu, const T* g, index n) {
    double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (n > (1 << 16))
    for (index i = 0; i < n; ++i) total += static_cast<double>(g[i]) * static_cast<double>(g[i]);
    return total;
}

template <class T>
void scale_values(cpu, T* x, index n, T factor) {
    for (index i = 0; i < n; ++i) x[i] *= factor;
}

}  // namespace loramoe
