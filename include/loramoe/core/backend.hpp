#pragma once
// Backend policies: empty tag types that select where a computation runs.
//
// Every class and function that computes takes the backend as a template parameter; the kernels of
// each backend live in a folder of their own (cpu/, cuda/) with the same file names, and are found by
// overload on the tag, as Thrust dispatches on its execution policies.

#include <concepts>
#include <cstddef>
#include <type_traits>

namespace loramoe {

// Sizes and indices are signed, as Eigen's.
using index = std::ptrdiff_t;

// The host: Eigen for products, xsimd for elementwise kernels, OpenMP for parallel loops.
struct cpu {
    static constexpr const char* name = "cpu";
};

// An NVIDIA GPU: cuBLAS for products, kernels of our own. Its kernels come with <loramoe/cuda.hpp>.
struct cuda {
    static constexpr const char* name = "cuda";
};

template <class B>
inline constexpr bool is_backend_v = std::is_same_v<B, cpu> || std::is_same_v<B, cuda>;

template <class B>
concept backend = is_backend_v<B>;

// The scalar types the library computes in.
template <class T>
concept scalar = std::is_same_v<T, float> || std::is_same_v<T, double>;

// For static_asserts in primary templates that must never be instantiated.
template <class...>
inline constexpr bool dependent_false = false;

}  // namespace loramoe

// Functions that run unchanged on the host and inside CUDA kernels (hashes, small maths).
#if defined(__CUDACC__)
#define LORAMOE_HOST_DEVICE __host__ __device__
#else
#define LORAMOE_HOST_DEVICE
#endif
