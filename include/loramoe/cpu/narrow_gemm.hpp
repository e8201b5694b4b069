#pragma once
// c (M, n) = alpha op(a) (M, K) op(b) (K, n) + beta c in float for a narrow c, n <= 64: the adapters'
// low-rank products (n = N r, or N r + N with the router: 24 and 30 for the paper's adapter):
//   P = x [A_cat; W_r]^T,   dh = dy B_cat,   dB_cat += dy^T (s g o h),
// and attention's per-head products with the head's dimension as n (p v, p^T do, ds k, ds^T q; Dh = 64).
// Eigen's kernels are tiled for wide outputs and run these far below the machine's peak; this kernel
// is faster on them (docs/performance.md measures both). Each tile of c, Rows x n,
// stays in registers over the whole sum:
//   - op(b) is copied once per call into a panel (K, 16 V), V = ceil(n / 16) registers wide, zero-padded
//     past n, shared by the threads;
//   - op(a) is read in place (a copy would cost as much as the product: each element of a is used in
//     only n multiply-adds);
//   - per k: V loads of the panel, Rows broadcasts of a, Rows x V FMAs (24 registers of sums at most).
// The output's rows are cut into one block per OpenMP thread, as cpu/gemm.hpp does.
//
// gemm (cpu/gemm.hpp) takes this path for float products with n <= 64 and enough work; builds without
// AVX-512 keep Eigen's (narrow_gemm_available is false).

#include <algorithm>

#include <omp.h>

#include <loramoe/core/error.hpp>
#include <loramoe/core/gemm.hpp>
#include <loramoe/core/host_memory.hpp>
#include <loramoe/core/view.hpp>
#include <loramoe/cpu/register_tile.hpp>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace loramoe {

#if defined(__AVX512F__)
inline constexpr bool narrow_gemm_available = true;
#else
inline constexpr bool narrow_gemm_available = false;
#endif

namespace detail::narrow {

inline constexpr index max_width = 64;  // columns of c: 4 registers of 16 floats

// Rows of a tile for a panel V registers wide: 24 sums at most, 12 for V = 1 (more would be all
// broadcasts); 8 for V = 2, where 12 rows of x, d_in floats apart, would share L1 sets at x [A_cat; W_r]^T.
constexpr index tile_rows(int vectors) {
    return vectors == 1 ? 12 : vectors == 2 ? 8 : vectors == 3 ? 8 : 6;
}

#if defined(__AVX512F__)

// c (rows, cols) = alpha a b + beta c for one tile: a's element (r, p) at a[r * row_step + p * depth_step],
// b the panel (depth, 16 Vectors), rows <= Rows of c written (the last tile of a block may be short),
// cols <= 16 Vectors.
template <int Rows, int Vectors>
void tile(index depth, const float* a, index row_step, index depth_step, const float* b, float* c, index ldc,
          index rows, index cols, float alpha, float beta) {
    __m512 sums[Rows][Vectors];
#pragma GCC unroll 12
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < Vectors; ++v) sums[r][v] = _mm512_setzero_ps();
    for (index p = 0; p < depth; ++p) {
        __m512 bv[Vectors];
#pragma GCC unroll 4
        for (int v = 0; v < Vectors; ++v) bv[v] = _mm512_load_ps(b + (p * Vectors + v) * 16);
        const float* column = a + p * depth_step;
#pragma GCC unroll 12
        for (int r = 0; r < Rows; ++r) {
            const __m512 av = _mm512_set1_ps(column[r * row_step]);
#pragma GCC unroll 4
            for (int v = 0; v < Vectors; ++v) sums[r][v] = _mm512_fmadd_ps(av, bv[v], sums[r][v]);
        }
    }
    store_tile<Rows, Vectors>(sums, c, ldc, rows, cols, alpha, beta);
}

// One thread's rows of c, op(a)'s rows [first, first + count), tile by tile, op(a) read in place; a
// short last tile reads a zero-padded copy of its rows instead (a full tile would read past a).
template <int Vectors>
void block(float alpha, matrix_view<const float> a, bool ta, const float* panel, index depth, float beta,
           matrix_view<float> c, index first, index count) {
    constexpr int rows = static_cast<int>(tile_rows(Vectors));
    // op(a)(i, p) = a(p, i) when transposed (a tile's rows side by side at each p), else a(i, p).
    const index row_step = ta ? 1 : a.stride, depth_step = ta ? a.stride : 1;
    for (index i0 = first; i0 < first + count; i0 += rows) {
        const index tile_count = std::min<index>(rows, first + count - i0);
        if (tile_count == rows) {
            tile<rows, Vectors>(depth, a.data + i0 * row_step, row_step, depth_step, panel, c.row(i0),
                                c.stride, rows, c.cols, alpha, beta);
            continue;
        }
        thread_local buffer<float, cpu> tail;  // (rows, depth)
        tail.resize(rows * depth);
        for (index r = 0; r < rows; ++r)
            for (index p = 0; p < depth; ++p)
                tail.data()[r * depth + p] =
                    r < tile_count ? a.data[(i0 + r) * row_step + p * depth_step] : 0.0f;
        tile<rows, Vectors>(depth, tail.data(), depth, 1, panel, c.row(i0), c.stride, tile_count, c.cols,
                            alpha, beta);
    }
}

#endif  // __AVX512F__

}  // namespace detail::narrow

// c (M, n) = alpha op(a) op(b) + beta c with n = c.cols <= 64, in float (see the top); beta = 0
// overwrites c, NaN included. Needs AVX-512: without it (narrow_gemm_available false) it throws.
inline void narrow_gemm(float alpha, matrix_view<const float> a, transpose op_a, matrix_view<const float> b,
                        transpose op_b, float beta, matrix_view<float> c) {
    const bool ta = op_a == transpose::yes, tb = op_b == transpose::yes;
    const index m = c.rows, n = c.cols, k = ta ? a.rows : a.cols;
    LORAMOE_ASSERT(n >= 1 && n <= detail::narrow::max_width && k == (tb ? b.cols : b.rows) &&
                   m == (ta ? a.cols : a.rows) && n == (tb ? b.rows : b.cols));
#if defined(__AVX512F__)
    using namespace detail::narrow;
    const int vectors = static_cast<int>((n + 15) / 16);
    const index width = 16 * vectors;
    thread_local buffer<float, cpu> panel_storage;  // (k, width): op(b), zero past n
    panel_storage.resize(k * width);
    float* const panel = panel_storage.data();
    for (index p = 0; p < k; ++p) {
        float* row = panel + p * width;
        for (index j = 0; j < n; ++j) row[j] = tb ? b(j, p) : b(p, j);
        for (index j = n; j < width; ++j) row[j] = 0.0f;
    }

    const index rows = tile_rows(vectors);
    const double work = static_cast<double>(m) * static_cast<double>(width) * static_cast<double>(k);
    const int parts = static_cast<int>(std::clamp<index>(
        std::min<index>(m / (4 * rows), static_cast<index>(work / (1 << 20))), 1, omp_get_max_threads()));
    auto run = [&](index first, index count) {
        switch (vectors) {
            case 1:
                block<1>(alpha, a, ta, panel, k, beta, c, first, count);
                break;
            case 2:
                block<2>(alpha, a, ta, panel, k, beta, c, first, count);
                break;
            case 3:
                block<3>(alpha, a, ta, panel, k, beta, c, first, count);
                break;
            default:
                block<4>(alpha, a, ta, panel, k, beta, c, first, count);
                break;
        }
    };
    if (parts == 1 || omp_in_parallel()) {
        run(0, m);
        return;
    }
#pragma omp parallel num_threads(parts)
    {
        const index part = omp_get_thread_num(), count = omp_get_num_threads();
        auto boundary = [&](index q) { return std::min(m, (m * q / count + rows - 1) / rows * rows); };
        const index first = boundary(part), size = boundary(part + 1) - first;
        if (size > 0) run(first, size);
    }
#else
    (void)alpha, (void)a, (void)b, (void)beta, (void)c, (void)ta, (void)tb, (void)m, (void)k;
    fail<error>("narrow_gemm: this build has no AVX-512 (narrow_gemm_available is false); gemm serves it");
#endif
}

}  // namespace loramoe
