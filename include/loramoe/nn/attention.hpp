#pragma once
// Causal grouped-query self-attention with a padding mask (kernels: cpu/attention.hpp), with the
// probabilities kept for backward.

#include <loramoe/core/tensor.hpp>
#include <loramoe/cpu/attention.hpp>

namespace loramoe::nn {

template <scalar T, backend Backend = cpu>
struct causal_attention {
    index heads = 0;     // H
    index kv_heads = 0;  // Hkv
    index head_dim = 0;  // Dh

    struct saved {
        tensor<T, Backend> probs;  // (B, H, S, S)
    };

    attention_shape shape(index samples, index tokens) const {
        return {samples, tokens, heads, kv_heads, head_dim};
    }

    // q (B*S, H*Dh), k, v (B*S, Hkv*Dh), mask (B*S) or null  ->  out (B*S, H*Dh)
    void forward(index samples, index tokens, matrix_view<const T> q, matrix_view<const T> k,
                 matrix_view<const T> v, const T* mask, matrix_view<T> out, saved& s) const {
        s.probs.resize({samples, heads, tokens, tokens});
        attention_forward(Backend{}, shape(samples, tokens), q, k, v, mask, s.probs.data(), out);
    }

    // Overwrites dq, dk, dv.
    void backward(index samples, index tokens, matrix_view<const T> q, matrix_view<const T> k,
                  matrix_view<const T> v, const T* mask, const saved& s, matrix_view<const T> dout,
                  matrix_view<T> dq, matrix_view<T> dk, matrix_view<T> dv) const {
        attention_backward(Backend{}, shape(samples, tokens), q, k, v, mask, s.probs.data(), dout, dq, dk,
                           dv);
    }
};

}  // namespace loramoe::nn
