#pragma once
// The SwiGLU gate on the device (maths: cpu/swiglu.hpp). Defined in cuda/swiglu.cu for float and double.

#include <loramoe/core/view.hpp>

namespace loramoe {

template <class T>
void swiglu_forward(cuda, matrix_view<const T> gate, matrix_view<const T> up, matrix_view<T> out);

// dup may be dout itself, as on the host.
template <class T>
void swiglu_backward(cuda, matrix_view<const T> gate, matrix_view<const T> up, matrix_view<const T> dout,
                     matrix_view<T> dgate, matrix_view<T> dup);

}  // namespace loramoe
