// Compile-time sizes: loramoe_linear<T, cpu, 6, 4, balance::lbc> computes what the dynamic form does,
// and refuses a run-time configuration that disagrees with its template arguments.

#include "moe/layer_fixture.hpp"

#include <type_traits>

namespace layer_static_test {

using loramoe::dynamic;
namespace moe = loramoe::moe;

template <class Static, class Dynamic>
void check_static_matches_dynamic(moe::loramoe_config config, typename Static::balance_type static_balance,
                                  typename Dynamic::balance_type dynamic_balance, std::uint64_t seed) {
    using T = typename Static::value_type;
    for (auto path : {moe::execution_path::fused, moe::execution_path::reference}) {
        INFO(std::string(path == moe::execution_path::fused ? "fused" : "reference"));
        config.path = path;
        const loramoe::test::layer_inputs<T> in(3, 5, config.in_features, config.out_features, seed);
        Static fixed(config, static_balance);
        Dynamic runtime(config, dynamic_balance);
        REQUIRE(fixed.parameter_count() == runtime.parameter_count());
        const auto values = loramoe::test::random_parameter_values<T>(fixed.parameter_count(), seed + 1);
        const auto a = loramoe::test::run_layer(fixed, in, values, {}, config.dropout > 0, T(0.3));
        const auto b = loramoe::test::run_layer(runtime, in, values, {}, config.dropout > 0, T(0.3));
        const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-14;
        loramoe::test::expect_close(a.y, b.y, tol, tol);
        loramoe::test::expect_close(a.gates, b.gates, tol, tol);
        CHECK(a.balance_loss == doctest::Approx(b.balance_loss).epsilon(tol));
        loramoe::test::expect_close(a.dx, b.dx, tol, tol);
        loramoe::test::expect_close(a.parameter_grads, b.parameter_grads, tol, tol);
        loramoe::test::expect_close(a.w0_grad, b.w0_grad, tol, tol);
    }
}

}  // namespace layer_static_test

TEST_SUITE("moe") {
    TEST_CASE_TEMPLATE("loramoe_linear<T, cpu, 6, 4, lbc> agrees with the dynamic form", T, float, double) {
        using namespace layer_static_test;
        using loramoe::index;
        using fixed = moe::loramoe_linear<T, loramoe::cpu, 6, 4, moe::balance::lbc>;
        static_assert(std::is_same_v<typename fixed::balance_type, moe::balance::lbc>);
        static_assert(std::is_same_v<typename moe::loramoe_linear<T>::balance_type, moe::balance::lbc>);
        const moe::loramoe_config config{
            .in_features = 11, .out_features = 9, .experts = 6, .rank = 4, .alpha = 16};
        const moe::balance::lbc lbc{0.1, moe::lbc_statistic::var_over_mean, {0, 1, 0, 1, 1, 0}};
        check_static_matches_dynamic<
            fixed, moe::loramoe_linear<T, loramoe::cpu, dynamic, dynamic, moe::balance::lbc>>(config, lbc,
                                                                                              lbc, 1);
        // and with the loss chosen at run time
        check_static_matches_dynamic<
            fixed, moe::loramoe_linear<T, loramoe::cpu, dynamic, dynamic, moe::balance::dynamic>>(config, lbc,
                                                                                                  lbc, 2);
    }

    TEST_CASE_TEMPLATE(
        "static forms with other losses, top-k, dropout and a plain LoRA agree with the dynamic form", T,
        float, double) {
        using namespace layer_static_test;
        using loramoe::index;
        using dynamic_layer = moe::loramoe_linear<T, loramoe::cpu, dynamic, dynamic, moe::balance::dynamic>;
        moe::loramoe_config config{
            .in_features = 8, .out_features = 5, .experts = 4, .rank = 2, .alpha = 4, .top_k = 2};
        check_static_matches_dynamic<moe::loramoe_linear<T, loramoe::cpu, 4, 2, moe::balance::switch_load>,
                                     dynamic_layer>(config, {}, moe::balance::switch_load{}, 3);
        config.top_k = 0;
        config.dropout = 0.2;
        config.seed = 5;
        check_static_matches_dynamic<moe::loramoe_linear<T, loramoe::cpu, 4, 2, moe::balance::router_z>,
                                     dynamic_layer>(config, {}, moe::balance::router_z{}, 4);
        const moe::loramoe_config plain{
            .in_features = 6, .out_features = 7, .experts = 1, .rank = 8, .alpha = 16, .router = false};
        check_static_matches_dynamic<moe::loramoe_linear<T, loramoe::cpu, 1, 8, moe::balance::none>,
                                     dynamic_layer>(plain, {}, moe::balance::none{}, 5);
    }

    TEST_CASE("a static form constructed with a disagreeing configuration throws a shape_error") {
        using namespace layer_static_test;
        using loramoe::index;
        using fixed = moe::loramoe_linear<float, loramoe::cpu, 6, 4, moe::balance::lbc>;
        moe::loramoe_config config{.in_features = 8, .out_features = 8, .experts = 5, .rank = 4};
        CHECK_THROWS_NAMING(loramoe::shape_error, fixed(config), "number of experts is 5", "fixes it at 6");
        config.experts = 6;
        config.rank = 8;
        CHECK_THROWS_NAMING(loramoe::shape_error, fixed(config), "LoRA rank is 8", "fixes it at 4");
        config.rank = 4;
        CHECK_NOTHROW((fixed(config)));
    }

}  // TEST_SUITE
