#pragma once
// bfloat16 on the host: the rounding of floats to it a row at a time, and whether the build multiplies
// in it natively. The type and the rounding of one value: core/bfloat16.hpp.

#include <Eigen/Core>

#if defined(__AVX512BF16__)
#include <immintrin.h>
#endif

#include <loramoe/core/backend.hpp>
#include <loramoe/core/bfloat16.hpp>
#include <loramoe/core/tensor.hpp>

// 1 where the build multiplies bfloat16 natively (AVX512-BF16: VDPBF16PS, -march with avx512bf16),
// 0 where the bfloat16 products fall back to float (cpu/bf16_gemm.hpp).
#if defined(__AVX512BF16__)
#define LORAMOE_NATIVE_BF16 1
#else
#define LORAMOE_NATIVE_BF16 0
#endif

namespace loramoe {

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
