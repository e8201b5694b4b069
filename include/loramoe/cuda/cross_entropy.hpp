#pragma once
// Cross-entropy on the device (maths: cpu/cross_entropy.hpp). Defined in cuda/cross_entropy.cu for float
// and double; targets are device memory.

#include <cstdint>

#include <loramoe/core/ignore_index.hpp>
#include <loramoe/core/view.hpp>

namespace loramoe {

// The sum of the counted rows' losses (in double).
template <class T>
double cross_entropy_sum(cuda, matrix_view<const T> logits, const std::int64_t* targets);

// Overwrites dlogits (which may alias logits).
template <class T>
void cross_entropy_backward(cuda, matrix_view<const T> logits, const std::int64_t* targets, T scale,
                            matrix_view<T> dlogits);

}  // namespace loramoe
