// Benchmarks of LLaMA's FFN block (HF's LlamaMLP) with a LoRAMoE linear as each of its three linears,
// in float on the CPU, over real model shapes:
//
//   a = silu(x Wg^T) o (x Wu^T)        out = a Wd^T        (gate, up: d -> F; down: F -> d)
//
//   BM_ffn_base_fwd_cpu  the frozen block alone: its three frozen products and SwiGLU
//   BM_ffn_base_cpu      ... forward, then backward to the input gradient dx (the W frozen: no dW)
//   BM_ffn_fwd_cpu       the block with a LoRAMoE linear (fused path) beside each frozen W
//   BM_ffn_fwdbwd_cpu    ... forward, then backward with the input gradient on
//
// each followed by its shape, /T:../d:../F:../N:../r:.. (T tokens, d model, F ffn, N experts of rank r
// on each of the three linears). The forward and backward are llama_block's MLP steps, in its order
// (dx from gate overwritten, from up accumulated), run by one function for both variants, so that the
// base benchmarks are exactly the frozen products and SwiGLU that the LoRAMoE ones contain: their
// ratio says what the 3 N experts and the 3 routers add. bench/compare runs the PyTorch peer of every
// case (bench/peers/ffn_peer.py) beside these and prints one table.
//
//   cmake --build --preset release --target loramoe_bench
//   build/release/bin/loramoe_bench --benchmark_filter=ffn
//
// GFLOP/s counts the matrix products only (bench_support.hpp; SwiGLU is O(T F) and left out), the same
// count on every variant of a pass:
//   base      the three frozen products, or the three of their input gradients   3 * 2 T d F
//   adapter   the forward of the three adapters: gate and up (d -> F), down (F -> d)
//             2 [2 T d (N r + N) + 2 T N r F] + [2 T F (N r + N) + 2 T N r d]
// a forward is base + adapter, a forward + backward 2 base + 3 adapter (each adapter's backward is
// twice its forward). The blocks carry no balancing loss and no dropout, as the peer.

#include <benchmark/benchmark.h>

#include <loramoe/core/gemm.hpp>
#include <loramoe/core/gradient_mode.hpp>
#include <loramoe/cpu/gemm.hpp>

#include "bench_support.hpp"
#include "ffn_case.hpp"

namespace {

using namespace loramoe;
using namespace loramoe::bench;
using loramoe::index;  // not POSIX's index() from <strings.h>

// Each linear as its frozen product alone, y = in W^T and dx (=/+=) dy W: what loramoe_linear's base
// computes (nn::linear_forward and nn::linear_backward, no bias, no weight gradient).
void frozen_forward(adapted_linear& l, matrix_view<const float> in, matrix_view<float> y) {
    gemm(cpu{}, 1.0f, in, transpose::no, l.base().weight, transpose::yes, 0.0f, y);
}
void frozen_backward(adapted_linear& l, matrix_view<const float>, matrix_view<const float> dy,
                     matrix_view<float> dx, gradient_mode mode) {
    gemm(cpu{}, 1.0f, dy, transpose::no, l.base().weight, transpose::no,
         mode == gradient_mode::accumulate ? 1.0f : 0.0f, dx);
}

// Each linear as the whole LoRAMoE linear: the frozen product and the N experts with their router.
void adapted_forward(adapted_linear& l, matrix_view<const float> in, matrix_view<float> y) {
    l.forward(in, y);
}
void adapted_backward(adapted_linear& l, matrix_view<const float> in, matrix_view<const float> dy,
                      matrix_view<float> dx, gradient_mode mode) {
    l.backward(in, dy, dx, mode);
}

void BM_ffn_base_fwd_cpu(benchmark::State& state) {
    ffn_case c(state);
    for (auto _ : state) {
        c.forward(frozen_forward);
        benchmark::DoNotOptimize(c.out.data());
    }
    set_counters(state, c.tokens, c.base_flops());
}

void BM_ffn_base_cpu(benchmark::State& state) {
    ffn_case c(state);
    for (auto _ : state) {
        c.forward(frozen_forward);
        c.backward(frozen_backward);
        benchmark::DoNotOptimize(c.dx.data());
    }
    set_counters(state, c.tokens, 2 * c.base_flops());
}

void BM_ffn_fwd_cpu(benchmark::State& state) {
    ffn_case c(state);
    c.forward(adapted_forward);  // the first call sizes the layers' workspaces
    for (auto _ : state) {
        c.forward(adapted_forward);
        benchmark::DoNotOptimize(c.out.data());
    }
    set_counters(state, c.tokens, c.base_flops() + c.adapter_flops());
}

// Parameter gradients accumulate over the iterations, as over micro-batches: the cost is the same.
void BM_ffn_fwdbwd_cpu(benchmark::State& state) {
    ffn_case c(state);
    c.forward(adapted_forward);
    c.backward(adapted_backward);
    for (auto _ : state) {
        c.forward(adapted_forward);
        c.backward(adapted_backward);
        benchmark::DoNotOptimize(c.dx.data());
    }
    set_counters(state, c.tokens, 2 * c.base_flops() + 3 * c.adapter_flops());
}

// The paper's adapter (N = 6 experts of rank 4) on LLaMA FFN blocks.
void shapes(benchmark::internal::Benchmark* b) {
    b->ArgNames({"T", "d", "F", "N", "r"});
    b->Args({512, 1024, 2816, 6, 4});                 // a small LLaMA's FFN (F = 2.75 d, as LLaMA's sizing)
    b->Args({512, 4096, 11008, 6, 4});                // LLaMA-7B's FFN
    b->UseRealTime()->Unit(benchmark::kMillisecond);  // the products run on several threads
}

BENCHMARK(BM_ffn_base_fwd_cpu)->Apply(shapes);
BENCHMARK(BM_ffn_base_cpu)->Apply(shapes);
BENCHMARK(BM_ffn_fwd_cpu)->Apply(shapes);
BENCHMARK(BM_ffn_fwdbwd_cpu)->Apply(shapes);

}  // namespace
