#pragma once
// RMSNorm on the device (maths: cpu/rmsnorm.hpp). Defined in cuda/rmsnorm.cu for float and double.

#include <loramoe/core/gradient_mode.hpp>
#include <loramoe/core/view.hpp>

namespace loramoe {

template <class T>
void rmsnorm_forward(cuda, matrix_view<const T> x, const T* weight, T eps, matrix_view<T> y, T* rstd);

// dx is overwritten or accumulated (mode); dweight (if not null) accumulates.
template <class T>
void rmsnorm_backward(cuda, matrix_view<const T> x, const T* weight, const T* rstd, matrix_view<const T> dy,
                      matrix_view<T> dx, gradient_mode mode, T* dweight);

}  // namespace loramoe
