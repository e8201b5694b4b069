#pragma once
// The balancing losses a routed layer can carry, chosen at compile time or at run time.
//
// Each loss type has three functions, found by overload on its type:
//   balance_loss(backend, loss, gates, logits, batch)                          -> the value
//   add_balance_gate_gradient(backend, loss, gates, logits, batch, w, dgates)  dgates  += w * dloss/dgates
//   add_balance_logit_gradient(backend, loss, gates, logits, batch, w, dlogits) dlogits += w * dloss/dlogits
// (the router z-loss depends on the logits directly; the others only through the gates).
// `balance::dynamic` holds any of them, chosen at run time, as loramoe::dynamic does for sizes.

#include <variant>

#include <loramoe/moe/balance/lbc.hpp>
#include <loramoe/moe/balance/router_z.hpp>
#include <loramoe/moe/balance/switch_load.hpp>

namespace loramoe::moe {

namespace balance {

// No balancing loss: plain LoRA, or LoRAMoE without the LBC.
struct none {};

struct dynamic : std::variant<none, lbc, switch_load, router_z> {
    using variant::variant;
};

}  // namespace balance

template <class T, class Backend>
T balance_loss(Backend, const balance::none&, matrix_view<const T>, matrix_view<const T>,
               const routing_batch<T>&) {
    return T(0);
}
template <class T, class Backend>
void add_balance_gate_gradient(Backend, const balance::none&, matrix_view<const T>, matrix_view<const T>,
                               const routing_batch<T>&, T, matrix_view<T>) {}
template <class T, class Backend>
void add_balance_logit_gradient(Backend, const balance::none&, matrix_view<const T>, matrix_view<const T>,
                                const routing_batch<T>&, T, matrix_view<T>) {}

template <class T, class Backend>
T balance_loss(Backend backend, const balance::dynamic& loss, matrix_view<const T> gates,
               matrix_view<const T> logits, const routing_batch<T>& batch) {
    return std::visit([&](const auto& chosen) { return balance_loss(backend, chosen, gates, logits, batch); },
                      static_cast<const balance::dynamic::variant&>(loss));
}
template <class T, class Backend>
void add_balance_gate_gradient(Backend backend, const balance::dynamic& loss, matrix_view<const T> gates,
                               matrix_view<const T> logits, const routing_batch<T>& batch, T weight,
                               matrix_view<T> dgates) {
    std::visit(
        [&](const auto& chosen) {
            add_balance_gate_gradient(backend, chosen, gates, logits, batch, weight, dgates);
        },
        static_cast<const balance::dynamic::variant&>(loss));
}
template <class T, class Backend>
void add_balance_logit_gradient(Backend backend, const balance::dynamic& loss, matrix_view<const T> gates,
                                matrix_view<const T> logits, const routing_batch<T>& batch, T weight,
                                matrix_view<T> dlogits) {
    std::visit(
        [&](const auto& chosen) {
            add_balance_logit_gradient(backend, chosen, gates, logits, batch, weight, dlogits);
        },
        static_cast<const balance::dynamic::variant&>(loss));
}

template <class Loss>
concept balancing_loss = std::is_same_v<Loss, balance::none> || std::is_same_v<Loss, balance::lbc> ||
    std::is_same_v<Loss, balance::switch_load> || std::is_same_v<Loss, balance::router_z> ||
    std::is_same_v<Loss, balance::dynamic>;

}  // namespace loramoe::moe
