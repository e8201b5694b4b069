#pragma once
// The products of a frozen linear whose weight is held in bfloat16 (cpu/bf16_weight.hpp), with float
// activations, float sums and a float result, W (N, K) = (d_out, d_in):
//
//   forward          gemm(cpu, alpha, x, W, transpose::yes, beta, y)    y (M, N) = alpha x W^T + beta y
//   input gradient   gemm(cpu, alpha, dy, W, transpose::no, beta, dx)   dx (M, K) = alpha dy W + beta dx
//   with x (M, K), dy (M, N)
//
//   PyTorch: y = x.bfloat16().float() @ W.bfloat16().float().T    (bfloat16 operands, float32 sums)
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
// The product is a blocked GEMM, as GotoBLAS/BLIS. Inside c = a b, with b the weight's panels (R, C):
//   for each block of 256 rows of b (128 pairs: one panel's block is 32 KiB, it stays in L1):
//     for each block of up to 768 rows of a: convert it to bfloat16 pairs (384 KiB, in L2)
//       for each panel of 64 columns of c, for each 6 rows of the block:
//         the microkernel: a 6 x 64 tile of c in 24 registers, one VDPBF16PS per register and pair
//         of b's rows (the pair of a broadcast from memory), then c = alpha acc + beta c.
// The weight needs no packing per call: it was packed once, in this order. Threads are ours, as in
// cpu/gemm.hpp: the output is cut into one block per OpenMP thread, of rows of c or of panels,
// whichever shares the smaller operand (b is 2 R C bytes, a 4 M R), and the threads only meet at the
// end of the parallel region: no spin waits.
//
// Builds without AVX512-BF16 (LORAMOE_NATIVE_BF16 = 0) round a to bfloat16 values in float, in a
// scratch of the thread, and run loramoe::gemm in float on the weight's float copy: the same values
// multiplied, the float product's speed.

#include <algorithm>
#include <cstdint>
#include <utility>

#include <omp.h>

#include <loramoe/core/error.hpp>
#include <loramoe/core/gemm.hpp>
#include <loramoe/core/host_memory.hpp>
#include <loramoe/core/tensor.hpp>
#include <loramoe/core/view.hpp>
#include <loramoe/cpu/bf16_weight.hpp>
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

inline constexpr index micro_rows = 6;     // rows of the microkernel's tile (6 x 4 registers)
inline constexpr index depth_block = 256;  // rows of b per pass (Kc)
inline constexpr index row_block = 768;    // rows of a per packed block (Mc), at most

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
            const auto mask = [](index bits) {
                return static_cast<__mmask16>((1u << std::min<index>(bits, 16)) - 1);
            };
            const __m512 low = _mm512_maskz_loadu_ps(mask(rest), source + k);
            const __m512 high = _mm512_maskz_loadu_ps(mask(std::max<index>(rest - 16, 0)), source + k + 16);
            _mm512_mask_storeu_epi32(destination + k / 2, mask((rest + 1) / 2),
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
inline void product_block(float alpha, matrix_view<const float> a, const panels& b, index first_panel,
                          index last_panel, float beta, matrix_view<float> c) {
    const index m = a.rows;
    if (m == 0 || first_panel >= last_panel || b.pairs == 0) return;
    const index blocks = (m + row_block - 1) / row_block;
    const index block_rows = ((m + blocks - 1) / blocks + micro_rows - 1) / micro_rows * micro_rows;
    const index pass_pairs = depth_block / 2;
    thread_local buffer<std::uint32_t, cpu> packed;  // (block_rows, pass_pairs): a block of a, in pairs
    packed.resize(block_rows * std::min(pass_pairs, b.pairs));
    for (index first_pair = 0; first_pair < b.pairs; first_pair += pass_pairs) {
        const index pairs = std::min(pass_pairs, b.pairs - first_pair);
        const index k0 = 2 * first_pair, length = std::min(2 * pairs, b.depth - k0);
        const float pass_beta = first_pair == 0 ? beta : 1.0f;  // later passes add to the first
        for (index first_row = 0; first_row < m; first_row += block_rows) {
            const index rows = std::min(block_rows, m - first_row);
            pack_rows(a.row_block(first_row, rows), k0, length, packed.data(), pairs);
            for (index panel = first_panel; panel < last_panel; ++panel) {
                const std::uint32_t* panel_pairs = b.at(panel, first_pair);
                const index first_col = panel * panel_width,
                            cols = std::min(panel_width, b.width - first_col);
                const index vectors = (cols + 15) / 16;
                // The next panel's rows of this pass, fetched into L2 a few lines per tile: the weight
                // comes from memory, once per pass, and the first tile of a panel would wait for it.
                const char* next = panel + 1 < last_panel
                                       ? reinterpret_cast<const char*>(b.at(panel + 1, first_pair))
                                       : nullptr;
                const index lines = pairs * panel_width * 4 / 64,
                            tiles = (rows + micro_rows - 1) / micro_rows;
                const index lines_per_tile = (lines + tiles - 1) / tiles;
                index fetched = 0;
                for (index i = 0; i < rows; i += micro_rows) {
                    const index tile_rows = std::min(micro_rows, rows - i);
                    if (next != nullptr)
                        for (const index end = std::min(lines, fetched + lines_per_tile); fetched < end;
                             ++fetched)
                            _mm_prefetch(next + 64 * fetched, _MM_HINT_T1);
                    microkernels[tile_rows - 1][vectors - 1](pairs, packed.data() + i * pairs, pairs,
                                                             panel_pairs, c.row(first_row + i) + first_col,
                                                             c.stride, cols, alpha, pass_beta);
                }
            }
        }
    }
}

// c (M, C) = alpha a (M, R) b (R, C) + beta c, on the team of threads (see the top).
inline void product(float alpha, matrix_view<const float> a, const panels& b, float beta,
                    matrix_view<float> c) {
    const index m = a.rows;
    const int threads = omp_get_max_threads();
    // Rows of c share b (2 R C bytes, read by every thread); panels share a (4 M R bytes, converted by
    // every thread). Split the other way when the preferred one has too few blocks for the team.
    const index row_units = m / 64, panel_units = b.count;
    bool by_rows = b.width < 2 * m;
    if (by_rows && row_units < threads && panel_units > row_units) by_rows = false;
    if (!by_rows && panel_units < threads && row_units > panel_units) by_rows = true;
    const double work = static_cast<double>(m) * static_cast<double>(b.width) * static_cast<double>(b.depth);
    const int parts = static_cast<int>(std::clamp<index>(
        std::min<index>(by_rows ? row_units : panel_units, static_cast<index>(work / (1 << 20))), 1,
        threads));
    if (parts == 1 || omp_in_parallel()) {
        product_block(alpha, a, b, 0, b.count, beta, c);
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
                product_block(alpha, a.row_block(first, size), b, 0, b.count, beta, c.row_block(first, size));
        } else {
            product_block(alpha, a, b, b.count * part / count, b.count * (part + 1) / count, beta, c);
        }
    }
}

#endif  // LORAMOE_NATIVE_BF16

}  // namespace detail::bf16

// c = alpha * a op(W) + beta * c with W a frozen bfloat16 weight (N, K): op = transpose::yes is the
// forward (a (M, K), c (M, N)), transpose::no the input gradient (a (M, N), c (M, K)), which needs a
// weight made with bf16_layouts::forward_and_input_gradient. a is never transposed: its rows are tokens.
inline void gemm(cpu, float alpha, matrix_view<const float> a, const bf16_weight& w, transpose op_w,
                 float beta, matrix_view<float> c) {
    const bool forward = op_w == transpose::yes;
    const index depth = forward ? w.cols() : w.rows(), width = forward ? w.rows() : w.cols();
    if (a.cols != depth || c.rows != a.rows || c.cols != width)
        fail<shape_error>(
            "gemm with a bfloat16 weight W [{}, {}]: a [{}, {}] times W{} [{}, {}] into c [{}, {}], "
            "expected a [M, {}] and c [{}, {}]",
            w.rows(), w.cols(), a.rows, a.cols, forward ? "^T" : "", depth, width, c.rows, c.cols, depth,
            a.rows, width);
    if (!forward && !w.has_input_gradient())
        fail<value_error>(
            "gemm: the bfloat16 weight W [{}, {}] was packed for the forward product only "
            "(bf16_layouts::forward); dx = dy W needs bf16_layouts::forward_and_input_gradient",
            w.rows(), w.cols());
    if (c.empty()) return;
    if (depth == 0) {  // an empty sum: c = beta c
        if (beta == 0.0f)
            eigen_map(c).setZero();
        else
            eigen_map(c) *= beta;
        return;
    }
#if LORAMOE_NATIVE_BF16
    detail::bf16::product(alpha, a, forward ? w.forward_panels() : w.input_gradient_panels(), beta, c);
#else
    thread_local tensor<float> rounded;  // a's values rounded to bfloat16, in float
    rounded.resize({a.rows, a.cols});
    for (index i = 0; i < a.rows; ++i)
        for (index j = 0; j < a.cols; ++j)
            rounded[i * a.cols + j] = bfloat16_value(bfloat16_bits(a.row(i)[j]));
    gemm(cpu{}, alpha, as_const(rounded.matrix()), transpose::no, w.values(),
         forward ? transpose::yes : transpose::no, beta, c);
#endif
}

}  // namespace loramoe
