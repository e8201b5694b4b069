#pragma once
// The SwiGLU gate of LLaMA's MLP on the host: a = silu(g) o u, forward and backward.
//
//   silu(g) = g sigma(g),  silu'(g) = sigma(g) (1 + g (1 - sigma(g)))
//   dg = da o u o silu'(g),   du = da o silu(g)

#include <cmath>

#include <loramoe/core/view.hpp>
#include <loramoe/cpu/parallel.hpp>

namespace loramoe {

template <class T>
void swiglu_forward(cpu, matrix_view<const T> gate, matrix_view<const T> up, matrix_view<T> out) {
    parallel_for(cpu{}, gate.rows, 8 * gate.cols, [&](index t) {
        for (index j = 0; j < gate.cols; ++j) {
            const T g = gate(t, j);
            out(t, j) = g / (T(1) + std::exp(-g)) * up(t, j);
        }
    });
}

// Overwrites dgate and dup.
template <class T>
void swiglu_backward(cpu, matrix_view<const T> gate, matrix_view<const T> up, matrix_view<const T> dout,
                     matrix_view<T> dgate, matrix_view<T> dup) {
    parallel_for(cpu{}, gate.rows, 10 * gate.cols, [&](index t) {
        for (index j = 0; j < gate.cols; ++j) {
            const T g = gate(t, j);
            const T sigma = T(1) / (T(1) + std::exp(-g));
            const T silu = g * sigma;
            dgate(t, j) = dout(t, j) * up(t, j) * sigma * (T(1) + g * (T(1) - sigma));
            dup(t, j) = dout(t, j) * silu;
        }
    });
}

}  // namespace loramoe
