#pragma once
// Row and column operations on the host that Eigen does not fuse into a product.

#include <loramoe/core/view.hpp>
#include <loramoe/cpu/eigen.hpp>
#include <loramoe/cpu/parallel.hpp>
#include <loramoe/cpu/simd.hpp>

namespace loramoe {

// y[t, :] += b
template <class T>
void add_bias(cpu, const T* b, matrix_view<T> y) {
    eigen_map(y).rowwise() += eigen_vector(b, y.cols).transpose();
}

// db += sum_t dy[t, :]   (a parameter gradient: accumulates)
template <class T>
void add_column_sums(cpu, matrix_view<const T> dy, T* db) {
    eigen_vector(db, dy.cols) += eigen_map(dy).colwise().sum().transpose();
}

// y += a * x
template <class T>
void axpy(cpu, T a, matrix_view<const T> x, matrix_view<T> y) {
    LORAMOE_ASSERT(x.rows == y.rows && x.cols == y.cols);
    eigen_map(y) += a * eigen_map(x);
}

// y = x, for strided views.
template <class T>
void copy_matrix(cpu, matrix_view<const T> x, matrix_view<T> y) {
    LORAMOE_ASSERT(x.rows == y.rows && x.cols == y.cols);
    eigen_map(y) = eigen_map(x);
}

template <class T>
void fill_matrix(cpu, matrix_view<T> y, T value) {
    eigen_map(y).setConstant(value);
}

// y[t, :] = s * c[t] * x[t, :]  (accumulate = false)   or   y[t, :] += s * c[t] * x[t, :]  (true);
// c is a column of some matrix: c[t] = coefficients[t * coefficient_stride].
template <class T>
void scale_rows(cpu, const T* coefficients, index coefficient_stride, T s, matrix_view<const T> x,
                matrix_view<T> y, bool accumulate) {
    LORAMOE_ASSERT(x.rows == y.rows && x.cols == y.cols);
    parallel_for(cpu{}, x.rows, x.cols, [&](index t) {
        const T a = s * coefficients[t * coefficient_stride];
        T* yt = y.row(t);
        const T* xt = x.row(t);
        if (accumulate)
            for (index j = 0; j < x.cols; ++j) yt[j] += a * xt[j];
        else
            simd::scale(a, xt, yt, x.cols);
    });
}

// out[t * out_stride] = s * <a[t, :], b[t, :]>
template <class T>
void row_dots(cpu, matrix_view<const T> a, matrix_view<const T> b, T s, T* out, index out_stride) {
    LORAMOE_ASSERT(a.rows == b.rows && a.cols == b.cols);
    parallel_for(cpu{}, a.rows, a.cols,
                 [&](index t) { out[t * out_stride] = s * simd::dot(a.row(t), b.row(t), a.cols); });
}

}  // namespace loramoe
