#pragma once
// The router's reductions over tokens and samples on the device (maths: cpu/routing.hpp). Defined in
// cuda/routing.cu for float and double; `mask` is device memory or null.

#include <loramoe/core/view.hpp>

namespace loramoe {

template <class T>
void sum_gates_per_sample(cuda, matrix_view<const T> gates, const T* mask, index samples, index tokens,
                          matrix_view<T> q);

template <class T>
void add_per_sample_gradient(cuda, matrix_view<const T> dq, const T* mask, index samples, index tokens,
                             matrix_view<T> dgates);

// counts[n] (device memory) = real tokens whose largest gate is expert n (the lower index among ties)
template <class T>
void count_top_expert(cuda, matrix_view<const T> gates, const T* mask, T* counts);

template <class T>
void logsumexp_rows(cuda, matrix_view<const T> logits, T* lse);

template <class T>
void add_squared_logsumexp_gradient(cuda, matrix_view<const T> logits, const T* lse, const T* mask, T c,
                                    matrix_view<T> dlogits);

}  // namespace loramoe
