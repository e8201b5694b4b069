#pragma once
// Non-owning views of row-major matrices in some backend's memory.
//
// A view is a pointer, a shape and a row stride: element (i, j) is data[i * stride + j]. Views never
// allocate; `T` may be const for read-only access. Views of the host are mapped to Eigen by
// cpu/eigen.hpp; views of a device are only dereferenced by that device's kernels.

#include <loramoe/core/assert.hpp>
#include <loramoe/core/backend.hpp>

namespace loramoe {

template <class T>
struct matrix_view {
    T* data = nullptr;
    index rows = 0;
    index cols = 0;
    index stride = 0;  // elements between the starts of two consecutive rows; >= cols

    constexpr matrix_view() = default;
    constexpr matrix_view(T* data_, index rows_, index cols_) : matrix_view(data_, rows_, cols_, cols_) {}
    constexpr matrix_view(T* data_, index rows_, index cols_, index stride_)
        : data(data_), rows(rows_), cols(cols_), stride(stride_) {
        LORAMOE_ASSERT(rows_ >= 0 && cols_ >= 0 && stride_ >= cols_);
    }

    // A view of T converts to a view of const T, as T* to const T*.
    // (A template, so that a view of const T does not declare a conversion to its own type.)
    template <class U = T>
    requires(std::is_same_v<U, T> && !std::is_const_v<U>) constexpr operator matrix_view<const U>() const {
        return {data, rows, cols, stride};
    }

    constexpr bool empty() const { return rows == 0 || cols == 0; }
    constexpr index size() const { return rows * cols; }
    constexpr bool contiguous() const { return stride == cols || rows <= 1; }

    // Host memory only.
    constexpr T& operator()(index i, index j) const {
        LORAMOE_ASSERT(i >= 0 && i < rows && j >= 0 && j < cols);
        return data[i * stride + j];
    }
    constexpr T* row(index i) const { return data + i * stride; }

    // Rows [first, first + count) with all columns.
    constexpr matrix_view row_block(index first, index count) const {
        LORAMOE_ASSERT(first >= 0 && count >= 0 && first + count <= rows);
        return {data + first * stride, count, cols, stride};
    }
    // Columns [first, first + count) of every row.
    constexpr matrix_view col_block(index first, index count) const {
        LORAMOE_ASSERT(first >= 0 && count >= 0 && first + count <= cols);
        return {data + first, rows, count, stride};
    }
};

template <class T>
matrix_view<const T> as_const(matrix_view<T> view) {
    return view;
}

}  // namespace loramoe
