#pragma once
// A LoRA expert: A (r, d_in), B (d_out, r), scaling s = alpha / r, computing s * B A x.
// Initialised as the official LoRAMoE code does (and torch.nn.Linear): A by Kaiming-uniform with
// a = sqrt(5), i.e. U(-1/sqrt(d_in), 1/sqrt(d_in)); B zero, so a fresh adapter changes nothing.
//
// In a LoRAMoE linear the experts are stored side by side: A_cat (N*r, d_in) stacks the A_i by rows
// and B_cat (d_out, N*r) the B_i by columns, so that all experts run as two matrix products.

#include <cmath>

#include <loramoe/core/random.hpp>
#include <loramoe/core/view.hpp>

namespace loramoe::moe {

// Fills a host matrix (rows, fan_in) with U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
template <class T>
void kaiming_uniform(random_generator& rng, matrix_view<T> weight) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(weight.cols));
    for (index i = 0; i < weight.rows; ++i)
        for (index j = 0; j < weight.cols; ++j) weight(i, j) = static_cast<T>(rng.uniform(-bound, bound));
}

// Expert i's A_i (r, d_in) inside A_cat (N*r, d_in).
template <class T>
matrix_view<T> expert_a(matrix_view<T> a_cat, index i, index rank) {
    return a_cat.row_block(i * rank, rank);
}

// Expert i's B_i (d_out, r) inside B_cat (d_out, N*r): a column block.
template <class T>
matrix_view<T> expert_b(matrix_view<T> b_cat, index i, index rank) {
    return b_cat.col_block(i * rank, rank);
}

}  // namespace loramoe::moe
