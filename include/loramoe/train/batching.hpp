#pragma once
// Tokenized examples into batches, as the official collator makes them: right-padded to the longest
// example with the pad id, attention mask 0 and label -100 on the padding, one task type per sample.
// And the order of the examples in each epoch: a seeded shuffle, a pure function of (seed, epoch), so
// a resumed run sees the same batches.

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include <loramoe/core/error.hpp>
#include <loramoe/core/random.hpp>
#include <loramoe/cpu/cross_entropy.hpp>
#include <loramoe/io/instruction_data.hpp>
#include <loramoe/llama/token_batch.hpp>

namespace loramoe::train {

// Unlike the official collator, the mask is explicit rather than ids != pad, so that an EOS inside a
// sample stays attended when the pad id is EOS. `tokens`: pad to at least this many.
inline llama::token_batch make_batch(std::span<const io::tokenized_example* const> examples,
                                     std::int64_t pad_id, index tokens = 0) {
    if (examples.empty()) fail<value_error>("make_batch: no examples");
    if (pad_id < 0) fail<value_error>("make_batch: the pad id {} is negative", pad_id);
    std::size_t longest = static_cast<std::size_t>(std::max<index>(tokens, 0));
    for (std::size_t b = 0; b < examples.size(); ++b) {
        const auto& e = *examples[b];
        if (e.ids.empty() || e.ids.size() != e.labels.size())
            fail<shape_error>(
                "make_batch: example {} has {} ids and {} labels; expected as many, at least one", b,
                e.ids.size(), e.labels.size());
        longest = std::max(longest, e.ids.size());
    }
    llama::token_batch batch;
    batch.samples = static_cast<index>(examples.size());
    batch.tokens = static_cast<index>(longest);
    const auto n = static_cast<std::size_t>(batch.rows());
    batch.input_ids.assign(n, pad_id);     // (B*S)
    batch.attention_mask.assign(n, 0);     // (B*S)
    batch.labels.assign(n, ignore_index);  // (B*S)
    for (std::size_t b = 0; b < examples.size(); ++b) {
        const auto& e = *examples[b];
        const std::size_t row = b * longest;
        std::copy(e.ids.begin(), e.ids.end(), batch.input_ids.begin() + row);
        std::copy(e.labels.begin(), e.labels.end(), batch.labels.begin() + row);
        std::fill_n(batch.attention_mask.begin() + row, e.ids.size(), 1);
        batch.task_types.push_back(e.task_type);
    }
    return batch;
}

// A permutation of 0 .. count-1: Fisher-Yates over the counter-based generator, stream = epoch, so the
// order depends on (seed, epoch) only, identically on every platform.
inline std::vector<std::size_t> epoch_order(std::size_t count, std::uint64_t seed, std::uint64_t epoch) {
    std::vector<std::size_t> order(count);
    std::iota(order.begin(), order.end(), std::size_t{0});
    random_generator rng(seed, epoch);
    for (std::size_t i = count; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    return order;
}

}  // namespace loramoe::train
