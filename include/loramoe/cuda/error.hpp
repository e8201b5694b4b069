#pragma once
// CUDA and cuBLAS statuses as exceptions: every call that can fail is checked, and a failure throws a
// loramoe::cuda_error naming the call, its file and line, and the API's own message.

#include <string>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <loramoe/core/exceptions.hpp>

namespace loramoe {

class cuda_error : public error {
public:
    using error::error;
};

namespace detail {

inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
    if (status != cudaSuccess)
        throw cuda_error(std::string(call) + " failed at " + file + ":" + std::to_string(line) + ": " +
                         cudaGetErrorName(status) + ": " + cudaGetErrorString(status));
}

inline void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
    if (status != CUBLAS_STATUS_SUCCESS)
        throw cuda_error(std::string(call) + " failed at " + file + ":" + std::to_string(line) + ": " +
                         cublasGetStatusName(status) + ": " + cublasGetStatusString(status));
}

}  // namespace detail
}  // namespace loramoe

#define LORAMOE_CUDA_CHECK(call) ::loramoe::detail::check_cuda((call), #call, __FILE__, __LINE__)
#define LORAMOE_CUBLAS_CHECK(call) ::loramoe::detail::check_cublas((call), #call, __FILE__, __LINE__)
// After a kernel launch: the launch's own error (a bad configuration), without waiting for the kernel.
#define LORAMOE_CUDA_LAUNCHED() LORAMOE_CUDA_CHECK(cudaGetLastError())
