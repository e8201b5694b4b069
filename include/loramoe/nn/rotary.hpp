#pragma once
// Rotary position embeddings (RoPE) in HF's rotate-half layout (kernel: cpu/rope.hpp).
//
// The angle tables are computed in double on the host, w_i * position (w_i: nn/rope_frequencies.hpp,
// with the config's rope_scaling), then rounded to T: HuggingFace computes them in float32, which
// differs from the exact angles by about position * 1e-7 radians; the F64 cross-check contract needs
// the exact ones.

#include <cmath>
#include <cstdint>
#include <vector>

#include <loramoe/core/tensor.hpp>
#include <loramoe/cpu/rope.hpp>
#include <loramoe/nn/rope_frequencies.hpp>

namespace loramoe::nn {

template <scalar T, backend Backend = cpu>
class rotary_embedding {
public:
    rotary_embedding(index head_dim, double theta, const rope_scaling& scaling = {}) : head_dim_(head_dim) {
        if (head_dim <= 0 || head_dim % 2 != 0)
            fail<value_error>("rotary embedding: head_dim {} is not even", head_dim);
        if (!(theta > 0)) fail<value_error>("rotary embedding: rope_theta {} is not positive", theta);
        scaling.validate("rotary embedding");
        frequencies_ = rope_frequencies(head_dim, theta, scaling);
    }

    index head_dim() const { return head_dim_; }

    // Makes the tables cover positions [0, count).
    void reserve(index count) {
        if (count <= positions_) return;
        const index half = head_dim_ / 2;
        tensor<T, cpu> cos_host({count, half}), sin_host({count, half});
        for (index p = 0; p < count; ++p)
            for (index i = 0; i < half; ++i) {
                const double angle = static_cast<double>(p) * frequencies_[static_cast<std::size_t>(i)];
                cos_host.matrix()(p, i) = static_cast<T>(std::cos(angle));
                sin_host.matrix()(p, i) = static_cast<T>(std::sin(angle));
            }
        cos_ = to_backend<Backend>(cos_host);
        sin_ = to_backend<Backend>(sin_host);
        positions_ = count;
    }

    // x (M, heads*Dh) rotated in place; positions (M) in the backend's memory, each < reserve()'s count.
    void forward(matrix_view<T> x, const std::int64_t* positions) const { apply(x, positions, false); }
    // The backward is the inverse rotation of the gradient, in place.
    void backward(matrix_view<T> dx, const std::int64_t* positions) const { apply(dx, positions, true); }

private:
    void apply(matrix_view<T> x, const std::int64_t* positions, bool inverse) const {
        rotate(Backend{}, as_const(x), head_dim_, positions, as_const(cos_.matrix()), as_const(sin_.matrix()),
               inverse, x);
    }

    index head_dim_;
    std::vector<double> frequencies_;  // (Dh/2)
    index positions_ = 0;
    tensor<T, Backend> cos_, sin_;  // (P, Dh/2)
};

}  // namespace loramoe::nn
