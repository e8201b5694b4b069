#pragma once
// The localized balancing constraint (LBC) of LoRAMoE (Dou et al. 2023, section 3.2), as the
// official code computes it.
//
// For a batch of B samples with task types c_b and N experts with types e_n:
//   Q[b, n] = sum over the real tokens t of sample b of g_n(x_t)             (importance)
//   I[b, n] = 1 + delta if e_n == c_b else 1 - delta                          (localisation)
//   Z       = I o Q, flattened to K = B*N values, mean mu, unbiased variance v
//   lbc     = v / (mu^2 + 1e-10)   (statistic cv2: the official code, squared coefficient of variation)
//           = v / mu               (statistic var_over_mean: the paper's formula)
//           = 0                    when K <= 1, or when mu = 0 (every token is padding)
// Backward, with dv/dZ_k = 2 (Z_k - mu) / (K - 1) and dmu/dZ_k = 1 / K:
//   cv2:            dlbc/dZ_k = dv/dZ_k / (mu^2 + eps) - v * 2 mu / (mu^2 + eps)^2 / K
//   var_over_mean:  dlbc/dZ_k = dv/dZ_k / mu - v / mu^2 / K
//   dQ = I o dZ,   dg_n(x_t) = mask_t * dQ[b(t), n]
// Under data parallelism (routing_batch::share) the B samples are spread over the ranks: each rank sums
// its own rows of Q, the rows are added up over the ranks, and every rank computes the one-process lbc
// and dQ from the whole Q, then keeps its rows of dQ.

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

#include <loramoe/core/tensor.hpp>
#include <loramoe/cpu/routing.hpp>
#include <loramoe/moe/routing_batch.hpp>

namespace loramoe::moe {

enum class lbc_statistic { cv2, var_over_mean };

inline lbc_statistic parse_lbc_statistic(std::string_view name) {
    if (name == "cv2") return lbc_statistic::cv2;
    if (name == "var_over_mean") return lbc_statistic::var_over_mean;
    fail<value_error>("unknown LBC statistic '{}' (expected cv2 or var_over_mean)", name);
}

inline const char* to_string(lbc_statistic statistic) {
    return statistic == lbc_statistic::cv2 ? "cv2" : "var_over_mean";
}

// The official layout: the first floor(N/2) experts serve task type 1 (world knowledge), the rest type 0.
inline std::vector<std::int64_t> official_expert_types(index experts) {
    std::vector<std::int64_t> types(static_cast<std::size_t>(experts), 0);
    for (index n = 0; n < experts / 2; ++n) types[static_cast<std::size_t>(n)] = 1;
    return types;
}

namespace balance {

struct lbc {
    double delta = 0.1;  // blc_alpha
    lbc_statistic statistic = lbc_statistic::cv2;
    std::vector<std::int64_t> expert_types;  // one per expert; empty: official_expert_types(N)
};

}  // namespace balance

namespace detail {

inline std::vector<std::int64_t> expert_types_of(const balance::lbc& config, index experts) {
    if (config.expert_types.empty()) return official_expert_types(experts);
    if (static_cast<index>(config.expert_types.size()) != experts)
        fail<shape_error>("LBC: {} expert types for {} experts", config.expert_types.size(), experts);
    return config.expert_types;
}

// The LBC of the importances q (B, N) on the host; fills dq = d lbc / dq when dq is not empty.
template <class T>
T lbc_from_importance(const balance::lbc& config, matrix_view<const T> q,
                      std::span<const std::int64_t> task_types, matrix_view<T> dq) {
    const index samples = q.rows, experts = q.cols, k = samples * experts;
    if (static_cast<index>(task_types.size()) != samples)
        fail<shape_error>("LBC: {} task types for a batch of {} samples", task_types.size(), samples);
    const std::vector<std::int64_t> types = expert_types_of(config, experts);
    auto localisation = [&](index b, index n) {
        return types[static_cast<std::size_t>(n)] == task_types[static_cast<std::size_t>(b)]
                   ? 1.0 + config.delta
                   : 1.0 - config.delta;
    };
    if (!dq.empty())
        for (index b = 0; b < samples; ++b)
            for (index n = 0; n < experts; ++n) dq(b, n) = 0;
    if (k <= 1) return T(0);

    // In double whatever T is: K is small and the statistic subtracts nearby numbers.
    double mean = 0;
    for (index b = 0; b < samples; ++b)
        for (index n = 0; n < experts; ++n) mean += localisation(b, n) * q(b, n);
    mean /= static_cast<double>(k);
    double variance = 0;
    for (index b = 0; b < samples; ++b)
        for (index n = 0; n < experts; ++n) {
            const double d = localisation(b, n) * q(b, n) - mean;
            variance += d * d;
        }
    variance /= static_cast<double>(k - 1);

    if (mean == 0) return T(0);  // no real token: nothing to balance (var_over_mean would divide by 0)
    const bool cv2 = config.statistic == lbc_statistic::cv2;
    const double denominator = cv2 ? mean * mean + 1e-10 : mean;
    if (!dq.empty()) {
        const double dmean =
            cv2 ? -variance * 2 * mean / (denominator * denominator) : -variance / (mean * mean);
        for (index b = 0; b < samples; ++b)
            for (index n = 0; n < experts; ++n) {
                const double z = localisation(b, n) * q(b, n);
                const double dz = 2 * (z - mean) / static_cast<double>(k - 1) / denominator + dmean / k;
                dq(b, n) = static_cast<T>(localisation(b, n) * dz);
            }
    }
    return static_cast<T>(variance / denominator);
}

}  // namespace detail

namespace detail {

// Q of the whole batch (B, N) on the host: this rank's rows, summed over the ranks when it is shared
// (each rank adds its samples' rows to zeros, so the sum is every rank's Q as it computed it).
template <class T, class Backend>
tensor<T, cpu> whole_batch_importance(matrix_view<const T> gates, const routing_batch<T>& batch) {
    tensor<T, Backend> q({batch.samples, gates.cols});
    sum_gates_per_sample(Backend{}, gates, batch.mask, batch.samples, batch.tokens, q.matrix());
    tensor<T, cpu> mine = to_host(q);
    if (batch.share == nullptr) return mine;
    tensor<T, cpu> whole({batch.share->total_samples, gates.cols});
    whole.fill_with(T(0));
    std::copy(mine.span().begin(), mine.span().end(),
              whole.span().begin() + batch.share->first_sample * gates.cols);
    batch.share->ranks.all_reduce_sum(whole.span());
    return whole;
}

template <class T>
std::span<const std::int64_t> whole_batch_task_types(const routing_batch<T>& batch) {
    return batch.share ? batch.share->task_types : batch.task_types;
}

}  // namespace detail

template <class T, class Backend>
T balance_loss(Backend, const balance::lbc& config, matrix_view<const T> gates, matrix_view<const T>,
               const routing_batch<T>& batch) {
    const tensor<T, cpu> q = detail::whole_batch_importance<T, Backend>(gates, batch);
    return detail::lbc_from_importance<T>(config, q.matrix(), detail::whole_batch_task_types(batch), {});
}

// dgates += weight * d lbc / d gates (this rank's rows of dQ, when the batch is shared)
template <class T, class Backend>
void add_balance_gate_gradient(Backend, const balance::lbc& config, matrix_view<const T> gates,
                               matrix_view<const T>, const routing_batch<T>& batch, T weight,
                               matrix_view<T> dgates) {
    if (weight == T(0)) return;
    const tensor<T, cpu> q = detail::whole_batch_importance<T, Backend>(gates, batch);
    tensor<T, cpu> dq_host({q.dim(0), gates.cols});
    detail::lbc_from_importance<T>(config, q.matrix(), detail::whole_batch_task_types(batch),
                                   dq_host.matrix());
    for (T& value : dq_host.span()) value *= weight;
    const index first = batch.share ? batch.share->first_sample : 0;
    const tensor<T, Backend> dq = to_backend<Backend>(dq_host);
    add_per_sample_gradient(Backend{}, dq.matrix().row_block(first, batch.samples), batch.mask, batch.samples,
                            batch.tokens, dgates);
}

// The LBC has no direct dependence on the router logits.
template <class T, class Backend>
void add_balance_logit_gradient(Backend, const balance::lbc&, matrix_view<const T>, matrix_view<const T>,
                                const routing_batch<T>&, T, matrix_view<T>) {}

}  // namespace loramoe::moe
