// Benchmarks of one LoRAMoE linear in float on the CPU, over real model shapes:
//
//   BM_layer_base_fwd_cpu                  the frozen base alone, y = x W0^T
//   BM_layer_base_cpu                      ... and its input gradient, dx = dy W0 (W0 frozen: no dW0)
//   BM_layer_fwd_cpu/{fused,reference}     the whole layer's forward, on each execution path
//   BM_layer_fwdbwd_cpu/{fused,reference}  forward, then backward with the input gradient on
//
// each followed by its shape, /T:../d_in:../d_out:../N:../r:.. (T tokens, N experts of rank r).
// The base benchmarks are the floor: the layer costs at least its frozen product(s), and the ratio of
// the two says what the N experts and the router add. bench/compare runs the PyTorch peer of every
// case (bench/peers/layer_peer.py) beside these and prints one table.
//
//   cmake --build --preset release --target loramoe_bench && build/release/bin/loramoe_bench
//
// GFLOP/s counts the matrix products of the layer's mathematics (bench_support.hpp): a forward is
// base + adapter, a forward + backward 2 base + 3 adapter, with
//   base      x W0^T, or dx = dy W0                                       2 T d_in d_out
//   adapter   P = x [A_cat; W_r]^T, y += (s g o h) B_cat^T (forward)      2 T d_in (N r + N) + 2 T N r d_out
// and its backward twice its forward. Both paths are credited with the same count, so their GFLOP/s
// compare as their times do.
//
// The layer carries no balancing loss (balance::none), as the peer: the LBC costs O(T N) and is not
// what is measured. Threads: the products', from OpenMP (OMP_NUM_THREADS, default all cores).

#include <benchmark/benchmark.h>

#include <loramoe/nn/linear.hpp>

#include "bench_support.hpp"

namespace {

using namespace loramoe;
using namespace loramoe::bench;
using loramoe::index;  // not POSIX's index() from <strings.h>

// One benchmark case: the shape from the benchmark's arguments, seeded inputs and outputs, and the
// layer beside its frozen base, all made before the timing loop.
struct layer_case {
    index tokens, d_in, d_out, experts, rank;  // T, d_in, d_out, N, r
    const tensor<float> x, dy;                 // (T, d_in), (T, d_out)
    tensor<float> y, dx;                       // (T, d_out), (T, d_in)
    adapted_linear linear;                     // W0 (d_out, d_in) frozen; N experts of rank r

    layer_case(const benchmark::State& state, moe::execution_path path)
        : tokens(state.range(0)),
          d_in(state.range(1)),
          d_out(state.range(2)),
          experts(state.range(3)),
          rank(state.range(4)),
          x(random_normal({tokens, d_in}, 1, 1.0)),
          dy(random_normal({tokens, d_out}, 2, 1.0)),
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

void BM_layer_base_fwd_cpu(benchmark::State& state) {
    layer_case c(state, moe::execution_path::fused);
    for (auto _ : state) {
        nn::linear_forward(cpu{}, c.base(), c.x.matrix(), c.y.matrix());
        benchmark::DoNotOptimize(c.y.data());
    }
    set_counters(state, c.tokens, c.base_flops());
}

void BM_layer_base_cpu(benchmark::State& state) {
    layer_case c(state, moe::execution_path::fused);
    for (auto _ : state) {
        nn::linear_forward(cpu{}, c.base(), c.x.matrix(), c.y.matrix());
        nn::linear_backward(cpu{}, c.base(), c.x.matrix(), c.dy.matrix(), c.dx.matrix());
        benchmark::DoNotOptimize(c.dx.data());
    }
    set_counters(state, c.tokens, 2 * c.base_flops());
}

void BM_layer_fwd_cpu(benchmark::State& state, moe::execution_path path) {
    layer_case c(state, path);
    c.forward();  // the first call sizes the workspace
    for (auto _ : state) {
        c.forward();
        benchmark::DoNotOptimize(c.y.data());
    }
    set_counters(state, c.tokens, c.base_flops() + c.adapter_flops());
}

// Parameter gradients accumulate over the iterations, as over micro-batches: the cost is the same.
void BM_layer_fwdbwd_cpu(benchmark::State& state, moe::execution_path path) {
    layer_case c(state, path);
    c.forward_backward();
    for (auto _ : state) {
        c.forward_backward();
        benchmark::DoNotOptimize(c.dx.data());
    }
    set_counters(state, c.tokens, 2 * c.base_flops() + 3 * c.adapter_flops());
}

// The paper's adapter (N = 6 experts of rank 4) on LLaMA-style projections.
void shapes(benchmark::internal::Benchmark* b) {
    b->ArgNames({"T", "d_in", "d_out", "N", "r"});
    b->Args({512, 1024, 1024, 6, 4});                 // a small model's projection
    b->Args({512, 4096, 4096, 6, 4});                 // LLaMA-7B's attention projections (q, k, v, o)
    b->Args({512, 4096, 11008, 6, 4});                // LLaMA-7B's FFN up and gate projections
    b->Args({2048, 4096, 4096, 6, 4});                // a full 2048-token sequence
    b->UseRealTime()->Unit(benchmark::kMillisecond);  // the products run on several threads
}

// How the cost grows (bench/sweep): on the small projection, one of T, N, r at a time varied around
// (T, N, r) = (512, 6, 4); the base alone on each shape too, so that the ratio is read in one run.
void sweep_shapes(benchmark::internal::Benchmark* b) {
    b->ArgNames({"T", "d_in", "d_out", "N", "r"});
    for (index experts : {1, 2, 4, 6, 8, 16}) b->Args({512, 1024, 1024, experts, 4});
    for (index rank : {8, 16, 32}) b->Args({512, 1024, 1024, 6, rank});
    for (index tokens : {128, 256, 1024, 2048, 4096}) b->Args({tokens, 1024, 1024, 6, 4});
    b->UseRealTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_layer_base_fwd_cpu)->Apply(shapes);
BENCHMARK(BM_layer_base_cpu)->Apply(shapes);
BENCHMARK_CAPTURE(BM_layer_fwd_cpu, fused, moe::execution_path::fused)->Apply(shapes);
BENCHMARK_CAPTURE(BM_layer_fwd_cpu, reference, moe::execution_path::reference)->Apply(shapes);
BENCHMARK_CAPTURE(BM_layer_fwdbwd_cpu, fused, moe::execution_path::fused)->Apply(shapes);
BENCHMARK_CAPTURE(BM_layer_fwdbwd_cpu, reference, moe::execution_path::reference)->Apply(shapes);

BENCHMARK(BM_layer_base_cpu)->Name("BM_sweep_base_cpu")->Apply(sweep_shapes);
BENCHMARK_CAPTURE(BM_layer_fwdbwd_cpu, fused, moe::execution_path::fused)->Name("BM_sweep_fwdbwd_cpu")->Apply(sweep_shapes);

}  // namespace
