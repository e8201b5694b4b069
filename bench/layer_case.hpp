#pragma once
// One LoRAMoE linear in float beside its frozen base, on a backend (layer_bench.cpp on the CPU,
// cuda_bench.cpp on a GPU), and the benchmarks of it that both register:
//
//   BM_layer_base_fwd<Backend>     the frozen base alone, y = x W0^T
//   BM_layer_base<Backend>         ... and its input gradient, dx = dy W0 (W0 frozen: no dW0)
//   BM_layer_fwd<Backend>          the whole layer's forward, on the execution path given
//   BM_layer_fwdbwd<Backend>       forward, then backward with the input gradient on
//
// with the shape from the benchmark's arguments (T, d_in, d_out, N, r). Every iteration ends with
// synchronize(Backend): a GPU's work is queued on a stream, and timing the queueing would measure nothing.
// GFLOP/s as bench_support.hpp counts them: a forward is base + adapter, a forward + backward 2 base + 3
// adapter.

#include <string>
#include <utility>

#include <benchmark/benchmark.h>

#include <loramoe/nn/linear.hpp>

#include "bench_support.hpp"

namespace loramoe::bench {

// One benchmark case: the shape, seeded inputs and outputs, and the layer beside its frozen base, all
// made (in the backend's memory) before the timing loop.
template <class Backend>
struct layer_case {
    index tokens, d_in, d_out, experts, rank;  // T, d_in, d_out, N, r
    const tensor<float, Backend> x, dy;        // (T, d_in), (T, d_out)
    tensor<float, Backend> y, dx;              // (T, d_out), (T, d_in)
    adapted_linear_on<Backend> linear;         // W0 (d_out, d_in) frozen; N experts of rank r

    layer_case(const benchmark::State& state, moe::execution_path path)
        : tokens(state.range(0)),
          d_in(state.range(1)),
          d_out(state.range(2)),
          experts(state.range(3)),
          rank(state.range(4)),
          x(to_backend<Backend>(random_normal({tokens, d_in}, 1, 1.0))),
          dy(to_backend<Backend>(random_normal({tokens, d_out}, 2, 1.0))),
          y({tokens, d_out}),
          dx({tokens, d_in}),
          linear(d_in, d_out, experts, rank, path, 3) {}

    nn::linear_weights<float> base() const { return linear.base(); }

    void forward() { linear.forward(x.matrix(), y.matrix()); }
    void forward_backward() {
        forward();
        linear.backward(x.matrix(), dy.matrix(), dx.matrix());
    }

    double base_flops() const { return bench::base_flops(tokens, d_in, d_out); }
    double adapter_flops() const { return bench::adapter_flops(tokens, d_in, d_out, experts, rank); }
};

template <class Backend>
void BM_layer_base_fwd(benchmark::State& state) {
    layer_case<Backend> c(state, moe::execution_path::fused);
    for (auto _ : state) {
        nn::linear_forward(Backend{}, c.base(), c.x.matrix(), c.y.matrix());
        synchronize(Backend{});
        benchmark::DoNotOptimize(c.y.data());
    }
    set_counters(state, c.tokens, c.base_flops());
}

template <class Backend>
void BM_layer_base(benchmark::State& state) {
    layer_case<Backend> c(state, moe::execution_path::fused);
    for (auto _ : state) {
        nn::linear_forward(Backend{}, c.base(), c.x.matrix(), c.y.matrix());
        nn::linear_backward(Backend{}, c.base(), c.x.matrix(), c.dy.matrix(), c.dx.matrix());
        synchronize(Backend{});
        benchmark::DoNotOptimize(c.dx.data());
    }
    set_counters(state, c.tokens, 2 * c.base_flops());
}

template <class Backend>
void BM_layer_fwd(benchmark::State& state, moe::execution_path path) {
    layer_case<Backend> c(state, path);
    c.forward();  // the first call sizes the workspace
    synchronize(Backend{});
    for (auto _ : state) {
        c.forward();
        synchronize(Backend{});
        benchmark::DoNotOptimize(c.y.data());
    }
    set_counters(state, c.tokens, c.base_flops() + c.adapter_flops());
}

// Parameter gradients accumulate over the iterations, as over micro-batches: the cost is the same.
template <class Backend>
void BM_layer_fwdbwd(benchmark::State& state, moe::execution_path path) {
    layer_case<Backend> c(state, path);
    c.forward_backward();
    synchronize(Backend{});
    for (auto _ : state) {
        c.forward_backward();
        synchronize(Backend{});
        benchmark::DoNotOptimize(c.dx.data());
    }
    set_counters(state, c.tokens, 2 * c.base_flops() + 3 * c.adapter_flops());
}

// Registers the four benchmarks for Backend, named as bench/compare reads them: BM_layer_base_fwd_<name>,
// BM_layer_base_<name>, BM_layer_fwd_<name>/{fused,reference}, BM_layer_fwdbwd_<name>/{fused,reference},
// each over the shapes `shapes` gives. Returns true, to initialise a static with.
template <class Backend>
bool register_layer_benchmarks(const std::string& name, void (*shapes)(benchmark::internal::Benchmark*)) {
    benchmark::RegisterBenchmark(("BM_layer_base_fwd_" + name).c_str(), BM_layer_base_fwd<Backend>)
        ->Apply(shapes);
    benchmark::RegisterBenchmark(("BM_layer_base_" + name).c_str(), BM_layer_base<Backend>)->Apply(shapes);
    for (auto [path, label] : {std::pair{moe::execution_path::fused, "fused"},
                               std::pair{moe::execution_path::reference, "reference"}}) {
        benchmark::RegisterBenchmark(("BM_layer_fwd_" + name + "/" + label).c_str(), BM_layer_fwd<Backend>,
                                     path)
            ->Apply(shapes);
        benchmark::RegisterBenchmark(("BM_layer_fwdbwd_" + name + "/" + label).c_str(),
                                     BM_layer_fwdbwd<Backend>, path)
            ->Apply(shapes);
    }
    return true;
}

}  // namespace loramoe::bench
