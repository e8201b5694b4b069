#pragma once
// Inverted dropout with the counter-based mask of cpu/dropout.hpp: the same (seed, stream) draws the
// same mask on either backend. Defined in cuda/dropout.cu for float and double.

#include <cstdint>

#include <loramoe/core/random.hpp>
#include <loramoe/core/view.hpp>

namespace loramoe {

template <class T>
void dropout(cuda, std::uint64_t seed, std::uint64_t stream, T p, matrix_view<const T> x, matrix_view<T> y,
             token_rows rows = {});

}  // namespace loramoe
