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

namespace detail {

struct host_memory {
    static constexpr std::size_t alignment = 64;

    template <class T>
    static T* allocate(index count) {
        const std::size_t bytes =
            (static_cast<std::size_t>(count) * sizeof(T) + alignment - 1) / alignment * alignment;
        void* memory = std::aligned_alloc(alignment, bytes);
        if (memory == nullptr) throw std::bad_alloc();
        std::memset(memory, 0, bytes);
        return static_cast<T*>(memory);
    }
    static void release(void* memory) { std::free(memory); }
};

}  // namespace detail

template <class T>
class buffer<T, cpu> : public growing_buffer<T, detail::host_memory> {
public:
    using growing_buffer<T, detail::host_memory>::growing_buffer;
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

// Waits until the calling thread's work on the backend is done; on the host it is when each call
// returns (the CUDA backend's work is queued on a stream: timing it needs this).
inline void synchronize(cpu) {}

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
