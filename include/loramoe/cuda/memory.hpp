#pragma once
// Device memory with RAII ownership, and the explicit transfers between host and device. No managed
// memory: a host pointer never aliases device memory, and every transfer is visible in the code.

#include <cstddef>
#include <memory>
#include <utility>

#include <loramoe/core/memory.hpp>
#include <loramoe/core/view.hpp>
#include <loramoe/cuda/context.hpp>

namespace loramoe {

namespace detail {

struct device_memory {
    template <class T>
    static T* allocate(index count) {
        void* memory = nullptr;
        LORAMOE_CUDA_CHECK(cudaMalloc(&memory, static_cast<std::size_t>(count) * sizeof(T)));
        const cudaError_t zeroed = cudaMemsetAsync(memory, 0, static_cast<std::size_t>(count) * sizeof(T),
                                                   cuda_context::current().stream());
        if (zeroed != cudaSuccess) {
            cudaFree(memory);
            check_cuda(zeroed, "cudaMemsetAsync(memory, 0, bytes, stream)", __FILE__, __LINE__);
        }
        return static_cast<T*>(memory);
    }
    static void release(void* memory) { cudaFree(memory); }
};

}  // namespace detail

// As the host buffer (core/memory.hpp's growing_buffer), in device memory.
template <class T>
class buffer<T, cuda> : public growing_buffer<T, detail::device_memory> {
public:
    using growing_buffer<T, detail::device_memory>::growing_buffer;
};

// Defined with the kernels (cuda/memory.cu): float, double and std::int64_t.
template <class T>
void fill(cuda, T* destination, index count, T value);

template <class T>
void copy(cuda, const T* source, T* destination, index count) {
    if (count > 0)
        LORAMOE_CUDA_CHECK(cudaMemcpyAsync(destination, source, static_cast<std::size_t>(count) * sizeof(T),
                                           cudaMemcpyDeviceToDevice, cuda_context::current().stream()));
}

template <class T>
void copy_to_host(cuda, const T* source, T* host_destination, index count) {
    if (count <= 0) return;
    const auto& context = cuda_context::current();
    LORAMOE_CUDA_CHECK(cudaMemcpyAsync(host_destination, source, static_cast<std::size_t>(count) * sizeof(T),
                                       cudaMemcpyDeviceToHost, context.stream()));
    context.synchronize();
}

template <class T>
void copy_from_host(cuda, const T* host_source, T* destination, index count) {
    if (count <= 0) return;
    const auto& context = cuda_context::current();
    LORAMOE_CUDA_CHECK(cudaMemcpyAsync(destination, host_source, static_cast<std::size_t>(count) * sizeof(T),
                                       cudaMemcpyHostToDevice, context.stream()));
    context.synchronize();  // the host memory may be gone when the call returns
}

// Waits for everything the calling thread queued on its stream (kernels and products return at once).
inline void synchronize(cuda) {
    cuda_context::current().synchronize();
}

// Strided matrices (a LoRA expert's B_i is a column block of B_cat).
template <class T>
void download(cuda, matrix_view<const T> source, matrix_view<T> host_destination) {
    LORAMOE_ASSERT(source.rows == host_destination.rows && source.cols == host_destination.cols);
    if (source.empty()) return;
    const auto& context = cuda_context::current();
    LORAMOE_CUDA_CHECK(cudaMemcpy2DAsync(host_destination.data, host_destination.stride * sizeof(T),
                                         source.data, source.stride * sizeof(T), source.cols * sizeof(T),
                                         source.rows, cudaMemcpyDeviceToHost, context.stream()));
    context.synchronize();
}

template <class T>
void upload(cuda, matrix_view<const T> host_source, matrix_view<T> destination) {
    LORAMOE_ASSERT(host_source.rows == destination.rows && host_source.cols == destination.cols);
    if (destination.empty()) return;
    const auto& context = cuda_context::current();
    LORAMOE_CUDA_CHECK(cudaMemcpy2DAsync(destination.data, destination.stride * sizeof(T), host_source.data,
                                         host_source.stride * sizeof(T), host_source.cols * sizeof(T),
                                         host_source.rows, cudaMemcpyHostToDevice, context.stream()));
    context.synchronize();
}

}  // namespace loramoe
