#pragma once
// What the GPU tests share. Each runs a kernel or a module on loramoe::cuda and on loramoe::cpu with the
// same seeded inputs, and compares at the backend tolerances docs/cuda.md states: 1e-10 relative in
// double, 1e-4 in float (of each tensor's largest magnitude). Without a CUDA device a GPU test exits
// with status 77, which ctest reports as skipped, after saying so.

#include "test_support.hpp"

#include <cstdio>
#include <cstdlib>

#include <loramoe/cuda.hpp>

namespace loramoe::test {

inline void require_cuda_device() {
    if (!cuda_device_available()) {
        std::printf(
            "no CUDA device here: this GPU test is skipped (it runs on a machine with a GPU: "
            "scripts/gpu-check)\n");
        std::fflush(stdout);
        std::exit(77);
    }
}

template <class T>
constexpr double backend_tolerance() {
    return std::is_same_v<T, double> ? 1e-10 : 1e-4;
}

template <class T>
tensor<T, cuda> on_device(const tensor<T, cpu>& host) {
    return to_backend<cuda>(host);
}

// Checks values on the host (tensors, vectors, spans) against the host backend's results:
// |got - want| <= tolerance * max |want| everywhere.
template <class G, class W>
bool expect_same_values(const G& got, const W& want, double tolerance, const char* file = __builtin_FILE(),
                        int line = __builtin_LINE()) {
    return expect_close(got, want, tolerance * std::max(max_abs(want), 1e-30), 0, file, line);
}

// The same for a tensor of any backend (a device tensor is copied to the host first).
template <class T, class Backend>
bool expect_same(const tensor<T, Backend>& got, const tensor<T, cpu>& want,
                 double tolerance = backend_tolerance<T>(), const char* file = __builtin_FILE(),
                 int line = __builtin_LINE()) {
    return expect_same_values(to_host(got), want, tolerance, file, line);
}

}  // namespace loramoe::test
