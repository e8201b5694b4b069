// Frozen weights in bfloat16 (row-major, as checkpoints hold them), multiplied by AVX512-BF16 dot
// products with float sums (cpu/bf16_gemm.hpp), against the float path of gemm_bench.cpp and
// ffn_bench.cpp, and against the machine's bfloat16 peak:
//
//   BM_bf16_peak/threads:..   VDPBF16PS on registers only, 12 independent chains per thread, on each
//     thread of an OpenMP team: the most the products can reach (GFLOP/s = 64 flops per instruction:
//     16 lanes, 2 products and 2 sums each).
//   BM_read_bandwidth/threads:..   a 2 GiB buffer summed by an OpenMP team: the memory's read rate,
//     the bound of decoding, which reads every frozen weight once per token (GB/s).
//
//   BM_gemm_bf16_cpu/<layout>/M:../N:../K:..   c (M, N) = a (M, K) op(W), M = T tokens, W in bfloat16
//     forward   y  = x W^T     W (N, K)     (the frozen product)
//     dx        dx = dy W      W (K, N)     (its input gradient)
//   on BM_gemm_cpu's shapes; GFLOP/s = 2 M N K per call.
//
//   BM_ffn_bf16_fwdbwd_cpu/T:../d:../F:../N:../r:..   BM_ffn_fwdbwd_cpu's block (ffn_case.hpp), forward
//     then backward with the input gradient on, its three frozen W in bfloat16 and everything else in
//     float: each LoRAMoE linear runs without a base (loramoe_linear's empty base: the experts' sum
//     alone, fp32), then the bfloat16 product adds x W^T to its output, dy W to its dx. Same FLOP count.
//     Two more counters say what bfloat16 costs in accuracy, measured once before the timing loop on
//     the same inputs: out_rel_err and dx_rel_err, ||bf16 - fp32|| / ||fp32|| (Frobenius) of the
//     block's output and input gradient against the float path's (Google Benchmark prints 2.1e-3 as
//     2.1m).
//
//   cmake --build --preset release --target loramoe_bench
//   OMP_NUM_THREADS=2 build/release/bin/loramoe_bench --benchmark_filter='bf16|BM_ffn_fwdbwd_cpu'

#include <cmath>
#include <utility>

#include <omp.h>

#include <Eigen/Core>

#if LORAMOE_NATIVE_BF16
#include <immintrin.h>
#endif

#include <benchmark/benchmark.h>

#include <loramoe/core/gemm.hpp>
#include <loramoe/core/gradient_mode.hpp>
#include <loramoe/cpu/bf16_gemm.hpp>
#include <loramoe/cpu/bfloat16.hpp>

#include "bench_support.hpp"
#include "ffn_case.hpp"

namespace {

using namespace loramoe;
using namespace loramoe::bench;
using loramoe::index;  // not POSIX's index() from <strings.h>

constexpr const char* product_kind = LORAMOE_NATIVE_BF16 ? "AVX512-BF16" : "no AVX512-BF16: float fallback";

#if LORAMOE_NATIVE_BF16
// VDPBF16PS `rounds` x 12 times on one thread, in 12 chains (more than its latency x throughput).
__attribute__((noinline)) float dot_chains(index rounds) {
    __m512 acc[12];
    for (auto& a : acc) a = _mm512_setzero_ps();
    const __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80), y = (__m512bh)_mm512_set1_epi32(0x3c003c00);
    for (index r = 0; r < rounds; ++r)
#pragma GCC unroll 12
        for (auto& a : acc) a = _mm512_dpbf16_ps(a, x, y);
    __m512 sum = acc[0];
    for (int i = 1; i < 12; ++i) sum = _mm512_add_ps(sum, acc[i]);
    return _mm512_reduce_add_ps(sum);
}

void BM_bf16_peak(benchmark::State& state) {
    const int threads = static_cast<int>(state.range(0));
    const index rounds = index{1} << 24;
    float sink = 0;
    for (auto _ : state) {
#pragma omp parallel num_threads(threads) reduction(+ : sink)
        sink += dot_chains(rounds);
        benchmark::DoNotOptimize(sink);
    }
    const double flops = 64.0 * 12 * static_cast<double>(rounds) * threads;
    state.counters["GFLOP/s"] =
        benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_bf16_peak)->ArgName("threads")->DenseRange(1, 2)->UseRealTime()->Unit(benchmark::kMillisecond);
#endif

void BM_read_bandwidth(benchmark::State& state) {
    const int threads = static_cast<int>(state.range(0));
    const index count = index{1} << 29;  // floats: 2 GiB, far past the caches
    tensor<float> buffer({count});
    buffer.fill_with(1.0f);
    const float* values = buffer.data();
    for (auto _ : state) {
        float sum = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sum)
        {
            const index part = omp_get_thread_num(), parts = omp_get_num_threads();
            const index first = count * part / parts, last = count * (part + 1) / parts;
            sum += Eigen::Map<const Eigen::ArrayXf>(values + first, last - first).sum();  // vectorized
        }
        benchmark::DoNotOptimize(sum);
    }
    state.counters["GB/s"] = benchmark::Counter(4.0 * static_cast<double>(count) * 1e-9,
                                                benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_read_bandwidth)
    ->ArgName("threads")
    ->DenseRange(1, 2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

enum class layout { forward, dx };

void BM_gemm_bf16_cpu(benchmark::State& state, layout l) {
    const index m = state.range(0), n = state.range(1), k = state.range(2);
    const bool forward = l == layout::forward;
    const auto a = random_normal({m, k}, 1, 1.0);
    const auto w_float = random_normal(forward ? shape_type{n, k} : shape_type{k, n}, 2, 1.0);
    const tensor<bfloat16> w = rounded_to_bfloat16(w_float.matrix());
    tensor<float> c({m, n});
    for (auto _ : state) {
        gemm(cpu{}, 1.0f, a.matrix(), w.matrix(), forward ? transpose::yes : transpose::no, 0.0f, c.matrix());
        benchmark::DoNotOptimize(c.data());
    }
    set_product_counter(state, m, n, k);
    state.SetLabel(product_kind);
}

BENCHMARK_CAPTURE(BM_gemm_bf16_cpu, forward, layout::forward)->Apply(product_shapes);
BENCHMARK_CAPTURE(BM_gemm_bf16_cpu, dx, layout::dx)->Apply(product_shapes);

// The block's three frozen W in bfloat16, beside an ffn_case whose LoRAMoE linears lose their float base.
struct bf16_bases {
    ffn_case& block;
    tensor<bfloat16> gate, up, down;  // Wg, Wu (F, d), Wd (d, F)

    explicit bf16_bases(ffn_case& c)
        : block(c),
          gate(rounded_to_bfloat16(c.gate_proj.w0.matrix())),
          up(rounded_to_bfloat16(c.up_proj.w0.matrix())),
          down(rounded_to_bfloat16(c.down_proj.w0.matrix())) {
        for (adapted_linear* l : {&c.gate_proj, &c.up_proj, &c.down_proj}) l->layer.set_base({});
    }

    matrix_view<const bfloat16> of(const adapted_linear& l) const {
        return (&l == &block.gate_proj ? gate : &l == &block.up_proj ? up : down).matrix();
    }

    // y = experts(in) (the layer without base), then y += in W^T.
    void forward() {
        block.forward([this](adapted_linear& l, matrix_view<const float> in, matrix_view<float> y) {
            l.forward(in, y);
            gemm(cpu{}, 1.0f, in, of(l), transpose::yes, 1.0f, y);
        });
    }
    // dx (=/+=) the experts' input gradient, then dx += dy W.
    void backward() {
        block.backward([this](adapted_linear& l, matrix_view<const float> in, matrix_view<const float> dy,
                              matrix_view<float> dx, gradient_mode mode) {
            l.backward(in, dy, dx, mode);
            gemm(cpu{}, 1.0f, dy, of(l), transpose::no, 1.0f, dx);
        });
    }
};

// ||got - want|| / ||want||, Frobenius.
double relative_error(const tensor<float>& got, const tensor<float>& want) {
    double difference = 0, norm = 0;
    for (index i = 0; i < want.size(); ++i) {
        const double d = static_cast<double>(got[i]) - want[i];
        difference += d * d;
        norm += static_cast<double>(want[i]) * want[i];
    }
    return std::sqrt(difference / norm);
}

void BM_ffn_bf16_fwdbwd_cpu(benchmark::State& state) {
    ffn_case c(state);
    // The float path once (BM_ffn_fwdbwd_cpu's), for the accuracy counters.
    c.forward([](adapted_linear& l, matrix_view<const float> in, matrix_view<float> y) { l.forward(in, y); });
    c.backward([](adapted_linear& l, matrix_view<const float> in, matrix_view<const float> dy,
                  matrix_view<float> dx, gradient_mode mode) { l.backward(in, dy, dx, mode); });
    const tensor<float> out_float = c.out.clone(), dx_float = c.dx.clone();

    bf16_bases bases(c);
    bases.forward();
    bases.backward();
    state.counters["out_rel_err"] = relative_error(c.out, out_float);
    state.counters["dx_rel_err"] = relative_error(c.dx, dx_float);
    for (auto _ : state) {
        bases.forward();
        bases.backward();
        benchmark::DoNotOptimize(c.dx.data());
    }
    set_counters(state, c.tokens, 2 * c.base_flops() + 3 * c.adapter_flops());
    state.SetLabel(product_kind);
}

// ffn_bench.cpp's shapes: the paper's adapter (N = 6 experts of rank 4) on LLaMA FFN blocks.
void ffn_shapes(benchmark::internal::Benchmark* b) {
    b->ArgNames({"T", "d", "F", "N", "r"});
    b->Args({512, 1024, 2816, 6, 4});   // a small LLaMA's FFN
    b->Args({512, 4096, 11008, 6, 4});  // LLaMA-7B's FFN
    b->UseRealTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_ffn_bf16_fwdbwd_cpu)->Apply(ffn_shapes);

}  // namespace
