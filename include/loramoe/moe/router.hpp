#pragma once
// The router of a LoRAMoE linear: one matrix W_r (N, d_in) without bias.
//
//   forward:   z = x W_r^T  (M, N),   g = softmax(z) over all N experts (dense, as LoRAMoE);
//              with top_k = k > 0 only the k largest gates are kept, renormalised (MixLoRA style).
//   backward:  dz = g o (dg - <g, dg>)        (top-k included: dropped experts have g = 0)
//              dW_r += dz^T x,  dx += dz W_r   (done by the layer, fused with the experts' A)

#include <loramoe/core/view.hpp>
#include <loramoe/cpu/softmax.hpp>

namespace loramoe::moe {

template <class T, class Backend>
void route(Backend, matrix_view<const T> logits, index top_k, matrix_view<T> gates) {
    softmax_rows(Backend{}, logits, gates);
    keep_top_k(Backend{}, top_k, gates);
}

// Activation gradient: overwrites dlogits.
template <class T, class Backend>
void route_backward(Backend, matrix_view<const T> gates, matrix_view<const T> dgates,
                    matrix_view<T> dlogits) {
    softmax_rows_backward(Backend{}, gates, dgates, dlogits);
}

}  // namespace loramoe::moe
