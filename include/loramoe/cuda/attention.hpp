#pragma once
// Causal grouped-query self-attention with a key padding mask on the device (maths and conventions:
// cpu/attention.hpp, including a query that sees no key attending uniformly to all S keys). Defined
// in cuda/attention.cu for float and double; mask is device memory or null. A sliding window shorter
// than the sequence is refused (value_error): the CPU computes it.

#include <loramoe/core/attention_shape.hpp>
#include <loramoe/core/view.hpp>

namespace loramoe {

template <class T>
void attention_forward(cuda, const attention_shape& a, matrix_view<const T> q, matrix_view<const T> k,
                       matrix_view<const T> v, const T* mask, T* probs, matrix_view<T> out);

template <class T>
void attention_backward(cuda, const attention_shape& a, matrix_view<const T> q, matrix_view<const T> k,
                        matrix_view<const T> v, const T* mask, const T* probs, matrix_view<const T> dout,
                        matrix_view<T> dq, matrix_view<T> dk, matrix_view<T> dv);

template <class T>
void attention_cached(cuda, const attention_shape& a, index past, matrix_view<const T> q,
                      matrix_view<const T> k, matrix_view<const T> v, matrix_view<T> out);

}  // namespace loramoe
