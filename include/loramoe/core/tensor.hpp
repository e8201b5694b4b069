#pragma once
// An owning, contiguous, row-major tensor in a backend's memory.
//
// Tensors own; views (core/view.hpp) look. A tensor resized to the shape it already has, or to a
// smaller one, keeps its memory: the `saved` state of a module is allocated on the first call only.
// Copies between backends are explicit (to_host, to_backend); a tensor is moved, or cloned.

#include <initializer_list>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

#include <loramoe/core/error.hpp>
#include <loramoe/core/host_memory.hpp>
#include <loramoe/core/memory.hpp>
#include <loramoe/core/view.hpp>

namespace loramoe {

using shape_type = std::vector<index>;

inline index element_count(const shape_type& shape) {
    index count = 1;
    for (index d : shape) {
        if (d < 0) fail<shape_error>("negative dimension {} in shape {}", d, shape);
        count *= d;
    }
    return count;
}

template <class T, class Backend = cpu>
class tensor {
public:
    using value_type = T;
    using backend_type = Backend;

    tensor() = default;
    explicit tensor(shape_type shape) { resize(std::move(shape)); }
    tensor(std::initializer_list<index> shape) : tensor(shape_type(shape)) {}

    tensor(tensor&&) noexcept = default;
    tensor& operator=(tensor&&) noexcept = default;
    tensor(const tensor&) = delete;
    tensor& operator=(const tensor&) = delete;

    // The contents are unspecified after a resize; kernels overwrite, or call zero().
    void resize(shape_type shape) {
        memory_.resize(element_count(shape));
        shape_ = std::move(shape);
    }
    void resize(std::initializer_list<index> shape) { resize(shape_type(shape)); }

    void zero() { fill(Backend{}, data(), size(), T(0)); }
    void fill_with(T value) { fill(Backend{}, data(), size(), value); }

    T* data() { return memory_.data(); }
    const T* data() const { return memory_.data(); }
    index size() const { return memory_.size(); }
    bool empty() const { return size() == 0; }
    const shape_type& shape() const { return shape_; }
    int rank() const { return static_cast<int>(shape_.size()); }
    // A negative axis counts from the end, as in PyTorch.
    index dim(int axis) const { return shape_.at(axis < 0 ? shape_.size() + axis : axis); }

    // The tensor as a matrix: all leading dimensions flattened into rows, the last one the columns.
    matrix_view<T> matrix() { return as_matrix(leading_rows(), last_dim()); }
    matrix_view<const T> matrix() const { return as_matrix(leading_rows(), last_dim()); }
    matrix_view<T> as_matrix(index rows, index cols) {
        LORAMOE_ASSERT(rows * cols == size());
        return {data(), rows, cols};
    }
    matrix_view<const T> as_matrix(index rows, index cols) const {
        LORAMOE_ASSERT(rows * cols == size());
        return {data(), rows, cols};
    }

    tensor clone() const {
        tensor twin(shape_);
        copy(Backend{}, data(), twin.data(), size());  // unqualified: found by the backend tag
        return twin;
    }

    // Element access, on the host only.
    T& operator[](index i) requires std::is_same_v<Backend, cpu> {
        LORAMOE_ASSERT(i >= 0 && i < size());
        return data()[i];
    }
    const T& operator[](index i) const requires std::is_same_v<Backend, cpu> {
        LORAMOE_ASSERT(i >= 0 && i < size());
        return data()[i];
    }
    std::span<T> span() requires std::is_same_v<Backend, cpu> {
        return {data(), static_cast<std::size_t>(size())};
    }
    std::span<const T> span() const requires std::is_same_v<Backend, cpu> {
        return {data(), static_cast<std::size_t>(size())};
    }

private:
    index last_dim() const { return shape_.empty() ? 1 : shape_.back(); }
    index leading_rows() const {
        const index last = last_dim();
        return last == 0 ? 0 : size() / last;
    }

    buffer<T, Backend> memory_;
    shape_type shape_;
};

// Throws shape_error unless `view` is rows x cols; `what` names the tensor in the message.
template <class T>
void require_shape(const matrix_view<T>& view, index rows, index cols, const char* what) {
    if (view.rows != rows || view.cols != cols)
        fail<shape_error>("{} has shape [{}, {}], expected [{}, {}]", what, view.rows, view.cols, rows, cols);
}

// A host tensor from a list of values, with a shape (tests and small tables).
template <class T>
tensor<T, cpu> make_tensor(shape_type shape, std::initializer_list<T> values) {
    tensor<T, cpu> t(std::move(shape));
    if (static_cast<index>(values.size()) != t.size())
        fail<shape_error>("make_tensor: {} values for a shape of {} elements", values.size(), t.size());
    std::copy(values.begin(), values.end(), t.data());
    return t;
}

// Explicit transfers.
template <class T, class Backend>
tensor<T, cpu> to_host(const tensor<T, Backend>& source) {
    tensor<T, cpu> host(source.shape());
    copy_to_host(Backend{}, source.data(), host.data(), source.size());
    return host;
}
template <class Backend, class T>
tensor<T, Backend> to_backend(const tensor<T, cpu>& host) {
    tensor<T, Backend> destination(host.shape());
    copy_from_host(Backend{}, host.data(), destination.data(), host.size());
    return destination;
}

}  // namespace loramoe
