#pragma once
// llama::llama_config to and from HuggingFace's config.json.
//
// Required keys: vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads.
// Optional keys (absent or null) take LlamaConfig's defaults: num_key_value_heads (= heads), head_dim
// (= hidden / heads), rms_norm_eps (1e-6), rope_theta (10000), tie_word_embeddings (false),
// attention_bias and mlp_bias (false), max_position_embeddings (2048), hidden_act ("silu", the only one
// supported); bos_token_id and pad_token_id (none); eos_token_id (none; an integer or a list of them);
// torch_dtype (a string, else "float32"). rope_scaling must be absent or null. Errors name the file and
// the key in the wording of io/json_fields.hpp; the values are then checked by llama_config::validate.

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/core/error.hpp>
#include <loramoe/io/json_fields.hpp>
#include <loramoe/llama/config.hpp>

namespace loramoe::io {

inline llama::llama_config parse_llama_config(const nlohmann::json& j, const std::string& source) {
    const json_fields fields(j, source);
    fields.one_of("hidden_act", {"silu"}, "silu");
    if (fields.is_set("rope_scaling")) fields.fail_field<value_error>("rope_scaling", "null (not supported)");

    llama::llama_config c;
    c.vocab_size = fields.required<index>("vocab_size");
    c.hidden_size = fields.required<index>("hidden_size");
    c.intermediate_size = fields.required<index>("intermediate_size");
    c.num_hidden_layers = fields.required<index>("num_hidden_layers");
    c.num_attention_heads = fields.required<index>("num_attention_heads");
    c.num_key_value_heads = fields.optional<index>("num_key_value_heads", c.num_attention_heads);
    if (const auto head_dim = fields.optional<index>("head_dim")) {
        c.head_dim = *head_dim;
    } else {
        if (c.num_attention_heads <= 0 || c.hidden_size % c.num_attention_heads != 0)
            fail<value_error>("{}: num_attention_heads = {} does not divide hidden_size = {}", source,
                              c.num_attention_heads, c.hidden_size);
        c.head_dim = c.hidden_size / c.num_attention_heads;
    }
    c.rms_norm_eps = fields.optional<double>("rms_norm_eps", 1e-6);
    c.rope_theta = fields.optional<double>("rope_theta", 10000.0);
    c.tie_word_embeddings = fields.optional<bool>("tie_word_embeddings", false);
    c.attention_bias = fields.optional<bool>("attention_bias", false);
    c.mlp_bias = fields.optional<bool>("mlp_bias", false);
    c.max_position_embeddings = fields.optional<index>("max_position_embeddings", 2048);
    c.bos_token_id = fields.optional<std::int64_t>("bos_token_id");
    c.pad_token_id = fields.optional<std::int64_t>("pad_token_id");
    using ids = std::variant<std::int64_t, std::vector<std::int64_t>>;
    if (const auto eos = fields.optional<ids>("eos_token_id")) {
        if (const auto* one = std::get_if<std::int64_t>(&*eos))
            c.eos_token_ids = {*one};
        else
            c.eos_token_ids = std::get<std::vector<std::int64_t>>(*eos);
    }
    if (fields.holds<std::string>("torch_dtype")) c.torch_dtype = fields.required<std::string>("torch_dtype");
    c.validate(source);
    return c;
}

inline nlohmann::json to_json(const llama::llama_config& c) {
    nlohmann::json j = {{"architectures", {"LlamaForCausalLM"}},
                        {"model_type", "llama"},
                        {"vocab_size", c.vocab_size},
                        {"hidden_size", c.hidden_size},
                        {"intermediate_size", c.intermediate_size},
                        {"num_hidden_layers", c.num_hidden_layers},
                        {"num_attention_heads", c.num_attention_heads},
                        {"num_key_value_heads", c.num_key_value_heads},
                        {"head_dim", c.head_dim},
                        {"rms_norm_eps", c.rms_norm_eps},
                        {"rope_theta", c.rope_theta},
                        {"tie_word_embeddings", c.tie_word_embeddings},
                        {"attention_bias", c.attention_bias},
                        {"mlp_bias", c.mlp_bias},
                        {"hidden_act", "silu"},
                        {"max_position_embeddings", c.max_position_embeddings},
                        {"torch_dtype", c.torch_dtype}};
    if (c.bos_token_id) j["bos_token_id"] = *c.bos_token_id;
    if (c.pad_token_id) j["pad_token_id"] = *c.pad_token_id;
    if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids.front();
    if (c.eos_token_ids.size() > 1) j["eos_token_id"] = c.eos_token_ids;
    return j;
}

}  // namespace loramoe::io
