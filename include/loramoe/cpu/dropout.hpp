#pragma once
// Inverted dropout with a counter-based mask on the host.
//
//   y[t, j] = m[t, j] * x[t, j] / (1 - p),   m[t, j] = [uniform(seed, stream, c(t, j)) >= p]
//
// where c(t, j) = token_counter(sample, position, cols, j) of row t (core/random.hpp: rows as the tokens
// of a batch; by default one sample per row): a token's mask is the same however the batch is padded
// and split over ranks.
// The mask is a pure function of (seed, stream), so backward regenerates it instead of storing it,
// and the same kernel computes the backward: dx = m o dy / (1 - p).

#include <cstdint>

#include <loramoe/core/random.hpp>
#include <loramoe/core/view.hpp>
#include <loramoe/cpu/parallel.hpp>

namespace loramoe {

template <class T>
void dropout(cpu, std::uint64_t seed, std::uint64_t stream, T p, matrix_view<const T> x, matrix_view<T> y,
             token_rows rows = {}) {
    LORAMOE_ASSERT(x.rows == y.rows && x.cols == y.cols && p >= 0 && p < 1 && rows.tokens > 0);
    const T keep_scale = T(1) / (T(1) - p);
    parallel_for(cpu{}, x.rows, 4 * x.cols, [&](index t) {
        for (index j = 0; j < x.cols; ++j) {
            const auto counter =
                token_counter(static_cast<std::uint64_t>(rows.first_sample + t / rows.tokens),
                              static_cast<std::uint64_t>(t % rows.tokens), static_cast<std::uint64_t>(x.cols),
                              static_cast<std::uint64_t>(j));
            const bool kept = unit_uniform(random_bits(seed, stream, counter)) >= static_cast<double>(p);
            y(t, j) = kept ? x(t, j) * keep_scale : T(0);
        }
    });
}

}  // namespace loramoe
