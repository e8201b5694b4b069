// The `loramoe layer` contract against PyTorch: check::run_layer_case on the committed case files
// (tests/golden/layer_*.safetensors, written by tests/golden/generate.py) reproduces PyTorch's y, gates,
// lbc and gradients, on both execution paths, in F64 to 1e-9 and in F32 to 1e-5 of each tensor's
// largest magnitude.

#include "test_support.hpp"

#include <string>

#include <loramoe/check/layer_case.hpp>

namespace layer_golden_test {

const char* const outputs[] = {"y", "gates", "lbc", "grad_x", "grad_lora_A", "grad_lora_B", "grad_router"};

void check_golden(const std::string& name, double tolerance) {
    namespace fs = std::filesystem;
    const fs::path case_path = loramoe::test::golden_dir() / (name + ".safetensors");
    const fs::path expected_path = loramoe::test::golden_dir() / (name + ".expected.safetensors");
    REQUIRE_MESSAGE(fs::exists(case_path), case_path.string());
    REQUIRE_MESSAGE(fs::exists(expected_path), expected_path.string());
    const loramoe::io::safetensors_reader expected(expected_path);
    const auto precision = loramoe::io::safetensors_reader(case_path).entry("x").type;
    for (auto path : {loramoe::moe::execution_path::fused, loramoe::moe::execution_path::reference}) {
        INFO(name, std::string(path == loramoe::moe::execution_path::fused ? " (fused)" : " (reference)"));
        loramoe::test::temporary_directory dir;
        loramoe::check::run_layer_case(case_path, dir / "out.safetensors", path);
        const loramoe::io::safetensors_reader got(dir / "out.safetensors");
        CHECK(got.entries().size() == std::size(outputs));
        for (const char* tensor : outputs) {
            INFO("tensor ", std::string(tensor));
            REQUIRE(got.contains(tensor));
            CHECK(got.entry(tensor).type == precision);  // the case's precision
            CHECK(got.entry(tensor).shape == expected.entry(tensor).shape);
            const auto want = expected.read<double>(tensor);
            loramoe::test::expect_close(got.read<double>(tensor), want,
                                        tolerance * loramoe::test::max_abs(want), 0);
        }
    }
}

}  // namespace layer_golden_test

TEST_SUITE("golden") {
    // d_in 13, d_out 7, N 3, r 5, a bias, padded samples, custom expert types, cv2
    TEST_CASE("golden: layer_odd_f64 (PyTorch)") {
        layer_golden_test::check_golden("layer_odd_f64", 1e-9);
    }
    TEST_CASE("golden: layer_odd_f32 (PyTorch)") {
        layer_golden_test::check_golden("layer_odd_f32", 1e-5);
    }
    // N = 1, S = 1: constant gates, an LBC without gradient
    TEST_CASE("golden: layer_single_f64 (PyTorch)") {
        layer_golden_test::check_golden("layer_single_f64", 1e-9);
    }
    TEST_CASE("golden: layer_single_f32 (PyTorch)") {
        layer_golden_test::check_golden("layer_single_f32", 1e-5);
    }
    // var_over_mean, official expert types, no padding
    TEST_CASE("golden: layer_var_over_mean_f64 (PyTorch)") {
        layer_golden_test::check_golden("layer_var_over_mean_f64", 1e-9);
    }
    TEST_CASE("golden: layer_var_over_mean_f32 (PyTorch)") {
        layer_golden_test::check_golden("layer_var_over_mean_f32", 1e-5);
    }

    TEST_CASE("golden: the reference values are not trivial") {
        // A comparison against zeros, or against a case whose LBC is zero, would prove little.
        const loramoe::io::safetensors_reader odd(loramoe::test::golden_dir() /
                                                  "layer_odd_f64.expected.safetensors");
        CHECK(odd.read<double>("lbc")[0] > 0.01);
        for (const char* tensor : layer_golden_test::outputs)
            CHECK(loramoe::test::max_abs(odd.read<double>(tensor)) > 1e-3);
        const loramoe::io::safetensors_reader single(loramoe::test::golden_dir() /
                                                     "layer_single_f64.expected.safetensors");
        CHECK(loramoe::test::max_abs(single.read<double>("grad_router")) == 0.0);     // N = 1: constant gates
        CHECK(single.read<double>("lbc")[0] == doctest::Approx(0.02).epsilon(1e-9));  // K = 2: Z = [1.1, 0.9]
    }

}  // TEST_SUITE
