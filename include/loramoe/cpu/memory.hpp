#pragma once
// Host memory: 64-byte aligned (one AVX-512 register, one cache line), zeroed when allocated.

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <utility>

#include <loramoe/core/memory.hpp>
#include <loramoe/core/view.hpp>

namespace loramoe {

template <class T>
class buffer<T, cpu> {
public:
    static constexpr std::size_t alignment = 64;

    buffer() = default;
    explicit buffer(index count) { resize(count); }
    // A moved-from buffer is empty, and usable again.
    buffer(buffer&& other) noexcept
        : data_(std::move(other.data_)),
          size_(std::exchange(other.size_, 0)),
          capacity_(std::exchange(other.capacity_, 0)) {}
    buffer& operator=(buffer&& other) noexcept {
        data_ = std::move(other.data_);
        size_ = std::exchange(other.size_, 0);
        capacity_ = std::exchange(other.capacity_, 0);
        return *this;
    }

    // Grows the capacity when needed (the old contents are then lost); never shrinks it, so a
    // workspace resized to the same size on every call allocates once.
    void resize(index count) {
        LORAMOE_ASSERT(count >= 0);
        if (count > capacity_) {
            const std::size_t bytes =
                (static_cast<std::size_t>(count) * sizeof(T) + alignment - 1) / alignment * alignment;
            void* memory = std::aligned_alloc(alignment, bytes);
            if (memory == nullptr) throw std::bad_alloc();
            std::memset(memory, 0, bytes);
            data_.reset(static_cast<T*>(memory));
            capacity_ = count;
        }
        size_ = count;
    }

    T* data() { return data_.get(); }
    const T* data() const { return data_.get(); }
    index size() const { return size_; }

private:
    struct release {
        void operator()(T* memory) const { std::free(memory); }
    };
    std::unique_ptr<T[], release> data_;
    index size_ = 0;
    index capacity_ = 0;
};

template <class T>
void fill(cpu, T* destination, index count, T value) {
    std::fill_n(destination, count, value);
}

// Copies within the backend's memory.
template <class T>
void copy(cpu, const T* source, T* destination, index count) {
    if (count > 0) std::memcpy(destination, source, static_cast<std::size_t>(count) * sizeof(T));
}

// The explicit transfers every backend provides; for the host they are plain copies.
template <class T>
void copy_to_host(cpu, const T* source, T* host_destination, index count) {
    copy(cpu{}, source, host_destination, count);
}
template <class T>
void copy_from_host(cpu, const T* host_source, T* destination, index count) {
    copy(cpu{}, host_source, destination, count);
}

// Strided matrix transfers (a LoRA expert's B_i is a column block of B_cat).
template <class T>
void download(cpu, matrix_view<const T> source, matrix_view<T> host_destination) {
    LORAMOE_ASSERT(source.rows == host_destination.rows && source.cols == host_destination.cols);
    for (index i = 0; i < source.rows; ++i) copy(cpu{}, source.row(i), host_destination.row(i), source.cols);
}
template <class T>
void upload(cpu, matrix_view<const T> host_source, matrix_view<T> destination) {
    download(cpu{}, host_source, destination);
}

}  // namespace loramoe
