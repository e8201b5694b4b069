#pragma once
// Named tensors packed one after another in one buffer: the offsets of a model's weights by their
// checkpoint names, so that loading, saving and the optimizer each see one contiguous buffer.

#include <string>
#include <string_view>
#include <vector>

#include <loramoe/core/tensor.hpp>

namespace loramoe {

struct named_tensor {
    std::string name;
    shape_type shape;
    index offset = 0;

    index size() const { return element_count(shape); }
};

class tensor_layout {
public:
    void add(std::string name, shape_type shape) {
        if (find(name) != nullptr) fail<value_error>("tensor_layout: '{}' added twice", name);
        const index size = element_count(shape);
        tensors_.push_back({std::move(name), std::move(shape), total_});
        total_ += size;
    }

    index total() const { return total_; }
    const std::vector<named_tensor>& tensors() const { return tensors_; }

    const named_tensor* find(std::string_view name) const {
        for (const auto& t : tensors_)
            if (t.name == name) return &t;
        return nullptr;
    }
    const named_tensor& at(std::string_view name) const {
        if (const named_tensor* t = find(name)) return *t;
        fail<value_error>("no tensor named '{}'", name);
    }

private:
    std::vector<named_tensor> tensors_;
    index total_ = 0;
};

}  // namespace loramoe
