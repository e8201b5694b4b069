#pragma once
// Token embedding on the device (maths: cpu/embedding.hpp). Defined in cuda/embedding.cu for float and
// double; ids are device memory.

#include <cstdint>

#include <loramoe/core/view.hpp>

namespace loramoe {

template <class T>
void embedding_forward(cuda, matrix_view<const T> table, const std::int64_t* ids, matrix_view<T> out);

template <class T>
void embedding_backward(cuda, const std::int64_t* ids, matrix_view<const T> dout, matrix_view<T> dtable);

}  // namespace loramoe
