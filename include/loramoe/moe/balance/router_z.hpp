#pragma once
// The router z-loss (Zoph et al. 2022, ST-MoE, eq. 5), over the real tokens:
//   loss = (1/T) sum_t (log sum_n exp z_tn)^2
//   dz_tn = (2/T) lse_t softmax(z_t)_n           (directly on the logits, not through the gates)

#include <loramoe/core/tensor.hpp>
#include <loramoe/cpu/routing.hpp>
#include <loramoe/moe/routing_batch.hpp>

namespace loramoe::moe {

namespace balance {
struct router_z {};
}  // namespace balance

template <class T, class Backend>
T balance_loss(Backend, const balance::router_z&, matrix_view<const T>, matrix_view<const T> logits,
               const routing_batch<T>& batch) {
    require_whole_batch(batch, "router z");
    tensor<T, Backend> lse({logits.rows});
    logsumexp_rows(Backend{}, logits, lse.data());
    const tensor<T, cpu> lse_host = to_host(lse), mask = mask_on_host<Backend>(batch);
    T sum = 0, count = 0;
    for (index t = 0; t < logits.rows; ++t) {
        sum += mask[t] * lse_host[t] * lse_host[t];
        count += mask[t];
    }
    return count == T(0) ? T(0) : sum / count;
}

template <class T, class Backend>
void add_balance_gate_gradient(Backend, const balance::router_z&, matrix_view<const T>, matrix_view<const T>,
                               const routing_batch<T>&, T, matrix_view<T>) {}

template <class T, class Backend>
void add_balance_logit_gradient(Backend, const balance::router_z&, matrix_view<const T>,
                                matrix_view<const T> logits, const routing_batch<T>& batch, T weight,
                                matrix_view<T> dlogits) {
    const tensor<T, cpu> mask = mask_on_host<Backend>(batch);
    T count = 0;
    for (T m : mask.span()) count += m;
    if (weight == T(0) || count == T(0)) return;
    tensor<T, Backend> lse({logits.rows});
    logsumexp_rows(Backend{}, logits, lse.data());
    add_squared_logsumexp_gradient(Backend{}, logits, lse.data(), batch.mask, weight / count, dlogits);
}

}  // namespace loramoe::moe
