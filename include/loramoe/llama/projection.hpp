#pragma once
// One linear of a transformer block (q, k, v, o, gate, up or down): the base weights, frozen or
// trainable, with or without a LoRAMoE adapter beside them.

#include <optional>

#include <loramoe/core/gradient_mode.hpp>
#include <loramoe/moe/loramoe_linear.hpp>
#include <loramoe/nn/linear.hpp>

namespace loramoe::llama {

template <scalar T, backend Backend = cpu>
class projection {
public:
    // Adapters read from a checkpoint: sizes and the balancing loss chosen at run time.
    using adapter_type = moe::loramoe_linear<T, Backend, dynamic, dynamic, moe::balance::dynamic>;

    struct saved {
        typename adapter_type::saved adapter;
    };
    // The adapter's scratch (a plain linear needs none); one serves every projection of a model.
    using workspace = typename adapter_type::workspace;

    explicit projection(const nn::linear_weights<T>& weights,
                        std::optional<adapter_type> adapter = std::nullopt)
        : weights_(weights), adapter_(std::move(adapter)) {
        if (adapter_) adapter_->set_base(weights_);
    }

    const nn::linear_weights<T>& weights() const { return weights_; }

    adapter_type* adapter() { return adapter_ ? &*adapter_ : nullptr; }
    const adapter_type* adapter() const { return adapter_ ? &*adapter_ : nullptr; }
    index in_features() const { return weights_.in_features(); }
    index out_features() const { return weights_.out_features(); }

    void forward(matrix_view<const T> x, const moe::routing_batch<T>& batch, matrix_view<T> y, saved& s,
                 workspace& scratch, bool training) {
        if (adapter_)
            adapter_->forward(x, batch, y, s.adapter, scratch, training);
        else
            nn::linear_forward(Backend{}, weights_, x, y);
    }

    void backward(matrix_view<const T> x, matrix_view<const T> dy, const moe::routing_batch<T>& batch,
                  T balance_weight, const saved& s, workspace& scratch, matrix_view<T> dx,
                  gradient_mode mode) {
        if (adapter_)
            adapter_->backward(x, dy, batch, balance_weight, s.adapter, scratch, dx, mode);
        else
            nn::linear_backward(Backend{}, weights_, x, dy, dx, mode);
    }

    // The unweighted balancing loss of the last forward (0 without an adapter).
    T balance_loss(const saved& s) const { return adapter_ ? s.adapter.balance_loss : T(0); }

private:
    nn::linear_weights<T> weights_;
    std::optional<adapter_type> adapter_;
};

}  // namespace loramoe::llama
