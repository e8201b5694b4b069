#pragma once
// A LLaMA decoder block (HF's LlamaDecoderLayer) with LoRAMoE adapters on any of its linears.
//
//   x1 = rmsnorm(h)                       q, k, v = x1 Wq^T, x1 Wk^T, x1 Wv^T    (each maybe LoRAMoE)
//   q, k = rope(q), rope(k)               o = attention(q, k, v)                 h2 = h + o Wo^T
//   x2 = rmsnorm(h2)                      a = silu(x2 Wg^T) o (x2 Wu^T)          h' = h2 + a Wd^T (+ ffn
//   adapter(x2))
//
// Shapes (M = B*S rows): h, x1, h2, x2 (M, D); q, o (M, H*Dh); k, v (M, Hkv*Dh); gate, up, a (M, F).

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include <loramoe/cpu/swiglu.hpp>
#include <loramoe/llama/config.hpp>
#include <loramoe/llama/projection.hpp>
#include <loramoe/llama/weights.hpp>
#include <loramoe/moe/adapter_config.hpp>
#include <loramoe/nn/attention.hpp>
#include <loramoe/nn/kv_cache.hpp>
#include <loramoe/nn/rmsnorm.hpp>
#include <loramoe/nn/rotary.hpp>

namespace loramoe::llama {

// What every block reads about the batch.
template <class T>
struct sequence_context {
    index samples = 0;                        // B
    index tokens = 0;                         // S
    const T* attention_mask = nullptr;        // (B*S) in the backend's memory, or null: no padding
    const std::int64_t* positions = nullptr;  // (B*S) in the backend's memory
    moe::routing_batch<T> routing;            // what the adapters' balancing loss sees
};

template <scalar T, backend Backend = cpu>
class llama_block {
public:
    using projection_type = projection<T, Backend>;
    using adapter_type = typename projection_type::adapter_type;

    // What forward writes and backward reads, per block.
    struct saved {
        typename nn::rms_norm<T, Backend>::saved input_norm, post_norm;
        typename nn::causal_attention<T, Backend>::saved attention;
        std::array<typename projection_type::saved, 7> linears;
        typename adapter_type::saved ffn_adapter;
        tensor<T, Backend> x1;                  // (M, D)
        tensor<T, Backend> q, k, v;             // (M, H*Dh), (M, Hkv*Dh) x2, after rope
        tensor<T, Backend> o;                   // (M, H*Dh)
        tensor<T, Backend> h2, x2;              // (M, D)
        tensor<T, Backend> gate, up, act;       // (M, F)
        tensor<T, Backend> ffn_adapter_output;  // (M, D)
    };

    // Scratch of forward and backward, owned by the caller: one serves every block of a model.
    struct workspace {
        typename projection_type::workspace linears;  // the adapters' scratch
        tensor<T, Backend> dx1, dx2;                  // (M, D)
        tensor<T, Backend> dq, dattention;            // (M, H*Dh)
        tensor<T, Backend> dk, dv;                    // (M, Hkv*Dh)
        tensor<T, Backend> dgate, dact;               // (M, F); dact then holds d up
    };

    // `base` says where the model's weights are; adapters, when given, are created unbound: bind them
    // with for_each_adapter.
    llama_block(const llama_config& config, index layer, const base_weight_map<T>& base,
                const std::optional<moe::adapter_config>& adapters,
                const nn::rotary_embedding<T, Backend>* rotary, std::uint64_t seed)
        : layer_(layer),
          hidden_(config.hidden_size),
          ffn_(config.intermediate_size),
          rotary_(rotary),
          attention_{config.num_attention_heads, config.num_key_value_heads, config.head_dim,
                     config.sliding_window} {
        const std::string prefix = layer_prefix(layer);
        auto values = [&](const std::string& name) { return base.values(prefix + name); };
        auto grads = [&](const std::string& name) { return base.grads(prefix + name); };
        input_norm_ = {values("input_layernorm.weight"), grads("input_layernorm.weight"),
                       static_cast<T>(config.rms_norm_eps)};
        post_norm_ = {values("post_attention_layernorm.weight"), grads("post_attention_layernorm.weight"),
                      static_cast<T>(config.rms_norm_eps)};
        for (block_linear linear : block_linears) {
            const std::string name = module_name(linear);
            const auto [out, in] = linear_shape(config, linear);
            nn::linear_weights<T> weights = base.matrix(prefix + name + ".weight", out, in);
            if (has_bias(config, linear)) {
                weights.bias = values(name + ".bias");
                weights.bias_grad = grads(name + ".bias");
            }
            std::optional<adapter_type> adapter;
            if (adapters && adapters->placement == moe::adapter_placement::linears &&
                adapters->targets(prefix + name))
                adapter.emplace(adapters->layer_config(in, out, seed + static_cast<std::uint64_t>(linear)),
                                adapters->balance());
            linears_.emplace_back(weights, std::move(adapter));
        }
        if (adapters && adapters->placement == moe::adapter_placement::ffn)
            ffn_adapter_.emplace(adapters->layer_config(hidden(), hidden(), seed + 7), adapters->balance());
    }

    index layer() const { return layer_; }
    index hidden() const { return hidden_; }

    // False: the attention keeps no probabilities for backward, which computes them again (CPU).
    void keep_attention_probabilities(bool keep) { attention_.keep_probabilities = keep; }

    // One of the seven linears: its weights, and its adapter if it has one.
    projection_type& linear(block_linear which) { return linears_[static_cast<std::size_t>(which)]; }

    // f(module name, adapter) for every adapter of the block, in a fixed order.
    template <class F>
    void for_each_adapter(F&& f) {
        const std::string prefix = layer_prefix(layer_);
        for (block_linear linear : block_linears)
            if (adapter_type* adapter = linears_[static_cast<std::size_t>(linear)].adapter())
                f(prefix + module_name(linear), *adapter);
        if (ffn_adapter_) f(prefix + "mlp", *ffn_adapter_);
    }

    // The sum of the block's unweighted balancing losses from the last forward.
    T balance_loss(const saved& s) const {
        T total = 0;
        for (std::size_t i = 0; i < linears_.size(); ++i) total += linears_[i].balance_loss(s.linears[i]);
        if (ffn_adapter_) total += s.ffn_adapter.balance_loss;
        return total;
    }

    // h (M, D) -> out (M, D)
    void forward(matrix_view<const T> h, const sequence_context<T>& c, matrix_view<T> out, saved& s,
                 workspace& scratch, bool training) {
        const index m = h.rows;
        s.k.resize({m, kv_width()});
        s.v.resize({m, kv_width()});
        compute(h, c, s.k.matrix(), s.v.matrix(), out, s, scratch, training, [&] {
            attention_.forward(c.samples, c.tokens, s.q.matrix(), s.k.matrix(), s.v.matrix(),
                               c.attention_mask, s.o.matrix(), s.attention);
        });
    }

    // dh holds d out on entry and d h on return. Parameter gradients accumulate.
    void backward(matrix_view<const T> h, const sequence_context<T>& c, matrix_view<T> dh, const saved& s,
                  workspace& scratch, T balance_weight) {
        const index m = h.rows;
        for (auto* t : {&scratch.dx1, &scratch.dx2}) t->resize({m, hidden()});
        for (auto* t : {&scratch.dq, &scratch.dattention}) t->resize({m, s.q.dim(1)});
        for (auto* t : {&scratch.dk, &scratch.dv}) t->resize({m, s.k.dim(1)});
        for (auto* t : {&scratch.dgate, &scratch.dact}) t->resize({m, ffn_});

        // MLP: d out reaches x2 through down, the SwiGLU gate, gate and up (and the ffn adapter).
        linear_backward(block_linear::down, s.act, dh, scratch.dact, gradient_mode::overwrite, c, s, scratch,
                        balance_weight);
        // d up goes in d act's place: one (M, F) buffer fewer.
        swiglu_backward(Backend{}, as_const(s.gate.matrix()), as_const(s.up.matrix()),
                        as_const(scratch.dact.matrix()), scratch.dgate.matrix(), scratch.dact.matrix());
        linear_backward(block_linear::gate, s.x2, scratch.dgate.matrix(), scratch.dx2,
                        gradient_mode::overwrite, c, s, scratch, balance_weight);
        linear_backward(block_linear::up, s.x2, scratch.dact.matrix(), scratch.dx2, gradient_mode::accumulate,
                        c, s, scratch, balance_weight);
        if (ffn_adapter_)
            ffn_adapter_->backward(s.x2.matrix(), as_const(dh), c.routing, balance_weight, s.ffn_adapter,
                                   scratch.linears, scratch.dx2.matrix(), gradient_mode::accumulate);
        post_norm_.backward(s.h2.matrix(), scratch.dx2.matrix(), s.post_norm, dh,
                            gradient_mode::accumulate);  // dh = d h2

        // Attention: d h2 reaches x1 through o, attention, rope, and q, k, v.
        linear_backward(block_linear::o, s.o, dh, scratch.dattention, gradient_mode::overwrite, c, s, scratch,
                        balance_weight);
        attention_.backward(c.samples, c.tokens, s.q.matrix(), s.k.matrix(), s.v.matrix(), c.attention_mask,
                            s.attention, scratch.dattention.matrix(), scratch.dq.matrix(),
                            scratch.dk.matrix(), scratch.dv.matrix());
        rotary_->backward(scratch.dq.matrix(), c.positions);
        rotary_->backward(scratch.dk.matrix(), c.positions);
        linear_backward(block_linear::q, s.x1, scratch.dq.matrix(), scratch.dx1, gradient_mode::overwrite, c,
                        s, scratch, balance_weight);
        linear_backward(block_linear::k, s.x1, scratch.dk.matrix(), scratch.dx1, gradient_mode::accumulate, c,
                        s, scratch, balance_weight);
        linear_backward(block_linear::v, s.x1, scratch.dv.matrix(), scratch.dx1, gradient_mode::accumulate, c,
                        s, scratch, balance_weight);
        input_norm_.backward(h, scratch.dx1.matrix(), s.input_norm, dh,
                             gradient_mode::accumulate);  // dh = d h
    }

    // Inference on one sequence with a KV cache: h (n, D) holds n new tokens at positions
    // past .. past+n-1 (in `positions`); their keys and values go into rows past .. past+n-1 of the
    // layer's cache. Nothing is kept for a backward: `s` serves as scratch here. The adapters route
    // without a balancing loss and without dropout.
    void forward_cached(matrix_view<const T> h, const std::int64_t* positions, index past,
                        tensor<T, Backend>& keys, tensor<T, Backend>& values, matrix_view<T> out, saved& s,
                        workspace& scratch) {
        const index n = h.rows;
        const sequence_context<T> c{1, n, nullptr, positions, {n, 1, nullptr, {}, false}};
        compute(h, c, keys.matrix().row_block(past, n), values.matrix().row_block(past, n), out, s, scratch,
                false, [&] {
                    attention_cached(Backend{}, attention_.shape(1, n), past, as_const(s.q.matrix()),
                                     as_const(keys.matrix()), as_const(values.matrix()), s.o.matrix());
                });
    }

    // f(module name, adapter, its saved state) for every adapter, after a forward.
    template <class F>
    void for_each_adapter_state(saved& s, F&& f) {
        const std::string prefix = layer_prefix(layer_);
        for (block_linear linear : block_linears) {
            const auto i = static_cast<std::size_t>(linear);
            if (adapter_type* adapter = linears_[i].adapter())
                f(prefix + module_name(linear), *adapter, s.linears[i].adapter);
        }
        if (ffn_adapter_) f(prefix + "mlp", *ffn_adapter_, s.ffn_adapter);
    }

private:
    index kv_width() const { return attention_.kv_heads * attention_.head_dim; }

    // The block's forward around its attention step: q goes to s.q, k and v to `keys` and `values`
    // (rotary applied to q and keys), and attend() must fill s.o from them.
    template <class Attend>
    void compute(matrix_view<const T> h, const sequence_context<T>& c, matrix_view<T> keys,
                 matrix_view<T> values, matrix_view<T> out, saved& s, workspace& scratch, bool training,
                 Attend&& attend) {
        const index m = h.rows;
        for (auto* t : {&s.x1, &s.h2, &s.x2}) t->resize({m, hidden()});
        for (auto* t : {&s.q, &s.o}) t->resize({m, attention_.heads * attention_.head_dim});
        for (auto* t : {&s.gate, &s.up, &s.act}) t->resize({m, ffn_});

        input_norm_.forward(h, s.x1.matrix(), s.input_norm);
        linear_forward(block_linear::q, s.x1, s.q.matrix(), c, s, scratch, training);
        linear_forward(block_linear::k, s.x1, keys, c, s, scratch, training);
        linear_forward(block_linear::v, s.x1, values, c, s, scratch, training);
        rotary_->forward(s.q.matrix(), c.positions);
        rotary_->forward(keys, c.positions);
        attend();
        linear_forward(block_linear::o, s.o, s.h2.matrix(), c, s, scratch, training);
        axpy(Backend{}, T(1), h, s.h2.matrix());  // h2 = h + o Wo^T

        post_norm_.forward(s.h2.matrix(), s.x2.matrix(), s.post_norm);
        linear_forward(block_linear::gate, s.x2, s.gate.matrix(), c, s, scratch, training);
        linear_forward(block_linear::up, s.x2, s.up.matrix(), c, s, scratch, training);
        swiglu_forward(Backend{}, as_const(s.gate.matrix()), as_const(s.up.matrix()), s.act.matrix());
        linear_forward(block_linear::down, s.act, out, c, s, scratch, training);
        if (ffn_adapter_) {
            s.ffn_adapter_output.resize({m, hidden()});
            ffn_adapter_->forward(s.x2.matrix(), c.routing, s.ffn_adapter_output.matrix(), s.ffn_adapter,
                                  scratch.linears, training);
            axpy(Backend{}, T(1), as_const(s.ffn_adapter_output.matrix()), out);
        }
        axpy(Backend{}, T(1), as_const(s.h2.matrix()), out);  // out = h2 + mlp(x2)
    }

    // One of the seven linears, forward and backward, with its saved state.
    void linear_forward(block_linear which, const tensor<T, Backend>& x, matrix_view<T> y,
                        const sequence_context<T>& c, saved& s, workspace& scratch, bool training) {
        linear(which).forward(x.matrix(), c.routing, y, s.linears[static_cast<std::size_t>(which)],
                              scratch.linears, training);
    }
    void linear_backward(block_linear which, const tensor<T, Backend>& x, matrix_view<T> dy,
                         tensor<T, Backend>& dx, gradient_mode mode, const sequence_context<T>& c,
                         const saved& s, workspace& scratch, T balance_weight) {
        linear(which).backward(x.matrix(), as_const(dy), c.routing, balance_weight,
                               s.linears[static_cast<std::size_t>(which)], scratch.linears, dx.matrix(),
                               mode);
    }

    index layer_;
    index hidden_;  // D
    index ffn_;     // F
    const nn::rotary_embedding<T, Backend>* rotary_;
    nn::causal_attention<T, Backend> attention_;
    nn::rms_norm<T, Backend> input_norm_, post_norm_;
    std::vector<projection_type> linears_;
    std::optional<adapter_type> ffn_adapter_;
};

}  // namespace loramoe::llama
