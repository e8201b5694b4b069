#pragma once
// What the benchmarks of loramoe_bench share: seeded inputs, a LoRAMoE linear beside its frozen base
// with everything it needs made before the timing loop, the FLOP counts of its products, and the
// counters. main() and the run's context are in bench_main.cpp.
//
// FLOPs count the matrix products of the mathematics only (2 per multiply-add); element-wise work
// (the router's softmax, the gate scaling, SwiGLU) is O(T N r) or O(T F) and left out:
//   base      a frozen product, x W0^T or dx = dy W0                   2 T d_in d_out
//   adapter   its forward, P = x [A_cat; W_r]^T, y += (s g o h) B_cat^T
//                                                                      2 T d_in (N r + N) + 2 T N r d_out
//             its backward, dB_cat, dh = dy B_cat, d[A_cat; W_r], dx += dP [A_cat; W_r]: twice that
// so a LoRAMoE linear's forward is base + adapter, and its forward + backward (input gradient on, W0
// frozen) 2 base + 3 adapter. The reference path is credited with the same count as the fused one (its
// recomputation of h_i B_i^T in backward is not counted), so their GFLOP/s compare as their times do.

#include <algorithm>
#include <cstdint>
#include <utility>

#include <benchmark/benchmark.h>

#include <loramoe/core/gradient_mode.hpp>
#include <loramoe/core/parameters.hpp>
#include <loramoe/core/random.hpp>
#include <loramoe/core/tensor.hpp>
#include <loramoe/moe/lora_expert.hpp>
#include <loramoe/moe/loramoe_linear.hpp>
#include <loramoe/nn/linear.hpp>

namespace loramoe::bench {

// No balancing loss (balance::none), as the peers: the LBC costs O(T N) and is not what is measured.
template <class Backend = cpu>
using layer_type = moe::loramoe_linear<float, Backend, dynamic, dynamic, moe::balance::none>;

inline tensor<float> random_normal(shape_type shape, std::uint64_t seed, double scale) {
    tensor<float> t(std::move(shape));
    random_generator rng(seed);
    for (float& e : t.span()) e = static_cast<float>(scale * rng.normal());
    return t;
}

// One LoRAMoE linear (d_in -> d_out, N experts of rank r) with its frozen base W0, its parameters
// (values and gradients) and its `saved` workspace, in the backend's memory. Seeds `seed` (W0),
// `seed + 1` (A_cat, W_r) and `seed + 2` (B_cat).
template <class Backend>
struct adapted_linear_on {
    using layer_type = bench::layer_type<Backend>;

    tensor<float, Backend> w0;  // (d_out, d_in), frozen: no gradient
    layer_type layer;
    parameter_buffer<float, Backend> parameters;  // [A_cat; W_r] then B_cat, values and gradients
    typename layer_type::saved saved;
    typename layer_type::workspace workspace;

    adapted_linear_on(index d_in, index d_out, index experts, index rank, moe::execution_path path,
                      std::uint64_t seed)
        : w0(initial_w0(d_in, d_out, seed)),
          layer({.in_features = d_in, .out_features = d_out, .experts = experts, .rank = rank, .path = path}),
          parameters(layer.parameter_count()) {
        layer.set_base(base());
        layer.bind(parameters.all());
        // The official init, whose B_cat = 0 would make the experts add nothing, then small values in B_cat.
        layer.reset_parameters(seed + 1);
        const auto b = random_normal({d_out, experts * rank}, seed + 2, 0.01);
        upload(Backend{}, b.matrix(), layer.b());
    }

    static tensor<float, Backend> initial_w0(index d_in, index d_out, std::uint64_t seed) {
        tensor<float> w0({d_out, d_in});
        random_generator rng(seed);
        moe::kaiming_uniform(rng, w0.matrix());
        return to_backend<Backend>(w0);
    }

    nn::linear_weights<float> base() const { return {w0.matrix()}; }

    // y (T, d_out) = layer(x (T, d_in)), in training mode, keeping `saved` for backward.
    void forward(matrix_view<const float> x, matrix_view<float> y) {
        layer.forward(x, batch(x.rows), y, saved, workspace, /*training=*/true);
    }
    // dx (T, d_in) = (or +=, by `mode`) d layer / dx given dy (T, d_out); the parameter gradients accumulate.
    void backward(matrix_view<const float> x, matrix_view<const float> dy, matrix_view<float> dx,
                  gradient_mode mode = gradient_mode::overwrite) {
        layer.backward(x, dy, batch(x.rows), 0.0f, saved, workspace, dx, mode);
    }

    static moe::routing_batch<float> batch(index tokens) {
        return moe::routing_batch<float>::tokens_only(tokens);
    }
};
using adapted_linear = adapted_linear_on<cpu>;

// The FLOPs of one frozen product, x W0^T or dy W0, and of the adapter's forward (see the top).
inline double base_flops(index tokens, index d_in, index d_out) {
    return 2.0 * tokens * d_in * d_out;
}
inline double adapter_flops(index tokens, index d_in, index d_out, index experts, index rank) {
    return 2.0 * tokens * d_in * (experts * rank + experts) + 2.0 * tokens * experts * rank * d_out;
}

// GFLOP/s and tokens/s, from the FLOPs and tokens of one iteration.
inline void set_counters(benchmark::State& state, index tokens, double flops) {
    state.counters["GFLOP/s"] =
        benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["tokens/s"] =
        benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsIterationInvariantRate);
}

// The frozen products of the layer and FFN benchmarks' shapes, (M, N, K) with M = T = 512 and 2048
// tokens: BM_gemm_cpu's and BM_gemm_bf16_cpu's, so that the two compare cell by cell.
inline void product_shapes(benchmark::internal::Benchmark* b) {
    b->ArgNames({"M", "N", "K"});
    for (index tokens : {512, 2048})
        for (auto [n, k] : {std::pair<index, index>{1024, 1024},
                            {2816, 1024},
                            {1024, 2816},
                            {4096, 4096},
                            {11008, 4096},
                            {4096, 11008}})
            b->Args({tokens, n, k});
    b->UseRealTime()->Unit(benchmark::kMillisecond);
}

// GFLOP/s of one (M, N, K) product per iteration.
inline void set_product_counter(benchmark::State& state, index m, index n, index k) {
    state.counters["GFLOP/s"] =
        benchmark::Counter(2.0 * m * n * k * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace loramoe::bench
