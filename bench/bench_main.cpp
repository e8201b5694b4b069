// main() of loramoe_bench: BENCHMARK_MAIN, plus what a reader of the JSON needs to reproduce the
// numbers (bench/compare prints it above its tables).

#include <string>

#include <benchmark/benchmark.h>
#include <omp.h>
#include <Eigen/Core>

namespace {

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

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("compiler", __VERSION__);
    benchmark::AddCustomContext("build", build);
    benchmark::AddCustomContext("eigen", std::to_string(EIGEN_WORLD_VERSION) + "." +
                                             std::to_string(EIGEN_MAJOR_VERSION) + "." +
                                             std::to_string(EIGEN_MINOR_VERSION));
    // The products run on the library's own OpenMP threads (cpu/gemm.hpp), Eigen single-threaded inside.
    benchmark::AddCustomContext("threads", std::to_string(omp_get_max_threads()));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
