#pragma once
// Named tensors packed one after another in one buffer: the offsets of a model's weights by their
// checkpoint names, so that loading, saving and the optimizer each see one contiguous buffer.

#include <cstddef>
#include <functional>
#include <map>
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
        if (!by_name_.emplace(name, tensors_.size()).second)
            fail<value_error>("tensor_layout: '{}' added twice", name);
        const index size = element_count(shape);
        tensors_.push_back({std::move(name), std::move(shape), total_});
        total_ += size;
    }

    index total() const { return total_; }
    const std::vector<named_tensor>& tensors() const { return tensors_; }

    const named_tensor* find(std::string_view name) const {
        const auto it = by_name_.find(name);
        return it == by_name_.end() ? nullptr : &tensors_[it->second];
    }
    const named_tensor& at(std::string_view name) const {
        if (const named_tensor* t = find(name)) return *t;
        fail<value_error>("no tensor named '{}'", name);
    }

private:
    std::vector<named_tensor> tensors_;
    std::map<std::string, std::size_t, std::less<>> by_name_;  // the index of each name in tensors_
    index total_ = 0;
};

}  // namespace loramoe
