#pragma once
// Token embedding on the host: a row gather, and its backward, a row scatter-add.
//
//   forward:   out[t, :] = table[ids[t], :]      (a table in bfloat16 widened to float)
//   backward:  dtable[ids[t], :] += dout[t, :]

#include <cstdint>
#include <type_traits>

#include <loramoe/core/host_memory.hpp>
#include <loramoe/core/view.hpp>
#include <loramoe/cpu/parallel.hpp>

namespace loramoe {

template <class S, class T>
void embedding_forward(cpu, matrix_view<const S> table, const std::int64_t* ids, matrix_view<T> out) {
    parallel_for(cpu{}, out.rows, out.cols, [&](index t) {
        LORAMOE_ASSERT(ids[t] >= 0 && ids[t] < table.rows);
        if constexpr (std::is_same_v<S, T>) {
            copy(cpu{}, table.row(ids[t]), out.row(t), out.cols);
        } else {
            const S* row = table.row(ids[t]);
            for (index j = 0; j < out.cols; ++j) out(t, j) = static_cast<T>(row[j]);
        }
    });
}

// Rows may repeat, so the scatter runs in parallel over columns, not rows.
template <class T>
void embedding_backward(cpu, const std::int64_t* ids, matrix_view<const T> dout, matrix_view<T> dtable) {
    const index columns_per_chunk = 64, chunks = (dout.cols + columns_per_chunk - 1) / columns_per_chunk;
    parallel_for(cpu{}, chunks, dout.rows * columns_per_chunk, [&](index chunk) {
        const index first = chunk * columns_per_chunk, last = std::min(dout.cols, first + columns_per_chunk);
        for (index t = 0; t < dout.rows; ++t)
            for (index j = first; j < last; ++j) dtable(ids[t], j) += dout(t, j);
    });
}

}  // namespace loramoe
