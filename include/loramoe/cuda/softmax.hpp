#pragma once
// Row-wise softmax on the device, forward and backward, and top-k selection (maths: cpu/softmax.hpp).
// Defined in cuda/softmax.cu for float and double.

#include <loramoe/core/view.hpp>

namespace loramoe {

template <class T>
void softmax_rows(cuda, matrix_view<const T> logits, matrix_view<T> probs);

// Overwrites dlogits (which may alias dprobs).
template <class T>
void softmax_rows_backward(cuda, matrix_view<const T> probs, matrix_view<const T> dprobs,
                           matrix_view<T> dlogits);

// Keeps the k largest probabilities of each row (the lower index first among ties) and renormalises.
template <class T>
void keep_top_k(cuda, index k, matrix_view<T> probs);

}  // namespace loramoe
