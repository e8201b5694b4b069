#pragma once
// The last step of the AVX-512 product kernels (cpu/bf16_gemm.hpp, cpu/narrow_gemm.hpp): a tile of
// float sums in registers, Rows x (16 Vectors), written to c as c = alpha sums + beta c, its first
// `rows` rows and `cols` columns only (the last register masked past cols). beta = 0 reads nothing of
// c: it overwrites it, NaN included.

#include <algorithm>

#include <loramoe/core/backend.hpp>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace loramoe::detail {

#if defined(__AVX512F__)

// The mask of the first `count` of 16 lanes (none for count <= 0).
inline __mmask16 first16(index count) {
    return static_cast<__mmask16>(count >= 16 ? 0xffffu : (1u << std::max<index>(count, 0)) - 1);
}

template <int Rows, int Vectors>
void store_tile(const __m512 (&sums)[Rows][Vectors], float* c, index ldc, index rows, index cols, float alpha,
                float beta) {
    const index last_cols = cols - 16 * (Vectors - 1);  // 1 to 16
    const __mmask16 last = first16(last_cols);
    const __m512 scale = _mm512_set1_ps(alpha), keep = _mm512_set1_ps(beta);
#pragma GCC unroll 12
    for (int r = 0; r < Rows; ++r) {
        if (r >= rows) break;
#pragma GCC unroll 4
        for (int v = 0; v < Vectors; ++v) {
            const __mmask16 mask = v == Vectors - 1 ? last : static_cast<__mmask16>(0xffff);
            float* out = c + r * ldc + 16 * v;
            __m512 y = _mm512_mul_ps(sums[r][v], scale);
            if (beta != 0.0f) y = _mm512_fmadd_ps(keep, _mm512_maskz_loadu_ps(mask, out), y);
            _mm512_mask_storeu_ps(out, mask, y);
        }
    }
}

#endif  // __AVX512F__

}  // namespace loramoe::detail
