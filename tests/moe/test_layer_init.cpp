// reset_parameters: the official initialisation. A_i and W_r Kaiming-uniform in +-1/sqrt(d_in), B_i
// zero, so that a fresh adapter leaves the base output unchanged.

#include "moe/layer_fixture.hpp"

#include <cmath>

TEST_SUITE("moe") {
    TEST_CASE("kaiming_uniform: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), deterministic in the generator") {
        const loramoe::index rows = 40, fan_in = 25;
        std::vector<double> a(rows * fan_in), b(rows * fan_in);
        loramoe::random_generator r1(3), r2(3);
        loramoe::moe::kaiming_uniform(r1, loramoe::matrix_view<double>(a.data(), rows, fan_in));
        loramoe::moe::kaiming_uniform(r2, loramoe::matrix_view<double>(b.data(), rows, fan_in));
        CHECK(a == b);
        const double bound = 1.0 / std::sqrt(25.0);
        double lo = 1, hi = -1, sum = 0;
        for (double v : a) {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
            sum += v;
        }
        CHECK(lo >= -bound);
        CHECK(hi <= bound);
        CHECK(lo < -0.95 * bound);  // it fills the range
        CHECK(hi > 0.95 * bound);
        CHECK(std::abs(sum / a.size()) < 0.02);
    }

    TEST_CASE_TEMPLATE(
        "reset_parameters: B is zero, A and W_r lie in +-1/sqrt(d_in), and y equals the base output", T,
        float, double) {
        namespace moe = loramoe::moe;
        const moe::loramoe_config config{.in_features = 20, .out_features = 9, .experts = 4, .rank = 3};
        moe::loramoe_linear<T> layer(config);
        loramoe::parameter_buffer<T> parameters(layer.parameter_count());
        layer.bind(parameters.all());
        layer.reset_parameters(7);

        const double bound = 1.0 / std::sqrt(20.0);
        for (const auto& block : {layer.a(), layer.router()}) {
            const auto values = loramoe::test::flatten(block).values;
            CHECK(loramoe::test::max_abs(values) <= bound);
            CHECK(loramoe::test::max_abs(values) > 0.8 * bound);
        }
        CHECK(loramoe::test::max_abs(layer.b()) == 0.0);
        CHECK(layer.router().rows == 4);
        CHECK(layer.a().rows == 12);

        // The same seed, the same parameters; another seed, others.
        loramoe::parameter_buffer<T> again(layer.parameter_count()), other(layer.parameter_count());
        layer.bind(again.all());
        layer.reset_parameters(7);
        layer.bind(other.all());
        layer.reset_parameters(8);
        CHECK(std::equal(again.values().span().begin(), again.values().span().end(),
                         parameters.values().span().begin()));
        CHECK_FALSE(std::equal(other.values().span().begin(), other.values().span().end(),
                               parameters.values().span().begin()));

        // A fresh adapter changes nothing: y = x W0^T + b exactly as the base alone computes it.
        const loramoe::test::layer_inputs<T> in(2, 3, 20, 9, 11);
        const std::vector<T> values(parameters.values().span().begin(), parameters.values().span().end());
        const auto got = loramoe::test::run_layer(layer, in, values, {}, false, T(0), true, false);
        loramoe::tensor<T> base({in.rows(), 9});
        loramoe::nn::linear_forward(loramoe::cpu{},
                                    loramoe::nn::linear_weights<T>{in.w0.matrix(), in.b0.data()},
                                    in.x.matrix(), base.matrix());
        loramoe::test::expect_close(got.y, base, 0, 0);
    }

    TEST_CASE_TEMPLATE("a layer whose B is zero outputs the base alone, and the router still routes", T,
                       float, double) {
        namespace moe = loramoe::moe;
        const moe::loramoe_config config{.in_features = 7, .out_features = 5, .experts = 3, .rank = 2};
        moe::loramoe_linear<T> layer(config);
        auto values = loramoe::test::random_parameter_values<T>(layer.parameter_count(), 4);
        const loramoe::index b_offset = (3 * 2 + 3) * 7;
        std::fill(values.begin() + b_offset, values.end(), T(0));
        const loramoe::test::layer_inputs<T> in(2, 2, 7, 5, 12);
        const auto got = loramoe::test::run_layer(layer, in, values, {}, false, T(0), true, false);
        const auto want = loramoe::test::naive_loramoe_forward(config, in, values, {}, std::nullopt);
        const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-14;
        loramoe::test::expect_close(got.y, want, tol, tol);
        for (loramoe::index t = 0; t < in.rows(); ++t) {
            T sum = 0;
            for (loramoe::index i = 0; i < 3; ++i) sum += got.gates[t * 3 + i];
            CHECK(sum == doctest::Approx(1).epsilon(tol));
        }
    }

}  // TEST_SUITE
