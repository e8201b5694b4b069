// RMSNorm on the device, forward and backward (cuda/rmsnorm.hpp; maths: cpu/rmsnorm.hpp).
//
//   forward:   rstd = 1 / sqrt(mean(x^2) + eps),   n = x * rstd,   y = w o n
//   backward:  dx = rstd * (dy o w - n * mean(dy o w o n)),   dw += sum_t dy o n
//
// One warp per row for the row-wise parts; dw is a deterministic column reduction (no atomics).

#include <cmath>

#include <loramoe/cuda/rmsnorm.hpp>
#include "launch.cuh"

namespace loramoe {

namespace cuda_kernels {
namespace {

// x, y (rows, d); rstd (rows).
template <class T>
__global__ void rmsnorm_forward_rows(const T* x, index x_stride, const T* weight, T eps, T* y, index y_stride,
                                     T* rstd, index rows, index d) {
    const index t = warp_row();
    if (t >= rows) return;
    const T* xt = x + t * x_stride;
    T* yt = y + t * y_stride;
    T squares = 0;
    for (index j = lane(); j < d; j += warp_size) squares += xt[j] * xt[j];
    squares = warp_sum(squares);
    const T r = T(1) / sqrt(squares / static_cast<T>(d) + eps);
    if (lane() == 0) rstd[t] = r;
    for (index j = lane(); j < d; j += warp_size) yt[j] = weight[j] * (xt[j] * r);
}

// dx = rstd * (dy o w - x * rstd * mean(dy o w o x * rstd)), overwritten or accumulated.
template <class T>
__global__ void rmsnorm_backward_rows(const T* x, index x_stride, const T* weight, const T* rstd, const T* dy,
                                      index dy_stride, T* dx, index dx_stride, bool accumulate, index rows,
                                      index d) {
    const index t = warp_row();
    if (t >= rows) return;
    const T* xt = x + t * x_stride;
    const T* dyt = dy + t * dy_stride;
    T* dxt = dx + t * dx_stride;
    const T r = rstd[t];
    T mean_dn_n = 0;  // mean(dn o n)
    for (index j = lane(); j < d; j += warp_size) mean_dn_n += dyt[j] * weight[j] * xt[j] * r;
    mean_dn_n = warp_sum(mean_dn_n) / static_cast<T>(d);
    for (index j = lane(); j < d; j += warp_size) {
        const T g = r * (dyt[j] * weight[j] - xt[j] * r * mean_dn_n);
        dxt[j] = accumulate ? dxt[j] + g : g;
    }
}

// dw[j] += sum_t dy[t, j] x[t, j] rstd[t]. A block of (32 columns) x (8 row slices): thread (c, s) sums
// the rows t = s, s + 8, ... of column c, then the 8 partial sums are added in a fixed order.
inline constexpr int weight_columns = 32;
inline constexpr int weight_slices = 8;

template <class T>
__global__ void rmsnorm_weight_gradient(const T* x, index x_stride, const T* rstd, const T* dy,
                                        index dy_stride, T* dweight, index rows, index d) {
    __shared__ T partial[weight_slices][weight_columns];
    const int c = static_cast<int>(threadIdx.x), s = static_cast<int>(threadIdx.y);
    const index j = static_cast<index>(blockIdx.x) * weight_columns + c;
    T sum = 0;
    if (j < d)
        for (index t = s; t < rows; t += weight_slices)
            sum += dy[t * dy_stride + j] * x[t * x_stride + j] * rstd[t];
    partial[s][c] = sum;
    __syncthreads();
    if (s == 0 && j < d) {
        T total = 0;
        for (int k = 0; k < weight_slices; ++k) total += partial[k][c];
        dweight[j] += total;
    }
}

}  // namespace
}  // namespace cuda_kernels

template <class T>
void rmsnorm_forward(cuda, matrix_view<const T> x, const T* weight, T eps, matrix_view<T> y, T* rstd) {
    LORAMOE_ASSERT(x.rows == y.rows && x.cols == y.cols);
    if (x.rows == 0) return;
    cuda_kernels::rmsnorm_forward_rows<<<cuda_kernels::blocks_for_rows(x.rows), cuda_kernels::block_threads,
                                         0, cuda_kernels::stream()>>>(x.data, x.stride, weight, eps, y.data,
                                                                      y.stride, rstd, x.rows, x.cols);
    LORAMOE_CUDA_LAUNCHED();
}

template <class T>
void rmsnorm_backward(cuda, matrix_view<const T> x, const T* weight, const T* rstd, matrix_view<const T> dy,
                      matrix_view<T> dx, gradient_mode mode, T* dweight) {
    LORAMOE_ASSERT(x.rows == dy.rows && x.cols == dy.cols && dx.rows == x.rows && dx.cols == x.cols);
    if (x.empty()) return;
    const cudaStream_t stream = cuda_kernels::stream();
    cuda_kernels::rmsnorm_backward_rows<<<cuda_kernels::blocks_for_rows(x.rows), cuda_kernels::block_threads,
                                          0, stream>>>(x.data, x.stride, weight, rstd, dy.data, dy.stride,
                                                       dx.data, dx.stride, mode == gradient_mode::accumulate,
                                                       x.rows, x.cols);
    LORAMOE_CUDA_LAUNCHED();
    if (dweight != nullptr) {
        const auto blocks =
            static_cast<unsigned>((x.cols + cuda_kernels::weight_columns - 1) / cuda_kernels::weight_columns);
        cuda_kernels::rmsnorm_weight_gradient<<<
            blocks, dim3(cuda_kernels::weight_columns, cuda_kernels::weight_slices), 0, stream>>>(
            x.data, x.stride, rstd, dy.data, dy.stride, dweight, x.rows, x.cols);
        LORAMOE_CUDA_LAUNCHED();
    }
}

#define LORAMOE_INSTANTIATE(T)                                                                              \
    template void rmsnorm_forward<T>(cuda, matrix_view<const T>, const T*, T, matrix_view<T>, T*);          \
    template void rmsnorm_backward<T>(cuda, matrix_view<const T>, const T*, const T*, matrix_view<const T>, \
                                      matrix_view<T>, gradient_mode, T*);
LORAMOE_CUDA_FOR_FLOATS(LORAMOE_INSTANTIATE)
#undef LORAMOE_INSTANTIATE

}  // namespace loramoe
