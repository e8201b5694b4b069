#pragma once
// llama::llama_config to and from HuggingFace's config.json, for the model types "llama", "mistral" and
// "qwen2" (model_type; absent means llama).
//
// Required keys: vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads.
// Optional keys (absent or null) take the defaults of the family's transformers config class:
// num_key_value_heads (llama: = heads, mistral: 8, qwen2: 32), head_dim (= hidden / heads),
// rms_norm_eps (1e-6), rope_theta (10000), tie_word_embeddings (false), max_position_embeddings (2048),
// hidden_act ("silu", the only one supported); bos_token_id and pad_token_id (none); eos_token_id (none;
// an integer or a list of them); torch_dtype (a string, else "float32").
// llama: attention_bias and mlp_bias (false). mistral: sliding_window (4096 when absent, none when
// null). qwen2: use_sliding_window (false) with sliding_window (4096) and max_window_layers (28): a
// window that some layer has limits the sequence length (llama/config.hpp says why).
// rope_scaling: absent, null, or {"rope_type" (or "type"): "default" | "linear" | "llama3", ...} with
// the keys transformers requires for that type; other types are refused by name.
// Errors name the file and the key in the wording of io/json_fields.hpp; the values are then checked
// by llama_config::validate.

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/core/assert.hpp>
#include <loramoe/core/error.hpp>
#include <loramoe/io/json_fields.hpp>
#include <loramoe/llama/config.hpp>

namespace loramoe::io {

// An id or a list of ids at `key` (config.json's and generation_config.json's eos_token_id), as a list;
// empty when absent or null.
inline std::vector<std::int64_t> token_ids(const json_fields& fields, const std::string& key) {
    using ids = std::variant<std::int64_t, std::vector<std::int64_t>>;
    const auto found = fields.optional<ids>(key);
    if (!found) return {};
    if (const auto* one = std::get_if<std::int64_t>(&*found)) return {*one};
    return std::get<std::vector<std::int64_t>>(*found);
}

namespace detail {

struct family_names {
    llama::model_family family;
    const char* model_type;
    const char* architecture;
};
inline constexpr family_names model_families[] = {
    {llama::model_family::llama, "llama", "LlamaForCausalLM"},
    {llama::model_family::mistral, "mistral", "MistralForCausalLM"},
    {llama::model_family::qwen2, "qwen2", "Qwen2ForCausalLM"},
};

inline const family_names& names_of(llama::model_family family) {
    for (const auto& f : model_families)
        if (f.family == family) return f;
    LORAMOE_ASSERT(false);
    return model_families[0];
}

inline nn::rope_scaling parse_rope_scaling(const json_fields& config) {
    using kind = nn::rope_scaling::kind;
    nn::rope_scaling r;
    if (!config.is_set("rope_scaling")) return r;
    const json_fields fields = config.object("rope_scaling");
    const char* type_key = fields.is_set("rope_type") ? "rope_type" : "type";
    const auto type = fields.optional<std::string>(type_key);
    if (!type) fields.fail_field<format_error>("rope_type", "a string naming the RoPE scaling");
    if (*type == "default") return r;
    if (*type != "linear" && *type != "llama3")
        fail<value_error>(
            "{}: RoPE scaling of type \"{}\" is not supported: loramoe computes \"default\", \"linear\" and "
            "\"llama3\"",
            fields.source(), *type);
    r.type = *type == "linear" ? kind::linear : kind::llama3;
    r.factor = fields.required<double>("factor");
    if (r.type == kind::llama3) {
        r.low_freq_factor = fields.required<double>("low_freq_factor");
        r.high_freq_factor = fields.required<double>("high_freq_factor");
        r.original_max_position_embeddings = fields.required<index>("original_max_position_embeddings");
    }
    return r;
}

}  // namespace detail

inline llama::llama_config parse_llama_config(const nlohmann::json& j, const std::string& source) {
    using llama::model_family;
    const json_fields fields(j, source);
    fields.one_of("hidden_act", {"silu"}, "silu");
    const std::string model_type = fields.one_of("model_type", {"llama", "mistral", "qwen2"}, "llama");

    llama::llama_config c;
    for (const auto& f : detail::model_families)
        if (model_type == f.model_type) c.family = f.family;
    c.vocab_size = fields.required<index>("vocab_size");
    c.hidden_size = fields.required<index>("hidden_size");
    c.intermediate_size = fields.required<index>("intermediate_size");
    c.num_hidden_layers = fields.required<index>("num_hidden_layers");
    c.num_attention_heads = fields.required<index>("num_attention_heads");
    const index default_kv_heads = c.family == model_family::mistral ? 8
                                   : c.family == model_family::qwen2 ? 32
                                                                     : c.num_attention_heads;
    c.num_key_value_heads = fields.optional<index>("num_key_value_heads", default_kv_heads);
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
    c.rope_scaling = detail::parse_rope_scaling(fields);
    c.tie_word_embeddings = fields.optional<bool>("tie_word_embeddings", false);
    if (c.family == model_family::llama) {
        c.attention_bias = fields.optional<bool>("attention_bias", false);
        c.mlp_bias = fields.optional<bool>("mlp_bias", false);
    }
    if (c.family == model_family::mistral)  // absent: MistralConfig's 4096; null: no window
        c.sliding_window =
            fields.contains("sliding_window") ? fields.optional<index>("sliding_window", 0) : 4096;
    if (c.family == model_family::qwen2 && fields.optional<bool>("use_sliding_window", false) &&
        fields.optional<index>("max_window_layers", 28) < c.num_hidden_layers)
        c.longest_sequence = fields.optional<index>("sliding_window", 4096);
    c.max_position_embeddings = fields.optional<index>("max_position_embeddings", 2048);
    c.bos_token_id = fields.optional<std::int64_t>("bos_token_id");
    c.pad_token_id = fields.optional<std::int64_t>("pad_token_id");
    c.eos_token_ids = token_ids(fields, "eos_token_id");
    if (fields.holds<std::string>("torch_dtype")) c.torch_dtype = fields.required<std::string>("torch_dtype");
    c.validate(source);
    return c;
}

inline nlohmann::json to_json(const llama::llama_config& c) {
    using llama::model_family;
    const auto& names = detail::names_of(c.family);
    nlohmann::json j = {{"architectures", {names.architecture}},
                        {"model_type", names.model_type},
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
                        {"hidden_act", "silu"},
                        {"max_position_embeddings", c.max_position_embeddings},
                        {"torch_dtype", c.torch_dtype}};
    using kind = nn::rope_scaling::kind;
    const auto& r = c.rope_scaling;
    if (r.type == kind::linear) j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", r.factor}};
    if (r.type == kind::llama3)
        j["rope_scaling"] = {{"rope_type", "llama3"},
                             {"factor", r.factor},
                             {"low_freq_factor", r.low_freq_factor},
                             {"high_freq_factor", r.high_freq_factor},
                             {"original_max_position_embeddings", r.original_max_position_embeddings}};
    if (c.family == model_family::llama) {
        j["attention_bias"] = c.attention_bias;
        j["mlp_bias"] = c.mlp_bias;
    }
    if (c.family == model_family::mistral)
        j["sliding_window"] =
            c.sliding_window == 0 ? nlohmann::json(nullptr) : nlohmann::json(c.sliding_window);
    if (c.family == model_family::qwen2) {
        j["use_sliding_window"] = c.longest_sequence != 0;
        if (c.longest_sequence != 0) {
            j["sliding_window"] = c.longest_sequence;
            j["max_window_layers"] = 0;
        }
    }
    if (c.bos_token_id) j["bos_token_id"] = *c.bos_token_id;
    if (c.pad_token_id) j["pad_token_id"] = *c.pad_token_id;
    if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids.front();
    if (c.eos_token_ids.size() > 1) j["eos_token_id"] = c.eos_token_ids;
    return j;
}

}  // namespace loramoe::io
