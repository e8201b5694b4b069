#pragma once
// Reductions of the router's output over tokens and samples, on the host: the heavy part of the
// balancing losses (moe/balance/), whose small remaining maths runs on the host for every backend.
//
// gates (B*S, N), one row per token, sample-major; mask (B*S) with 1 for a real token and 0 for
// padding, or null when every token is real.

#include <cmath>

#include <loramoe/core/view.hpp>
#include <loramoe/cpu/parallel.hpp>
#include <loramoe/cpu/simd.hpp>

namespace loramoe {

// q[b, n] = sum_t mask[b, t] * gates[b*S + t, n]        (overwrites q)
template <class T>
void sum_gates_per_sample(cpu, matrix_view<const T> gates, const T* mask, index samples, index tokens,
                          matrix_view<T> q) {
    LORAMOE_ASSERT(gates.rows == samples * tokens && q.rows == samples && q.cols == gates.cols);
    for (index b = 0; b < samples; ++b) {
        for (index n = 0; n < q.cols; ++n) q(b, n) = 0;
        for (index t = 0; t < tokens; ++t) {
            const index row = b * tokens + t;
            const T m = mask ? mask[row] : T(1);
            for (index n = 0; n < q.cols; ++n) q(b, n) += m * gates(row, n);
        }
    }
}

// dgates[b*S + t, n] += mask[b, t] * dq[b, n]               (the backward of sum_gates_per_sample)
template <class T>
void add_per_sample_gradient(cpu, matrix_view<const T> dq, const T* mask, index samples, index tokens,
                             matrix_view<T> dgates) {
    LORAMOE_ASSERT(dgates.rows == samples * tokens && dq.rows == samples && dq.cols == dgates.cols);
    parallel_for(cpu{}, samples * tokens, dgates.cols, [&](index row) {
        const index b = row / tokens;
        const T m = mask ? mask[row] : T(1);
        for (index n = 0; n < dgates.cols; ++n) dgates(row, n) += m * dq(b, n);
    });
}

// counts[n] = number of real tokens whose largest gate is expert n (the lower index among ties).
template <class T>
void count_top_expert(cpu, matrix_view<const T> gates, const T* mask, T* counts) {
    for (index n = 0; n < gates.cols; ++n) counts[n] = 0;
    for (index row = 0; row < gates.rows; ++row) {
        if (mask && mask[row] == T(0)) continue;
        index best = 0;
        for (index n = 1; n < gates.cols; ++n)
            if (gates(row, n) > gates(row, best)) best = n;
        counts[best] += 1;
    }
}

// lse[t] = log sum_n exp(logits[t, n])
template <class T>
void logsumexp_rows(cpu, matrix_view<const T> logits, T* lse) {
    parallel_for(cpu{}, logits.rows, 8 * logits.cols, [&](index t) {
        const T* z = logits.row(t);
        T top = simd::max(z, logits.cols), sum = 0;
        for (index n = 0; n < logits.cols; ++n) sum += std::exp(z[n] - top);
        lse[t] = top + std::log(sum);
    });
}

// dlogits[t, n] += c * mask[t] * 2 lse[t] softmax(logits[t])[n]     (the backward of c * sum_t lse[t]^2)
template <class T>
void add_squared_logsumexp_gradient(cpu, matrix_view<const T> logits, const T* lse, const T* mask, T c,
                                    matrix_view<T> dlogits) {
    parallel_for(cpu{}, logits.rows, 8 * logits.cols, [&](index t) {
        const T m = mask ? mask[t] : T(1);
        for (index n = 0; n < logits.cols; ++n)
            dlogits(t, n) += c * m * T(2) * lse[t] * std::exp(logits(t, n) - lse[t]);
    });
}

}  // namespace loramoe
