#pragma once
// What a routed layer needs to know about the batch beyond its tokens: which tokens are padding,
// which task each sample belongs to, and, under data parallelism, which part of the whole batch this
// rank holds. The layer sees B*S rows, sample-major.

#include <algorithm>
#include <cstdint>
#include <span>

#include <loramoe/core/backend.hpp>
#include <loramoe/core/communicator.hpp>
#include <loramoe/core/error.hpp>
#include <loramoe/core/random.hpp>
#include <loramoe/core/tensor.hpp>

namespace loramoe::moe {

// A batch split over data-parallel ranks: this rank holds its samples [first_sample, first_sample + B).
// A balancing loss is a statistic of the whole batch: its per-sample sums are added up over the ranks.
struct batch_share {
    index first_sample = 0;
    index total_samples = 0;
    std::span<const std::int64_t> task_types;  // (total_samples) on the host: the whole batch's
    communicator_ref ranks;
};

template <class T>
struct routing_batch {
    index samples = 1;        // B
    index tokens = 0;         // S, tokens per sample
    const T* mask = nullptr;  // (B, S) in the backend's memory: 1 real, 0 padding; null: all real
    std::span<const std::int64_t> task_types;  // (B) on the host; only the LBC reads it
    bool compute_balance = true;               // false: no balancing loss (inference, generation)
    const batch_share* share = nullptr;        // null: the batch is whole (one process)

    index rows() const { return samples * tokens; }
    // The rows as tokens of samples numbered in the whole batch (for per-token random draws).
    token_rows sample_rows() const { return {std::max<index>(tokens, 1), share ? share->first_sample : 0}; }

    // A batch of `rows` independent tokens, none padding, no task types: one sample per row.
    static routing_batch tokens_only(index rows) { return {rows, 1, nullptr, {}, true, nullptr}; }
};

template <class T>
void check_routing_batch(const routing_batch<T>& batch, index rows, const char* layer) {
    if (batch.samples < 0 || batch.tokens < 0 || batch.rows() != rows)
        fail<shape_error>(
            "{}: the routing batch has {} samples x {} tokens = {} rows but the input has {} rows", layer,
            batch.samples, batch.tokens, batch.rows(), rows);
    if (!batch.task_types.empty() && static_cast<index>(batch.task_types.size()) != batch.samples)
        fail<shape_error>("{}: {} task types for {} samples", layer, batch.task_types.size(), batch.samples);
    if (const batch_share* share = batch.share) {
        if (share->first_sample < 0 || share->first_sample + batch.samples > share->total_samples)
            fail<shape_error>("{}: samples [{}, {}) of a shared batch of {}", layer, share->first_sample,
                              share->first_sample + batch.samples, share->total_samples);
        if (!share->task_types.empty() &&
            static_cast<index>(share->task_types.size()) != share->total_samples)
            fail<shape_error>("{}: {} task types for a shared batch of {} samples", layer,
                              share->task_types.size(), share->total_samples);
    }
}

// For the balancing losses that have no data-parallel form (yet): refuses a batch split over ranks.
template <class T>
void require_whole_batch(const routing_batch<T>& batch, const char* loss) {
    if (batch.share != nullptr && batch.share->ranks.size() > 1)
        fail<value_error>(
            "the {} loss is computed over a whole batch in one process; this batch is split "
            "over {} ranks (only the LBC sums its statistics over ranks)",
            loss, batch.share->ranks.size());
}

// The mask as a host tensor of B*S values, ones where the batch has no mask.
template <class Backend, class T>
tensor<T, cpu> mask_on_host(const routing_batch<T>& batch) {
    tensor<T, cpu> mask({batch.rows()});
    if (batch.mask)
        copy_to_host(Backend{}, batch.mask, mask.data(), batch.rows());
    else
        mask.fill_with(T(1));
    return mask;
}

}  // namespace loramoe::moe
