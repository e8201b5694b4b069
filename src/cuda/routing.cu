// The router's reductions over tokens and samples on the device (cuda/routing.hpp; maths:
// cpu/routing.hpp). gates (B*S, N), one row per token, sample-major; mask (B*S) in device memory with 1
// for a real token and 0 for padding, or null when every token is real.
//
// Launch shapes: sum_gates_per_sample, one thread per (b, n) summing its S tokens in order, as the
// host does (deterministic; B*N is small); add_per_sample_gradient and the squared-logsumexp gradient,
// one thread per element; count_top_expert, one thread per token adding 1 to its expert's count with
// an atomic (the counts are small integers, exact in T whatever the order); logsumexp_rows, one warp
// per row.

#include <cmath>

#include <cuda_runtime.h>

#include <loramoe/core/view.hpp>
#include <loramoe/cuda/routing.hpp>
#include "launch.cuh"

namespace loramoe {

namespace cuda_kernels {
namespace {

// q[b, n] = sum_t mask[b*S + t] * gates[b*S + t, n]        (overwrites q)
template <class T>
__global__ void sum_gates_per_sample(const T* gates, index gates_stride, const T* mask, index samples,
                                     index tokens, T* q, index q_stride, index experts) {
    const index count = samples * experts;
    for (index k = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x; k < count;
         k += static_cast<index>(gridDim.x) * blockDim.x) {
        const index b = k / experts, n = k % experts;
        T sum = 0;
        for (index t = 0; t < tokens; ++t) {
            const index row = b * tokens + t;
            const T m = mask ? mask[row] : T(1);
            sum += m * gates[row * gates_stride + n];
        }
        q[b * q_stride + n] = sum;
    }
}

// dgates[b*S + t, n] += mask[b*S + t] * dq[b, n]
template <class T>
__global__ void add_per_sample_gradient(const T* dq, index dq_stride, const T* mask, index tokens, T* dgates,
                                        index dgates_stride, index rows, index experts) {
    const index count = rows * experts;
    for (index k = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x; k < count;
         k += static_cast<index>(gridDim.x) * blockDim.x) {
        const index row = k / experts, n = k % experts;
        const T m = mask ? mask[row] : T(1);
        dgates[row * dgates_stride + n] += m * dq[(row / tokens) * dq_stride + n];
    }
}

// counts[argmax_n gates[row, n]] += 1 for every real token; counts zeroed before the launch.
template <class T>
__global__ void count_top_expert(const T* gates, index gates_stride, const T* mask, T* counts, index rows,
                                 index experts) {
    for (index row = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x; row < rows;
         row += static_cast<index>(gridDim.x) * blockDim.x) {
        if (mask && mask[row] == T(0)) continue;
        const T* g = gates + row * gates_stride;
        index best = 0;
        for (index n = 1; n < experts; ++n)
            if (g[n] > g[best]) best = n;
        atomicAdd(counts + best, T(1));
    }
}

// lse[t] = max_n z[t, n] + log sum_n exp(z[t, n] - max_n z[t, n])
template <class T>
__global__ void logsumexp_rows(const T* logits, index logits_stride, T* lse, index rows, index cols) {
    const index t = warp_row();
    if (t >= rows) return;
    const T* z = logits + t * logits_stride;
    T top = -INFINITY;
    for (index n = lane(); n < cols; n += warp_size) top = max(top, z[n]);
    top = warp_max(top);
    T sum = 0;
    for (index n = lane(); n < cols; n += warp_size) sum += exp(z[n] - top);
    sum = warp_sum(sum);
    if (lane() == 0) lse[t] = top + log(sum);
}

// dlogits[t, n] += c * mask[t] * 2 lse[t] exp(logits[t, n] - lse[t])
template <class T>
__global__ void add_squared_logsumexp_gradient(const T* logits, index logits_stride, const T* lse,
                                               const T* mask, T c, T* dlogits, index dlogits_stride,
                                               index rows, index cols) {
    const index count = rows * cols;
    for (index k = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x; k < count;
         k += static_cast<index>(gridDim.x) * blockDim.x) {
        const index t = k / cols, n = k % cols;
        const T m = mask ? mask[t] : T(1);
        dlogits[t * dlogits_stride + n] +=
            c * m * T(2) * lse[t] * exp(logits[t * logits_stride + n] - lse[t]);
    }
}

}  // namespace
}  // namespace cuda_kernels

template <class T>
void sum_gates_per_sample(cuda, matrix_view<const T> gates, const T* mask, index samples, index tokens,
                          matrix_view<T> q) {
    LORAMOE_ASSERT(gates.rows == samples * tokens && q.rows == samples && q.cols == gates.cols);
    if (q.empty()) return;
    cuda_kernels::sum_gates_per_sample<<<cuda_kernels::blocks_for(q.size()), cuda_kernels::block_threads, 0,
                                         cuda_kernels::stream()>>>(gates.data, gates.stride, mask, samples,
                                                                   tokens, q.data, q.stride, q.cols);
    LORAMOE_CUDA_LAUNCHED();
}

template <class T>
void add_per_sample_gradient(cuda, matrix_view<const T> dq, const T* mask, [[maybe_unused]] index samples,
                             index tokens, matrix_view<T> dgates) {
    LORAMOE_ASSERT(dgates.rows == samples * tokens && dq.rows == samples && dq.cols == dgates.cols);
    if (dgates.empty()) return;
    cuda_kernels::add_per_sample_gradient<<<cuda_kernels::blocks_for(dgates.size()),
                                            cuda_kernels::block_threads, 0, cuda_kernels::stream()>>>(
        dq.data, dq.stride, mask, tokens, dgates.data, dgates.stride, dgates.rows, dgates.cols);
    LORAMOE_CUDA_LAUNCHED();
}

template <class T>
void count_top_expert(cuda, matrix_view<const T> gates, const T* mask, T* counts) {
    if (gates.cols == 0) return;
    const auto s = cuda_kernels::stream();
    // All bits zero is 0.0 in float and double.
    LORAMOE_CUDA_CHECK(cudaMemsetAsync(counts, 0, static_cast<std::size_t>(gates.cols) * sizeof(T), s));
    if (gates.rows == 0) return;
    const unsigned blocks = cuda_kernels::blocks_for(gates.rows);
    cuda_kernels::count_top_expert<<<blocks, cuda_kernels::block_threads, 0, s>>>(
        gates.data, gates.stride, mask, counts, gates.rows, gates.cols);
    LORAMOE_CUDA_LAUNCHED();
}

template <class T>
void logsumexp_rows(cuda, matrix_view<const T> logits, T* lse) {
    if (logits.rows == 0) return;  // (a row of no columns gets log 0 = -inf, as on the host)
    cuda_kernels::logsumexp_rows<<<cuda_kernels::blocks_for_rows(logits.rows), cuda_kernels::block_threads, 0,
                                   cuda_kernels::stream()>>>(logits.data, logits.stride, lse, logits.rows,
                                                             logits.cols);
    LORAMOE_CUDA_LAUNCHED();
}

template <class T>
void add_squared_logsumexp_gradient(cuda, matrix_view<const T> logits, const T* lse, const T* mask, T c,
                                    matrix_view<T> dlogits) {
    LORAMOE_ASSERT(dlogits.rows == logits.rows && dlogits.cols == logits.cols);
    if (logits.empty()) return;
    cuda_kernels::add_squared_logsumexp_gradient<<<cuda_kernels::blocks_for(logits.size()),
                                                   cuda_kernels::block_threads, 0, cuda_kernels::stream()>>>(
        logits.data, logits.stride, lse, mask, c, dlogits.data, dlogits.stride, logits.rows, logits.cols);
    LORAMOE_CUDA_LAUNCHED();
}

#define LORAMOE_INSTANTIATE(T)                                                                         \
    template void sum_gates_per_sample<T>(cuda, matrix_view<const T>, const T*, index, index,          \
                                          matrix_view<T>);                                             \
    template void add_per_sample_gradient<T>(cuda, matrix_view<const T>, const T*, index, index,       \
                                             matrix_view<T>);                                          \
    template void count_top_expert<T>(cuda, matrix_view<const T>, const T*, T*);                       \
    template void logsumexp_rows<T>(cuda, matrix_view<const T>, T*);                                   \
    template void add_squared_logsumexp_gradient<T>(cuda, matrix_view<const T>, const T*, const T*, T, \
                                                    matrix_view<T>);
LORAMOE_CUDA_FOR_FLOATS(LORAMOE_INSTANTIATE)
#undef LORAMOE_INSTANTIATE

}  // namespace loramoe
