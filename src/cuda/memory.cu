// Device memory kernels (cuda/memory.hpp): fill.

#include <loramoe/cuda/memory.hpp>
#include "launch.cuh"

namespace loramoe {

namespace cuda_kernels {
template <class T>
__global__ void fill(T* destination, index count, T value) {
    for (index i = blockIdx.x * static_cast<index>(blockDim.x) + threadIdx.x; i < count;
         i += static_cast<index>(gridDim.x) * blockDim.x)
        destination[i] = value;
}
}  // namespace cuda_kernels

template <class T>
void fill(cuda, T* destination, index count, T value) {
    if (count <= 0) return;
    cuda_kernels::
        fill<<<cuda_kernels::blocks_for(count), cuda_kernels::block_threads, 0, cuda_kernels::stream()>>>(
            destination, count, value);
    LORAMOE_CUDA_LAUNCHED();
}

#define LORAMOE_INSTANTIATE(T) template void fill<T>(cuda, T*, index, T);
LORAMOE_CUDA_FOR_FLOATS(LORAMOE_INSTANTIATE)
LORAMOE_INSTANTIATE(std::int64_t)
#undef LORAMOE_INSTANTIATE

}  // namespace loramoe
