#pragma once
// Scaling each expert's low-rank activations by its gate on the device (maths: cpu/gating.hpp).
// Defined in cuda/gating.cu for float and double; the rank is a run-time value on the device.

#include <loramoe/core/extent.hpp>
#include <loramoe/core/view.hpp>

namespace loramoe {

template <class T>
void scale_by_gates(cuda, matrix_view<const T> h, matrix_view<const T> gates, T s, index rank,
                    matrix_view<T> hs);

// Overwrites dh (which may alias dhs) and dgates.
template <class T>
void scale_by_gates_backward(cuda, matrix_view<const T> h, matrix_view<const T> gates,
                             matrix_view<const T> dhs, T s, index rank, matrix_view<T> dh,
                             matrix_view<T> dgates);

template <class T, int Rank>
void scale_by_gates(cuda, matrix_view<const T> h, matrix_view<const T> gates, T s, extent<Rank> rank,
                    matrix_view<T> hs) {
    scale_by_gates(cuda{}, h, gates, s, rank.value(), hs);
}

template <class T, int Rank>
void scale_by_gates_backward(cuda, matrix_view<const T> h, matrix_view<const T> gates,
                             matrix_view<const T> dhs, T s, extent<Rank> rank, matrix_view<T> dh,
                             matrix_view<T> dgates) {
    scale_by_gates_backward(cuda{}, h, gates, dhs, s, rank.value(), dh, dgates);
}

}  // namespace loramoe
