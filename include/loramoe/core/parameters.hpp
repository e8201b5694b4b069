#pragma once
// Trainable parameters live in one contiguous buffer, and their gradients in another of the same
// layout, apart from the frozen base weights: the optimizer, checkpointing and a gradient
// all-reduce are then one loop each.
//
// "Query the workspace, then run": a module reports parameter_count(); its owner allocates one
// parameter_buffer for all its modules and binds each to a slice of it.

#include <loramoe/core/tensor.hpp>

namespace loramoe {

// A module's share of a parameter_buffer: values and their gradients, `size` elements each.
template <class T>
struct parameter_slice {
    T* values = nullptr;
    T* grads = nullptr;
    index size = 0;

    parameter_slice slice(index offset, index count) const {
        LORAMOE_ASSERT(offset >= 0 && count >= 0 && offset + count <= size);
        return {values + offset, grads ? grads + offset : nullptr, count};
    }
    bool bound() const { return values != nullptr || size == 0; }
};

template <class T, class Backend = cpu>
class parameter_buffer {
public:
    parameter_buffer() = default;
    // Without gradients (frozen weights) the buffer holds values only, and slices have grads = null.
    explicit parameter_buffer(index count, bool with_grads = true) : values_({count}) {
        values_.zero();
        if (with_grads) {
            grads_.resize({count});
            grads_.zero();
        }
    }

    index size() const { return values_.size(); }
    bool has_grads() const { return grads_.size() == values_.size() && size() > 0; }
    parameter_slice<T> all() { return {values_.data(), has_grads() ? grads_.data() : nullptr, size()}; }
    parameter_slice<T> slice(index offset, index count) { return all().slice(offset, count); }

    // Gradients accumulate (+=) over backward calls; the owner zeroes them once per optimizer step.
    void zero_grad() { grads_.zero(); }

    tensor<T, Backend>& values() { return values_; }
    const tensor<T, Backend>& values() const { return values_; }
    tensor<T, Backend>& grads() { return grads_; }
    const tensor<T, Backend>& grads() const { return grads_; }

private:
    tensor<T, Backend> values_;
    tensor<T, Backend> grads_;
};

}  // namespace loramoe
