#pragma once
// Token embedding on the host: a row gather, and its backward, a row scatter-add.
//
//   forward:   out[t, :] = table[ids[t], :]
//   backward:  dtable[ids[t], :] += dout[t, :]

#include <cstdint>

#include <loramoe/core/host_memory.hpp>
#include <loramoe/core/view.hpp>
#include <loramoe/cpu/parallel.hpp>

namespace loramoe {

template <class T>
void embedding_forward(cpu, matrix_view<const T> table, const std::int64_t* ids, matrix_view<T> out) {
    parallel_for(cpu{}, out.rows, out.cols, [&](index t) {
        LORAMOE_ASSERT(ids[t] >= 0 && ids[t] < table.rows);
        copy(cpu{}, table.row(ids[t]), out.row(t), out.cols);
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
