#pragma once
// What a routed layer needs to know about the batch beyond its tokens: which tokens are padding and
// which task each sample belongs to. The layer sees B*S rows, sample-major.

#include <cstdint>
#include <span>

#include <loramoe/core/backend.hpp>
#include <loramoe/core/error.hpp>
#include <loramoe/core/tensor.hpp>

namespace loramoe::moe {

template <class T>
struct routing_batch {
    index samples = 1;        // B
    index tokens = 0;         // S, tokens per sample
    const T* mask = nullptr;  // (B, S) in the backend's memory: 1 real, 0 padding; null: all real
    std::span<const std::int64_t> task_types;  // (B) on the host; only the LBC reads it
    bool compute_balance = true;               // false: no balancing loss (inference, generation)

    index rows() const { return samples * tokens; }

    // A batch of `rows` independent tokens, none padding, no task types: one sample per row.
    static routing_batch tokens_only(index rows) { return {rows, 1, nullptr, {}, true}; }
};

template <class T>
void check_routing_batch(const routing_batch<T>& batch, index rows, const char* layer) {
    if (batch.samples < 0 || batch.tokens < 0 || batch.rows() != rows)
        fail<shape_error>(
            "{}: the routing batch has {} samples x {} tokens = {} rows but the input has {} rows", layer,
            batch.samples, batch.tokens, batch.rows(), rows);
    if (!batch.task_types.empty() && static_cast<index>(batch.task_types.size()) != batch.samples)
        fail<shape_error>("{}: {} task types for {} samples", layer, batch.task_types.size(), batch.samples);
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
