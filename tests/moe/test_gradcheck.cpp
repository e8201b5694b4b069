// gradcheck in double of moe::loramoe_linear: the hand-written backward against central finite
// differences of L = <y, w> + beta * balance_loss, for x, A_cat, W_r, B_cat and (when trainable) W0 and
// b0; for every balancing loss, with top-k, dropout in training, padding, both execution paths,
// without a router, without a base, with one expert and one token per sample.
//
// Dropout draws its masks from (seed, call counter): every evaluation of L, and the backward, run on a
// freshly constructed layer, whose counter starts at 0, so all of them see the same masks.

#include "moe/layer_fixture.hpp"

#include <functional>
#include <string>
#include <vector>

#include <loramoe/check/gradcheck.hpp>

namespace gradcheck_test {

namespace moe = loramoe::moe;
using loramoe::index;

struct setup {
    explicit setup(std::string name_) : name(std::move(name_)) {}

    std::string name;
    moe::loramoe_config config{
        .in_features = 5, .out_features = 4, .experts = 3, .rank = 2, .alpha = 6, .seed = 17};
    index samples = 2, tokens = 3;
    bool masked = true;
    loramoe::test::base_options base;
    bool training = false;
    double balance_weight = 0.8;
    bool balance_only = false;             // L = beta * balance_loss alone (w = 0)
    bool router_gradient_expected = true;  // a non-zero gradient reaches W_r (guards against a vacuous pass)
};

// The variations every loss is checked under.
std::vector<setup> standard_setups(bool has_loss) {
    std::vector<setup> s;
    s.push_back(setup{"dense router, padded samples, trainable base with bias"});
    s.push_back(setup{"no padding mask"});
    s.back().masked = false;
    s.push_back(setup{"top-2 of 3 experts"});
    s.back().config.top_k = 2;
    s.push_back(setup{"dropout 0.3 in training"});
    s.back().config.dropout = 0.3;
    s.back().training = true;
    s.push_back(setup{"reference path, dropout 0.2 in training, top-2"});
    s.back().config.path = moe::execution_path::reference;
    s.back().config.dropout = 0.2;
    s.back().config.top_k = 2;
    s.back().training = true;
    s.push_back(setup{"no base (empty weight)"});
    s.back().base = {false, false, false};
    s.push_back(setup{"frozen base without bias"});
    s.back().base = {true, false, false};
    s.push_back(setup{"one token per sample (S = 1), odd sizes"});
    s.back().samples = 3;
    s.back().tokens = 1;
    s.back().config.in_features = 7;
    s.back().config.out_features = 3;
    s.back().config.experts = 4;
    s.back().config.rank = 3;
    s.push_back(setup{"one expert with a router (N = 1): the gates are constant"});
    s.back().config.experts = 1;
    s.back().router_gradient_expected = false;
    if (has_loss) {
        s.push_back(setup{"the balancing loss alone (w = 0)"});
        s.back().balance_only = true;
        s.back().balance_weight = 1.0;
    }
    return s;
}

template <class Balance>
void check_layer_gradients(const setup& s, const Balance& balance, std::uint64_t seed) {
    using layer_type = moe::loramoe_linear<double, loramoe::cpu, loramoe::dynamic, loramoe::dynamic, Balance>;
    const auto& c = s.config;
    loramoe::test::layer_inputs<double> in(s.samples, s.tokens, c.in_features, c.out_features, seed);
    if (s.balance_only) in.dy.zero();
    const auto batch = in.batch(s.masked);

    const index count = layer_type(c, balance).parameter_count();
    loramoe::parameter_buffer<double> parameters(count);
    const auto values = loramoe::test::random_parameter_values<double>(count, seed + 5);
    std::copy(values.begin(), values.end(), parameters.values().data());
    loramoe::tensor<double> x_grad({in.rows(), c.in_features}), w0_grad({c.out_features, c.in_features}),
        b0_grad({c.out_features});

    auto make_layer = [&] {
        layer_type layer(c, balance);
        layer.bind(parameters.all());
        moe::base_linear<double> base;
        if (s.base.present) {
            base.weight = in.w0.matrix();
            base.bias = s.base.bias ? in.b0.data() : nullptr;
            base.weight_grad = s.base.trainable ? w0_grad.data() : nullptr;
            base.bias_grad = s.base.trainable && s.base.bias ? b0_grad.data() : nullptr;
        }
        layer.set_base(base);
        return layer;
    };
    auto loss = [&] {
        auto layer = make_layer();
        typename layer_type::saved saved;
        typename layer_type::workspace workspace;
        loramoe::tensor<double> y({in.rows(), c.out_features});
        layer.forward(in.x.matrix(), batch, y.matrix(), saved, workspace, s.training);
        double l = 0;
        for (index k = 0; k < y.size(); ++k) l += y[k] * in.dy[k];
        return l + s.balance_weight * saved.balance_loss;
    };
    auto gradients = [&] {
        parameters.zero_grad();
        w0_grad.zero();
        b0_grad.zero();
        auto layer = make_layer();
        typename layer_type::saved saved;
        typename layer_type::workspace workspace;
        loramoe::tensor<double> y({in.rows(), c.out_features});
        layer.forward(in.x.matrix(), batch, y.matrix(), saved, workspace, s.training);
        layer.backward(in.x.matrix(), in.dy.matrix(), batch, s.balance_weight, saved, workspace,
                       x_grad.matrix());
    };

    const auto n_r = static_cast<std::size_t>(c.experts * c.rank * c.in_features);
    const auto n_router = static_cast<std::size_t>((c.router ? c.experts : 0) * c.in_features);
    const auto n_b = static_cast<std::size_t>(count) - n_r - n_router;
    std::span<double> p(parameters.values().data(), static_cast<std::size_t>(count));
    std::span<const double> g(parameters.grads().data(), static_cast<std::size_t>(count));
    std::vector<loramoe::check::gradcheck_tensor> tensors = {
        {"x", in.x.span(), x_grad.span()},
        {"A_cat", p.subspan(0, n_r), g.subspan(0, n_r)},
        {"B_cat", p.subspan(n_r + n_router, n_b), g.subspan(n_r + n_router, n_b)}};
    if (c.router) tensors.push_back({"W_r", p.subspan(n_r, n_router), g.subspan(n_r, n_router)});
    if (s.base.present && s.base.trainable) {
        tensors.push_back({"W0", in.w0.span(), w0_grad.span()});
        if (s.base.bias) tensors.push_back({"b0", in.b0.span(), b0_grad.span()});
    }
    // in.x, in.w0 and in.b0 are perturbed in place through these spans (layer_inputs owns them).
    loramoe::check::gradcheck_options options;
    options.step = 1e-6;
    options.absolute_tolerance = 1e-8;
    options.relative_tolerance = 1e-6;
    const auto report = loramoe::check::gradcheck(loss, gradients, tensors, options);
    CHECK_MESSAGE(report.passed(), s.name, "\n", report.table());

    if (c.router) {
        const double router_gradient =
            loramoe::test::max_abs(std::vector<double>(g.begin() + n_r, g.begin() + n_r + n_router));
        if (s.router_gradient_expected)
            CHECK_MESSAGE(router_gradient > 1e-4, s.name, ": no gradient reached the router (vacuous check)");
        else
            CHECK_MESSAGE(router_gradient == 0.0, s.name, ": the router should get no gradient");
    }
}

template <class Balance>
void check_all_setups(const Balance& balance, bool has_loss, std::uint64_t seed) {
    for (auto s : standard_setups(has_loss)) {
        INFO(s.name);
        // The z-loss acts on the logits directly: with one expert, lse(z) = z still has a gradient.
        if constexpr (std::is_same_v<Balance, moe::balance::router_z>) s.router_gradient_expected = true;
        check_layer_gradients(s, balance, seed);
        seed += 100;
    }
}

}  // namespace gradcheck_test

TEST_SUITE("gradcheck") {
    TEST_CASE("gradcheck: the checker itself fails a wrong gradient and names the worst element") {
        std::vector<double> v = {0.5, -1.25, 2.0}, grad(3);
        auto loss = [&] { return v[0] * v[0] * v[0] + v[1] * v[1] * v[1] + v[2] * v[2] * v[2]; };
        auto right = [&] {
            for (int i = 0; i < 3; ++i) grad[i] = 3 * v[i] * v[i];
        };
        auto wrong = [&] {
            right();
            grad[2] *= 1.001;
        };
        const std::vector<loramoe::check::gradcheck_tensor> tensors = {{"v", v, grad}};
        CHECK(loramoe::check::gradcheck(loss, right, tensors).passed());
        const auto report = loramoe::check::gradcheck(loss, wrong, tensors);
        CHECK_FALSE(report.passed());
        CHECK(report.tensors[0].worst_element == 2);
        CHECK(report.table().find("FAILED") != std::string::npos);
        CHECK(v == std::vector<double>{0.5, -1.25, 2.0});  // restored
    }

    TEST_CASE("gradcheck explains itself: multi-index, tolerances, err/tol, and the usual causes named") {
        // L = sum_k c_k v_k^2 over a (2, 3) tensor: dL/dv = 2 c v.
        loramoe::tensor<double, loramoe::cpu> v({2, 3}), grad({2, 3});
        for (loramoe::index k = 0; k < 6; ++k) v.data()[k] = 0.5 + 0.25 * static_cast<double>(k);
        auto loss = [&] {
            double total = 0;
            for (loramoe::index k = 0; k < 6; ++k)
                total += static_cast<double>(k + 1) * v.data()[k] * v.data()[k];
            return total;
        };
        auto right = [&] {
            for (loramoe::index k = 0; k < 6; ++k)
                grad.data()[k] = 2.0 * static_cast<double>(k + 1) * v.data()[k];
        };
        const std::vector<loramoe::check::gradcheck_tensor> tensors = {{"v", v, grad}};
        const auto good = loramoe::check::gradcheck(loss, right, tensors);
        CHECK(good.passed());
        CHECK(good.tensors[0].worst_ratio <= 1);
        CHECK(good.table().find("an element passes when |analytic - numeric| <= 1e-06 + 1e-05") !=
              std::string::npos);
        // One wrong element: named as (row, column), with its tolerance and ratio.
        const auto one = loramoe::check::gradcheck(
            loss, [&] { right(), grad.data()[5] *= 1.01; }, tensors);
        CHECK_FALSE(one.passed());
        CHECK(one.tensors[0].worst_position == std::vector<loramoe::index>{1, 2});
        CHECK(one.tensors[0].worst_ratio > 1);
        CHECK(one.tensors[0].worst_tolerance ==
              doctest::Approx(1e-6 + 1e-5 * std::abs(one.tensors[0].worst_analytic)));
        CHECK(one.table().find("(1, 2)") != std::string::npos);
        // The usual causes, read from the ratio of the two values.
        auto cause = [&](double factor) {
            return loramoe::check::gradcheck(
                       loss,
                       [&] {
                           right();
                           for (loramoe::index k = 0; k < 6; ++k) grad.data()[k] *= factor;
                       },
                       tensors)
                .table();
        };
        CHECK(cause(2).find("accumulated twice, or not zeroed") != std::string::npos);
        CHECK(cause(0.5).find("a term missing") != std::string::npos);
        CHECK(cause(-1).find("a sign flipped") != std::string::npos);
        CHECK(cause(0).find("`gradients` did not write it") != std::string::npos);
    }

    TEST_CASE("gradcheck: float tensors are checked over the step float took; atol-only passes are marked") {
        std::vector<float> v = {0.5F, -1.25F, 2.0F}, grad(3);
        auto loss = [&] {
            double total = 0;
            for (float x : v) total += static_cast<double>(x) * x * x;
            return total;
        };
        auto right = [&] {
            for (int i = 0; i < 3; ++i) grad[i] = 3 * v[i] * v[i];
        };
        loramoe::check::gradcheck_options options;
        options.step = 1e-3;
        options.absolute_tolerance = 1e-3;
        options.relative_tolerance = 1e-3;
        const auto report = loramoe::check::gradcheck(loss, right, {{"v", v, grad}}, options);
        CHECK(report.passed());
        CHECK(report.tensors[0].in_float);
        CHECK(report.table().find(" float") != std::string::npos);
        CHECK(v == std::vector<float>{0.5F, -1.25F, 2.0F});  // restored exactly
        // A gradient off by 1e-7 where it is 1e-9: past rtol, within atol: "ok (atol)", not plain "ok".
        std::vector<double> w = {1e-5}, dw(1);
        auto tiny_loss = [&] { return w[0] * w[0] / 2; };
        const auto atol_only =
            loramoe::check::gradcheck(tiny_loss, [&] { dw[0] = w[0] + 1e-7; }, {{"w", w, dw}});
        CHECK(atol_only.passed());
        CHECK(atol_only.tensors[0].passed_by_absolute);
        CHECK(atol_only.table().find("ok (atol)") != std::string::npos);
    }

    TEST_CASE("gradcheck: a gradient not zeroed between calls fails on fresh buffers, its cause named") {
        // L = sum_k v_k^2 / 2: dL/dv = v. Fresh, zeroed buffers hide `+=` on one call; the second call shows
        // it.
        std::vector<double> v = {0.5, -1.25, 2.0, 0.75}, grad(4);
        auto loss = [&] {
            double total = 0;
            for (double x : v) total += x * x / 2;
            return total;
        };
        auto accumulating = [&] {
            for (std::size_t k = 0; k < v.size(); ++k) grad[k] += v[k];
        };
        const auto report = loramoe::check::gradcheck(loss, accumulating, {{"v", v, grad, {2, 2}}});
        CHECK_FALSE(report.passed());
        CHECK_FALSE(report.tensors[0].repeatable);
        CHECK(report.tensors[0].worst_ratio <= 1);  // the first call's values match the slope
        CHECK(report.tensors[0].unrepeated_position == std::vector<loramoe::index>{1, 0});  // |v| largest
        CHECK(report.tensors[0].second_call == doctest::Approx(2 * report.tensors[0].first_call));
        const std::string table = report.table();
        CHECK(table.find("v at (1, 0): a second call of `gradients` gave 4.000000e+00 where the first gave "
                         "2.000000e+00: the gradient accumulates across calls") != std::string::npos);
        // Zeroed first, the same backward passes.
        std::fill(grad.begin(), grad.end(), 0.0);
        CHECK(loramoe::check::gradcheck(
                  loss, [&] { std::fill(grad.begin(), grad.end(), 0.0), accumulating(); }, {{"v", v, grad}})
                  .passed());
    }

    TEST_CASE("gradcheck: LBC (cv2) with the official and custom expert types") {
        using namespace gradcheck_test;
        using loramoe::index;
        check_all_setups(moe::balance::lbc{0.1, moe::lbc_statistic::cv2, {}}, true, 1);
        // custom types for 3 experts; the S = 1 setup has 4 experts and N = 1 setup 1: take the default there
        for (auto s : standard_setups(true)) {
            if (s.config.experts != 3) continue;
            INFO(s.name, " (custom expert types)");
            check_layer_gradients(s, moe::balance::lbc{0.25, moe::lbc_statistic::cv2, {0, 1, 1}}, 7);
        }
    }

    TEST_CASE("gradcheck: LBC (var_over_mean) with the official and custom expert types") {
        using namespace gradcheck_test;
        using loramoe::index;
        check_all_setups(moe::balance::lbc{0.1, moe::lbc_statistic::var_over_mean, {}}, true, 2);
        for (auto s : standard_setups(true)) {
            if (s.config.experts != 3) continue;
            INFO(s.name, " (custom expert types)");
            check_layer_gradients(s, moe::balance::lbc{0.3, moe::lbc_statistic::var_over_mean, {1, 0, 1}}, 8);
        }
    }

    TEST_CASE("gradcheck: Switch load-balancing loss") {
        using namespace gradcheck_test;
        using loramoe::index;
        check_all_setups(moe::balance::switch_load{}, true, 3);
    }

    TEST_CASE("gradcheck: router z-loss") {
        using namespace gradcheck_test;
        using loramoe::index;
        check_all_setups(moe::balance::router_z{}, true, 4);
    }

    TEST_CASE("gradcheck: no balancing loss") {
        using namespace gradcheck_test;
        using loramoe::index;
        check_all_setups(moe::balance::none{}, false, 5);
    }

    TEST_CASE("gradcheck: balance::dynamic holding each loss") {
        using namespace gradcheck_test;
        using loramoe::index;
        const std::vector<moe::balance::dynamic> losses = {
            moe::balance::none{}, moe::balance::lbc{0.1, moe::lbc_statistic::cv2, {}},
            moe::balance::lbc{0.2, moe::lbc_statistic::var_over_mean, {1, 1, 0}}, moe::balance::switch_load{},
            moe::balance::router_z{}};
        std::uint64_t seed = 6;
        for (std::size_t i = 0; i < losses.size(); ++i) {
            CAPTURE(i);
            for (auto s : standard_setups(i > 0)) {
                if (s.config.experts != 3) continue;  // the custom LBC types are for 3 experts
                INFO(s.name);
                check_layer_gradients(s, losses[i], seed += 10);
            }
        }
    }

    TEST_CASE("gradcheck: plain LoRA (no router, one expert), with and without dropout and base") {
        using namespace gradcheck_test;
        using loramoe::index;
        for (bool dropout : {false, true})
            for (bool base : {true, false}) {
                setup s("plain LoRA");
                s.config.router = false;
                s.config.experts = 1;
                s.config.rank = 3;
                s.base = {base, base, base};
                if (dropout) {
                    s.config.dropout = 0.25;
                    s.training = true;
                }
                INFO("dropout ", dropout, ", base ", base);
                check_layer_gradients(s, moe::balance::none{}, 50 + 2 * dropout + base);
                check_layer_gradients(s, moe::balance::lbc{},
                                      60 + 2 * dropout + base);  // ignored without a router
            }
    }

    TEST_CASE("gradcheck: a single token (B = 1, S = 1), one expert with a router, LBC with K = 1") {
        using namespace gradcheck_test;
        using loramoe::index;
        setup s("B = 1, S = 1, N = 1");
        s.samples = 1;
        s.tokens = 1;
        s.config.experts = 1;
        s.router_gradient_expected = false;
        check_layer_gradients(s, moe::balance::lbc{}, 70);
        setup t("B = 1, S = 1, N = 3");
        t.samples = 1;
        t.tokens = 1;
        check_layer_gradients(t, moe::balance::lbc{}, 71);
        check_layer_gradients(t, moe::balance::router_z{}, 72);
    }

}  // TEST_SUITE
