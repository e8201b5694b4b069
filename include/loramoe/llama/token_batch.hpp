#pragma once
// A batch of token sequences on the host, as HuggingFace's collators make them: B samples of S tokens,
// right- or left-padded, with the labels of the causal-LM loss and the LoRAMoE task type per sample.
// Under data parallelism a batch is one rank's part of a whole batch (`share`): then it may be empty,
// when the whole batch has fewer samples than there are ranks.

#include <cstdint>
#include <string>
#include <vector>

#include <loramoe/core/error.hpp>
#include <loramoe/cpu/cross_entropy.hpp>
#include <loramoe/moe/routing_batch.hpp>

namespace loramoe::llama {

struct token_batch {
    index samples = 0;                         // B
    index tokens = 0;                          // S
    std::vector<std::int64_t> input_ids;       // (B*S)
    std::vector<std::int64_t> attention_mask;  // (B*S): 1 real token, 0 padding
    std::vector<std::int64_t> labels;          // (B*S): token t predicts labels[t + 1]; -100 is not counted
    std::vector<std::int64_t> task_types;      // (B): 1 = world knowledge by the official convention
    const moe::batch_share* share = nullptr;   // this rank's part of a whole batch; null: the whole

    index rows() const { return samples * tokens; }

    // Throws value_error / shape_error naming `source` and the first bad element.
    void validate(index vocab_size, const std::string& source = "batch") const {
        const bool may_be_empty = share != nullptr && samples == 0;
        if (!may_be_empty && (samples <= 0 || tokens <= 0))
            fail<shape_error>("{}: empty batch ({} samples x {} tokens)", source, samples, tokens);
        const auto n = static_cast<std::size_t>(rows());
        auto sized = [&](const std::vector<std::int64_t>& v, std::size_t expected, const char* name) {
            if (v.size() != expected)
                fail<shape_error>("{}: {} has {} elements, expected {}", source, name, v.size(), expected);
        };
        sized(input_ids, n, "input_ids");
        sized(attention_mask, n, "attention_mask");
        sized(labels, n, "labels");
        sized(task_types, static_cast<std::size_t>(samples), "task_types");
        for (std::size_t i = 0; i < n; ++i) {
            const auto [b, t] = std::pair{i / tokens, i % tokens};
            if (input_ids[i] < 0 || input_ids[i] >= vocab_size)
                fail<value_error>("{}: input_ids[{}, {}] = {} is outside the vocabulary [0, {})", source, b,
                                  t, input_ids[i], vocab_size);
            if (attention_mask[i] != 0 && attention_mask[i] != 1)
                fail<value_error>("{}: attention_mask[{}, {}] = {}; a mask is 0 or 1", source, b, t,
                                  attention_mask[i]);
            if (labels[i] != ignore_index && (labels[i] < 0 || labels[i] >= vocab_size))
                fail<value_error>("{}: labels[{}, {}] = {} is neither -100 nor in [0, {})", source, b, t,
                                  labels[i], vocab_size);
        }
    }
};

}  // namespace loramoe::llama
