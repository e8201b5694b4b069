#pragma once
// Rotary position embedding on the device (maths: cpu/rope.hpp). Defined in cuda/rope.cu for float
// and double; positions, cos and sin are device memory; y may alias x.

#include <cstdint>

#include <loramoe/core/view.hpp>

namespace loramoe {

template <class T>
void rotate(cuda, matrix_view<const T> x, index head_dim, const std::int64_t* positions,
            matrix_view<const T> cos, matrix_view<const T> sin, bool inverse, matrix_view<T> y);

}  // namespace loramoe
