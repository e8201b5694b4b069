#pragma once
// Data-parallel ranks must train one run: the same data, options and model, and, step after step,
// the same weights. Each rank reduces what it holds to a 64-bit digest and the ranks compare them: a
// disagreement stops every rank, with a message naming the ranks that differ from rank 0.

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <loramoe/core/communicator.hpp>
#include <loramoe/core/error.hpp>
#include <loramoe/core/random.hpp>
#include <loramoe/core/tensor.hpp>
#include <loramoe/cpu/parallel.hpp>

namespace loramoe::train {

// Folds `value` into the digest `h`.
constexpr std::uint64_t digest_mix(std::uint64_t h, std::uint64_t value) {
    return mix64(h ^ value);
}

// A digest of a tensor's bytes, the same on every backend: chunks hashed in parallel, then folded in
// order (a device tensor is copied to the host a chunk at a time).
template <class V, class Backend>
std::uint64_t digest_of(const tensor<V, Backend>& values) {
    constexpr index chunk = index{1} << 20;  // elements
    const index size = values.size(), chunks = (size + chunk - 1) / chunk;
    std::vector<std::uint64_t> hashes(static_cast<std::size_t>(chunks));
    std::vector<V> host;
    auto hash_chunk = [&](const V* data, index count) {
        std::uint64_t h = 0x9e3779b97f4a7c15ull;
        const auto* bytes = reinterpret_cast<const unsigned char*>(data);
        const std::size_t length = static_cast<std::size_t>(count) * sizeof(V);
        std::size_t i = 0;
        for (; i + 8 <= length; i += 8) {
            std::uint64_t word;
            std::memcpy(&word, bytes + i, 8);
            h = digest_mix(h, word);
        }
        for (; i < length; ++i) h = digest_mix(h, bytes[i]);
        return h;
    };
    if constexpr (std::is_same_v<Backend, cpu>) {
        parallel_for(cpu{}, chunks, chunk, [&](index c) {
            hashes[static_cast<std::size_t>(c)] =
                hash_chunk(values.data() + c * chunk, std::min(chunk, size - c * chunk));
        });
    } else {
        for (index c = 0; c < chunks; ++c) {
            const index count = std::min(chunk, size - c * chunk);
            host.resize(static_cast<std::size_t>(count));
            copy_to_host(Backend{}, values.data() + c * chunk, host.data(), count);
            hashes[static_cast<std::size_t>(c)] = hash_chunk(host.data(), count);
        }
    }
    std::uint64_t h = digest_mix(0, static_cast<std::uint64_t>(size));
    for (std::uint64_t chunk_hash : hashes) h = digest_mix(h, chunk_hash);
    return h;
}

// Throws the same error on every rank unless every rank's digest equals rank 0's.
inline void require_ranks_agree(const communicator_ref& ranks, std::uint64_t digest, std::string_view what) {
    if (ranks.size() == 1) return;
    std::vector<std::int64_t> digests(static_cast<std::size_t>(ranks.size()), 0);
    digests[static_cast<std::size_t>(ranks.rank())] = static_cast<std::int64_t>(digest);
    ranks.all_reduce_sum(std::span(digests));  // an all-gather: each rank fills its own slot
    std::string differing;
    for (std::size_t r = 1; r < digests.size(); ++r)
        if (digests[r] != digests[0]) differing += fmt::format("{}{}", differing.empty() ? "" : ", ", r);
    if (!differing.empty())
        fail<value_error>("the {} ranks disagree on {}: rank(s) {} differ from rank 0", ranks.size(), what,
                          differing);
}

}  // namespace loramoe::train
