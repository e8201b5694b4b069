#pragma once
// The products of a frozen linear whose weight W (N, K) = (d_out, d_in) is held in bfloat16, row-major
// as checkpoints store it, with float activations, float sums and a float result:
//
//   forward          gemm(cpu, alpha, x, W, transpose::yes, beta, y)    y (M, N) = alpha x W^T + beta y
//   input gradient   gemm(cpu, alpha, dy, W, transpose::no, beta, dx)   dx (M, K) = alpha dy W + beta dx
//   with x (M, K), dy (M, N)
//
//   PyTorch: y = x.bfloat16().float() @ W.float().T    (bfloat16 operands, float32 sums)
//
// beta = 0 overwrites the output (NaN included), as loramoe::gemm.
//
// Numerics. Every element of x (or dy) is rounded to bfloat16 as it is packed (cpu/bfloat16.hpp);
// VDPBF16PS multiplies pairs of bfloat16 exactly and adds them to a float accumulator. The result is
// the float product of the bfloat16-rounded operands, to float accuracy. Against the float product of
// the unrounded operands it differs by the operands' rounding, a relative 2^-8 at most each
// (tests/cpu/test_bf16_gemm.cpp bounds it; docs/performance.md reports what bench/bf16_bench.cpp measures
// on a LoRAMoE FFN block).
//
// The product is a blocked GEMM, as GotoBLAS/BLIS. Inside c = a b, b (R, C) is W^T for the forward and
// W for the input gradient, read in "panels" of 64 columns (4 registers of 16 floats, the microkernel's
// width) with row pairs (2p, 2p + 1) interleaved, as VDPBF16PS multiplies pairs of bfloat16 in each
// 32-bit lane:
//
//   word[p][j] = bits b(2p, 64 panel + j)  |  bits b(2p + 1, 64 panel + j) << 16
//
// The weight is held once, in W's own layout, so both products pack their panels as they go:
//   for each block of 256 rows of b (128 pairs):
//     for each block of up to 768 rows of a: convert it to bfloat16 pairs (384 KiB, in L2)
//       for each panel of 64 columns of c: pack this block's panel of b (32 KiB, it stays in L1)
//         for each 6 rows of the block: the microkernel, a 6 x 64 tile of c in 24 registers, one
//         VDPBF16PS per register and pair of b's rows (the pair of a broadcast from memory), then
//         c = alpha acc + beta c.
// Packing a panel reads its 32 KiB of W once: the forward's (W^T: pairs of W's rows' neighbours, 64
// rows at a time) by 16 x 16 transposes of 32-bit words, the input gradient's (W: two rows of W
// interleaved) by one two-source permutation per 32 columns. It costs a few percent of the tile work
// it serves when a block has more than a few rows. A forward of a few rows (decoding: one) is instead
// dot products read straight from W's rows, four at a time: it streams W once and is bound by memory.
// Threads are ours, as in cpu/gemm.hpp: the output is cut into one block per OpenMP
// thread, of rows of c or of panels, whichever shares the smaller operand (W is 2 R C bytes, a 4 M R),
// and the threads only meet at the end of the parallel region: no spin waits.
//
// Builds without AVX512-BF16 (LORAMOE_NATIVE_BF16 = 0) round a to bfloat16 values in float and
// multiply it by W's values in float, both in scratch of the thread, with loramoe::gemm: the same values
// multiplied, the float product's speed, and a float copy of W for the length of the call.

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include <omp.h>

#include <loramoe/core/error.hpp>
#include <loramoe/core/gemm.hpp>
#include <loramoe/core/host_memory.hpp>
#include <loramoe/core/tensor.hpp>
#include <loramoe/core/view.hpp>
#include <loramoe/cpu/bfloat16.hpp>
#include <loramoe/cpu/eigen.hpp>
#include <loramoe/cpu/gemm.hpp>
#include <loramoe/cpu/register_tile.hpp>

#if LORAMOE_NATIVE_BF16
#include <immintrin.h>
#endif

namespace loramoe {

namespace detail::bf16 {

#if LORAMOE_NATIVE_BF16

inline constexpr index panel_width = 64;   // columns of c per panel: 4 registers of 16 floats
inline constexpr index micro_rows = 6;     // rows of the microkernel's tile (6 x 4 registers)
inline constexpr index depth_block = 256;  // rows of b per pass (Kc)
inline constexpr index row_block = 768;    // rows of a per packed block (Mc), at most

// The mask of the first `count` of 32 lanes (first16 for 16: cpu/register_tile.hpp).
inline __mmask32 first32(index count) {
    return static_cast<__mmask32>(count >= 32 ? 0xffffffffu : (1u << std::max<index>(count, 0)) - 1);
}

// rows[c] = column c of the 16 x 16 matrix of 32-bit words whose row r is rows[r].
// Plain arrays: std::array<__m512i, N> drops the type's alignment attribute (g++ -Wignored-attributes).
inline void transpose16(__m512i (&rows)[16]) {
    __m512i t[16];
    for (int i = 0; i < 8; ++i) {  // t[2i], t[2i + 1]: rows 2i and 2i + 1 interleaved, by 128-bit lane
        t[2 * i] = _mm512_unpacklo_epi32(rows[2 * i], rows[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(rows[2 * i], rows[2 * i + 1]);
    }
    __m512i s[16];  // s[4i + k], lane L: column 4L + k, rows 4i .. 4i + 3
    for (int i = 0; i < 4; ++i) {
        s[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        s[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        s[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        s[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int k = 0; k < 4; ++k) {  // column 4L + k gathers lane L of s[k], s[4 + k], s[8 + k], s[12 + k]
        const __m512i low01 = _mm512_shuffle_i32x4(s[k], s[4 + k], 0x44),
                      low23 = _mm512_shuffle_i32x4(s[k], s[4 + k], 0xee),
                      high01 = _mm512_shuffle_i32x4(s[8 + k], s[12 + k], 0x44),
                      high23 = _mm512_shuffle_i32x4(s[8 + k], s[12 + k], 0xee);
        rows[k] = _mm512_shuffle_i32x4(low01, high01, 0x88);
        rows[4 + k] = _mm512_shuffle_i32x4(low01, high01, 0xdd);
        rows[8 + k] = _mm512_shuffle_i32x4(low23, high23, 0x88);
        rows[12 + k] = _mm512_shuffle_i32x4(low23, high23, 0xdd);
    }
}

// The right operand b (R, C) of c = a b, read from W (N, K): b = W^T for the forward, W for the input
// gradient. pack() writes a panel's run of row pairs as the microkernel reads them (see the top),
// zeros past the ends of b.
struct weight_operand {
    matrix_view<const bfloat16> w;
    bool transposed;  // b = W^T

    index depth() const { return transposed ? w.cols : w.rows; }  // R, summed over
    index width() const { return transposed ? w.rows : w.cols; }  // C
    index pairs() const { return (depth() + 1) / 2; }
    index panels() const { return (width() + panel_width - 1) / panel_width; }

    // out[q][j], q < pairs, j < 64: word (first_pair + q, 64 panel + j) of b in pairs.
    void pack(index panel, index first_pair, index pairs, std::uint32_t* out) const {
        if (transposed)
            pack_transposed(panel, first_pair, pairs, out);
        else
            pack_interleaved(panel, first_pair, pairs, out);
    }

private:
    const std::uint16_t* bits(index row, index col) const {
        return reinterpret_cast<const std::uint16_t*>(w.data + row * w.stride + col);
    }

    // b = W^T: word (p, j) is W(n, 2p) | W(n, 2p + 1) << 16 with n = 64 panel + j, the 32-bit word of W's
    // row n at column 2p: 16 rows of W by 16 pairs at a time, loaded and transposed.
    void pack_transposed(index panel, index first_pair, index pairs, std::uint32_t* out) const {
        const index first_row = panel * panel_width, rows = std::min(panel_width, w.rows - first_row);
        for (index q0 = 0; q0 < pairs; q0 += 16) {
            const index column = 2 * (first_pair + q0);
            const __mmask32 valid = first32(w.cols - column);  // odd K: the last pair's high half is 0
            const index stored = std::min<index>(16, pairs - q0);
            for (index j0 = 0; j0 < panel_width; j0 += 16) {
                __m512i block[16];
                for (index r = 0; r < 16; ++r)
                    block[r] = j0 + r < rows
                                   ? _mm512_maskz_loadu_epi16(valid, bits(first_row + j0 + r, column))
                                   : _mm512_setzero_si512();
                transpose16(block);
                for (index q = 0; q < stored; ++q)
                    _mm512_store_si512(out + (q0 + q) * panel_width + j0, block[q]);
            }
        }
    }

    // b = W: word (p, j) is W(2p, c) | W(2p + 1, c) << 16 with c = 64 panel + j: two rows of W
    // interleaved, 32 columns at a time by a two-source permutation of 16-bit elements.
    void pack_interleaved(index panel, index first_pair, index pairs, std::uint32_t* out) const {
        static const __m512i low_half = interleave_indices(0), high_half = interleave_indices(16);
        const index first_col = panel * panel_width, cols = std::min(panel_width, w.cols - first_col);
        for (index q = 0; q < pairs; ++q) {
            const index row = 2 * (first_pair + q);
            for (index j0 = 0; j0 < panel_width; j0 += 32) {
                const __mmask32 valid = first32(cols - j0);
                const __m512i even = _mm512_maskz_loadu_epi16(valid, bits(row, first_col + j0));
                const __m512i odd = row + 1 < w.rows
                                        ? _mm512_maskz_loadu_epi16(valid, bits(row + 1, first_col + j0))
                                        : _mm512_setzero_si512();
                std::uint32_t* words = out + q * panel_width + j0;
                _mm512_store_si512(words, _mm512_permutex2var_epi16(even, low_half, odd));
                _mm512_store_si512(words + 16, _mm512_permutex2var_epi16(even, high_half, odd));
            }
        }
    }

    // Indices of (even[first + i], odd[first + i]) for i < 16: element 32 + i of the pair is odd's i.
    static __m512i interleave_indices(int first) {
        alignas(64) std::array<std::uint16_t, 32> indices;
        for (int i = 0; i < 16; ++i) {
            indices[2 * i] = static_cast<std::uint16_t>(first + i);
            indices[2 * i + 1] = static_cast<std::uint16_t>(32 + first + i);
        }
        return _mm512_load_si512(indices.data());
    }
};

// out[i][p] = bits a(i, k0 + 2p) | bits a(i, k0 + 2p + 1) << 16 for the `length` columns of a from
// k0, rounded to bfloat16 (ties to even), the pair past an odd end completed by a zero. Rows of out
// are `stride` words apart.
inline void pack_rows(matrix_view<const float> a, index k0, index length, std::uint32_t* out, index stride) {
    for (index i = 0; i < a.rows; ++i) {
        const float* source = a.row(i) + k0;
        std::uint32_t* destination = out + i * stride;
        index k = 0;
        for (; k + 32 <= length; k += 32) {
            const __m512bh pairs =
                _mm512_cvtne2ps_pbh(_mm512_loadu_ps(source + k + 16), _mm512_loadu_ps(source + k));
            _mm512_storeu_si512(destination + k / 2, (__m512i)pairs);
        }
        if (k < length) {
            const index rest = length - k;  // 1 to 31
            const __m512 low = _mm512_maskz_loadu_ps(first16(rest), source + k);
            const __m512 high = _mm512_maskz_loadu_ps(first16(rest - 16), source + k + 16);
            _mm512_mask_storeu_epi32(destination + k / 2, first16((rest + 1) / 2),
                                     (__m512i)_mm512_cvtne2ps_pbh(high, low));
        }
    }
}

// c (Rows, cols) = alpha * a b + beta * c for one tile: a's Rows rows of `pairs` words (lda apart),
// b's `pairs` rows of one panel (64 words each), cols <= 16 * Vectors columns of c (ldc apart).
// beta = 0 reads nothing of c.
template <int Rows, int Vectors>
void microkernel(index pairs, const std::uint32_t* a, index lda, const std::uint32_t* b, float* c, index ldc,
                 index cols, float alpha, float beta) {
    __m512 acc[Rows][Vectors];
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < Vectors; ++v) {
            acc[r][v] = _mm512_setzero_ps();
            _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 16 * v), _MM_HINT_T0);
        }
    for (index p = 0; p < pairs; ++p) {
        __m512bh bv[Vectors];
#pragma GCC unroll 4
        for (int v = 0; v < Vectors; ++v) bv[v] = (__m512bh)_mm512_load_si512(b + p * panel_width + 16 * v);
#pragma GCC unroll 8
        for (int r = 0; r < Rows; ++r) {
            const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[r * lda + p]));
#pragma GCC unroll 4
            for (int v = 0; v < Vectors; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
        }
    }
    store_tile<Rows, Vectors>(acc, c, ldc, Rows, cols, alpha, beta);
}

using microkernel_type = void (*)(index, const std::uint32_t*, index, const std::uint32_t*, float*, index,
                                  index, float, float);

// microkernels[rows - 1][vectors - 1]: the tails of a block (rows < 6) and of c (a last panel
// narrower than 64 columns) get tiles of their own size.
template <int Rows>
inline constexpr microkernel_type microkernel_row[4] = {&microkernel<Rows, 1>, &microkernel<Rows, 2>,
                                                        &microkernel<Rows, 3>, &microkernel<Rows, 4>};
inline constexpr const microkernel_type* microkernels[micro_rows] = {microkernel_row<1>, microkernel_row<2>,
                                                                     microkernel_row<3>, microkernel_row<4>,
                                                                     microkernel_row<5>, microkernel_row<6>};

// One thread's block: c (M, columns of panels [first_panel, last_panel)) = alpha a b + beta c, a (M, R).
inline void product_block(float alpha, matrix_view<const float> a, const weight_operand& b, index first_panel,
                          index last_panel, float beta, matrix_view<float> c) {
    const index m = a.rows, all_pairs = b.pairs();
    if (m == 0 || first_panel >= last_panel || all_pairs == 0) return;
    const index blocks = (m + row_block - 1) / row_block;
    const index block_rows = ((m + blocks - 1) / blocks + micro_rows - 1) / micro_rows * micro_rows;
    const index pass_pairs = depth_block / 2;
    thread_local buffer<std::uint32_t, cpu> packed;  // (block_rows, pass_pairs): a block of a, in pairs
    thread_local buffer<std::uint32_t, cpu> panel;   // (pass_pairs, 64): a pass of b's panel
    packed.resize(block_rows * std::min(pass_pairs, all_pairs));
    panel.resize(std::min(pass_pairs, all_pairs) * panel_width);
    for (index first_pair = 0; first_pair < all_pairs; first_pair += pass_pairs) {
        const index pairs = std::min(pass_pairs, all_pairs - first_pair);
        const index k0 = 2 * first_pair, length = std::min(2 * pairs, b.depth() - k0);
        const float pass_beta = first_pair == 0 ? beta : 1.0f;  // later passes add to the first
        for (index first_row = 0; first_row < m; first_row += block_rows) {
            const index rows = std::min(block_rows, m - first_row);
            pack_rows(a.row_block(first_row, rows), k0, length, packed.data(), pairs);
            for (index p = first_panel; p < last_panel; ++p) {
                b.pack(p, first_pair, pairs, panel.data());
                const index first_col = p * panel_width, cols = std::min(panel_width, b.width() - first_col);
                const index vectors = (cols + 15) / 16;
                for (index i = 0; i < rows; i += micro_rows) {
                    const index tile_rows = std::min(micro_rows, rows - i);
                    microkernels[tile_rows - 1][vectors - 1](pairs, packed.data() + i * pairs, pairs,
                                                             panel.data(), c.row(first_row + i) + first_col,
                                                             c.stride, cols, alpha, pass_beta);
                }
            }
        }
    }
}

inline constexpr index dot_rows = 4;  // a forward of at most this many rows runs as dot products

// c (M, N) = alpha a W^T + beta c, M <= dot_rows, for W's rows [first, last): each c(i, n) the dot
// product of a's row i (in pairs, `pairs` words a row) with W's row n, 4 rows of W at a time.
inline void dot_products(float alpha, const std::uint32_t* a, index m, index pairs,
                         matrix_view<const bfloat16> w, index first, index last, float beta,
                         matrix_view<float> c) {
    for (index n = first; n < last; n += 4) {
        const index rows = std::min<index>(4, last - n);
        __m512 acc[dot_rows][4];
        for (index i = 0; i < m; ++i)
            for (index j = 0; j < 4; ++j) acc[i][j] = _mm512_setzero_ps();
        for (index p = 0; p < pairs; p += 16) {
            const __mmask32 valid = first32(w.cols - 2 * p);  // odd K: a's last pair ends in a zero
            const __mmask16 words = first16(pairs - p);
            __m512bh rows_of_w[4];
            for (index j = 0; j < 4; ++j)
                rows_of_w[j] =
                    (__m512bh)(j < rows ? _mm512_maskz_loadu_epi16(valid, w.data + (n + j) * w.stride + 2 * p)
                                        : _mm512_setzero_si512());
            for (index i = 0; i < m; ++i) {
                const __m512bh row_of_a = (__m512bh)_mm512_maskz_loadu_epi32(words, a + i * pairs + p);
                for (index j = 0; j < 4; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], row_of_a, rows_of_w[j]);
            }
        }
        for (index i = 0; i < m; ++i)
            for (index j = 0; j < rows; ++j) {
                float& out = c(i, n + j);
                const float sum = alpha * _mm512_reduce_add_ps(acc[i][j]);
                out = beta == 0.0f ? sum : sum + beta * out;
            }
    }
}

// c (M, N) = alpha a W^T + beta c for M <= dot_rows, W's rows split among the team.
inline void forward_by_dots(float alpha, matrix_view<const float> a, matrix_view<const bfloat16> w,
                            float beta, matrix_view<float> c) {
    const index pairs = (w.cols + 1) / 2;
    thread_local buffer<std::uint32_t, cpu> packed;  // a in pairs
    packed.resize(a.rows * pairs);
    pack_rows(a, 0, w.cols, packed.data(), pairs);
    const std::uint32_t* a_pairs = packed.data();
    const index groups = (w.rows + 3) / 4;
    const int parts = static_cast<int>(
        std::clamp<index>(std::min<index>(groups, w.rows * w.cols / (1 << 18)), 1, omp_get_max_threads()));
    if (parts == 1 || omp_in_parallel())
        return dot_products(alpha, a_pairs, a.rows, pairs, w, 0, w.rows, beta, c);
#pragma omp parallel num_threads(parts)
    {
        const index part = omp_get_thread_num(), count = omp_get_num_threads();
        dot_products(alpha, a_pairs, a.rows, pairs, w, 4 * (groups * part / count),
                     std::min(w.rows, 4 * (groups * (part + 1) / count)), beta, c);
    }
}

// c (M, C) = alpha a (M, R) b (R, C) + beta c, on the team of threads (see the top).
inline void product(float alpha, matrix_view<const float> a, const weight_operand& b, float beta,
                    matrix_view<float> c) {
    const index m = a.rows, panels = b.panels();
    const int threads = omp_get_max_threads();
    // Rows of c share b (2 R C bytes, read by every thread); panels share a (4 M R bytes, converted by
    // every thread). Split the other way when the preferred one has too few blocks for the team.
    const index row_units = m / 64, panel_units = panels;
    bool by_rows = b.width() < 2 * m;
    if (by_rows && row_units < threads && panel_units > row_units) by_rows = false;
    if (!by_rows && panel_units < threads && row_units > panel_units) by_rows = true;
    const double work =
        static_cast<double>(m) * static_cast<double>(b.width()) * static_cast<double>(b.depth());
    const int parts = static_cast<int>(std::clamp<index>(
        std::min<index>(by_rows ? row_units : panel_units, static_cast<index>(work / (1 << 20))), 1,
        threads));
    if (parts == 1 || omp_in_parallel()) {
        product_block(alpha, a, b, 0, panels, beta, c);
        return;
    }
#pragma omp parallel num_threads(parts)
    {
        const index part = omp_get_thread_num(), count = omp_get_num_threads();
        if (by_rows) {
            // Row boundaries on multiples of the tile's 6 rows.
            auto boundary = [&](index p) {
                return std::min(m, (m * p / count + micro_rows - 1) / micro_rows * micro_rows);
            };
            const index first = boundary(part), size = boundary(part + 1) - first;
            if (size > 0)
                product_block(alpha, a.row_block(first, size), b, 0, panels, beta, c.row_block(first, size));
        } else {
            product_block(alpha, a, b, panels * part / count, panels * (part + 1) / count, beta, c);
        }
    }
}

#endif  // LORAMOE_NATIVE_BF16

}  // namespace detail::bf16

// c = alpha * a op(W) + beta * c with W a frozen bfloat16 weight (N, K), row-major (any row stride):
// op = transpose::yes is the forward (a (M, K), c (M, N)), transpose::no the input gradient (a (M, N),
// c (M, K)). a is never transposed: its rows are tokens.
inline void gemm(cpu, float alpha, matrix_view<const float> a, matrix_view<const bfloat16> w, transpose op_w,
                 float beta, matrix_view<float> c) {
    const bool forward = op_w == transpose::yes;
    const index depth = forward ? w.cols : w.rows, width = forward ? w.rows : w.cols;
    if (a.cols != depth || c.rows != a.rows || c.cols != width)
        fail<shape_error>(
            "gemm with a bfloat16 weight W [{}, {}]: a [{}, {}] times W{} [{}, {}] into c [{}, {}], "
            "expected a [M, {}] and c [{}, {}]",
            w.rows, w.cols, a.rows, a.cols, forward ? "^T" : "", depth, width, c.rows, c.cols, depth, a.rows,
            width);
    if (c.empty()) return;
    if (depth == 0) {  // an empty sum: c = beta c
        if (beta == 0.0f)
            eigen_map(c).setZero();
        else
            eigen_map(c) *= beta;
        return;
    }
#if LORAMOE_NATIVE_BF16
    if (forward && a.rows <= detail::bf16::dot_rows)
        detail::bf16::forward_by_dots(alpha, a, w, beta, c);
    else
        detail::bf16::product(alpha, a, {w, forward}, beta, c);
#else
    thread_local tensor<float> rounded, values;  // a rounded to bfloat16, and W, in float
    rounded.resize({a.rows, a.cols});
    for (index i = 0; i < a.rows; ++i)
        for (index j = 0; j < a.cols; ++j)
            rounded[i * a.cols + j] = bfloat16_value(bfloat16_bits(a.row(i)[j]));
    values.resize({w.rows, w.cols});
    for (index i = 0; i < w.rows; ++i)
        for (index j = 0; j < w.cols; ++j) values[i * w.cols + j] = static_cast<float>(w(i, j));
    gemm(cpu{}, alpha, as_const(rounded.matrix()), transpose::no, as_const(values.matrix()),
         forward ? transpose::yes : transpose::no, beta, c);
#endif
}

}  // namespace loramoe
