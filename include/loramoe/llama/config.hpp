#pragma once
// The architecture of a LLaMA model, as HuggingFace's config.json describes it (io/llama_config_json.hpp
// reads and writes that file; the defaults of its optional keys are LlamaConfig's). Mistral and Qwen2
// are the same architecture with small differences, kept here:
//   Mistral: a sliding window (a query sees only its `sliding_window` latest keys), no biases;
//   Qwen2:   biases on q, k and v (not o, not the MLP); its optional sliding window is applied by some of
//            transformers' attention implementations and not by others (and with a different width),
//            so loramoe refuses sequences longer than it rather than pick one.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <loramoe/core/backend.hpp>
#include <loramoe/core/error.hpp>
#include <loramoe/nn/rope_frequencies.hpp>

namespace loramoe::llama {

enum class model_family { llama, mistral, qwen2 };

struct llama_config {
    model_family family = model_family::llama;
    index vocab_size = 0;           // V
    index hidden_size = 0;          // D
    index intermediate_size = 0;    // F
    index num_hidden_layers = 0;    // L
    index num_attention_heads = 0;  // H
    index num_key_value_heads = 0;  // Hkv
    index head_dim = 0;             // Dh
    double rms_norm_eps = 1e-6;
    double rope_theta = 10000.0;
    nn::rope_scaling rope_scaling;
    bool tie_word_embeddings = false;
    bool attention_bias = false;  // llama: biases on q, k, v and o (Qwen2 always has them on q, k, v)
    bool mlp_bias = false;        // llama: biases on gate, up and down
    index sliding_window = 0;     // Mistral: the keys a query sees, itself included; 0: all
    index longest_sequence = 0;   // Qwen2's sliding window: longer sequences are refused; 0: no limit
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
        rope_scaling.validate(source);
        if (sliding_window < 0 || longest_sequence < 0)
            fail<value_error>("{}: sliding_window must not be negative", source);
        if (family != model_family::llama && (attention_bias || mlp_bias))
            fail<value_error>("{}: attention_bias and mlp_bias belong to the llama family", source);
        if (family != model_family::mistral && sliding_window != 0)
            fail<value_error>("{}: a sliding window applied to attention is Mistral's", source);
        if (family != model_family::qwen2 && longest_sequence != 0)
            fail<value_error>("{}: a sliding window that limits the sequences is Qwen2's", source);
    }

    // Throws value_error when a sequence of `tokens` tokens is longer than this model allows.
    void check_sequence_length(index tokens) const {
        if (longest_sequence != 0 && tokens > longest_sequence)
            fail<value_error>(
                "a sequence of {} tokens is longer than the Qwen2 model's sliding window ({} tokens, "
                "use_sliding_window in config.json): transformers applies that window in some attention "
                "implementations and not in others, so loramoe refuses longer sequences",
                tokens, longest_sequence);
    }
};

}  // namespace loramoe::llama
