#pragma once
// A linear layer, y = x W^T + b, with W (d_out, d_in) and an optional bias (d_out).
//
//   forward:   y = x W^T + b
//   backward:  dx = dy W          (overwritten or accumulated)
//              dW += dy^T x,  db += sum_t dy     (only where gradient pointers are given: frozen
//                                                 weights cost no gradient memory)
//
// A frozen W may be held in bfloat16 instead (float only; as a checkpoint stores it, and in half the
// memory): its products then run in bfloat16 with float sums (cpu/bf16_gemm.hpp, cuda/bf16_gemm.hpp).

#include <type_traits>

#include <loramoe/core/gemm.hpp>
#include <loramoe/core/gradient_mode.hpp>
#include <loramoe/core/view.hpp>
#include <loramoe/cpu/bf16_gemm.hpp>
#include <loramoe/cpu/elementwise.hpp>
#include <loramoe/cpu/gemm.hpp>

namespace loramoe::nn {

template <class T>
struct linear_weights {
    matrix_view<const T> weight;                // (d_out, d_in), or empty
    const T* bias = nullptr;                    // (d_out) or null
    T* weight_grad = nullptr;                   // (d_out, d_in) or null: frozen
    T* bias_grad = nullptr;                     // (d_out) or null
    matrix_view<const bfloat16> frozen_bf16{};  // (d_out, d_in) in weight's place, frozen, or empty

    // Neither: no linear at all.
    bool empty() const { return weight.data == nullptr && frozen_bf16.data == nullptr; }
    index in_features() const { return frozen_bf16.data ? frozen_bf16.cols : weight.cols; }
    index out_features() const { return frozen_bf16.data ? frozen_bf16.rows : weight.rows; }
};

namespace detail {

// c = alpha a op(W) + beta c, W in bfloat16 or in T.
template <class T, class Backend>
void weight_product(Backend, const linear_weights<T>& w, T alpha, matrix_view<const T> a, transpose op_w,
                    T beta, matrix_view<T> c) {
    if constexpr (std::is_same_v<T, float>) {
        if (w.frozen_bf16.data != nullptr) {
            gemm(Backend{}, alpha, a, w.frozen_bf16, op_w, beta, c);
            return;
        }
    } else {
        LORAMOE_ASSERT(w.frozen_bf16.data == nullptr);
    }
    gemm(Backend{}, alpha, a, transpose::no, w.weight, op_w, beta, c);
}

}  // namespace detail

template <class T, class Backend>
void linear_forward(Backend, const linear_weights<T>& w, matrix_view<const T> x, matrix_view<T> y) {
    detail::weight_product(Backend{}, w, T(1), x, transpose::yes, T(0), y);
    if (w.bias != nullptr) add_bias(Backend{}, w.bias, y);
}

// dx may be empty when the input needs no gradient.
template <class T, class Backend>
void linear_backward(Backend, const linear_weights<T>& w, matrix_view<const T> x, matrix_view<const T> dy,
                     matrix_view<T> dx, gradient_mode mode = gradient_mode::overwrite) {
    if (!dx.empty())
        detail::weight_product(Backend{}, w, T(1), dy, transpose::no,
                               mode == gradient_mode::accumulate ? T(1) : T(0), dx);
    if (w.weight_grad != nullptr)
        gemm(Backend{}, T(1), dy, transpose::yes, x, transpose::no, T(1),
             matrix_view<T>(w.weight_grad, w.out_features(), w.in_features()));
    if (w.bias_grad != nullptr) add_column_sums(Backend{}, dy, w.bias_grad);
}

}  // namespace loramoe::nn
