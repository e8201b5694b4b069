#pragma once
// bfloat16 on the host: the rounding of floats to it, one value or a row at a time, and whether the
// build multiplies in it natively.
//
// The type is Eigen::bfloat16, as the checkpoint reader (io/safetensors.hpp) already stores it: 1 sign
// bit, 8 exponent bits (the range of float), 7 mantissa bits (a relative step of 2^-8). Rounding is the
// one the AVX512-BF16 instructions do (VCVTNE2PS2BF16), on every build, so that a result never depends
// on which path converted a value:
//   - to nearest, ties to even;
//   - a NaN stays a NaN (made quiet), an infinity stays an infinity, a finite float past the largest
//     bfloat16 (3.39e38) rounds to an infinity, as round-to-nearest says;
//   - denormal floats (|x| < 1.18e-38) become a zero of their sign (the instructions flush them).
// Eigen's own conversion differs only in that last point: it keeps denormals.
//
//   PyTorch: x.to(torch.bfloat16)   (the same, but for denormals)

#include <bit>
#include <cmath>
#include <cstdint>

#include <Eigen/Core>

#if defined(__AVX512BF16__)
#include <immintrin.h>
#endif

#include <loramoe/core/backend.hpp>
#include <loramoe/core/tensor.hpp>

// 1 where the build multiplies bfloat16 natively (AVX512-BF16: VDPBF16PS, -march with avx512bf16),
// 0 where the bfloat16 products fall back to float (cpu/bf16_gemm.hpp).
#if defined(__AVX512BF16__)
#define LORAMOE_NATIVE_BF16 1
#else
#define LORAMOE_NATIVE_BF16 0
#endif

namespace loramoe {

using bfloat16 = Eigen::bfloat16;

// The bits of x rounded to bfloat16, as described at the top.
constexpr std::uint16_t bfloat16_bits(float x) {
    const auto bits = std::bit_cast<std::uint32_t>(x);
    const std::uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude > 0x7f800000u)
        return static_cast<std::uint16_t>((bits >> 16) | 0x0040u);  // NaN, made quiet
    if (magnitude < 0x00800000u) return static_cast<std::uint16_t>((bits >> 16) & 0x8000u);  // zero, denormal
    const std::uint32_t rounded = bits + 0x7fffu + ((bits >> 16) & 1u);                      // ties to even
    return static_cast<std::uint16_t>(rounded >> 16);
}

inline bfloat16 to_bfloat16(float x) {
    return Eigen::numext::bit_cast<bfloat16>(bfloat16_bits(x));
}

constexpr float bfloat16_value(std::uint16_t bits) {
    return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

// destination[i] = to_bfloat16(source[i]) for i in [0, count): 32 at a time by VCVTNE2PS2BF16 where
// the build has it.
inline void round_to_bfloat16(cpu, const float* source, bfloat16* destination, index count) {
    index i = 0;
#if LORAMOE_NATIVE_BF16
    for (; i + 32 <= count; i += 32) {
        const __m512bh packed =
            _mm512_cvtne2ps_pbh(_mm512_loadu_ps(source + i + 16), _mm512_loadu_ps(source + i));
        _mm512_storeu_si512(destination + i, (__m512i)packed);
    }
#endif
    for (; i < count; ++i) destination[i] = to_bfloat16(source[i]);
}

// W rounded to bfloat16, row-major: a frozen weight as cpu/bf16_gemm.hpp multiplies it.
inline tensor<bfloat16> rounded_to_bfloat16(matrix_view<const float> w) {
    tensor<bfloat16> out({w.rows, w.cols});
    for (index i = 0; i < w.rows; ++i) round_to_bfloat16(cpu{}, w.row(i), out.data() + i * w.cols, w.cols);
    return out;
}

}  // namespace loramoe
