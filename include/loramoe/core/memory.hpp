#pragma once
// Owning memory of a backend, and the explicit transfers between backends.
//
// `buffer<T, Backend>` is specialised by each backend folder (cpu/memory.hpp, cuda/memory.hpp). The
// primary template says what is missing instead of falling back silently to host memory.

#include <memory>
#include <utility>

#include <loramoe/core/assert.hpp>
#include <loramoe/core/backend.hpp>

namespace loramoe {

template <class T, class Backend>
class buffer {
    static_assert(dependent_false<T, Backend>,
                  "no memory for this backend: include <loramoe/cuda.hpp> (and compile with nvcc) to use "
                  "loramoe::cuda");
};

// What every backend's buffer is, given where its memory comes from: `Memory::allocate<T>(count)`
// returns `count` zeroed elements (or throws), `Memory::release(pointer)` gives them back. It owns them,
// moves (a moved-from buffer is empty, and usable again), and grows but never shrinks, so that a
// workspace resized to the same size on every call allocates once.
template <class T, class Memory>
class growing_buffer {
public:
    growing_buffer() = default;
    explicit growing_buffer(index count) { resize(count); }
    growing_buffer(growing_buffer&& other) noexcept
        : data_(std::move(other.data_)),
          size_(std::exchange(other.size_, 0)),
          capacity_(std::exchange(other.capacity_, 0)) {}
    growing_buffer& operator=(growing_buffer&& other) noexcept {
        data_ = std::move(other.data_);
        size_ = std::exchange(other.size_, 0);
        capacity_ = std::exchange(other.capacity_, 0);
        return *this;
    }

    // Grows the capacity when needed: the old contents are then lost (freed first, so that the peak is
    // one allocation) and the new memory is zeroed.
    void resize(index count) {
        LORAMOE_ASSERT(count >= 0);
        if (count > capacity_) {
            data_.reset();
            size_ = capacity_ = 0;  // stays empty if the allocation throws
            data_.reset(Memory::template allocate<T>(count));
            capacity_ = count;
        }
        size_ = count;
    }

    T* data() { return data_.get(); }
    const T* data() const { return data_.get(); }
    index size() const { return size_; }

private:
    struct release {
        void operator()(T* memory) const { Memory::release(memory); }
    };
    std::unique_ptr<T[], release> data_;
    index size_ = 0;
    index capacity_ = 0;
};

}  // namespace loramoe
