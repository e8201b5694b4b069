#pragma once
// Counter-based random numbers: the value at (seed, stream, counter) is a pure function, so a dropout
// mask is regenerated in backward instead of stored, any backend draws the same numbers, and a run
// resumed from a checkpoint continues the same sequence.

#include <cmath>
#include <cstdint>

#include <loramoe/core/backend.hpp>

namespace loramoe {

// splitmix64's finaliser: a bijective mix of 64 bits.
LORAMOE_HOST_DEVICE constexpr std::uint64_t mix64(std::uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

LORAMOE_HOST_DEVICE constexpr std::uint64_t random_bits(std::uint64_t seed, std::uint64_t stream,
                                                        std::uint64_t counter) {
    return mix64(mix64(seed ^ mix64(stream)) + counter);
}

// A matrix's rows as the tokens of a batch, sample-major: row t is position t % tokens of sample
// first_sample + t / tokens (first_sample: where this part starts in a batch split over ranks).
struct token_rows {
    index tokens = 1;  // S, tokens per sample
    index first_sample = 0;
};

// The counter of column j of the token at (sample, position) of a batch with `columns` columns: a
// per-token draw (a dropout mask) that depends neither on the padding nor on how the batch is split
// over ranks. Distinct for position * columns + j < 2^40 and sample < 2^24.
inline constexpr int token_counter_position_bits = 40;
LORAMOE_HOST_DEVICE constexpr std::uint64_t token_counter(std::uint64_t sample, std::uint64_t position,
                                                          std::uint64_t columns, std::uint64_t j) {
    return (sample << token_counter_position_bits) + position * columns + j;
}

// Uniform in [0, 1) with 53 random bits.
LORAMOE_HOST_DEVICE constexpr double unit_uniform(std::uint64_t bits) {
    return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

// A sequential generator over the counter-based one, for initialisation and shuffling on the host.
class random_generator {
public:
    explicit constexpr random_generator(std::uint64_t seed, std::uint64_t stream = 0)
        : seed_(seed), stream_(stream) {}

    constexpr std::uint64_t next_bits() { return random_bits(seed_, stream_, counter_++); }
    constexpr double uniform() { return unit_uniform(next_bits()); }
    constexpr double uniform(double low, double high) { return low + (high - low) * uniform(); }
    // An integer in [0, n), without modulo bias worth measuring for n << 2^64.
    constexpr std::uint64_t below(std::uint64_t n) { return static_cast<std::uint64_t>(uniform() * n); }
    // Standard normal by Box-Muller.
    double normal() {
        const double u1 = 1.0 - uniform(), u2 = uniform();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }

    constexpr std::uint64_t seed() const { return seed_; }
    constexpr std::uint64_t stream() const { return stream_; }
    constexpr std::uint64_t counter() const { return counter_; }
    constexpr void set_counter(std::uint64_t counter) { counter_ = counter; }

private:
    std::uint64_t seed_;
    std::uint64_t stream_;
    std::uint64_t counter_ = 0;
};

}  // namespace loramoe
