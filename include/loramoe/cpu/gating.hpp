#pragma once
// Scaling each expert's low-rank activations by its gate, on the host, forward and backward.
//
// h (M, N*r) holds the N experts' activations A_i x side by side; g (M, N) the gates.
//   forward:   hs[t, i*r + j] = s * g[t, i] * h[t, i*r + j]
//   backward:  dh[t, i*r + j] = s * g[t, i] * dhs[t, i*r + j]
//              dg[t, i]       = s * sum_j dhs[t, i*r + j] * h[t, i*r + j]
// With a static rank (extent<4>) the inner loops unroll.

#include <loramoe/core/extent.hpp>
#include <loramoe/core/view.hpp>
#include <loramoe/cpu/parallel.hpp>
#include <loramoe/cpu/simd.hpp>

namespace loramoe {

template <class T, int Rank>
void scale_by_gates(cpu, matrix_view<const T> h, matrix_view<const T> gates, T s, extent<Rank> rank,
                    matrix_view<T> hs) {
    LORAMOE_ASSERT(h.cols == gates.cols * rank.value() && hs.rows == h.rows && hs.cols == h.cols);
    const index r = rank.value();
    parallel_for(cpu{}, h.rows, h.cols, [&](index t) {
        for (index i = 0; i < gates.cols; ++i)
            simd::scale(s * gates(t, i), h.row(t) + i * r, hs.row(t) + i * r, r);
    });
}

// Activation gradients: overwrites dh (which may alias dhs) and dgates.
template <class T, int Rank>
void scale_by_gates_backward(cpu, matrix_view<const T> h, matrix_view<const T> gates,
                             matrix_view<const T> dhs, T s, extent<Rank> rank, matrix_view<T> dh,
                             matrix_view<T> dgates) {
    LORAMOE_ASSERT(h.cols == gates.cols * rank.value() && dgates.cols == gates.cols);
    const index r = rank.value();
    parallel_for(cpu{}, h.rows, 2 * h.cols, [&](index t) {
        const T* ht = h.row(t);
        const T* dhst = dhs.row(t);
        T* dht = dh.row(t);
        for (index i = 0; i < gates.cols; ++i) {
            const T gate = s * gates(t, i);
            T dgate = 0;
            for (index j = i * r; j < (i + 1) * r; ++j) {
                dgate += dhst[j] * ht[j];
                dht[j] = gate * dhst[j];
            }
            dgates(t, i) = s * dgate;
        }
    });
}

}  // namespace loramoe
