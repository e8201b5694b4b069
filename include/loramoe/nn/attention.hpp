#pragma once
// Causal grouped-query self-attention with a padding mask and an optional sliding window (kernels:
// cpu/attention.hpp), with the probabilities kept for backward, or (on the CPU) computed again there.

#include <type_traits>

#include <loramoe/core/tensor.hpp>
#include <loramoe/cpu/attention.hpp>

namespace loramoe::nn {

template <scalar T, backend Backend = cpu>
struct causal_attention {
    index heads = 0;     // H
    index kv_heads = 0;  // Hkv
    index head_dim = 0;  // Dh
    index window = 0;    // the keys a query sees, itself included (Mistral's sliding window); 0: all
    // False: forward keeps no (B, H, S, S) probabilities and backward computes them again (CPU; the
    // CUDA kernels always keep them). At S = 2048 they are 16 MiB per sample and head.
    bool keep_probabilities = true;

    struct saved {
        tensor<T, Backend> probs;  // (B, H, S, S)
    };

    attention_shape shape(index samples, index tokens) const {
        return {samples, tokens, heads, kv_heads, head_dim, window};
    }

    // q (B*S, H*Dh), k, v (B*S, Hkv*Dh), mask (B*S) or null  ->  out (B*S, H*Dh)
    void forward(index samples, index tokens, matrix_view<const T> q, matrix_view<const T> k,
                 matrix_view<const T> v, const T* mask, matrix_view<T> out, saved& s) const {
        if (kept())
            s.probs.resize({samples, heads, tokens, tokens});
        else
            s.probs = {};
        attention_forward(Backend{}, shape(samples, tokens), q, k, v, mask, kept() ? s.probs.data() : nullptr,
                          out);
    }

    // Overwrites dq, dk, dv.
    void backward(index samples, index tokens, matrix_view<const T> q, matrix_view<const T> k,
                  matrix_view<const T> v, const T* mask, const saved& s, matrix_view<const T> dout,
                  matrix_view<T> dq, matrix_view<T> dk, matrix_view<T> dv) const {
        attention_backward(Backend{}, shape(samples, tokens), q, k, v, mask,
                           kept() ? s.probs.data() : nullptr, dout, dq, dk, dv);
    }

private:
    bool kept() const { return keep_probabilities || !std::is_same_v<Backend, cpu>; }
};

}  // namespace loramoe::nn
