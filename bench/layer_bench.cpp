// Benchmarks of one LoRAMoE linear in float on the CPU, over real model shapes:
//
//   BM_layer_base_fwd_cpu                  the frozen base alone, y = x W0^T
//   BM_layer_base_fwdbwd_cpu               ... and its input gradient, dx = dy W0 (W0 frozen: no dW0)
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
// GFLOP/s counts the matrix products of the layer's mathematics only (the softmax and the gate
// scaling are O(T N r) and left out):
//   base forward       x W0^T                                         2 T d_in d_out
//   base backward      dx = dy W0                                     2 T d_in d_out
//   adapter forward    P = x [A_cat; W_r]^T, y += (s g o h) B_cat^T   2 T d_in (N r + N) + 2 T N r d_out
//   adapter backward   dB_cat, dh = dy B_cat, d[A_cat; W_r], dx += dP [A_cat; W_r]: twice the forward
// so a forward is base + adapter and a forward + backward 2 base + 3 adapter. Both paths are credited
// with the same count (the reference path's recomputation of h_i B_i^T in backward is not counted),
// so their GFLOP/s compare as their times do.
//
// The layer carries no balancing loss (balance::none), as the peer: the LBC costs O(T N) and is not
// what is measured. Threads: Eigen's, from OpenMP (OMP_NUM_THREADS, default all cores).

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include <benchmark/benchmark.h>
#include <Eigen/Core>

#include <loramoe/moe/loramoe_linear.hpp>
#include <loramoe/nn/linear.hpp>

namespace {

using namespace loramoe;
using loramoe::index;  // not POSIX's index() from <strings.h>

using layer_type = moe::loramoe_linear<float, cpu, dynamic, dynamic, moe::balance::none>;

tensor<float> random_normal(shape_type shape, std::uint64_t seed, double scale) {
    tensor<float> t(std::move(shape));
    random_generator rng(seed);
    for (float& e : t.span()) e = static_cast<float>(scale * rng.normal());
    return t;
}

// One benchmark case: the shape from the benchmark's arguments, seeded inputs, the layer with its
// parameters, its frozen base and its `saved` workspace, all made before the timing loop.
struct layer_case {
    index tokens, d_in, d_out, experts, rank;  // T, d_in, d_out, N, r
    const tensor<float> x, dy;                 // (T, d_in), (T, d_out)
    tensor<float> y, dx;                       // (T, d_out), (T, d_in)
    tensor<float> w0;                          // (d_out, d_in), frozen: no gradient
    layer_type layer;
    parameter_buffer<float> parameters;  // [A_cat; W_r] then B_cat, values and gradients
    layer_type::saved saved;

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
          w0({d_out, d_in}),
          layer({.in_features = d_in, .out_features = d_out, .experts = experts, .rank = rank, .path = path}),
          parameters(layer.parameter_count()) {
        random_generator rng(3);
        moe::kaiming_uniform(rng, w0.matrix());
        layer.set_base({w0.matrix()});
        layer.bind(parameters.all());
        layer.reset_parameters(4);  // the official init, whose B_cat = 0 would make the experts add nothing,
        const auto b = random_normal({d_out, experts * rank}, 5, 0.01);  // so B_cat gets small values
        std::ranges::copy(b.span(), layer.b().data);
    }

    moe::routing_batch<float> batch() const { return moe::routing_batch<float>::tokens_only(tokens); }
    nn::linear_weights<float> base() const { return {w0.matrix()}; }

    void forward() { layer.forward(x.matrix(), batch(), y.matrix(), saved, /*training=*/true); }
    void forward_backward() {
        forward();
        layer.backward(x.matrix(), dy.matrix(), batch(), 0.0f, saved, dx.matrix());
    }

    double base_flops() const { return 2.0 * tokens * d_in * d_out; }
    double adapter_flops() const {
        return 2.0 * tokens * d_in * (experts * rank + experts) + 2.0 * tokens * experts * rank * d_out;
    }
};

void set_counters(benchmark::State& state, const layer_case& c, double flops) {
    state.counters["GFLOP/s"] =
        benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["tokens/s"] =
        benchmark::Counter(static_cast<double>(c.tokens), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_layer_base_fwd_cpu(benchmark::State& state) {
    layer_case c(state, moe::execution_path::fused);
    for (auto _ : state) {
        nn::linear_forward(cpu{}, c.base(), c.x.matrix(), c.y.matrix());
        benchmark::DoNotOptimize(c.y.data());
    }
    set_counters(state, c, c.base_flops());
}

void BM_layer_base_fwdbwd_cpu(benchmark::State& state) {
    layer_case c(state, moe::execution_path::fused);
    for (auto _ : state) {
        nn::linear_forward(cpu{}, c.base(), c.x.matrix(), c.y.matrix());
        nn::linear_backward(cpu{}, c.base(), c.x.matrix(), c.dy.matrix(), c.dx.matrix());
        benchmark::DoNotOptimize(c.dx.data());
    }
    set_counters(state, c, 2 * c.base_flops());
}

void BM_layer_fwd_cpu(benchmark::State& state, moe::execution_path path) {
    layer_case c(state, path);
    c.forward();  // the first call sizes the workspace
    for (auto _ : state) {
        c.forward();
        benchmark::DoNotOptimize(c.y.data());
    }
    set_counters(state, c, c.base_flops() + c.adapter_flops());
}

// Parameter gradients accumulate over the iterations, as over micro-batches: the cost is the same.
void BM_layer_fwdbwd_cpu(benchmark::State& state, moe::execution_path path) {
    layer_case c(state, path);
    c.forward_backward();
    for (auto _ : state) {
        c.forward_backward();
        benchmark::DoNotOptimize(c.dx.data());
    }
    set_counters(state, c, 2 * c.base_flops() + 3 * c.adapter_flops());
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

BENCHMARK(BM_layer_base_fwd_cpu)->Apply(shapes);
BENCHMARK(BM_layer_base_fwdbwd_cpu)->Apply(shapes);
BENCHMARK_CAPTURE(BM_layer_fwd_cpu, fused, moe::execution_path::fused)->Apply(shapes);
BENCHMARK_CAPTURE(BM_layer_fwd_cpu, reference, moe::execution_path::reference)->Apply(shapes);
BENCHMARK_CAPTURE(BM_layer_fwdbwd_cpu, fused, moe::execution_path::fused)->Apply(shapes);
BENCHMARK_CAPTURE(BM_layer_fwdbwd_cpu, reference, moe::execution_path::reference)->Apply(shapes);

// How this program was compiled, as the compiler saw it.
constexpr const char* build =
#if defined(__OPTIMIZE__) && defined(NDEBUG)
    "optimized, NDEBUG"
#else
    "NOT an optimized -DNDEBUG build"
#endif
#if defined(__AVX512F__)
    ", AVX-512";
#elif defined(__AVX2__)
    ", AVX2";
#else
    ", no AVX2";
#endif

}  // namespace

// BENCHMARK_MAIN, plus what a reader of the JSON needs to reproduce the numbers.
int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("compiler", __VERSION__);
    benchmark::AddCustomContext("build", build);
    benchmark::AddCustomContext("eigen", std::to_string(EIGEN_WORLD_VERSION) + "." +
                                             std::to_string(EIGEN_MAJOR_VERSION) + "." +
                                             std::to_string(EIGEN_MINOR_VERSION));
    benchmark::AddCustomContext("eigen_threads", std::to_string(Eigen::nbThreads()));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
