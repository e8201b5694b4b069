#pragma once
// A LoRAMoE linear: a frozen linear with N LoRA experts beside it, mixed per token by a router.
//
//   y = x W0^T + b + sum_i g_i(x) * s * B_i A_i x,     g(x) = softmax(x W_r^T),  s = alpha / r
//
// Shapes (M = B*S tokens as rows): x (M, d_in), y (M, d_out), W0 (d_out, d_in), A_cat (N*r, d_in),
// W_r (N, d_in), B_cat (d_out, N*r), gates (M, N).
//
// The default path is fused: one product x [A_cat; W_r]^T gives every expert's A_i x and the router
// logits at once (x is read once), the gates scale the (M, N*r) low-rank activations, and one
// product with B_cat adds all experts to y. No (M, d_out) temporary per expert exists. The reference
// path loops over the experts one at a time, as the official code does; tests check both agree.
//
// Conventions of every module's backward: parameter gradients accumulate (+=), activation gradients
// overwrite (=). Frozen weights (a base_linear without gradient pointers) cost no gradient memory.

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <loramoe/core/extent.hpp>
#include <loramoe/core/gemm.hpp>
#include <loramoe/core/parameters.hpp>
#include <loramoe/core/random.hpp>
#include <loramoe/core/tensor.hpp>
#include <loramoe/cpu/dropout.hpp>
#include <loramoe/cpu/elementwise.hpp>
#include <loramoe/cpu/gating.hpp>
#include <loramoe/cpu/gemm.hpp>
#include <loramoe/core/gradient_mode.hpp>
#include <loramoe/moe/balance/balance.hpp>
#include <loramoe/moe/lora_expert.hpp>
#include <loramoe/moe/router.hpp>
#include <loramoe/moe/routing_batch.hpp>
#include <loramoe/nn/linear.hpp>

namespace loramoe::moe {

enum class execution_path { fused, reference };

struct loramoe_config {
    index in_features = 0;   // d_in
    index out_features = 0;  // d_out
    index experts = 6;       // N (lora_nums)
    index rank = 4;          // r
    double alpha = 32;       // lora_alpha: each expert is scaled by s = alpha / r
    bool router = true;      // false: one plain LoRA (N = 1) whose gate is fixed at 1
    index top_k = 0;         // 0: dense softmax over all N, as LoRAMoE; k: the k largest gates, renormalised
    double dropout = 0;      // lora_dropout on each expert's input, an independent mask per expert
    std::uint64_t seed = 0;  // of the dropout masks
    execution_path path = execution_path::fused;
};

// The linear beside the experts is an nn::linear_weights: W0 (d_out, d_in) and an optional bias,
// frozen unless gradient pointers are given (full fine-tuning). An empty weight means no base at all:
// the layer then computes the experts' sum alone (LoRAMoE beside a whole FFN block).
template <class T>
using base_linear = nn::linear_weights<T>;

template <scalar T, backend Backend = cpu, int Experts = dynamic, int Rank = dynamic,
          balancing_loss Balance = balance::lbc>
class loramoe_linear {
public:
    using value_type = T;
    using backend_type = Backend;
    using balance_type = Balance;

    // What forward keeps for backward, and backward's scratch. Reused across calls: a layer called
    // again with the same shapes allocates nothing.
    struct saved {
        tensor<T, Backend> projected;       // (M, N*r + R): [A_i x of every expert | router logits], R = N or 0
        tensor<T, Backend> gates;           // (M, N)
        tensor<T, Backend> scaled;          // (M, N*r): s g_i A_i x, the input of the product with B_cat
        tensor<T, Backend> grad_projected;  // (M, N*r + R)
        tensor<T, Backend> grad_gates;      // (M, N)
        tensor<T, Backend> dropped;         // (M, d_in): an expert's dropped-out input
        tensor<T, Backend> expert_output;   // (M, d_out): the reference path's B_i A_i x
        T balance_loss = 0;                 // unweighted
        bool dropout_active = false;
        std::uint64_t dropout_call = 0;
    };

    explicit loramoe_linear(const loramoe_config& config, Balance balance = {})
        : config_(config),
          balance_(std::move(balance)),
          experts_(config.experts, "the number of experts"),
          rank_(config.rank, "the LoRA rank") {
        if (config.in_features <= 0 || config.out_features <= 0)
            fail<value_error>("loramoe_linear: features must be positive, got d_in = {}, d_out = {}",
                              config.in_features, config.out_features);
        if (!std::isfinite(config.alpha)) fail<value_error>("loramoe_linear: lora_alpha is not finite");
        if (config.top_k < 0 || config.top_k > config.experts)
            fail<value_error>("loramoe_linear: top_k = {} is outside [0, {}]", config.top_k, config.experts);
        if (!(config.dropout >= 0 && config.dropout < 1))
            fail<value_error>("loramoe_linear: dropout = {} is outside [0, 1)", config.dropout);
        if (!config.router && config.experts != 1)
            fail<value_error>("loramoe_linear: without a router there is one expert (plain LoRA), not {}",
                              config.experts);
        if constexpr (std::is_same_v<Balance, balance::lbc>) detail::expert_types_of(balance_, experts());
        if constexpr (std::is_same_v<Balance, balance::dynamic>)
            if (const auto* lbc = std::get_if<balance::lbc>(&balance_)) detail::expert_types_of(*lbc, experts());
    }

    const loramoe_config& config() const { return config_; }
    const Balance& balance() const { return balance_; }
    index in_features() const { return config_.in_features; }
    index out_features() const { return config_.out_features; }
    index experts() const { return experts_.value(); }
    index rank() const { return rank_.value(); }
    T scaling() const { return static_cast<T>(config_.alpha / static_cast<double>(rank())); }
    bool has_router() const { return config_.router; }

    // Forward calls in training mode so far: each draws fresh dropout masks. A trainer resuming from
    // a checkpoint restores it, so that the resumed run draws the masks the uninterrupted one would.
    std::uint64_t dropout_calls() const { return dropout_calls_; }
    void set_dropout_calls(std::uint64_t calls) { dropout_calls_ = calls; }

    // --- parameters: [A_cat; W_r] (N*r + R, d_in), then B_cat (d_out, N*r), in one slice --------------

    index parameter_count() const { return projected_width() * in_features() + out_features() * low_rank_width(); }

    void bind(parameter_slice<T> parameters) {
        if (parameters.size != parameter_count())
            fail<shape_error>("loramoe_linear: bound to {} parameters, needs {}", parameters.size, parameter_count());
        parameters_ = parameters;
    }

    void set_base(const base_linear<T>& base) {
        if (!base.empty()) require_shape(base.weight, out_features(), in_features(), "base weight W0");
        base_ = base;
    }

    // The official initialisation: A_i and W_r Kaiming-uniform (a = sqrt(5)), B_i zero.
    void reset_parameters(std::uint64_t seed) {
        require_bound();
        random_generator rng(seed);
        tensor<T, cpu> host({parameter_count()});
        host.zero();
        kaiming_uniform(rng, matrix_view<T>(host.data(), projected_width(), in_features()));   // B stays zero
        copy_from_host(Backend{}, host.data(), parameters_.values, parameter_count());
    }

    matrix_view<T> a() const { return a_and_router(parameters_.values).row_block(0, low_rank_width()); }
    matrix_view<T> router() const { return a_and_router(parameters_.values).row_block(low_rank_width(), router_width()); }
    matrix_view<T> b() const { return b_cat(parameters_.values); }
    matrix_view<T> a_grad() const { return a_and_router(parameters_.grads).row_block(0, low_rank_width()); }
    matrix_view<T> router_grad() const {
        return a_and_router(parameters_.grads).row_block(low_rank_width(), router_width());
    }
    matrix_view<T> b_grad() const { return b_cat(parameters_.grads); }

    // --- forward ------------------------------------------------------------------------------------

    // y = x W0^T + b + sum_i g_i s B_i A_i x; keeps in `s` what backward needs, and the balancing
    // loss of the gates over `batch` (unweighted) in s.balance_loss. Dropout acts in training only.
    void forward(matrix_view<const T> x, const routing_batch<T>& batch, matrix_view<T> y, saved& s,
                 bool training = false) {
        check_input(x, batch);
        require_shape(y, x.rows, out_features(), "loramoe_linear output y");
        const index m = x.rows;
        s.projected.resize({m, projected_width()});
        s.gates.resize({m, experts()});
        s.dropout_active = training && config_.dropout > 0;
        if (s.dropout_active) s.dropout_call = dropout_calls_++;
        const auto h = low_rank(s.projected.matrix());
        const auto logits = router_logits(s.projected.matrix());
        const auto gates = s.gates.matrix();

        base_forward(x, y);
        if (fused_input_product(s)) {
            // [A_i x | z] = x [A_cat; W_r]^T: one product, x read once
            gemm(Backend{}, T(1), x, transpose::no, as_const(a_and_router(parameters_.values)), transpose::yes,
                 T(0), s.projected.matrix());
        } else {
            if (has_router()) gemm(Backend{}, T(1), x, transpose::no, as_const(router()), transpose::yes, T(0), logits);
            for (index i = 0; i < experts(); ++i)
                gemm(Backend{}, T(1), expert_input(x, i, s), transpose::no, as_const(expert_a(a(), i, rank())),
                     transpose::yes, T(0), expert_block(h, i));
        }
        gates_forward(logits, gates);

        if (config_.path == execution_path::fused) {
            // y += (s g o h) B_cat^T
            s.scaled.resize({m, low_rank_width()});
            scale_by_gates(Backend{}, as_const(h), as_const(gates), scaling(), rank_, s.scaled.matrix());
            gemm(Backend{}, T(1), as_const(s.scaled.matrix()), transpose::no, as_const(b()), transpose::yes, T(1), y);
        } else {
            // y += s g_i o (h_i B_i^T), one expert at a time
            s.expert_output.resize({m, out_features()});
            const auto e = s.expert_output.matrix();
            for (index i = 0; i < experts(); ++i) {
                gemm(Backend{}, T(1), as_const(expert_block(h, i)), transpose::no, as_const(expert_b(b(), i, rank())),
                     transpose::yes, T(0), e);
                scale_rows(Backend{}, gates.data + i, gates.stride, scaling(), as_const(e), y, true);
            }
        }
        s.balance_loss = has_router() && batch.compute_balance
                             ? balance_loss(Backend{}, balance_, as_const(gates), as_const(logits), batch)
                             : T(0);
    }

    // --- backward -----------------------------------------------------------------------------------

    // Given dy = dL/dy, for L = <y, dy> + balance_weight * balance_loss(gates):
    //   dB_cat += dy^T (s g o h)                         dhs = dy B_cat
    //   dh = s g o dhs                                   dg_i = s sum_j dhs_ij h_ij  + balance_weight dloss/dg_i
    //   dz = g o (dg - <g, dg>)                          dP = [dh | dz]
    //   d[A_cat; W_r] += dP^T x                          dx = dy W0 + dP [A_cat; W_r]
    // and, when the base is trainable, dW0 += dy^T x, db += sum_t dy. dx may be empty (not needed);
    // it is overwritten, or accumulated into with gradient_mode::accumulate.
    void backward(matrix_view<const T> x, matrix_view<const T> dy, const routing_batch<T>& batch, T balance_weight,
                  saved& s, matrix_view<T> dx, gradient_mode dx_mode = gradient_mode::overwrite) {
        check_input(x, batch);
        if (parameters_.grads == nullptr && parameters_.size > 0)
            fail<error>("loramoe_linear: backward needs parameter gradients, but the bound slice has none");
        require_shape(dy, x.rows, out_features(), "loramoe_linear output gradient dy");
        if (!dx.empty()) require_shape(dx, x.rows, in_features(), "loramoe_linear input gradient dx");
        if (s.projected.size() != x.rows * projected_width())
            fail<shape_error>("loramoe_linear: backward called with {} rows, but forward saved a different batch",
                              x.rows);
        const index m = x.rows;
        s.grad_projected.resize({m, projected_width()});
        s.grad_gates.resize({m, experts()});
        const auto h = low_rank(s.projected.matrix());
        const auto logits = router_logits(s.projected.matrix());
        const auto gates = s.gates.matrix();
        const auto dh = low_rank(s.grad_projected.matrix());
        const auto dlogits = router_logits(s.grad_projected.matrix());
        const auto dgates = s.grad_gates.matrix();

        if (config_.path == execution_path::fused) {
            gemm(Backend{}, T(1), dy, transpose::yes, as_const(s.scaled.matrix()), transpose::no, T(1), b_grad());
            gemm(Backend{}, T(1), dy, transpose::no, as_const(b()), transpose::no, T(0), dh);
            scale_by_gates_backward(Backend{}, as_const(h), as_const(gates), as_const(dh), scaling(), rank_, dh, dgates);
        } else {
            s.expert_output.resize({m, out_features()});
            const auto e = s.expert_output.matrix();
            for (index i = 0; i < experts(); ++i) {
                const auto h_i = as_const(expert_block(h, i));
                const auto b_i = as_const(expert_b(b(), i, rank()));
                gemm(Backend{}, T(1), h_i, transpose::no, b_i, transpose::yes, T(0), e);           // e = h_i B_i^T
                row_dots(Backend{}, dy, as_const(e), scaling(), dgates.data + i, dgates.stride);  // dg_i = s <dy, e>
                scale_rows(Backend{}, gates.data + i, gates.stride, scaling(), dy, e, false);      // de = s g_i dy
                gemm(Backend{}, T(1), as_const(e), transpose::yes, h_i, transpose::no, T(1),
                     expert_b(b_grad(), i, rank()));                                                // dB_i += de^T h_i
                gemm(Backend{}, T(1), as_const(e), transpose::no, b_i, transpose::no, T(0),
                     expert_block(dh, i));                                                          // dh_i = de B_i
            }
        }

        if (has_router()) {
            const T weight = batch.compute_balance ? balance_weight : T(0);
            add_balance_gate_gradient(Backend{}, balance_, as_const(gates), as_const(logits), batch, weight, dgates);
            route_backward(Backend{}, as_const(gates), as_const(dgates), dlogits);
            add_balance_logit_gradient(Backend{}, balance_, as_const(gates), as_const(logits), batch, weight, dlogits);
        }

        const bool joint = fused_input_product(s);
        if (joint) {
            gemm(Backend{}, T(1), as_const(s.grad_projected.matrix()), transpose::yes, x, transpose::no, T(1),
                 a_and_router(parameters_.grads));
        } else {
            if (has_router()) gemm(Backend{}, T(1), as_const(dlogits), transpose::yes, x, transpose::no, T(1), router_grad());
            for (index i = 0; i < experts(); ++i)
                gemm(Backend{}, T(1), as_const(expert_block(dh, i)), transpose::yes, expert_input(x, i, s),
                     transpose::no, T(1), expert_a(a_grad(), i, rank()));
        }

        if (!base_.empty())
            nn::linear_backward(Backend{}, base_, x, dy, dx, dx_mode);   // dx (=/+=) dy W0, and dW0, db if trainable
        else if (!dx.empty() && dx_mode == gradient_mode::overwrite)
            fill_matrix(Backend{}, dx, T(0));
        if (!dx.empty()) {
            if (joint) {
                gemm(Backend{}, T(1), as_const(s.grad_projected.matrix()), transpose::no,
                     as_const(a_and_router(parameters_.values)), transpose::no, T(1), dx);
            } else {
                if (has_router()) gemm(Backend{}, T(1), as_const(dlogits), transpose::no, as_const(router()), transpose::no, T(1), dx);
                for (index i = 0; i < experts(); ++i) add_expert_input_gradient(as_const(expert_block(dh, i)), i, s, dx);
            }
        }
    }

private:
    index low_rank_width() const { return experts() * rank(); }
    index router_width() const { return has_router() ? experts() : 0; }
    index projected_width() const { return low_rank_width() + router_width(); }

    matrix_view<T> a_and_router(T* base) const { return {base, projected_width(), in_features()}; }
    matrix_view<T> b_cat(T* base) const {
        return {base + projected_width() * in_features(), out_features(), low_rank_width()};
    }
    matrix_view<T> low_rank(matrix_view<T> projected) const { return projected.col_block(0, low_rank_width()); }
    matrix_view<T> router_logits(matrix_view<T> projected) const {
        return projected.col_block(low_rank_width(), router_width());
    }
    matrix_view<T> expert_block(matrix_view<T> low_rank_columns, index i) const {
        return low_rank_columns.col_block(i * rank(), rank());
    }

    bool fused_input_product(const saved& s) const {
        return config_.path == execution_path::fused && !s.dropout_active;
    }

    void require_bound() const {
        if (!parameters_.bound() || parameters_.size != parameter_count())
            fail<error>("loramoe_linear: parameters are not bound (call bind() with a slice of {} values)",
                        parameter_count());
    }

    void check_input(matrix_view<const T> x, const routing_batch<T>& batch) const {
        require_bound();
        if (x.cols != in_features())
            fail<shape_error>("loramoe_linear input x has {} features, expected d_in = {}", x.cols, in_features());
        check_routing_batch(batch, x.rows, "loramoe_linear");
    }

    void base_forward(matrix_view<const T> x, matrix_view<T> y) const {
        if (base_.empty())
            fill_matrix(Backend{}, y, T(0));
        else
            nn::linear_forward(Backend{}, base_, x, y);
    }

    void gates_forward(matrix_view<T> logits, matrix_view<T> gates) const {
        if (has_router())
            route(Backend{}, as_const(logits), config_.top_k, gates);
        else
            fill_matrix(Backend{}, gates, T(1));
    }

    // Expert i's input: x itself, or x with expert i's own dropout mask.
    matrix_view<const T> expert_input(matrix_view<const T> x, index i, saved& s) const {
        if (!s.dropout_active) return x;
        s.dropped.resize({x.rows, x.cols});
        dropout(Backend{}, config_.seed, dropout_stream(s, i), static_cast<T>(config_.dropout), x, s.dropped.matrix());
        return s.dropped.matrix();
    }

    // dx += (mask_i o) dh_i A_i
    void add_expert_input_gradient(matrix_view<const T> dh_i, index i, saved& s, matrix_view<T> dx) const {
        const auto a_i = as_const(expert_a(a(), i, rank()));
        if (!s.dropout_active) {
            gemm(Backend{}, T(1), dh_i, transpose::no, a_i, transpose::no, T(1), dx);
            return;
        }
        s.dropped.resize({dx.rows, dx.cols});
        const auto dxi = s.dropped.matrix();
        gemm(Backend{}, T(1), dh_i, transpose::no, a_i, transpose::no, T(0), dxi);
        dropout(Backend{}, config_.seed, dropout_stream(s, i), static_cast<T>(config_.dropout), as_const(dxi), dxi);
        axpy(Backend{}, T(1), as_const(dxi), dx);
    }

    std::uint64_t dropout_stream(const saved& s, index i) const {
        return s.dropout_call * static_cast<std::uint64_t>(experts()) + static_cast<std::uint64_t>(i);
    }

    loramoe_config config_;
    Balance balance_;
    extent<Experts> experts_;
    extent<Rank> rank_;
    parameter_slice<T> parameters_;
    base_linear<T> base_;
    std::uint64_t dropout_calls_ = 0;
};

}  // namespace loramoe::moe
