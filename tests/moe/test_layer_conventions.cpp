// The gradient conventions of every module (parameter gradients accumulate, activation gradients are
// overwritten or, on request, accumulated), reuse of the saved state, the frozen base, and dropout:
// off outside training, a fresh mask per training call, reproducible from the seed.

#include "moe/layer_fixture.hpp"

namespace layer_conventions_test {

namespace moe = loramoe::moe;
using loramoe::index;

template <class T>
using layer_type =
    moe::loramoe_linear<T, loramoe::cpu, loramoe::dynamic, loramoe::dynamic, moe::balance::dynamic>;

moe::loramoe_config small_config(double dropout = 0) {
    return {.in_features = 6,
            .out_features = 5,
            .experts = 3,
            .rank = 2,
            .alpha = 4,
            .dropout = dropout,
            .seed = 21};
}

}  // namespace layer_conventions_test

TEST_SUITE("moe") {
    TEST_CASE_TEMPLATE(
        "loramoe_linear: parameter gradients accumulate over backward calls; dx is overwritten", T, float,
        double) {
        using namespace layer_conventions_test;
        using loramoe::index;
        for (auto path : {moe::execution_path::fused, moe::execution_path::reference}) {
            INFO(std::string(path == moe::execution_path::fused ? "fused" : "reference"));
            auto config = small_config();
            config.path = path;
            layer_type<T> layer(config, moe::balance::lbc{});
            const loramoe::test::layer_inputs<T> in(2, 3, 6, 5, 4);
            const auto values = loramoe::test::random_parameter_values<T>(layer.parameter_count(), 5);
            const auto once = loramoe::test::run_layer(layer, in, values, {}, false, T(0.5));

            loramoe::parameter_buffer<T> parameters(layer.parameter_count());
            std::copy(values.begin(), values.end(), parameters.values().data());
            layer.bind(parameters.all());
            loramoe::tensor<T> w0_grad({5, 6}), b0_grad({5});
            w0_grad.zero();
            b0_grad.zero();
            layer.set_base({in.w0.matrix(), in.b0.data(), w0_grad.data(), b0_grad.data()});
            typename layer_type<T>::saved saved;
            typename layer_type<T>::workspace workspace;
            loramoe::tensor<T> y({in.rows(), 5}), dx({in.rows(), 6});
            layer.forward(in.x.matrix(), in.batch(), y.matrix(), saved, workspace);
            for (int call = 0; call < 2; ++call) {
                dx.fill_with(T(1e6));  // whatever dx held is overwritten
                layer.backward(in.x.matrix(), in.dy.matrix(), in.batch(), T(0.5), saved, workspace,
                               dx.matrix());
            }
            const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
            std::vector<T> twice(once.parameter_grads.size());
            for (std::size_t k = 0; k < twice.size(); ++k) twice[k] = 2 * once.parameter_grads[k];
            INFO("parameter gradients after two backward calls");
            loramoe::test::expect_close(parameters.grads().span(), std::span<const T>(twice), tol, tol);
            INFO("trainable base gradients after two backward calls");
            loramoe::tensor<T> w0_twice = once.w0_grad.clone(), b0_twice = once.b0_grad.clone();
            for (T& v : w0_twice.span()) v *= 2;
            for (T& v : b0_twice.span()) v *= 2;
            loramoe::test::expect_close(w0_grad, w0_twice, tol, tol);
            loramoe::test::expect_close(b0_grad, b0_twice, tol, tol);
            INFO("dx after two backward calls: the same as after one");
            loramoe::test::expect_close(dx, once.dx, tol, tol);
        }
    }

    TEST_CASE_TEMPLATE("loramoe_linear: gradient_mode::accumulate adds to dx; an empty dx is skipped", T,
                       float, double) {
        using namespace layer_conventions_test;
        using loramoe::index;
        for (bool with_base : {true, false}) {
            CAPTURE(with_base);
            layer_type<T> layer(small_config(), moe::balance::switch_load{});
            const loramoe::test::layer_inputs<T> in(2, 3, 6, 5, 8);
            const auto values = loramoe::test::random_parameter_values<T>(layer.parameter_count(), 9);
            const loramoe::test::base_options base{with_base, true, false};
            const auto reference = loramoe::test::run_layer(layer, in, values, base, false, T(1));

            loramoe::parameter_buffer<T> parameters(layer.parameter_count());
            std::copy(values.begin(), values.end(), parameters.values().data());
            layer.bind(parameters.all());
            layer.set_base(with_base ? moe::base_linear<T>{in.w0.matrix(), in.b0.data()}
                                     : moe::base_linear<T>{});
            typename layer_type<T>::saved saved;
            typename layer_type<T>::workspace workspace;
            loramoe::tensor<T> y({in.rows(), 5});
            layer.forward(in.x.matrix(), in.batch(), y.matrix(), saved, workspace);
            auto dx = loramoe::test::random_tensor<T>({in.rows(), 6}, 10);
            const auto prior = dx.clone();
            layer.backward(in.x.matrix(), in.dy.matrix(), in.batch(), T(1), saved, workspace, dx.matrix(),
                           loramoe::gradient_mode::accumulate);
            std::vector<double> want;
            for (index k = 0; k < dx.size(); ++k) want.push_back(double(prior[k]) + reference.dx[k]);
            const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
            loramoe::test::expect_close(dx, want, tol, tol);

            // No dx at all: the parameter gradients are still computed, the same.
            parameters.zero_grad();
            layer.backward(in.x.matrix(), in.dy.matrix(), in.batch(), T(1), saved, workspace,
                           loramoe::matrix_view<T>{});
            loramoe::test::expect_close(parameters.grads().span(),
                                        std::span<const T>(reference.parameter_grads), tol, tol);
        }
    }

    TEST_CASE(
        "loramoe_linear: a frozen base is left alone; the saved state and the workspace are reused without "
        "reallocation") {
        using namespace layer_conventions_test;
        using loramoe::index;
        layer_type<double> layer(small_config(0.2), moe::balance::lbc{});
        const loramoe::test::layer_inputs<double> in(2, 3, 6, 5, 12);
        const auto w0_before = in.w0.clone();
        const auto values = loramoe::test::random_parameter_values<double>(layer.parameter_count(), 13);
        loramoe::parameter_buffer<double> parameters(layer.parameter_count());
        std::copy(values.begin(), values.end(), parameters.values().data());
        layer.bind(parameters.all());
        layer.set_base({in.w0.matrix(), in.b0.data()});  // no gradient pointers: frozen
        layer_type<double>::saved saved;
        layer_type<double>::workspace workspace;
        loramoe::tensor<double> y({in.rows(), 5}), dx({in.rows(), 6});
        layer.forward(in.x.matrix(), in.batch(), y.matrix(), saved, workspace, true);
        layer.backward(in.x.matrix(), in.dy.matrix(), in.batch(), 1.0, saved, workspace, dx.matrix());
        const std::vector<const double*> memory = {
            saved.projected.data(),          saved.gates.data(),          saved.scaled.data(),
            workspace.grad_projected.data(), workspace.grad_gates.data(), workspace.dropped.data()};
        loramoe::test::expect_close(in.w0, w0_before, 0, 0);
        for (int call = 0; call < 3; ++call) {  // same shapes, then a smaller batch: no new memory
            const loramoe::test::layer_inputs<double> next(2, call == 2 ? 2 : 3, 6, 5, 14 + call);
            loramoe::tensor<double> y2({next.rows(), 5}), dx2({next.rows(), 6});
            layer.forward(next.x.matrix(), next.batch(), y2.matrix(), saved, workspace, true);
            layer.backward(next.x.matrix(), next.dy.matrix(), next.batch(), 1.0, saved, workspace,
                           dx2.matrix());
            const std::vector<const double*> now = {
                saved.projected.data(),          saved.gates.data(),          saved.scaled.data(),
                workspace.grad_projected.data(), workspace.grad_gates.data(), workspace.dropped.data()};
            CHECK(now == memory);
        }
    }

    TEST_CASE_TEMPLATE("loramoe_linear: the saved balance loss is the unweighted loss of the saved gates", T,
                       float, double) {
        using namespace layer_conventions_test;
        using loramoe::index;
        const loramoe::test::layer_inputs<T> in(3, 4, 6, 5, 30);
        const std::vector<moe::balance::dynamic> losses = {
            moe::balance::lbc{0.1, moe::lbc_statistic::var_over_mean, {}}, moe::balance::switch_load{},
            moe::balance::router_z{}};
        for (const auto& loss : losses) {
            layer_type<T> layer(small_config(), loss);
            const auto values = loramoe::test::random_parameter_values<T>(layer.parameter_count(), 31);
            loramoe::parameter_buffer<T> parameters(layer.parameter_count());
            std::copy(values.begin(), values.end(), parameters.values().data());
            layer.bind(parameters.all());
            typename layer_type<T>::saved saved;
            typename layer_type<T>::workspace workspace;
            loramoe::tensor<T> y({in.rows(), 5});
            layer.forward(in.x.matrix(), in.batch(), y.matrix(), saved, workspace);
            const auto logits = saved.projected.matrix().col_block(3 * 2, 3);
            const T direct = moe::balance_loss(loramoe::cpu{}, loss, loramoe::as_const(saved.gates.matrix()),
                                               loramoe::as_const(logits), in.batch());
            CHECK(saved.balance_loss == direct);
            CHECK(saved.balance_loss > T(0));
        }
    }

    TEST_CASE_TEMPLATE(
        "loramoe_linear: dropout acts in training only, with a new mask on every training call", T, float,
        double) {
        using namespace layer_conventions_test;
        using loramoe::index;
        const loramoe::test::layer_inputs<T> in(2, 4, 6, 5, 40);
        layer_type<T> with_dropout(small_config(0.4), moe::balance::none{}),
            without(small_config(0.0), moe::balance::none{});
        const auto values = loramoe::test::random_parameter_values<T>(with_dropout.parameter_count(), 41);

        const auto plain = loramoe::test::run_layer(without, in, values, {}, true, T(0));
        const auto evaluation = loramoe::test::run_layer(with_dropout, in, values, {}, false, T(0));
        loramoe::test::expect_close(evaluation.y, plain.y, 0, 0);  // training = false: no dropout
        loramoe::test::expect_close(evaluation.dx, plain.dx, 0, 0);

        const auto first = loramoe::test::run_layer(with_dropout, in, values, {}, true, T(0));
        const auto second = loramoe::test::run_layer(with_dropout, in, values, {}, true, T(0));
        CHECK(loramoe::test::compare_values(loramoe::test::flatten(first.y), loramoe::test::flatten(plain.y),
                                            1e-3, 0)
                  .passed == false);
        CHECK(loramoe::test::compare_values(loramoe::test::flatten(second.y), loramoe::test::flatten(first.y),
                                            1e-3, 0)
                  .passed == false);

        // A fresh layer with the same seed replays the same sequence of masks.
        layer_type<T> replay(small_config(0.4), moe::balance::none{});
        loramoe::test::expect_close(loramoe::test::run_layer(replay, in, values, {}, true, T(0)).y, first.y,
                                    0, 0);
        loramoe::test::expect_close(loramoe::test::run_layer(replay, in, values, {}, true, T(0)).y, second.y,
                                    0, 0);
        // Another seed, other masks.
        auto config = small_config(0.4);
        config.seed = 22;
        layer_type<T> reseeded(config, moe::balance::none{});
        CHECK(loramoe::test::compare_values(
                  loramoe::test::flatten(loramoe::test::run_layer(reseeded, in, values, {}, true, T(0)).y),
                  loramoe::test::flatten(first.y), 1e-3, 0)
                  .passed == false);
    }

}  // TEST_SUITE
