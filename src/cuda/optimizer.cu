// AdamW and the gradient's global norm on the device (cuda/optimizer.hpp; maths: cpu/optimizer.hpp).
//
// AdamW, exactly as PyTorch's torch.optim.AdamW (decoupled weight decay), at update number t >= 1:
//   p <- p - lr * weight_decay * p
//   m <- b1 m + (1 - b1) g,         v <- b2 v + (1 - b2) g^2
//   p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// The step size and the bias corrections are computed on the host in double, as on the cpu backend,
// and the kernel repeats the host's per-element arithmetic in T, one thread per element.
//
// sum_of_squares reduces in double in two passes (deterministic, no atomics): each block of the first
// sums a grid-stride share of g into one partial, one block of the second sums the partials, and the
// one value is copied to the host.

#include <algorithm>
#include <cmath>

#include <cuda_runtime.h>

#include <loramoe/core/adamw_hyperparameters.hpp>
#include <loramoe/core/backend.hpp>
#include <loramoe/cuda/memory.hpp>
#include <loramoe/cuda/optimizer.hpp>
#include "launch.cuh"

namespace loramoe {

namespace cuda_kernels {
namespace {

template <class T>
__global__ void adamw_update(T* p, const T* g, T* m, T* v, index n, T decay, T b1, T b2, T one_minus_b1,
                             T one_minus_b2, T correction2, T eps, T step_size) {
    for (index i = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<index>(gridDim.x) * blockDim.x) {
        const T gi = g[i];
        T pi = p[i] * decay;
        const T mi = b1 * m[i] + one_minus_b1 * gi;
        const T vi = b2 * v[i] + one_minus_b2 * gi * gi;
        const T denominator = sqrt(vi) / correction2 + eps;
        pi -= step_size * mi / denominator;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi;
    }
}

// The sum of `value` over the block (block_threads threads), valid in thread 0.
__device__ double block_sum(double value) {
    __shared__ double warp_sums[warps_per_block];
    value = warp_sum(value);
    const int warp = static_cast<int>(threadIdx.x) / warp_size;
    if (lane() == 0) warp_sums[warp] = value;
    __syncthreads();
    value = 0;
    if (warp == 0) {
        if (lane() < warps_per_block) value = warp_sums[lane()];
        value = warp_sum(value);
    }
    return value;
}

// partials[block] = sum over the block's grid-stride share of g_i^2, in double.
template <class T>
__global__ void sum_of_squares_partials(const T* g, index n, double* partials) {
    double sum = 0;
    for (index i = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<index>(gridDim.x) * blockDim.x) {
        const double gi = static_cast<double>(g[i]);
        sum += gi * gi;
    }
    sum = block_sum(sum);
    if (threadIdx.x == 0) partials[blockIdx.x] = sum;
}

// *total = sum of the partials; one block.
__global__ void sum_partials(const double* partials, index count, double* total) {
    double sum = 0;
    for (index i = threadIdx.x; i < count; i += blockDim.x) sum += partials[i];
    sum = block_sum(sum);
    if (threadIdx.x == 0) *total = sum;
}

template <class T>
__global__ void scale_values(T* x, index n, T factor) {
    for (index i = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<index>(gridDim.x) * blockDim.x)
        x[i] *= factor;
}

// Partial sums of the first pass: enough blocks to fill the GPU, few enough for one block to add.
inline constexpr unsigned max_partials = 1024;

}  // namespace
}  // namespace cuda_kernels

template <class T>
void adamw_update(cuda, T* p, const T* g, T* m, T* v, index n, const adamw_hyperparameters& h, index t) {
    LORAMOE_ASSERT(t >= 1);
    if (n <= 0) return;
    const double step_size = h.lr / (1 - std::pow(h.beta1, static_cast<double>(t)));
    const double correction2 = std::sqrt(1 - std::pow(h.beta2, static_cast<double>(t)));
    const T decay = static_cast<T>(1 - h.lr * h.weight_decay), b1 = static_cast<T>(h.beta1),
            b2 = static_cast<T>(h.beta2);
    const unsigned blocks = cuda_kernels::blocks_for(n);
    cuda_kernels::adamw_update<<<blocks, cuda_kernels::block_threads, 0, cuda_kernels::stream()>>>(
        p, g, m, v, n, decay, b1, b2, static_cast<T>(1 - h.beta1), static_cast<T>(1 - h.beta2),
        static_cast<T>(correction2), static_cast<T>(h.eps), static_cast<T>(step_size));
    LORAMOE_CUDA_LAUNCHED();
}

template <class T>
double sum_of_squares(cuda, const T* g, index n) {
    if (n <= 0) return 0;
    const unsigned blocks = std::min(cuda_kernels::blocks_for(n), cuda_kernels::max_partials);
    buffer<double, cuda> scratch(blocks + 1);  // (blocks) partial sums, then the total
    double* partials = scratch.data();
    double* total = partials + blocks;
    const auto s = cuda_kernels::stream();
    cuda_kernels::sum_of_squares_partials<<<blocks, cuda_kernels::block_threads, 0, s>>>(g, n, partials);
    LORAMOE_CUDA_LAUNCHED();
    cuda_kernels::sum_partials<<<1, cuda_kernels::block_threads, 0, s>>>(partials, blocks, total);
    LORAMOE_CUDA_LAUNCHED();
    double result = 0;
    LORAMOE_CUDA_CHECK(cudaMemcpyAsync(&result, total, sizeof(double), cudaMemcpyDeviceToHost, s));
    cuda_context::current().synchronize();
    return result;
}

template <class T>
void scale_values(cuda, T* x, index n, T factor) {
    if (n <= 0) return;
    const unsigned blocks = cuda_kernels::blocks_for(n);
    const auto s = cuda_kernels::stream();
    cuda_kernels::scale_values<<<blocks, cuda_kernels::block_threads, 0, s>>>(x, n, factor);
    LORAMOE_CUDA_LAUNCHED();
}

#define LORAMOE_INSTANTIATE(T)                                                                             \
    template void adamw_update<T>(cuda, T*, const T*, T*, T*, index, const adamw_hyperparameters&, index); \
    template double sum_of_squares<T>(cuda, const T*, index);                                              \
    template void scale_values<T>(cuda, T*, index, T);
LORAMOE_CUDA_FOR_FLOATS(LORAMOE_INSTANTIATE)
#undef LORAMOE_INSTANTIATE

}  // namespace loramoe
