// Cross-entropy of logits against integer targets on the device (cuda/cross_entropy.hpp; maths:
// cpu/cross_entropy.hpp).
//
//   forward:   loss_t = logsumexp(z_t) - z_t[target_t]       for the rows whose target is not ignored
//   backward:  dz_t = scale * (softmax(z_t) - onehot(target_t)), 0 for ignored rows
//
// One warp per row. The sum of the losses is deterministic: each row's loss (in double) goes to a
// scratch vector, which one block then adds up in a fixed order.

#include <cmath>
#include <cstddef>
#include <cstdint>

#include <loramoe/core/ignore_index.hpp>
#include <loramoe/cuda/cross_entropy.hpp>
#include "launch.cuh"

namespace loramoe {

namespace cuda_kernels {
namespace {

// logits (rows, cols), targets (rows) -> losses (rows), 0 for ignored rows.
template <class T>
__global__ void cross_entropy_rows(const T* logits, index stride, const std::int64_t* targets, double* losses,
                                   index rows, index cols) {
    const index t = warp_row();
    if (t >= rows) return;
    const std::int64_t target = targets[t];
    if (target == ignore_index) {
        if (lane() == 0) losses[t] = 0;
        return;
    }
    const T* z = logits + t * stride;
    T top = -INFINITY;
    for (index j = lane(); j < cols; j += warp_size) top = max(top, z[j]);
    top = warp_max(top);
    double sum = 0;
    for (index j = lane(); j < cols; j += warp_size) sum += exp(static_cast<double>(z[j] - top));
    sum = warp_sum(sum);
    if (lane() == 0) losses[t] = static_cast<double>(top) + log(sum) - static_cast<double>(z[target]);
}

// total[0] = sum of values[0:count], by one block: strided partial sums, then a tree in shared memory.
__global__ void sum_in_order(const double* values, index count, double* total) {
    __shared__ double partial[block_threads];
    double sum = 0;
    for (index i = threadIdx.x; i < count; i += block_threads) sum += values[i];
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (int width = block_threads / 2; width > 0; width /= 2) {
        if (static_cast<int>(threadIdx.x) < width) partial[threadIdx.x] += partial[threadIdx.x + width];
        __syncthreads();
    }
    if (threadIdx.x == 0) total[0] = partial[0];
}

// dz = scale * (softmax(z) - onehot(target)); dz may alias z: each lane reads an element before it
// writes it, and the maximum is taken before any element is written.
template <class T>
__global__ void cross_entropy_backward_rows(const T* logits, index logits_stride, const std::int64_t* targets,
                                            T scale, T* dlogits, index dlogits_stride, index rows,
                                            index cols) {
    const index t = warp_row();
    if (t >= rows) return;
    const T* z = logits + t * logits_stride;
    T* d = dlogits + t * dlogits_stride;
    const std::int64_t target = targets[t];
    if (target == ignore_index) {
        for (index j = lane(); j < cols; j += warp_size) d[j] = 0;
        return;
    }
    warp_softmax(z, d, cols);  // each lane reads back only the elements it wrote
    for (index j = lane(); j < cols; j += warp_size) d[j] = (d[j] - (j == target ? T(1) : T(0))) * scale;
}

// Device memory for the duration of one call, ordered on the stream.
class stream_scratch {
public:
    stream_scratch(std::size_t bytes, cudaStream_t stream) : stream_(stream) {
        LORAMOE_CUDA_CHECK(cudaMallocAsync(&memory_, bytes, stream_));
    }
    ~stream_scratch() { cudaFreeAsync(memory_, stream_); }
    stream_scratch(const stream_scratch&) = delete;
    stream_scratch& operator=(const stream_scratch&) = delete;

    double* doubles() const { return static_cast<double*>(memory_); }

private:
    void* memory_ = nullptr;
    cudaStream_t stream_;
};

}  // namespace
}  // namespace cuda_kernels

template <class T>
double cross_entropy_sum(cuda, matrix_view<const T> logits, const std::int64_t* targets) {
    if (logits.rows == 0) return 0;
    const cudaStream_t stream = cuda_kernels::stream();
    // losses (rows), then the total.
    const cuda_kernels::stream_scratch scratch(static_cast<std::size_t>(logits.rows + 1) * sizeof(double),
                                               stream);
    double* losses = scratch.doubles();
    double* total = losses + logits.rows;
    cuda_kernels::cross_entropy_rows<<<cuda_kernels::blocks_for_rows(logits.rows),
                                       cuda_kernels::block_threads, 0, stream>>>(
        logits.data, logits.stride, targets, losses, logits.rows, logits.cols);
    LORAMOE_CUDA_LAUNCHED();
    cuda_kernels::sum_in_order<<<1, cuda_kernels::block_threads, 0, stream>>>(losses, logits.rows, total);
    LORAMOE_CUDA_LAUNCHED();
    double result = 0;
    LORAMOE_CUDA_CHECK(cudaMemcpyAsync(&result, total, sizeof(double), cudaMemcpyDeviceToHost, stream));
    LORAMOE_CUDA_CHECK(cudaStreamSynchronize(stream));
    return result;
}

template <class T>
void cross_entropy_backward(cuda, matrix_view<const T> logits, const std::int64_t* targets, T scale,
                            matrix_view<T> dlogits) {
    LORAMOE_ASSERT(logits.rows == dlogits.rows && logits.cols == dlogits.cols);
    if (logits.empty()) return;
    cuda_kernels::cross_entropy_backward_rows<<<cuda_kernels::blocks_for_rows(logits.rows),
                                                cuda_kernels::block_threads, 0, cuda_kernels::stream()>>>(
        logits.data, logits.stride, targets, scale, dlogits.data, dlogits.stride, logits.rows, logits.cols);
    LORAMOE_CUDA_LAUNCHED();
}

#define LORAMOE_INSTANTIATE(T)                                                                  \
    template double cross_entropy_sum<T>(cuda, matrix_view<const T>, const std::int64_t*);      \
    template void cross_entropy_backward<T>(cuda, matrix_view<const T>, const std::int64_t*, T, \
                                            matrix_view<T>);
LORAMOE_CUDA_FOR_FLOATS(LORAMOE_INSTANTIATE)
#undef LORAMOE_INSTANTIATE

}  // namespace loramoe
