#pragma once
// The weights of a LLaMA model by their HuggingFace names, packed in one buffer in this order:
//   model.embed_tokens.weight                               (V, D)
//   model.layers.{l}.input_layernorm.weight                 (D)
//   model.layers.{l}.self_attn.{q,k,v,o}_proj.weight (+ .bias with attention_bias; q, k, v in Qwen2)
//   model.layers.{l}.post_attention_layernorm.weight        (D)
//   model.layers.{l}.mlp.{gate,up,down}_proj.weight  (+ .bias with mlp_bias)
//   model.norm.weight                                       (D)
//   lm_head.weight                                          (V, D), absent with tie_word_embeddings
// A model that holds its frozen matrices in bfloat16 keeps two such layouts: the matrices (the
// embedding, the linears, the LM head) in one buffer of bfloat16, the vectors (norms, biases) in one of T.

#include <array>
#include <string>

#include <fmt/format.h>

#include <loramoe/core/bfloat16.hpp>
#include <loramoe/core/parameters.hpp>
#include <loramoe/core/tensor_layout.hpp>
#include <loramoe/llama/config.hpp>
#include <loramoe/moe/adapter_config.hpp>
#include <loramoe/nn/linear.hpp>

namespace loramoe::llama {

// The seven linears of a block, in HF's module names.
enum class block_linear { q, k, v, o, gate, up, down };
inline constexpr std::array<block_linear, 7> block_linears = {
    block_linear::q,    block_linear::k,  block_linear::v,   block_linear::o,
    block_linear::gate, block_linear::up, block_linear::down};

inline const char* module_name(block_linear linear) {
    constexpr std::array<const char*, 7> names = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                  "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                                  "mlp.down_proj"};
    return names[static_cast<std::size_t>(linear)];
}

inline std::string layer_prefix(index layer) {
    return fmt::format("model.layers.{}.", layer);
}

// (d_out, d_in) of a block's linear.
inline std::pair<index, index> linear_shape(const llama_config& c, block_linear linear) {
    const index d = c.hidden_size, q = c.num_attention_heads * c.head_dim,
                kv = c.num_key_value_heads * c.head_dim;
    switch (linear) {
        case block_linear::q:
            return {q, d};
        case block_linear::k:
        case block_linear::v:
            return {kv, d};
        case block_linear::o:
            return {d, q};
        case block_linear::gate:
        case block_linear::up:
            return {c.intermediate_size, d};
        case block_linear::down:
            return {d, c.intermediate_size};
    }
    return {0, 0};
}

inline bool has_bias(const llama_config& c, block_linear linear) {
    const bool qkv = linear == block_linear::q || linear == block_linear::k || linear == block_linear::v;
    if (qkv && c.family == model_family::qwen2) return true;
    return qkv || linear == block_linear::o ? c.attention_bias : c.mlp_bias;
}

// How many base weights a config's model has, matrices and vectors apart, counted in long double so
// that an absurd config (a vocabulary of 1e12, 1e6 layers, sizes whose products overflow) gives a
// number to refuse rather than an overflow; nothing is built. The same tensors as llama_weight_layout.
struct weight_count {
    long double matrices = 0, vectors = 0;
};

inline weight_count count_weights(const llama_config& c) {
    const long double d = static_cast<long double>(c.hidden_size),
                      f = static_cast<long double>(c.intermediate_size),
                      v = static_cast<long double>(c.vocab_size),
                      layers = static_cast<long double>(c.num_hidden_layers),
                      q = static_cast<long double>(c.num_attention_heads) *
                          static_cast<long double>(c.head_dim),
                      kv = static_cast<long double>(c.num_key_value_heads) *
                           static_cast<long double>(c.head_dim);
    weight_count n;
    n.matrices = v * d * (c.tie_word_embeddings ? 1 : 2) + layers * (2 * q * d + 2 * kv * d + 3 * f * d);
    long double biases = 0;
    for (block_linear linear : block_linears)
        if (has_bias(c, linear)) {
            const bool qkv =
                linear == block_linear::q || linear == block_linear::k || linear == block_linear::v;
            biases += linear == block_linear::q                                   ? q
                      : qkv                                                       ? kv
                      : linear == block_linear::o || linear == block_linear::down ? d
                                                                                  : f;
        }
    n.vectors = layers * (2 * d + biases) + d;
    return n;
}

// How many adapter parameters `a` puts on a model of `config` (the experts' A and B, the routers), in
// long double as count_weights, before any adapter is built: the layers' linears that it targets, or
// one D -> D set per block with the ffn placement.
inline long double count_adapter_parameters(const llama_config& c, const moe::adapter_config& a) {
    const long double experts = static_cast<long double>(a.router ? a.experts : 1),
                      rank = static_cast<long double>(a.rank);
    auto one = [&](long double in, long double out) {
        return experts * rank * (in + out) + (a.router ? experts * in : 0.0L);
    };
    const long double d = static_cast<long double>(c.hidden_size);
    if (a.placement == moe::adapter_placement::ffn)
        return static_cast<long double>(c.num_hidden_layers) * one(d, d);
    const moe::module_targets targets(a);
    long double n = 0;
    for (index l = 0; l < c.num_hidden_layers; ++l)
        for (block_linear linear : block_linears)
            if (targets(layer_prefix(l) + module_name(linear))) {
                const auto [out, in] = linear_shape(c, linear);
                n += one(static_cast<long double>(in), static_cast<long double>(out));
            }
    return n;
}

// Which weights a layout lists: all, or the matrices (rank 2) or the vectors (rank 1) alone.
enum class weight_kind { all, matrices, vectors };

inline tensor_layout llama_weight_layout(const llama_config& c, weight_kind kind = weight_kind::all) {
    tensor_layout layout;
    auto add = [&](std::string name, shape_type shape) {
        const bool matrix = shape.size() == 2;
        if (kind == weight_kind::all || (kind == weight_kind::matrices) == matrix)
            layout.add(std::move(name), std::move(shape));
    };
    add("model.embed_tokens.weight", {c.vocab_size, c.hidden_size});
    for (index l = 0; l < c.num_hidden_layers; ++l) {
        const std::string p = layer_prefix(l);
        add(p + "input_layernorm.weight", {c.hidden_size});
        for (block_linear linear : block_linears) {
            if (linear == block_linear::gate) add(p + "post_attention_layernorm.weight", {c.hidden_size});
            const auto [out, in] = linear_shape(c, linear);
            add(p + module_name(linear) + ".weight", {out, in});
            if (has_bias(c, linear)) add(p + module_name(linear) + ".bias", {out});
        }
    }
    add("model.norm.weight", {c.hidden_size});
    if (!c.tie_word_embeddings) add("lm_head.weight", {c.vocab_size, c.hidden_size});
    return layout;
}

// Where a model's base weights are, by HF name: in T at the offsets of `layout` in `base` (their
// gradients too, unless frozen), or, for the matrices of a base held in bfloat16, at the offsets of
// `bf16_layout` in `bf16`.
template <class T>
struct base_weight_map {
    const tensor_layout& layout;
    parameter_slice<T> base;
    const tensor_layout& bf16_layout;
    const bfloat16* bf16 = nullptr;

    T* values(const std::string& name) const { return base.values + layout.at(name).offset; }
    T* grads(const std::string& name) const {
        return base.grads ? base.grads + layout.at(name).offset : nullptr;
    }

    // The matrix `name` (rows, cols) as a linear's weight, without its bias.
    nn::linear_weights<T> matrix(const std::string& name, index rows, index cols) const {
        nn::linear_weights<T> w;
        if (const named_tensor* t = bf16_layout.find(name))
            w.frozen_bf16 = matrix_view<const bfloat16>(bf16 + t->offset, rows, cols);
        else {
            w.weight = matrix_view<const T>(values(name), rows, cols);
            w.weight_grad = grads(name);
        }
        return w;
    }
};

}  // namespace loramoe::llama
