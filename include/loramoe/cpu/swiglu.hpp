#pragma once
// The SwiGLU gate of LLaMA's MLP on the host: a = silu(g) o u, forward and backward.
//
//   silu(g) = g sigma(g),  silu'(g) = sigma(g) (1 + g (1 - sigma(g)))
//   dg = da o u o silu'(g),   du = da o silu(g)

#include <loramoe/core/view.hpp>
#include <loramoe/cpu/parallel.hpp>
#include <loramoe/cpu/simd.hpp>

namespace loramoe {

template <class T>
void swiglu_forward(cpu, matrix_view<const T> gate, matrix_view<const T> up, matrix_view<T> out) {
    parallel_for(cpu{}, gate.rows, 8 * gate.cols, [&](index t) {
        const T *g_row = gate.row(t), *u_row = up.row(t);
        T* out_row = out.row(t);
        simd::for_each_lane<T>(gate.cols, [&]<class V>(index j, V) {
            const V g = simd::load<V>(g_row + j);
            simd::store(out_row + j, g * simd::sigmoid(g) * simd::load<V>(u_row + j));
        });
    });
}

// Overwrites dgate and dup; dup may be dout itself (each element is read before it is written), which
// spares the block's backward an (M, F) buffer.
template <class T>
void swiglu_backward(cpu, matrix_view<const T> gate, matrix_view<const T> up, matrix_view<const T> dout,
                     matrix_view<T> dgate, matrix_view<T> dup) {
    parallel_for(cpu{}, gate.rows, 10 * gate.cols, [&](index t) {
        const T *g_row = gate.row(t), *u_row = up.row(t), *d_row = dout.row(t);
        T *dg_row = dgate.row(t), *du_row = dup.row(t);
        simd::for_each_lane<T>(gate.cols, [&]<class V>(index j, V) {
            const V g = simd::load<V>(g_row + j), d = simd::load<V>(d_row + j);
            const V sigma = simd::sigmoid(g);
            simd::store(dg_row + j, d * simd::load<V>(u_row + j) * sigma * (V(1) + g * (V(1) - sigma)));
            simd::store(du_row + j, d * (g * sigma));
        });
    });
}

}  // namespace loramoe
