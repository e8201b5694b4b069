#pragma once
// A frozen weight W (N, K) = (d_out, d_in) held in bfloat16, as checkpoints store it, and packed once,
// when it is made, in the layout the products of cpu/bf16_gemm.hpp read:
//
//   forward          y (M, N)  = x (M, K) W^T      reads W^T (K, N) as "panels"
//   input gradient   dx (M, K) = dy (M, N) W       reads W (N, K) as "panels"
//
// Panels: the right operand b (R, C) of a product c = a b, cut into panels of 64 columns (4 registers
// of 16 floats, the microkernel's width); inside a panel, row pairs (2p, 2p + 1) are interleaved, as
// VDPBF16PS multiplies pairs of bfloat16 in each 32-bit lane:
//
//   word[panel][p][j] = bits b(2p, 64 panel + j)  |  bits b(2p + 1, 64 panel + j) << 16     (32 bits)
//
// with R rounded up to even and C up to a multiple of 64 by zeros. A panel is contiguous, and so is
// any run of its row pairs: the microkernel streams them without packing anything per call.
//
// The two products pair different dimensions (K in the forward, N in the input gradient), so each
// needs its own copy: a weight made for training (bf16_layouts::forward_and_input_gradient, the
// default) holds both, 2 x 2 bytes per element, as much memory as the float weight it replaces; one
// made for inference holds the forward's alone.
//
// Builds without AVX512-BF16 (LORAMOE_NATIVE_BF16 = 0) keep the bfloat16 values as floats, (N, K)
// row-major, 4 bytes per element, and the products run in float (cpu/bf16_gemm.hpp): the same values,
// the same results up to the order of the float sums.

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include <loramoe/core/error.hpp>
#include <loramoe/core/host_memory.hpp>
#include <loramoe/core/tensor.hpp>
#include <loramoe/core/view.hpp>
#include <loramoe/cpu/bfloat16.hpp>

namespace loramoe {

enum class bf16_layouts {
    forward,                     // y = x W^T only (inference)
    forward_and_input_gradient,  // and dx = dy W (a frozen linear in training)
};

namespace detail::bf16 {

inline constexpr index panel_width = 64;  // columns of c per panel: 4 registers of 16 floats

// The right operand b (R, C) of c = a b in panels (see the top).
struct panels {
    index depth = 0;                   // R, the dimension the product sums over
    index width = 0;                   // C, the columns of c
    index pairs = 0;                   // ceil(R / 2)
    index count = 0;                   // ceil(C / 64)
    buffer<std::uint32_t, cpu> words;  // (count, pairs, 64)

    // Row pairs [pair, ...) of panel `panel`: 64 words per pair.
    const std::uint32_t* at(index panel, index pair) const {
        return words.data() + (panel * pairs + pair) * panel_width;
    }
    std::uint16_t bits(index r, index c) const {
        const std::uint32_t word = at(c / panel_width, r / 2)[c % panel_width];
        return static_cast<std::uint16_t>(r % 2 == 0 ? word & 0xffffu : word >> 16);
    }
};

// Packs b (depth, width), given as bits(r, c) -> the bfloat16 bits of b(r, c), one panel per
// iteration of a parallel loop. Within a panel the loop runs over row pairs, then columns: for the
// forward's b = W^T, 64 rows of W are read at once, 8 pairs from each cache line.
template <class Bits>
panels pack(index depth, index width, Bits&& bits) {
    panels p;
    p.depth = depth;
    p.width = width;
    p.pairs = (depth + 1) / 2;
    p.count = (width + panel_width - 1) / panel_width;
    p.words.resize(p.count * p.pairs * panel_width);  // zeroed: the padding stays zero
    std::uint32_t* const words = p.words.data();
    const index pairs = p.pairs, count = p.count;
#pragma omp parallel for schedule(static) if (depth * width >= (index{1} << 16))
    for (index panel = 0; panel < count; ++panel) {
        const index first = panel * panel_width, columns = std::min(panel_width, width - first);
        for (index q = 0; q < pairs; ++q) {
            std::uint32_t* out = words + (panel * pairs + q) * panel_width;
            const index r = 2 * q;
            if (r + 1 < depth) {
                for (index j = 0; j < columns; ++j)
                    out[j] = std::uint32_t{bits(r, first + j)} | std::uint32_t{bits(r + 1, first + j)} << 16;
            } else {
                for (index j = 0; j < columns; ++j) out[j] = bits(r, first + j);  // odd R: b(R, c) = 0
            }
        }
    }
    return p;
}

}  // namespace detail::bf16

class bf16_weight {
public:
    bf16_weight() = default;

    // W (N, K) in float, each element rounded to bfloat16 (cpu/bfloat16.hpp: to nearest, ties to even).
    explicit bf16_weight(matrix_view<const float> w,
                         bf16_layouts layouts = bf16_layouts::forward_and_input_gradient)
        : bf16_weight(w, layouts, 0) {}
    // W (N, K) already in bfloat16 (a checkpoint's BF16 tensor): the values are kept as they are.
    explicit bf16_weight(matrix_view<const bfloat16> w,
                         bf16_layouts layouts = bf16_layouts::forward_and_input_gradient)
        : bf16_weight(w, layouts, 0) {}

    bf16_weight(bf16_weight&&) noexcept = default;
    bf16_weight& operator=(bf16_weight&&) noexcept = default;

    index rows() const { return rows_; }  // N = d_out
    index cols() const { return cols_; }  // K = d_in
    bool empty() const { return rows_ == 0 || cols_ == 0; }
    bf16_layouts layouts() const { return layouts_; }
    bool has_input_gradient() const { return layouts_ == bf16_layouts::forward_and_input_gradient; }

    // W(i, j), as stored.
    bfloat16 operator()(index i, index j) const {
        LORAMOE_ASSERT(i >= 0 && i < rows_ && j >= 0 && j < cols_);
#if LORAMOE_NATIVE_BF16
        return Eigen::numext::bit_cast<bfloat16>(forward_.bits(j, i));  // the forward's b is W^T
#else
        return to_bfloat16(values_[i * cols_ + j]);  // exact: the float holds a bfloat16 value
#endif
    }

    // W (N, K) in float: every bfloat16 value exactly.
    tensor<float> to_float() const {
        tensor<float> w({rows_, cols_});
        for (index i = 0; i < rows_; ++i)
            for (index j = 0; j < cols_; ++j) w[i * cols_ + j] = static_cast<float>((*this)(i, j));
        return w;
    }

#if LORAMOE_NATIVE_BF16
    // The products' operands: W^T (K, N) for the forward, W (N, K) for the input gradient.
    const detail::bf16::panels& forward_panels() const {
        return forward_;
    }
    const detail::bf16::panels& input_gradient_panels() const {
        return input_gradient_;
    }
#else
    // W (N, K), bfloat16 values in float: the operand of the float products.
    matrix_view<const float> values() const {
        return values_.matrix();
    }
#endif

private:
    template <class T>
    bf16_weight(matrix_view<const T> w, bf16_layouts layouts, int)
        : rows_(w.rows), cols_(w.cols), layouts_(layouts) {
        auto bits = [](T value) -> std::uint16_t {
            if constexpr (std::is_same_v<T, float>)
                return bfloat16_bits(value);
            else
                return Eigen::numext::bit_cast<std::uint16_t>(value);
        };
#if LORAMOE_NATIVE_BF16
        const T* const data = w.data;
        const index stride = w.stride;
        forward_ =
            detail::bf16::pack(cols_, rows_, [&](index r, index c) { return bits(data[c * stride + r]); });
        if (has_input_gradient())
            input_gradient_ = detail::bf16::pack(
                rows_, cols_, [&](index r, index c) { return bits(data[r * stride + c]); });
#else
        values_.resize({rows_, cols_});
        for (index i = 0; i < rows_; ++i)
            for (index j = 0; j < cols_; ++j)
                values_[i * cols_ + j] = bfloat16_value(bits(w.data[i * w.stride + j]));
#endif
    }

    index rows_ = 0, cols_ = 0;
    bf16_layouts layouts_ = bf16_layouts::forward;
#if LORAMOE_NATIVE_BF16
    detail::bf16::panels forward_;         // W^T (K, N)
    detail::bf16::panels input_gradient_;  // W (N, K); empty unless has_input_gradient()
#else
    tensor<float> values_;  // (N, K)
#endif
};

}  // namespace loramoe
