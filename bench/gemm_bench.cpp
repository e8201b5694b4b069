// The matrix products alone, in float on the CPU (loramoe::gemm, cpu/gemm.hpp): every layout a LoRAMoE
// linear's forward and backward run, on the frozen products of the shapes the other benchmarks use.
//
//   BM_gemm_cpu/<layout>/M:../N:../K:..    c (M, N) = op(a) op(b), M = T tokens
//     forward   y  = x W^T      a = x (M, K), b = W (N, K) transposed      (the frozen product)
//     dx        dx = dy W       a = dy (M, K), b = W (K, N)                (its input gradient)
//     dw        dW = dy^T x     a = dy (K, M) transposed, b = x (K, N)     (a trained weight's gradient,
//                                                                           full fine-tuning; here M = d_out)
//
// GFLOP/s = 2 M N K per call. The bar for every product with M >= 512 is 80 % of the machine's
// fp32 peak (docs/performance.md).

#include <benchmark/benchmark.h>

#include <loramoe/core/gemm.hpp>
#include <loramoe/cpu/gemm.hpp>

#include "bench_support.hpp"

namespace {

using namespace loramoe;
using loramoe::index;  // not POSIX's index() from <strings.h>

enum class layout { forward, dx, dw };

void BM_gemm_cpu(benchmark::State& state, layout l) {
    const index m = state.range(0), n = state.range(1), k = state.range(2);
    const bool ta = l == layout::dw, tb = l == layout::forward;
    const auto a = bench::random_normal(ta ? shape_type{k, m} : shape_type{m, k}, 1, 1.0);
    const auto b = bench::random_normal(tb ? shape_type{n, k} : shape_type{k, n}, 2, 1.0);
    tensor<float> c({m, n});
    for (auto _ : state) {
        gemm(cpu{}, 1.0f, a.matrix(), ta ? transpose::yes : transpose::no, b.matrix(),
             tb ? transpose::yes : transpose::no, 0.0f, c.matrix());
        benchmark::DoNotOptimize(c.data());
    }
    bench::set_product_counter(state, m, n, k);
}

BENCHMARK_CAPTURE(BM_gemm_cpu, forward, layout::forward)->Apply(bench::product_shapes);
BENCHMARK_CAPTURE(BM_gemm_cpu, dx, layout::dx)->Apply(bench::product_shapes);
BENCHMARK_CAPTURE(BM_gemm_cpu, dw, layout::dw)->Apply(bench::product_shapes);

}  // namespace
