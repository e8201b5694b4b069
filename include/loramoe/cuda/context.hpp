#pragma once
// The CUDA stream that every loramoe call of a host thread runs on, and its cuBLAS handle. Kernels,
// products and copies of one thread are ordered on that stream; a copy to the host waits for it.

#include <string>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <loramoe/cuda/error.hpp>

namespace loramoe {

class cuda_context {
public:
    // The calling thread's context on the current device, created on first use.
    static cuda_context& current() {
        thread_local cuda_context context;
        return context;
    }

    cudaStream_t stream() const { return stream_; }
    cublasHandle_t blas() const { return blas_; }
    void synchronize() const { LORAMOE_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

    cuda_context(const cuda_context&) = delete;
    cuda_context& operator=(const cuda_context&) = delete;
    ~cuda_context() {
        cublasDestroy(blas_);
        cudaStreamDestroy(stream_);
    }

private:
    cuda_context() {
        LORAMOE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
        LORAMOE_CUBLAS_CHECK(cublasCreate(&blas_));
        LORAMOE_CUBLAS_CHECK(cublasSetStream(blas_, stream_));
    }

    cudaStream_t stream_ = nullptr;
    cublasHandle_t blas_ = nullptr;
};

// Why no CUDA device can be used here (the runtime's own words: "cudaGetDeviceCount: cudaErrorNoDevice:
// no CUDA-capable device is detected"), or an empty string when one can.
inline std::string cuda_device_problem() {
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess)
        return std::string("cudaGetDeviceCount: ") + cudaGetErrorName(status) + ": " +
               cudaGetErrorString(status);
    if (count <= 0) return "cudaGetDeviceCount: no device";
    return {};
}

// Whether a CUDA device can be used here (tests skip the GPU checks, and say so, when not).
inline bool cuda_device_available() {
    return cuda_device_problem().empty();
}

}  // namespace loramoe
