#pragma once
// The architecture of a LLaMA model, as HuggingFace's config.json describes it.
//
// Required keys: vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads.
// Optional keys take LlamaConfig's defaults: num_key_value_heads (= heads), head_dim (= hidden / heads),
// rms_norm_eps (1e-6), rope_theta (10000), tie_word_embeddings (false), attention_bias and mlp_bias
// (false), hidden_act ("silu", the only one supported). rope_scaling must be absent or null.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/core/backend.hpp>
#include <loramoe/core/error.hpp>

namespace loramoe::llama {

struct llama_config {
    index vocab_size = 0;              // V
    index hidden_size = 0;             // D
    index intermediate_size = 0;       // F
    index num_hidden_layers = 0;       // L
    index num_attention_heads = 0;     // H
    index num_key_value_heads = 0;     // Hkv
    index head_dim = 0;                // Dh
    double rms_norm_eps = 1e-6;
    double rope_theta = 10000.0;
    bool tie_word_embeddings = false;
    bool attention_bias = false;
    bool mlp_bias = false;
    index max_position_embeddings = 2048;
    std::optional<std::int64_t> bos_token_id;
    std::vector<std::int64_t> eos_token_ids;
    std::optional<std::int64_t> pad_token_id;
    std::string torch_dtype = "float32";

    // Throws value_error naming `source` (a file) and the offending key.
    void validate(const std::string& source = "config") const {
        auto positive = [&](index value, const char* key) {
            if (value <= 0) fail<value_error>("{}: {} must be positive, got {}", source, key, value);
        };
        positive(vocab_size, "vocab_size");
        positive(hidden_size, "hidden_size");
        positive(intermediate_size, "intermediate_size");
        positive(num_hidden_layers, "num_hidden_layers");
        positive(num_attention_heads, "num_attention_heads");
        positive(num_key_value_heads, "num_key_value_heads");
        positive(head_dim, "head_dim");
        if (num_attention_heads % num_key_value_heads != 0)
            fail<value_error>("{}: num_attention_heads = {} is not a multiple of num_key_value_heads = {}", source,
                              num_attention_heads, num_key_value_heads);
        if (head_dim % 2 != 0) fail<value_error>("{}: head_dim = {} must be even for rotary embeddings", source, head_dim);
        if (!(rms_norm_eps > 0)) fail<value_error>("{}: rms_norm_eps must be positive", source);
        if (!(rope_theta > 0)) fail<value_error>("{}: rope_theta must be positive", source);
    }

    static llama_config from_json(const nlohmann::json& j, const std::string& source = "config.json") {
        if (!j.is_object()) fail<format_error>("{}: not a JSON object", source);
        auto integer = [&](const char* key) -> index {
            const auto it = j.find(key);
            if (it == j.end()) fail<format_error>("{}: missing key '{}'", source, key);
            if (!it->is_number_integer()) fail<format_error>("{}: '{}' is not an integer", source, key);
            return it->get<index>();
        };
        auto optional_integer = [&](const char* key) -> std::optional<std::int64_t> {
            const auto it = j.find(key);
            if (it == j.end() || it->is_null()) return std::nullopt;
            if (!it->is_number_integer()) fail<format_error>("{}: '{}' is not an integer", source, key);
            return it->get<std::int64_t>();
        };
        auto number = [&](const char* key, double fallback) {
            const auto it = j.find(key);
            if (it == j.end() || it->is_null()) return fallback;
            if (!it->is_number()) fail<format_error>("{}: '{}' is not a number", source, key);
            return it->get<double>();
        };
        auto boolean = [&](const char* key, bool fallback) {
            const auto it = j.find(key);
            if (it == j.end() || it->is_null()) return fallback;
            if (!it->is_boolean()) fail<format_error>("{}: '{}' is not true or false", source, key);
            return it->get<bool>();
        };

        if (const auto act = j.find("hidden_act"); act != j.end() && *act != "silu")
            fail<value_error>("{}: hidden_act {} is not supported (LLaMA uses silu)", source, act->dump());
        if (const auto scaling = j.find("rope_scaling"); scaling != j.end() && !scaling->is_null())
            fail<value_error>("{}: rope_scaling {} is not supported", source, scaling->dump());

        llama_config c;
        c.vocab_size = integer("vocab_size");
        c.hidden_size = integer("hidden_size");
        c.intermediate_size = integer("intermediate_size");
        c.num_hidden_layers = integer("num_hidden_layers");
        c.num_attention_heads = integer("num_attention_heads");
        c.num_key_value_heads = optional_integer("num_key_value_heads").value_or(c.num_attention_heads);
        if (const auto head_dim = optional_integer("head_dim")) {
            c.head_dim = *head_dim;
        } else {
            if (c.num_attention_heads <= 0 || c.hidden_size % c.num_attention_heads != 0)
                fail<value_error>("{}: num_attention_heads = {} does not divide hidden_size = {}", source,
                                  c.num_attention_heads, c.hidden_size);
            c.head_dim = c.hidden_size / c.num_attention_heads;
        }
        c.rms_norm_eps = number("rms_norm_eps", 1e-6);
        c.rope_theta = number("rope_theta", 10000.0);
        c.tie_word_embeddings = boolean("tie_word_embeddings", false);
        c.attention_bias = boolean("attention_bias", false);
        c.mlp_bias = boolean("mlp_bias", false);
        c.max_position_embeddings = optional_integer("max_position_embeddings").value_or(2048);
        c.bos_token_id = optional_integer("bos_token_id");
        c.pad_token_id = optional_integer("pad_token_id");
        if (const auto eos = j.find("eos_token_id"); eos != j.end() && !eos->is_null()) {
            if (eos->is_number_integer())
                c.eos_token_ids.push_back(eos->get<std::int64_t>());
            else if (eos->is_array() && std::all_of(eos->begin(), eos->end(), [](const auto& e) { return e.is_number_integer(); }))
                c.eos_token_ids = eos->get<std::vector<std::int64_t>>();
            else
                fail<format_error>("{}: eos_token_id is neither an integer nor a list of integers", source);
        }
        if (const auto dtype = j.find("torch_dtype"); dtype != j.end() && dtype->is_string())
            c.torch_dtype = dtype->get<std::string>();
        c.validate(source);
        return c;
    }

    nlohmann::json to_json() const {
        nlohmann::json j = {{"architectures", {"LlamaForCausalLM"}},
                            {"model_type", "llama"},
                            {"vocab_size", vocab_size},
                            {"hidden_size", hidden_size},
                            {"intermediate_size", intermediate_size},
                            {"num_hidden_layers", num_hidden_layers},
                            {"num_attention_heads", num_attention_heads},
                            {"num_key_value_heads", num_key_value_heads},
                            {"head_dim", head_dim},
                            {"rms_norm_eps", rms_norm_eps},
                            {"rope_theta", rope_theta},
                            {"tie_word_embeddings", tie_word_embeddings},
                            {"attention_bias", attention_bias},
                            {"mlp_bias", mlp_bias},
                            {"hidden_act", "silu"},
                            {"max_position_embeddings", max_position_embeddings},
                            {"torch_dtype", torch_dtype}};
        if (bos_token_id) j["bos_token_id"] = *bos_token_id;
        if (pad_token_id) j["pad_token_id"] = *pad_token_id;
        if (eos_token_ids.size() == 1) j["eos_token_id"] = eos_token_ids.front();
        if (eos_token_ids.size() > 1) j["eos_token_id"] = eos_token_ids;
        return j;
    }
};

}  // namespace loramoe::llama
