// Row and column operations on the device (cuda/elementwise.hpp; maths: cpu/elementwise.hpp).
//
// Elementwise operations are one thread per element in a grid-stride loop over rows * cols (so every
// output element is written by exactly one thread, and y may alias x); add_column_sums is one thread
// per column, which sums its rows in order (deterministic, no atomics); row_dots is one warp per row.

#include <cuda_runtime.h>

#include <loramoe/core/view.hpp>
#include <loramoe/cuda/elementwise.hpp>
#include "launch.cuh"

namespace loramoe {

namespace cuda_kernels {
namespace {

// Calls f(t, j) for every element of a rows x cols matrix, each once, over the whole grid.
template <class F>
__device__ void for_each_element(index rows, index cols, F f) {
    const index count = rows * cols;
    for (index k = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x; k < count;
         k += static_cast<index>(gridDim.x) * blockDim.x)
        f(k / cols, k % cols);
}

// y[t, j] += b[j]
template <class T>
__global__ void add_bias(const T* b, T* y, index y_stride, index rows, index cols) {
    for_each_element(rows, cols, [&](index t, index j) { y[t * y_stride + j] += b[j]; });
}

// db[j] += sum_t dy[t, j]: thread j sums column j (consecutive threads read consecutive addresses).
template <class T>
__global__ void add_column_sums(const T* dy, index dy_stride, T* db, index rows, index cols) {
    for (index j = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x; j < cols;
         j += static_cast<index>(gridDim.x) * blockDim.x) {
        T sum = 0;
        for (index t = 0; t < rows; ++t) sum += dy[t * dy_stride + j];
        db[j] += sum;
    }
}

// y += a * x
template <class T>
__global__ void axpy(T a, const T* x, index x_stride, T* y, index y_stride, index rows, index cols) {
    for_each_element(rows, cols, [&](index t, index j) { y[t * y_stride + j] += a * x[t * x_stride + j]; });
}

template <class T>
__global__ void fill_matrix(T* y, index y_stride, index rows, index cols, T value) {
    for_each_element(rows, cols, [&](index t, index j) { y[t * y_stride + j] = value; });
}

// y[t, j] (+)= (s * c[t]) * x[t, j]
template <class T>
__global__ void scale_rows(const T* coefficients, index coefficient_stride, T s, const T* x, index x_stride,
                           T* y, index y_stride, bool accumulate, index rows, index cols) {
    for_each_element(rows, cols, [&](index t, index j) {
        const T a = s * coefficients[t * coefficient_stride];
        const T v = a * x[t * x_stride + j];
        T& out = y[t * y_stride + j];
        out = accumulate ? out + v : v;
    });
}

// out[t * out_stride] = s * <a[t, :], b[t, :]>, one warp per row.
template <class T>
__global__ void row_dots(const T* a, index a_stride, const T* b, index b_stride, T s, T* out,
                         index out_stride, index rows, index cols) {
    const index t = warp_row();
    if (t >= rows) return;
    const T* at = a + t * a_stride;
    const T* bt = b + t * b_stride;
    T sum = 0;
    for (index j = lane(); j < cols; j += warp_size) sum += at[j] * bt[j];
    sum = warp_sum(sum);
    if (lane() == 0) out[t * out_stride] = s * sum;
}

}  // namespace
}  // namespace cuda_kernels

template <class T>
void add_bias(cuda, const T* b, matrix_view<T> y) {
    if (y.empty()) return;
    cuda_kernels::add_bias<<<cuda_kernels::blocks_for(y.size()), cuda_kernels::block_threads, 0,
                             cuda_kernels::stream()>>>(b, y.data, y.stride, y.rows, y.cols);
    LORAMOE_CUDA_LAUNCHED();
}

template <class T>
void add_column_sums(cuda, matrix_view<const T> dy, T* db) {
    if (dy.cols == 0) return;  // no rows: db += 0
    cuda_kernels::add_column_sums<<<cuda_kernels::blocks_for(dy.cols), cuda_kernels::block_threads, 0,
                                    cuda_kernels::stream()>>>(dy.data, dy.stride, db, dy.rows, dy.cols);
    LORAMOE_CUDA_LAUNCHED();
}

template <class T>
void axpy(cuda, T a, matrix_view<const T> x, matrix_view<T> y) {
    LORAMOE_ASSERT(x.rows == y.rows && x.cols == y.cols);
    if (y.empty()) return;
    const unsigned blocks = cuda_kernels::blocks_for(y.size());
    cuda_kernels::axpy<<<blocks, cuda_kernels::block_threads, 0, cuda_kernels::stream()>>>(
        a, x.data, x.stride, y.data, y.stride, y.rows, y.cols);
    LORAMOE_CUDA_LAUNCHED();
}

// y = x, for strided views: a two-dimensional copy on the stream.
template <class T>
void copy_matrix(cuda, matrix_view<const T> x, matrix_view<T> y) {
    LORAMOE_ASSERT(x.rows == y.rows && x.cols == y.cols);
    if (y.empty()) return;
    LORAMOE_CUDA_CHECK(cudaMemcpy2DAsync(
        y.data, static_cast<std::size_t>(y.stride) * sizeof(T), x.data,
        static_cast<std::size_t>(x.stride) * sizeof(T), static_cast<std::size_t>(x.cols) * sizeof(T),
        static_cast<std::size_t>(x.rows), cudaMemcpyDeviceToDevice, cuda_kernels::stream()));
}

template <class T>
void fill_matrix(cuda, matrix_view<T> y, T value) {
    if (y.empty()) return;
    cuda_kernels::fill_matrix<<<cuda_kernels::blocks_for(y.size()), cuda_kernels::block_threads, 0,
                                cuda_kernels::stream()>>>(y.data, y.stride, y.rows, y.cols, value);
    LORAMOE_CUDA_LAUNCHED();
}

template <class T>
void scale_rows(cuda, const T* coefficients, index coefficient_stride, T s, matrix_view<const T> x,
                matrix_view<T> y, bool accumulate) {
    LORAMOE_ASSERT(x.rows == y.rows && x.cols == y.cols);
    if (y.empty()) return;
    cuda_kernels::scale_rows<<<cuda_kernels::blocks_for(y.size()), cuda_kernels::block_threads, 0,
                               cuda_kernels::stream()>>>(
        coefficients, coefficient_stride, s, x.data, x.stride, y.data, y.stride, accumulate, y.rows, y.cols);
    LORAMOE_CUDA_LAUNCHED();
}

template <class T>
void row_dots(cuda, matrix_view<const T> a, matrix_view<const T> b, T s, T* out, index out_stride) {
    LORAMOE_ASSERT(a.rows == b.rows && a.cols == b.cols);
    if (a.rows == 0) return;  // (with no columns, every row's dot product is 0: out = s * 0, as on the host)
    cuda_kernels::row_dots<<<cuda_kernels::blocks_for_rows(a.rows), cuda_kernels::block_threads, 0,
                             cuda_kernels::stream()>>>(a.data, a.stride, b.data, b.stride, s, out, out_stride,
                                                       a.rows, a.cols);
    LORAMOE_CUDA_LAUNCHED();
}

#define LORAMOE_INSTANTIATE(T)                                                                         \
    template void add_bias<T>(cuda, const T*, matrix_view<T>);                                         \
    template void add_column_sums<T>(cuda, matrix_view<const T>, T*);                                  \
    template void axpy<T>(cuda, T, matrix_view<const T>, matrix_view<T>);                              \
    template void copy_matrix<T>(cuda, matrix_view<const T>, matrix_view<T>);                          \
    template void fill_matrix<T>(cuda, matrix_view<T>, T);                                             \
    template void scale_rows<T>(cuda, const T*, index, T, matrix_view<const T>, matrix_view<T>, bool); \
    template void row_dots<T>(cuda, matrix_view<const T>, matrix_view<const T>, T, T*, index);
LORAMOE_CUDA_FOR_FLOATS(LORAMOE_INSTANTIATE)
#undef LORAMOE_INSTANTIATE

}  // namespace loramoe
