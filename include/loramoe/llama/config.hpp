#pragma once
// The architecture of a LLaMA model, as HuggingFace's config.json describes it (io/llama_config_json.hpp
// reads and writes that file; the defaults of its optional keys are LlamaConfig's).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <loramoe/core/backend.hpp>
#include <loramoe/core/error.hpp>

namespace loramoe::llama {

struct llama_config {
    index vocab_size = 0;           // V
    index hidden_size = 0;          // D
    index intermediate_size = 0;    // F
    index num_hidden_layers = 0;    // L
    index num_attention_heads = 0;  // H
    index num_key_value_heads = 0;  // Hkv
    index head_dim = 0;             // Dh
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
            fail<value_error>("{}: num_attention_heads = {} is not a multiple of num_key_value_heads = {}",
                              source, num_attention_heads, num_key_value_heads);
        if (head_dim % 2 != 0)
            fail<value_error>("{}: head_dim = {} must be even for rotary embeddings", source, head_dim);
        if (!(rms_norm_eps > 0)) fail<value_error>("{}: rms_norm_eps must be positive", source);
        if (!(rope_theta > 0)) fail<value_error>("{}: rope_theta must be positive", source);
    }
};

}  // namespace loramoe::llama
