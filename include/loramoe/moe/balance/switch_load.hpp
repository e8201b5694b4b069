#pragma once
// The Switch Transformer load-balancing loss (Fedus et al. 2021, eq. 4), over the real tokens:
//   f_n = (tokens whose largest gate is n) / T,   P_n = sum_t g_n(x_t) / T,   loss = N * sum_n f_n P_n
// f is piecewise constant, so only P carries gradient:  dg_n(x_t) = mask_t * N f_n / T.

#include <loramoe/core/tensor.hpp>
#include <loramoe/cpu/routing.hpp>
#include <loramoe/moe/routing_batch.hpp>

namespace loramoe::moe {

namespace balance {
struct switch_load {};
}  // namespace balance

namespace detail {

template <class T>
struct switch_terms {
    tensor<T, cpu> fraction;   // f (N)
    tensor<T, cpu> mean_gate;  // P (N)
    T real_tokens = 0;         // T
};

template <class T, class Backend>
switch_terms<T> measure_switch_terms(matrix_view<const T> gates, const routing_batch<T>& batch) {
    require_whole_batch(batch, "switch load");
    const index experts = gates.cols;
    tensor<T, Backend> counts({experts}), q({batch.samples, experts});
    count_top_expert(Backend{}, gates, batch.mask, counts.data());
    sum_gates_per_sample(Backend{}, gates, batch.mask, batch.samples, batch.tokens, q.matrix());
    switch_terms<T> terms{to_host(counts), tensor<T, cpu>({experts}), 0};
    const tensor<T, cpu> q_host = to_host(q);
    for (T c : terms.fraction.span()) terms.real_tokens += c;
    terms.mean_gate.zero();
    if (terms.real_tokens == T(0)) return terms;
    for (index n = 0; n < experts; ++n) {
        terms.fraction[n] /= terms.real_tokens;
        for (index b = 0; b < batch.samples; ++b)
            terms.mean_gate[n] += q_host.matrix()(b, n) / terms.real_tokens;
    }
    return terms;
}

}  // namespace detail

template <class T, class Backend>
T balance_loss(Backend, const balance::switch_load&, matrix_view<const T> gates, matrix_view<const T>,
               const routing_batch<T>& batch) {
    const auto terms = detail::measure_switch_terms<T, Backend>(gates, batch);
    T loss = 0;
    for (index n = 0; n < gates.cols; ++n) loss += terms.fraction[n] * terms.mean_gate[n];
    return static_cast<T>(gates.cols) * loss;
}

template <class T, class Backend>
void add_balance_gate_gradient(Backend, const balance::switch_load&, matrix_view<const T> gates,
                               matrix_view<const T>, const routing_batch<T>& batch, T weight,
                               matrix_view<T> dgates) {
    const auto terms = detail::measure_switch_terms<T, Backend>(gates, batch);
    if (weight == T(0) || terms.real_tokens == T(0)) return;
    // The same row for every sample: dq[b, n] = weight * N f_n / T.
    tensor<T, cpu> dq_host({batch.samples, gates.cols});
    for (index b = 0; b < batch.samples; ++b)
        for (index n = 0; n < gates.cols; ++n)
            dq_host.matrix()(b, n) =
                weight * static_cast<T>(gates.cols) * terms.fraction[n] / terms.real_tokens;
    const tensor<T, Backend> dq = to_backend<Backend>(dq_host);
    add_per_sample_gradient(Backend{}, dq.matrix(), batch.mask, batch.samples, batch.tokens, dgates);
}

template <class T, class Backend>
void add_balance_logit_gradient(Backend, const balance::switch_load&, matrix_view<const T>,
                                matrix_view<const T>, const routing_batch<T>&, T, matrix_view<T>) {}

}  // namespace loramoe::moe
