// moe::loramoe_linear computes the LoRAMoE formula, and its two execution paths agree: the fused one
// (one product for every A_i and the router, one for every B_i) and the reference one (one expert at a
// time, as the official code), forward and backward, in float and double.

#include "moe/layer_fixture.hpp"

#include <string>
#include <vector>

namespace layer_paths_test {

using loramoe::index;
namespace moe = loramoe::moe;

struct variant {
    std::string name;
    moe::loramoe_config config;
    moe::balance::dynamic balance;
    loramoe::test::base_options base;
    index samples = 2, tokens = 3;
    bool training = false;
};

std::vector<variant> variants(index simd) {
    const moe::balance::lbc lbc{0.1, moe::lbc_statistic::cv2, {}};
    auto config = [](index d_in, index d_out, index n, index r) {
        return moe::loramoe_config{
            .in_features = d_in, .out_features = d_out, .experts = n, .rank = r, .alpha = 8};
    };
    std::vector<variant> v;
    v.push_back({"dense router, LBC, base with bias", config(5, 4, 3, 2), lbc, {}});
    auto top_k = config(7, 5, 4, 3);
    top_k.top_k = 2;
    v.push_back({"top-2 of 4", top_k, moe::balance::switch_load{}, {}});
    auto dropout = config(6, 5, 3, 2);
    dropout.dropout = 0.3;
    dropout.seed = 99;
    v.push_back({"dropout 0.3 in training", dropout, lbc, {}, 2, 4, true});
    auto plain = config(5, 6, 1, 4);
    plain.router = false;
    v.push_back({"plain LoRA, no router", plain, moe::balance::none{}, {}});
    v.push_back({"no base", config(5, 4, 3, 2), moe::balance::router_z{}, {false, false, false}});
    v.push_back({"one expert with a router, one token per sample", config(4, 3, 1, 2), lbc, {}, 3, 1});
    v.push_back({"SIMD-width sizes", config(simd, simd, 2, simd), lbc, {true, false, true}, 2, simd});
    auto realistic = config(64, 48, 6, 4);
    realistic.dropout = 0.05;
    v.push_back({"realistic: d 64 -> 48, N 6, r 4, B 4, S 16, dropout", realistic, lbc, {}, 4, 16, true});
    return v;
}

template <class T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-12;
}

}  // namespace layer_paths_test

TEST_SUITE("moe") {
    TEST_CASE_TEMPLATE("loramoe_linear: forward computes the LoRAMoE formula (naive loop in long double)", T,
                       float, double) {
        using namespace layer_paths_test;
        using loramoe::index;
        std::uint64_t seed = 10;
        for (const auto& v : variants(loramoe::test::simd_width<T>)) {
            for (auto path : {moe::execution_path::fused, moe::execution_path::reference}) {
                INFO(v.name, std::string(path == moe::execution_path::fused ? " (fused)" : " (reference)"));
                auto config = v.config;
                config.path = path;
                const loramoe::test::layer_inputs<T> in(v.samples, v.tokens, config.in_features,
                                                        config.out_features, seed);
                moe::loramoe_linear<T, loramoe::cpu, loramoe::dynamic, loramoe::dynamic,
                                    moe::balance::dynamic>
                    layer(config, v.balance);
                const auto values =
                    loramoe::test::random_parameter_values<T>(layer.parameter_count(), seed + 7);
                const auto got =
                    loramoe::test::run_layer(layer, in, values, v.base, v.training, T(0.5), true, false);
                std::vector<double> gates;
                const auto want = loramoe::test::naive_loramoe_forward(
                    config, in, values, v.base,
                    v.training && config.dropout > 0 ? std::optional<std::uint64_t>(0) : std::nullopt,
                    &gates);
                loramoe::test::expect_close(got.y, want, tolerance<T>(), tolerance<T>());
                loramoe::test::expect_close(got.gates, gates, tolerance<T>(), tolerance<T>());
            }
            seed += 100;
        }
    }

    TEST_CASE_TEMPLATE("loramoe_linear: the fused and reference paths agree, forward and backward", T, float,
                       double) {
        using namespace layer_paths_test;
        using loramoe::index;
        std::uint64_t seed = 1000;
        for (const auto& v : variants(loramoe::test::simd_width<T>)) {
            INFO(v.name);
            const loramoe::test::layer_inputs<T> in(v.samples, v.tokens, v.config.in_features,
                                                    v.config.out_features, seed);
            auto fused_config = v.config, reference_config = v.config;
            fused_config.path = moe::execution_path::fused;
            reference_config.path = moe::execution_path::reference;
            using layer_type = moe::loramoe_linear<T, loramoe::cpu, loramoe::dynamic, loramoe::dynamic,
                                                   moe::balance::dynamic>;
            layer_type fused(fused_config, v.balance), reference(reference_config, v.balance);
            const auto values = loramoe::test::random_parameter_values<T>(fused.parameter_count(), seed + 1);
            const auto a = loramoe::test::run_layer(fused, in, values, v.base, v.training, T(0.7));
            const auto b = loramoe::test::run_layer(reference, in, values, v.base, v.training, T(0.7));
            const double tol = tolerance<T>();
            INFO("y");
            loramoe::test::expect_close(a.y, b.y, tol, tol);
            INFO("gates");
            loramoe::test::expect_close(a.gates, b.gates, tol, tol);
            CHECK(a.balance_loss == doctest::Approx(b.balance_loss).epsilon(tol));
            INFO("dx");
            loramoe::test::expect_close(a.dx, b.dx, tol, tol);
            INFO("parameter gradients [dA_cat; dW_r; dB_cat]");
            loramoe::test::expect_close(a.parameter_grads, b.parameter_grads, tol, tol);
            INFO("dW0, db0");
            loramoe::test::expect_close(a.w0_grad, b.w0_grad, tol, tol);
            loramoe::test::expect_close(a.b0_grad, b.b0_grad, tol, tol);
            // Not vacuous: the gradients are there.
            CHECK(loramoe::test::max_abs(a.parameter_grads) > 1e-3);
            CHECK(loramoe::test::max_abs(a.dx) > 1e-3);
            seed += 100;
        }
    }

}  // TEST_SUITE
