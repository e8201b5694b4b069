#pragma once
// Views of host memory as Eigen matrices: Eigen does the products and the reductions it fuses well.

#include <type_traits>

#include <Eigen/Core>

#include <loramoe/core/view.hpp>

namespace loramoe {

template <class T>
using row_major_matrix =
    Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class T>
auto eigen_map(matrix_view<T> view) {
    using matrix = std::conditional_t<std::is_const_v<T>, const row_major_matrix<T>, row_major_matrix<T>>;
    // Eigen insists on a positive stride even for empty matrices.
    const index stride = view.stride > 0 ? view.stride : 1;
    return Eigen::Map<matrix, Eigen::Unaligned, Eigen::OuterStride<>>(view.data, view.rows, view.cols,
                                                                      Eigen::OuterStride<>(stride));
}

template <class T>
auto eigen_vector(T* data, index size) {
    using vector =
        std::conditional_t<std::is_const_v<T>, const Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, 1>,
                           Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, 1>>;
    return Eigen::Map<vector>(data, size);
}

}  // namespace loramoe
