// Benchmarks of one LoRAMoE linear in float on the CPU, over real model shapes:
//
//   BM_layer_base_fwd_cpu                  the frozen base alone, y = x W0^T
//   BM_layer_base_cpu                      ... and its input gradient, dx = dy W0 (W0 frozen: no dW0)
//   BM_layer_fwd_cpu/{fused,reference}     the whole layer's forward, on each execution path
//   BM_layer_fwdbwd_cpu/{fused,reference}  forward, then backward with the input gradient on
//
// each followed by its shape, /T:../d_in:../d_out:../N:../r:.. (T tokens, N experts of rank r); the
// case and the benchmarks are layer_case.hpp's, which cuda_bench.cpp registers for the GPU. The base
// benchmarks are the floor: the layer costs at least its frozen product(s), and the ratio of the two says
// what the N experts and the router add. bench/compare runs the PyTorch peer of every case
// (bench/peers/layer_peer.py) beside these and prints one table.
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

#include "layer_case.hpp"

namespace {

using namespace loramoe;
using namespace loramoe::bench;
using loramoe::index;  // not POSIX's index() from <strings.h>

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

[[maybe_unused]] const bool registered = register_layer_benchmarks<cpu>("cpu", shapes) && [] {
    benchmark::RegisterBenchmark("BM_sweep_base_cpu", BM_layer_base<cpu>)->Apply(sweep_shapes);
    benchmark::RegisterBenchmark("BM_sweep_fwdbwd_cpu", BM_layer_fwdbwd<cpu>, moe::execution_path::fused)
        ->Apply(sweep_shapes);
    return true;
}();

}  // namespace
