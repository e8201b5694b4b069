#pragma once
// The weights of a LLaMA model by their HuggingFace names, packed in one buffer in this order:
//   model.embed_tokens.weight                               (V, D)
//   model.layers.{l}.input_layernorm.weight                 (D)
//   model.layers.{l}.self_attn.{q,k,v,o}_proj.weight (+ .bias with attention_bias)
//   model.layers.{l}.post_attention_layernorm.weight        (D)
//   model.layers.{l}.mlp.{gate,up,down}_proj.weight  (+ .bias with mlp_bias)
//   model.norm.weight                                       (D)
//   lm_head.weight                                          (V, D), absent with tie_word_embeddings

#include <array>
#include <string>

#include <fmt/format.h>

#include <loramoe/core/tensor_layout.hpp>
#include <loramoe/llama/config.hpp>

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
    const bool attention = linear == block_linear::q || linear == block_linear::k ||
                           linear == block_linear::v || linear == block_linear::o;
    return attention ? c.attention_bias : c.mlp_bias;
}

inline tensor_layout llama_weight_layout(const llama_config& c) {
    tensor_layout layout;
    layout.add("model.embed_tokens.weight", {c.vocab_size, c.hidden_size});
    for (index l = 0; l < c.num_hidden_layers; ++l) {
        const std::string p = layer_prefix(l);
        layout.add(p + "input_layernorm.weight", {c.hidden_size});
        for (block_linear linear : block_linears) {
            if (linear == block_linear::gate)
                layout.add(p + "post_attention_layernorm.weight", {c.hidden_size});
            const auto [out, in] = linear_shape(c, linear);
            layout.add(p + module_name(linear) + ".weight", {out, in});
            if (has_bias(c, linear)) layout.add(p + module_name(linear) + ".bias", {out});
        }
    }
    layout.add("model.norm.weight", {c.hidden_size});
    if (!c.tie_word_embeddings) layout.add("lm_head.weight", {c.vocab_size, c.hidden_size});
    return layout;
}

}  // namespace loramoe::llama
