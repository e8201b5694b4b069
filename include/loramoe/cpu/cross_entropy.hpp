#pragma once
// Cross-entropy of logits against integer targets on the host, forward and backward.
//
//   forward:   loss_t = logsumexp(z_t) - z_t[target_t]       for the rows whose target is not ignored
//   backward:  dz_t = scale * (softmax(z_t) - onehot(target_t)), 0 for ignored rows
// The caller divides by the count (mean reduction) through `scale`.

#include <cmath>
#include <cstdint>

#include <loramoe/core/ignore_index.hpp>
#include <loramoe/core/view.hpp>
#include <loramoe/cpu/parallel.hpp>
#include <loramoe/cpu/simd.hpp>
#include <loramoe/cpu/softmax.hpp>

namespace loramoe {

// Returns the sum of loss_t over the counted rows (in double, whatever T).
template <class T>
double cross_entropy_sum(cpu, matrix_view<const T> logits, const std::int64_t* targets) {
    double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (logits.rows * logits.cols > (1 << 15))
    for (index t = 0; t < logits.rows; ++t) {
        if (targets[t] == ignore_index) continue;
        const T* z = logits.row(t);
        const T top = simd::max(z, logits.cols);
        double sum = 0;
        for (index j = 0; j < logits.cols; ++j) sum += std::exp(static_cast<double>(z[j] - top));
        total += static_cast<double>(top) + std::log(sum) - static_cast<double>(z[targets[t]]);
    }
    return total;
}

// Overwrites dlogits (which may alias logits: the softmax is computed in place).
template <class T>
void cross_entropy_backward(cpu, matrix_view<const T> logits, const std::int64_t* targets, T scale,
                            matrix_view<T> dlogits) {
    parallel_for(cpu{}, logits.rows, 8 * logits.cols, [&](index t) {
        T* d = dlogits.row(t);
        if (targets[t] == ignore_index) {
            for (index j = 0; j < logits.cols; ++j) d[j] = 0;
            return;
        }
        softmax_row(logits.row(t), d, logits.cols);
        d[targets[t]] -= T(1);
        simd::scale(scale, d, d, logits.cols);
    });
}

}  // namespace loramoe
