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
#include <loramoe/core/gradient_mode.hpp>
#include <loramoe/core/parameters.hpp>
#include <loramoe/core/random.hpp>
#include <loramoe/core/tensor.hpp>
#include <loramoe/cpu/dropout.hpp>
#include <loramoe/cpu/elementwise.hpp>
#include <loramoe/cpu/gating.hpp>
#include <loramoe/cpu/gemm.hpp>
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

    // What forward writes and backward reads. Reused across calls: a layer called again with the same
    // shapes allocates nothing.
    struct saved {
        tensor<T, Backend> projected;  // (M, N*r + R): [A_i x of every expert | router logits], R = N or 0
        tensor<T, Backend> gates;      // (M, N)
        tensor<T, Backend> scaled;     // (M, N*r): s g_i A_i x, the fused path's input to B_cat
        T balance_loss = 0;            // unweighted
        bool dropout_active = false;
        std::uint64_t dropout_call = 0;
        token_rows dropout_rows;  // the rows' samples and positions, which key each token's mask
    };

    // Scratch of forward and backward, owned by the caller: one workspace serves any number of layers
    // called one after the other (a model's layers share one).
    struct workspace {
        tensor<T, Backend> grad_projected;  // (M, N*r + R)
        tensor<T, Backend> grad_gates;      // (M, N)
        tensor<T, Backend> dropped;         // (M, d_in): an expert's dropped-out input, or its input gradient
        tensor<T, Backend> expert_output;   // (M, d_out): the reference path's B_i A_i x
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
            if (const auto* lbc = std::get_if<balance::lbc>(&balance_))
                detail::expert_types_of(*lbc, experts());
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

    index parameter_count() const {
        return projected_width() * in_features() + out_features() * low_rank_width();
    }

    void bind(parameter_slice<T> parameters) {
        if (parameters.size != parameter_count())
            fail<shape_error>("loramoe_linear: bound to {} parameters, needs {}", parameters.size,
                              parameter_count());
        parameters_ = parameters;
    }

    void set_base(const base_linear<T>& base) {
        if (base.frozen_bf16.data != nullptr)
            require_shape(base.frozen_bf16, out_features(), in_features(), "base weight W0 (bfloat16)");
        else if (!base.empty())
            require_shape(base.weight, out_features(), in_features(), "base weight W0");
        base_ = base;
    }

    // The official initialisation: A_i and W_r Kaiming-uniform (a = sqrt(5)), B_i zero.
    void reset_parameters(std::uint64_t seed) {
        require_bound();
        random_generator rng(seed);
        tensor<T, cpu> host({parameter_count()});
        host.zero();
        kaiming_uniform(rng, matrix_view<T>(host.data(), projected_width(), in_features()));  // B stays zero
        copy_from_host(Backend{}, host.data(), parameters_.values, parameter_count());
    }

    matrix_view<T> a() const { return a_and_router(parameters_.values).row_block(0, low_rank_width()); }
    matrix_view<T> router() const {
        return a_and_router(parameters_.values).row_block(low_rank_width(), router_width());
    }
    matrix_view<T> b() const { return b_cat(parameters_.values); }
    matrix_view<T> a_grad() const { return a_and_router(parameters_.grads).row_block(0, low_rank_width()); }
    matrix_view<T> router_grad() const {
        return a_and_router(parameters_.grads).row_block(low_rank_width(), router_width());
    }
    matrix_view<T> b_grad() const { return b_cat(parameters_.grads); }

    // --- forward ------------------------------------------------------------------------------------

    // y = x W0^T + b + sum_i g_i s B_i A_i x; keeps in `state` what backward needs, and the balancing
    // loss of the gates over `batch` (unweighted) in state.balance_loss. Dropout acts in training only.
    void forward(matrix_view<const T> x, const routing_batch<T>& batch, matrix_view<T> y, saved& state,
                 workspace& scratch, bool training = false) {
        check_input(x, batch);
        require_shape(y, x.rows, out_features(), "loramoe_linear output y");
        state.projected.resize({x.rows, projected_width()});
        state.gates.resize({x.rows, experts()});
        state.dropout_active = training && config_.dropout > 0;
        if (state.dropout_active) {
            state.dropout_call = dropout_calls_++;
            state.dropout_rows = batch.sample_rows();
            check_dropout_keys(state.dropout_rows, batch.samples);
        }

        base_forward(x, y);
        input_product(x, state, scratch);
        gates_forward(router_logits(state.projected.matrix()), state.gates.matrix());
        if (config_.path == execution_path::fused)
            add_experts_fused(state, y);
        else
            add_experts_one_by_one(state, scratch, y);
        state.balance_loss = has_router() && batch.compute_balance
                                 ? balance_loss(Backend{}, balance_, as_const(state.gates.matrix()),
                                                as_const(router_logits(state.projected.matrix())), batch)
                                 : T(0);
    }

    // --- backward -----------------------------------------------------------------------------------

    // Given dy = dL/dy, for L = <y, dy> + balance_weight * balance_loss(gates) (docs/tutorial.md, 2-4):
    //   dB_cat += dy^T hs,  hs = s G o h            (G: each gate repeated r times)
    //   dhs = dy B_cat,  dh = s G o dhs,  dg_i = s sum over expert i's columns of dhs o h
    //   dg += balance_weight dloss/dg                (before the softmax's backward)
    //   dz = g o (dg - <g, dg>) + balance_weight dloss/dz
    //   dP = [dh | dz],  d[A_cat; W_r] += dP^T x,  dx = dy W0 + dP [A_cat; W_r]
    // and, when the base is trainable, dW0 += dy^T x, db += sum_t dy. dx may be empty (not needed);
    // it is overwritten, or accumulated into with gradient_mode::accumulate.
    void backward(matrix_view<const T> x, matrix_view<const T> dy, const routing_batch<T>& batch,
                  T balance_weight, const saved& state, workspace& scratch, matrix_view<T> dx,
                  gradient_mode dx_mode = gradient_mode::overwrite) {
        check_input(x, batch);
        if (parameters_.grads == nullptr && parameters_.size > 0)
            fail<error>("loramoe_linear: backward needs parameter gradients, but the bound slice has none");
        require_shape(dy, x.rows, out_features(), "loramoe_linear output gradient dy");
        if (!dx.empty()) require_shape(dx, x.rows, in_features(), "loramoe_linear input gradient dx");
        if (state.projected.size() != x.rows * projected_width())
            fail<shape_error>(
                "loramoe_linear: backward called with {} rows, but forward saved a different batch", x.rows);
        scratch.grad_projected.resize({x.rows, projected_width()});
        scratch.grad_gates.resize({x.rows, experts()});

        if (config_.path == execution_path::fused)
            experts_backward_fused(dy, state, scratch);
        else
            experts_backward_one_by_one(dy, state, scratch);
        if (has_router())
            router_backward(batch, batch.compute_balance ? balance_weight : T(0), state, scratch);
        input_product_backward(x, state, scratch);

        if (!base_.empty())
            nn::linear_backward(Backend{}, base_, x, dy, dx,
                                dx_mode);  // dx (=/+=) dy W0, and dW0, db if trainable
        else if (!dx.empty() && dx_mode == gradient_mode::overwrite)
            fill_matrix(Backend{}, dx, T(0));
        if (!dx.empty()) add_input_gradient(state, scratch, dx);
    }

private:
    index low_rank_width() const { return experts() * rank(); }
    index router_width() const { return has_router() ? experts() : 0; }
    index projected_width() const { return low_rank_width() + router_width(); }

    matrix_view<T> a_and_router(T* base) const { return {base, projected_width(), in_features()}; }
    matrix_view<T> b_cat(T* base) const {
        return {base + projected_width() * in_features(), out_features(), low_rank_width()};
    }
    // The column blocks of [h | z] (M, N*r + R), of its gradient, and expert i's r columns of h.
    template <class U>
    matrix_view<U> low_rank(matrix_view<U> projected) const {
        return projected.col_block(0, low_rank_width());
    }
    template <class U>
    matrix_view<U> router_logits(matrix_view<U> projected) const {
        return projected.col_block(low_rank_width(), router_width());
    }
    template <class U>
    matrix_view<U> expert_block(matrix_view<U> low_rank_columns, index i) const {
        return low_rank_columns.col_block(i * rank(), rank());
    }

    bool fused_input_product(const saved& state) const {
        return config_.path == execution_path::fused && !state.dropout_active;
    }

    void require_bound() const {
        if (!parameters_.bound() || parameters_.size != parameter_count())
            fail<error>("loramoe_linear: parameters are not bound (call bind() with a slice of {} values)",
                        parameter_count());
    }

    void check_input(matrix_view<const T> x, const routing_batch<T>& batch) const {
        require_bound();
        if (x.cols != in_features())
            fail<shape_error>("loramoe_linear input x has {} features, expected d_in = {}", x.cols,
                              in_features());
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

    // [A_i x | z] = x [A_cat; W_r]^T: one product, x read once; with dropout, each expert its own input.
    void input_product(matrix_view<const T> x, saved& state, workspace& scratch) const {
        const auto projected = state.projected.matrix();
        if (fused_input_product(state)) {
            gemm(Backend{}, T(1), x, transpose::no, as_const(a_and_router(parameters_.values)),
                 transpose::yes, T(0), projected);
            return;
        }
        if (has_router())
            gemm(Backend{}, T(1), x, transpose::no, as_const(router()), transpose::yes, T(0),
                 router_logits(projected));
        for (index i = 0; i < experts(); ++i)
            gemm(Backend{}, T(1), expert_input(x, i, state, scratch), transpose::no,
                 as_const(expert_a(a(), i, rank())), transpose::yes, T(0),
                 expert_block(low_rank(projected), i));
    }

    // y += (s g o h) B_cat^T
    void add_experts_fused(saved& state, matrix_view<T> y) const {
        state.scaled.resize({y.rows, low_rank_width()});
        scale_by_gates(Backend{}, as_const(low_rank(state.projected.matrix())),
                       as_const(state.gates.matrix()), scaling(), rank_, state.scaled.matrix());
        gemm(Backend{}, T(1), as_const(state.scaled.matrix()), transpose::no, as_const(b()), transpose::yes,
             T(1), y);
    }

    // y += s g_i o (h_i B_i^T), one expert at a time, as the official code
    void add_experts_one_by_one(const saved& state, workspace& scratch, matrix_view<T> y) const {
        scratch.expert_output.resize({y.rows, out_features()});
        const auto e = scratch.expert_output.matrix();
        const auto gates = state.gates.matrix();
        for (index i = 0; i < experts(); ++i) {
            gemm(Backend{}, T(1), as_const(expert_block(low_rank(state.projected.matrix()), i)),
                 transpose::no, as_const(expert_b(b(), i, rank())), transpose::yes, T(0), e);
            scale_rows(Backend{}, gates.data + i, gates.stride, scaling(), as_const(e), y, true);
        }
    }

    // dB_cat += dy^T (s g o h);  dh = s g o (dy B_cat);  dg_i = s <dy B_cat, h>_i
    void experts_backward_fused(matrix_view<const T> dy, const saved& state, workspace& scratch) const {
        const auto dh = low_rank(scratch.grad_projected.matrix());
        gemm(Backend{}, T(1), dy, transpose::yes, as_const(state.scaled.matrix()), transpose::no, T(1),
             b_grad());
        gemm(Backend{}, T(1), dy, transpose::no, as_const(b()), transpose::no, T(0), dh);
        scale_by_gates_backward(Backend{}, as_const(low_rank(state.projected.matrix())),
                                as_const(state.gates.matrix()), as_const(dh), scaling(), rank_, dh,
                                scratch.grad_gates.matrix());
    }

    // The same, one expert at a time.
    void experts_backward_one_by_one(matrix_view<const T> dy, const saved& state, workspace& scratch) const {
        scratch.expert_output.resize({dy.rows, out_features()});
        const auto e = scratch.expert_output.matrix();
        const auto gates = state.gates.matrix();
        const auto dgates = scratch.grad_gates.matrix();
        for (index i = 0; i < experts(); ++i) {
            const auto h_i = as_const(expert_block(low_rank(state.projected.matrix()), i));
            const auto b_i = as_const(expert_b(b(), i, rank()));
            gemm(Backend{}, T(1), h_i, transpose::no, b_i, transpose::yes, T(0), e);  // e = h_i B_i^T
            row_dots(Backend{}, dy, as_const(e), scaling(), dgates.data + i,
                     dgates.stride);                                                       // dg_i = s <dy, e>
            scale_rows(Backend{}, gates.data + i, gates.stride, scaling(), dy, e, false);  // de = s g_i dy
            gemm(Backend{}, T(1), as_const(e), transpose::yes, h_i, transpose::no, T(1),
                 expert_b(b_grad(), i, rank()));  // dB_i += de^T h_i
            gemm(Backend{}, T(1), as_const(e), transpose::no, b_i, transpose::no, T(0),
                 expert_block(low_rank(scratch.grad_projected.matrix()), i));  // dh_i = de B_i
        }
    }

    // dg += weight dloss/dg;  dz = g o (dg - <g, dg>) + weight dloss/dz
    void router_backward(const routing_batch<T>& batch, T weight, const saved& state,
                         workspace& scratch) const {
        const auto gates = as_const(state.gates.matrix());
        const auto logits = as_const(router_logits(state.projected.matrix()));
        const auto dlogits = router_logits(scratch.grad_projected.matrix());
        add_balance_gate_gradient(Backend{}, balance_, gates, logits, batch, weight,
                                  scratch.grad_gates.matrix());
        route_backward(Backend{}, gates, as_const(scratch.grad_gates.matrix()), dlogits);
        add_balance_logit_gradient(Backend{}, balance_, gates, logits, batch, weight, dlogits);
    }

    // d[A_cat; W_r] += dP^T x (each expert its own dropped-out input, with dropout)
    void input_product_backward(matrix_view<const T> x, const saved& state, workspace& scratch) const {
        const auto dp = scratch.grad_projected.matrix();
        if (fused_input_product(state)) {
            gemm(Backend{}, T(1), as_const(dp), transpose::yes, x, transpose::no, T(1),
                 a_and_router(parameters_.grads));
            return;
        }
        if (has_router())
            gemm(Backend{}, T(1), as_const(router_logits(dp)), transpose::yes, x, transpose::no, T(1),
                 router_grad());
        for (index i = 0; i < experts(); ++i)
            gemm(Backend{}, T(1), as_const(expert_block(low_rank(dp), i)), transpose::yes,
                 expert_input(x, i, state, scratch), transpose::no, T(1), expert_a(a_grad(), i, rank()));
    }

    // dx += dP [A_cat; W_r] (each expert's part through its dropout mask, with dropout)
    void add_input_gradient(const saved& state, workspace& scratch, matrix_view<T> dx) const {
        const auto dp = scratch.grad_projected.matrix();
        if (fused_input_product(state)) {
            gemm(Backend{}, T(1), as_const(dp), transpose::no, as_const(a_and_router(parameters_.values)),
                 transpose::no, T(1), dx);
            return;
        }
        if (has_router())
            gemm(Backend{}, T(1), as_const(router_logits(dp)), transpose::no, as_const(router()),
                 transpose::no, T(1), dx);
        for (index i = 0; i < experts(); ++i)
            add_expert_input_gradient(as_const(expert_block(low_rank(dp), i)), i, state, scratch, dx);
    }

    // Expert i's input: x itself, or x with expert i's own dropout mask.
    matrix_view<const T> expert_input(matrix_view<const T> x, index i, const saved& state,
                                      workspace& scratch) const {
        if (!state.dropout_active) return x;
        scratch.dropped.resize({x.rows, x.cols});
        dropout(Backend{}, config_.seed, dropout_stream(state, i), static_cast<T>(config_.dropout), x,
                scratch.dropped.matrix(), state.dropout_rows);
        return scratch.dropped.matrix();
    }

    // dx += (mask_i o) dh_i A_i
    void add_expert_input_gradient(matrix_view<const T> dh_i, index i, const saved& state, workspace& scratch,
                                   matrix_view<T> dx) const {
        const auto a_i = as_const(expert_a(a(), i, rank()));
        if (!state.dropout_active) {
            gemm(Backend{}, T(1), dh_i, transpose::no, a_i, transpose::no, T(1), dx);
            return;
        }
        scratch.dropped.resize({dx.rows, dx.cols});
        const auto dxi = scratch.dropped.matrix();
        gemm(Backend{}, T(1), dh_i, transpose::no, a_i, transpose::no, T(0), dxi);
        dropout(Backend{}, config_.seed, dropout_stream(state, i), static_cast<T>(config_.dropout),
                as_const(dxi), dxi, state.dropout_rows);
        axpy(Backend{}, T(1), as_const(dxi), dx);
    }

    // The masks are keyed by (sample, position, column): token_counter's range must hold the batch.
    void check_dropout_keys(token_rows rows, index samples) const {
        constexpr index positions = index{1} << token_counter_position_bits;
        constexpr index sample_limit = index{1} << (64 - token_counter_position_bits);
        if (rows.tokens > positions / in_features() || rows.first_sample + samples > sample_limit)
            fail<value_error>(
                "loramoe_linear: dropout masks are keyed by sample, position and column; {} samples of {} "
                "tokens x {} columns exceed the key's range (2^{} samples, 2^{} positions x columns)",
                rows.first_sample + samples, rows.tokens, in_features(), 64 - token_counter_position_bits,
                token_counter_position_bits);
    }

    std::uint64_t dropout_stream(const saved& state, index i) const {
        return state.dropout_call * static_cast<std::uint64_t>(experts()) + static_cast<std::uint64_t>(i);
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
