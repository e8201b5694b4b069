#pragma once
// A linear layer, y = x W^T + b, with W (d_out, d_in) and an optional bias (d_out).
//
//   forward:   y = x W^T + b
//   backward:  dx = dy W          (overwritten or accumulated)
//              dW += dy^T x,  db += sum_t dy     (only where gradient pointers are given: frozen
//                                                 weights cost no gradient memory)

#include <loramoe/core/gemm.hpp>
#include <loramoe/core/gradient_mode.hpp>
#include <loramoe/core/view.hpp>
#include <loramoe/cpu/elementwise.hpp>
#include <loramoe/cpu/gemm.hpp>

namespace loramoe::nn {

template <class T>
struct linear_weights {
    matrix_view<const T> weight;   // (d_out, d_in); empty: no linear at all
    const T* bias = nullptr;       // (d_out) or null
    T* weight_grad = nullptr;      // (d_out, d_in) or null: frozen
    T* bias_grad = nullptr;        // (d_out) or null

    bool empty() const { return weight.data == nullptr; }
    index in_features() const { return weight.cols; }
    index out_features() const { return weight.rows; }
};

template <class T, class Backend>
void linear_forward(Backend, const linear_weights<T>& w, matrix_view<const T> x, matrix_view<T> y) {
    gemm(Backend{}, T(1), x, transpose::no, w.weight, transpose::yes, T(0), y);
    if (w.bias != nullptr) add_bias(Backend{}, w.bias, y);
}

// dx may be empty when the input needs no gradient.
template <class T, class Backend>
void linear_backward(Backend, const linear_weights<T>& w, matrix_view<const T> x, matrix_view<const T> dy,
                     matrix_view<T> dx, gradient_mode mode = gradient_mode::overwrite) {
    if (!dx.empty())
        gemm(Backend{}, T(1), dy, transpose::no, w.weight, transpose::no, mode == gradient_mode::accumulate ? T(1) : T(0),
             dx);
    if (w.weight_grad != nullptr)
        gemm(Backend{}, T(1), dy, transpose::yes, x, transpose::no, T(1),
             matrix_view<T>(w.weight_grad, w.out_features(), w.in_features()));
    if (w.bias_grad != nullptr) add_column_sums(Backend{}, dy, w.bias_grad);
}

}  // namespace loramoe::nn
