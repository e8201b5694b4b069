#pragma once
// Row and column operations on the device (maths: cpu/elementwise.hpp). Defined in
// cuda/elementwise.cu for float and double.

#include <loramoe/core/view.hpp>

namespace loramoe {

// y[t, :] += b
template <class T>
void add_bias(cuda, const T* b, matrix_view<T> y);

// db += sum_t dy[t, :]
template <class T>
void add_column_sums(cuda, matrix_view<const T> dy, T* db);

// y += a * x
template <class T>
void axpy(cuda, T a, matrix_view<const T> x, matrix_view<T> y);

template <class T>
void copy_matrix(cuda, matrix_view<const T> x, matrix_view<T> y);

template <class T>
void fill_matrix(cuda, matrix_view<T> y, T value);

// y[t, :] (+)= s * c[t] * x[t, :],  c[t] = coefficients[t * coefficient_stride]
template <class T>
void scale_rows(cuda, const T* coefficients, index coefficient_stride, T s, matrix_view<const T> x,
                matrix_view<T> y, bool accumulate);

// out[t * out_stride] = s * <a[t, :], b[t, :]>
template <class T>
void row_dots(cuda, matrix_view<const T> a, matrix_view<const T> b, T s, T* out, index out_stride);

}  // namespace loramoe
