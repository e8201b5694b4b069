#pragma once
// bfloat16, the type a frozen base is held in at half of float's memory (model_options::base_in_bf16),
// and the rounding of a float to it, which every backend does alike.
//
// The type is Eigen::bfloat16, as the checkpoint reader (io/safetensors.hpp) already stores it: 1 sign
// bit, 8 exponent bits (the range of float), 7 mantissa bits (a relative step of 2^-8). Rounding is the
// one the AVX512-BF16 instructions do (VCVTNE2PS2BF16), on every path and backend, so that a result
// never depends on which one converted a value:
//   - to nearest, ties to even;
//   - a NaN stays a NaN (made quiet), an infinity stays an infinity, a finite float past the largest
//     bfloat16 (3.39e38) rounds to an infinity, as round-to-nearest says;
//   - denormal floats (|x| < 1.18e-38) become a zero of their sign (the instructions flush them).
// Eigen's own conversion differs only in that last point: it keeps denormals.
//
//   PyTorch: x.to(torch.bfloat16)   (the same, but for denormals)
//
// The CUDA kernels (nvcc) use the bits alone: the functions on bits run on the device too, and nvcc
// does not see Eigen.

#include <cstdint>

#ifndef __CUDACC__
#include <Eigen/Core>
#endif

#if defined(__CUDACC__)
#define LORAMOE_HOST_DEVICE __host__ __device__
#else
#define LORAMOE_HOST_DEVICE
#endif

namespace loramoe {

// The bits of x rounded to bfloat16, as described at the top.
LORAMOE_HOST_DEVICE constexpr std::uint16_t bfloat16_bits(float x) {
    const auto bits = __builtin_bit_cast(std::uint32_t, x);
    const std::uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude > 0x7f800000u)
        return static_cast<std::uint16_t>((bits >> 16) | 0x0040u);  // NaN, made quiet
    if (magnitude < 0x00800000u) return static_cast<std::uint16_t>((bits >> 16) & 0x8000u);  // zero, denormal
    const std::uint32_t rounded = bits + 0x7fffu + ((bits >> 16) & 1u);                      // ties to even
    return static_cast<std::uint16_t>(rounded >> 16);
}

LORAMOE_HOST_DEVICE constexpr float bfloat16_value(std::uint16_t bits) {
    return __builtin_bit_cast(float, static_cast<std::uint32_t>(bits) << 16);
}

#ifndef __CUDACC__

using bfloat16 = Eigen::bfloat16;

inline bfloat16 to_bfloat16(float x) {
    return Eigen::numext::bit_cast<bfloat16>(bfloat16_bits(x));
}

#endif

}  // namespace loramoe
