// The balancing losses on their own: the LBC (cv2 and var_over_mean, padding masked, K = 1) against
// values computed by hand, the Switch load loss and the router z-loss likewise, and each loss's
// gradient against central finite differences of its value.

#include "test_support.hpp"

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include <loramoe/moe/balance/balance.hpp>

namespace balance_test {

using loramoe::index;
using loramoe::matrix_view;
namespace moe = loramoe::moe;

// B = 2 samples of S = 2 tokens, N = 2 experts; every row sums to 1.
//   sample 0: [0.75, 0.25], [0.5, 0.5]    sample 1: [0.25, 0.75], [0.1, 0.9]
const std::vector<double> lbc_gates = {0.75, 0.25, 0.5, 0.5, 0.25, 0.75, 0.1, 0.9};
// Expert types [1, 0], task types [1, 0], delta 0.1: I = [[1.1, 0.9], [0.9, 1.1]].
const std::vector<std::int64_t> lbc_tasks = {1, 0};
moe::balance::lbc lbc_config(moe::lbc_statistic statistic) {
    return {0.1, statistic, {1, 0}};
}

template <class Loss>
double loss_value(const Loss& loss, const std::vector<double>& gates, const std::vector<double>& logits,
                  index samples, index tokens, index experts, const double* mask,
                  std::span<const std::int64_t> tasks) {
    const moe::routing_batch<double> batch{samples, tokens, mask, tasks};
    return moe::balance_loss(loramoe::cpu{}, loss,
                             matrix_view<const double>(gates.data(), samples * tokens, experts),
                             matrix_view<const double>(logits.data(), samples * tokens, experts), batch);
}

// The loss's gradient with respect to the gates and the logits (weight 1, accumulated onto zeros)
// against central differences of its value, each perturbing gates and logits independently.
template <class Loss>
void check_balance_gradient(const Loss& loss, std::vector<double> gates, std::vector<double> logits,
                            index samples, index tokens, index experts, const double* mask,
                            std::span<const std::int64_t> tasks) {
    const index rows = samples * tokens;
    const moe::routing_batch<double> batch{samples, tokens, mask, tasks};
    std::vector<double> dgates(gates.size(), 0.0), dlogits(logits.size(), 0.0);
    moe::add_balance_gate_gradient(loramoe::cpu{}, loss,
                                   matrix_view<const double>(gates.data(), rows, experts),
                                   matrix_view<const double>(logits.data(), rows, experts), batch, 1.0,
                                   matrix_view<double>(dgates.data(), rows, experts));
    moe::add_balance_logit_gradient(loramoe::cpu{}, loss,
                                    matrix_view<const double>(gates.data(), rows, experts),
                                    matrix_view<const double>(logits.data(), rows, experts), batch, 1.0,
                                    matrix_view<double>(dlogits.data(), rows, experts));
    auto numeric = [&](std::vector<double>& values) {
        std::vector<double> out(values.size());
        for (std::size_t k = 0; k < values.size(); ++k) {
            const double original = values[k];
            values[k] = original + 1e-6;
            const double plus = loss_value(loss, gates, logits, samples, tokens, experts, mask, tasks);
            values[k] = original - 1e-6;
            const double minus = loss_value(loss, gates, logits, samples, tokens, experts, mask, tasks);
            values[k] = original;
            out[k] = (plus - minus) / 2e-6;
        }
        return out;
    };
    const auto numeric_gates = numeric(gates);
    const auto numeric_logits = numeric(logits);
    INFO("gradient with respect to the gates");
    loramoe::test::expect_close(dgates, numeric_gates, 1e-8, 1e-6);
    INFO("gradient with respect to the logits");
    loramoe::test::expect_close(dlogits, numeric_logits, 1e-8, 1e-6);
    // Not vacuous: the loss depends on something.
    CHECK(loramoe::test::max_abs(numeric_gates) + loramoe::test::max_abs(numeric_logits) > 1e-3);
}

}  // namespace balance_test

TEST_SUITE("moe") {
    TEST_CASE("LBC: cv2 and var_over_mean of a 2 x 2 example, by hand") {
        using namespace balance_test;
        using loramoe::index;
        // Q = [[1.25, 0.75], [0.35, 1.65]];  Z = I o Q = [1.375, 0.675, 0.315, 1.815];  mu = 4.18 / 4 = 1.045
        // deviations 0.33, -0.37, -0.73, 0.77: v = (0.1089 + 0.1369 + 0.5329 + 0.5929) / 3 = 0.4572
        const double v = 0.4572, mu = 1.045;
        const std::vector<double> unused(lbc_gates.size(), 0.0);
        CHECK(loss_value(lbc_config(moe::lbc_statistic::cv2), lbc_gates, unused, 2, 2, 2, nullptr,
                         lbc_tasks) == doctest::Approx(v / (mu * mu + 1e-10)).epsilon(1e-12));
        CHECK(loss_value(lbc_config(moe::lbc_statistic::var_over_mean), lbc_gates, unused, 2, 2, 2, nullptr,
                         lbc_tasks) == doctest::Approx(v / mu).epsilon(1e-12));
    }

    TEST_CASE("LBC: padding tokens are left out of the importance") {
        using namespace balance_test;
        using loramoe::index;
        // The last token of sample 1 is padding: Q = [[1.25, 0.75], [0.25, 0.75]];
        // Z = [1.375, 0.675, 0.225, 0.825]; mu = 0.775; deviations 0.6, -0.1, -0.55, 0.05: v = 0.675 / 3 =
        // 0.225
        const std::vector<double> mask = {1, 1, 1, 0};
        const std::vector<double> unused(lbc_gates.size(), 0.0);
        CHECK(loss_value(lbc_config(moe::lbc_statistic::cv2), lbc_gates, unused, 2, 2, 2, mask.data(),
                         lbc_tasks) == doctest::Approx(0.225 / (0.775 * 0.775 + 1e-10)).epsilon(1e-12));
        CHECK(loss_value(lbc_config(moe::lbc_statistic::var_over_mean), lbc_gates, unused, 2, 2, 2,
                         mask.data(), lbc_tasks) == doctest::Approx(0.225 / 0.775).epsilon(1e-12));
    }

    TEST_CASE("LBC: K = B * N = 1 gives 0 and no gradient") {
        using namespace balance_test;
        using loramoe::index;
        const std::vector<double> gates = {1.0, 1.0, 1.0}, logits = {0.3, -0.2, 0.1};
        const std::vector<std::int64_t> tasks = {0};
        for (auto statistic : {moe::lbc_statistic::cv2, moe::lbc_statistic::var_over_mean}) {
            const moe::balance::lbc config{0.1, statistic, {}};
            CHECK(loss_value(config, gates, logits, 1, 3, 1, nullptr, tasks) == 0.0);
            std::vector<double> dgates(3, 0.5);
            moe::add_balance_gate_gradient(loramoe::cpu{}, config,
                                           matrix_view<const double>(gates.data(), 3, 1),
                                           matrix_view<const double>(logits.data(), 3, 1),
                                           moe::routing_batch<double>{1, 3, nullptr, tasks}, 1.0,
                                           matrix_view<double>(dgates.data(), 3, 1));
            CHECK(dgates == std::vector<double>(3, 0.5));
        }
    }

    TEST_CASE("LBC: the default expert types are the official layout, first floor(N/2) experts of type 1") {
        CHECK(loramoe::moe::official_expert_types(1) == std::vector<std::int64_t>{0});
        CHECK(loramoe::moe::official_expert_types(2) == std::vector<std::int64_t>{1, 0});
        CHECK(loramoe::moe::official_expert_types(5) == std::vector<std::int64_t>{1, 1, 0, 0, 0});
        CHECK(loramoe::moe::official_expert_types(6) == std::vector<std::int64_t>{1, 1, 1, 0, 0, 0});
        // An empty expert_types means the official ones: the same value as spelling them out.
        using namespace balance_test;
        using loramoe::index;
        const auto gates = loramoe::test::random_vector<double>(2 * 3 * 5, 4, 0.05, 1);
        const std::vector<std::int64_t> tasks = {0, 1};
        const std::vector<double> unused(gates.size(), 0.0);
        const double implicit = loss_value(moe::balance::lbc{0.2, moe::lbc_statistic::cv2, {}}, gates, unused,
                                           2, 3, 5, nullptr, tasks);
        const double spelled = loss_value(moe::balance::lbc{0.2, moe::lbc_statistic::cv2, {1, 1, 0, 0, 0}},
                                          gates, unused, 2, 3, 5, nullptr, tasks);
        const double other = loss_value(moe::balance::lbc{0.2, moe::lbc_statistic::cv2, {0, 0, 1, 1, 1}},
                                        gates, unused, 2, 3, 5, nullptr, tasks);
        CHECK(implicit == spelled);
        CHECK(implicit != other);
    }

    TEST_CASE("LBC: statistic names, and mismatched expert or task types") {
        using namespace balance_test;
        using loramoe::index;
        CHECK(moe::parse_lbc_statistic("cv2") == moe::lbc_statistic::cv2);
        CHECK(moe::parse_lbc_statistic("var_over_mean") == moe::lbc_statistic::var_over_mean);
        CHECK(std::string(moe::to_string(moe::lbc_statistic::var_over_mean)) == "var_over_mean");
        CHECK_THROWS_NAMING(loramoe::value_error, moe::parse_lbc_statistic("cv"),
                            "unknown LBC statistic 'cv'");
        const std::vector<double> unused(lbc_gates.size(), 0.0);
        const std::vector<std::int64_t> three_tasks = {1, 0, 1};
        CHECK_THROWS_NAMING(
            loramoe::shape_error,
            loss_value(lbc_config(moe::lbc_statistic::cv2), lbc_gates, unused, 2, 2, 2, nullptr, three_tasks),
            "3 task types", "2 samples");
        CHECK_THROWS_NAMING(loramoe::shape_error,
                            loss_value(moe::balance::lbc{0.1, moe::lbc_statistic::cv2, {0, 1, 1}}, lbc_gates,
                                       unused, 2, 2, 2, nullptr, lbc_tasks),
                            "3 expert types", "2 experts");
    }

    TEST_CASE("LBC: gradient with respect to the gates, cv2 and var_over_mean, with and without padding") {
        using namespace balance_test;
        using loramoe::index;
        const index samples = 3, tokens = 4, experts = 5;
        const auto gates = loramoe::test::random_vector<double>(samples * tokens * experts, 17, 0.05, 1);
        const auto logits = loramoe::test::random_vector<double>(gates.size(), 18);
        const std::vector<double> mask = {1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0};
        const std::vector<std::int64_t> tasks = {1, 0, 0};
        for (auto statistic : {moe::lbc_statistic::cv2, moe::lbc_statistic::var_over_mean})
            for (const double* m : {static_cast<const double*>(nullptr), mask.data()})
                for (std::vector<std::int64_t> types :
                     {std::vector<std::int64_t>{}, std::vector<std::int64_t>{0, 1, 0, 1, 1}}) {
                    INFO("statistic ", moe::to_string(statistic), ", mask ", m != nullptr, ", custom types ",
                         !types.empty());
                    check_balance_gradient(moe::balance::lbc{0.15, statistic, types}, gates, logits, samples,
                                           tokens, experts, m, tasks);
                }
    }

    TEST_CASE("Switch load loss: N sum_n f_n P_n over the real tokens, by hand") {
        using namespace balance_test;
        using loramoe::index;
        // Tokens [0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.8, 0.2]: the largest gates are 0, 0, 1, 0.
        const std::vector<double> gates = {0.9, 0.1, 0.6, 0.4, 0.3, 0.7, 0.8, 0.2}, logits(8, 0.0);
        // f = [3/4, 1/4], P = [2.6/4, 1.4/4]: 2 * (0.75 * 0.65 + 0.25 * 0.35) = 1.15
        CHECK(loss_value(moe::balance::switch_load{}, gates, logits, 2, 2, 2, nullptr, {}) ==
              doctest::Approx(1.15).epsilon(1e-14));
        // The last token is padding: f = [2/3, 1/3], P = [0.6, 0.4]: 2 * (0.4 + 0.4 / 3) = 16 / 15
        const std::vector<double> mask = {1, 1, 1, 0};
        CHECK(loss_value(moe::balance::switch_load{}, gates, logits, 2, 2, 2, mask.data(), {}) ==
              doctest::Approx(16.0 / 15.0).epsilon(1e-14));
        // All padding: no tokens, no loss.
        const std::vector<double> none = {0, 0, 0, 0};
        CHECK(loss_value(moe::balance::switch_load{}, gates, logits, 2, 2, 2, none.data(), {}) == 0.0);
    }

    TEST_CASE("Switch load loss: gradient through P (f piecewise constant), with and without padding") {
        using namespace balance_test;
        using loramoe::index;
        const index samples = 2, tokens = 5, experts = 4;
        // Random gates whose largest entry is well separated, so no perturbation changes f.
        auto gates = loramoe::test::random_vector<double>(samples * tokens * experts, 5, 0.05, 0.5);
        for (index row = 0; row < samples * tokens; ++row) gates[row * experts + row % experts] += 1.0;
        const auto logits = loramoe::test::random_vector<double>(gates.size(), 6);
        const std::vector<double> mask = {1, 1, 1, 0, 0, 1, 1, 1, 1, 1};
        check_balance_gradient(moe::balance::switch_load{}, gates, logits, samples, tokens, experts, nullptr,
                               {});
        check_balance_gradient(moe::balance::switch_load{}, gates, logits, samples, tokens, experts,
                               mask.data(), {});
    }

    TEST_CASE("router z-loss: the mean over real tokens of (log sum exp z)^2, by hand") {
        using namespace balance_test;
        using loramoe::index;
        // Token 0: z = [0, 0], lse = log 2;  token 1: z = [log 3, 0], lse = log 4 = 2 log 2.
        const double l = std::log(2.0);
        const std::vector<double> logits = {0.0, 0.0, std::log(3.0), 0.0}, gates(4, 0.5);
        CHECK(loss_value(moe::balance::router_z{}, gates, logits, 1, 2, 2, nullptr, {}) ==
              doctest::Approx((l * l + 4 * l * l) / 2).epsilon(1e-14));
        const std::vector<double> mask = {1, 0};
        CHECK(loss_value(moe::balance::router_z{}, gates, logits, 1, 2, 2, mask.data(), {}) ==
              doctest::Approx(l * l).epsilon(1e-14));
    }

    TEST_CASE("router z-loss: gradient on the logits, with and without padding") {
        using namespace balance_test;
        using loramoe::index;
        const auto gates = loramoe::test::random_vector<double>(2 * 3 * 4, 1, 0.1, 1);
        const auto logits = loramoe::test::random_vector<double>(gates.size(), 2, -3, 3);
        const std::vector<double> mask = {1, 1, 0, 1, 0, 0};
        check_balance_gradient(moe::balance::router_z{}, gates, logits, 2, 3, 4, nullptr, {});
        check_balance_gradient(moe::balance::router_z{}, gates, logits, 2, 3, 4, mask.data(), {});
    }

    TEST_CASE("balance::none and balance::dynamic: no loss, and the held loss exactly") {
        using namespace balance_test;
        using loramoe::index;
        const index samples = 2, tokens = 3, experts = 4, rows = samples * tokens;
        const auto gates = loramoe::test::random_vector<double>(rows * experts, 8, 0.05, 1);
        const auto logits = loramoe::test::random_vector<double>(rows * experts, 9);
        const std::vector<double> mask = {1, 1, 0, 1, 0, 0};
        const std::vector<std::int64_t> tasks = {0, 1};
        CHECK(loss_value(moe::balance::none{}, gates, logits, samples, tokens, experts, mask.data(), tasks) ==
              0.0);
        const moe::balance::lbc lbc{0.1, moe::lbc_statistic::cv2, {}};
        const std::vector<moe::balance::dynamic> held = {
            moe::balance::none{}, lbc, moe::balance::switch_load{}, moe::balance::router_z{}};
        const std::vector<double> direct = {
            0.0, loss_value(lbc, gates, logits, samples, tokens, experts, mask.data(), tasks),
            loss_value(moe::balance::switch_load{}, gates, logits, samples, tokens, experts, mask.data(),
                       tasks),
            loss_value(moe::balance::router_z{}, gates, logits, samples, tokens, experts, mask.data(),
                       tasks)};
        for (std::size_t i = 0; i < held.size(); ++i) {
            CAPTURE(i);
            CHECK(loss_value(held[i], gates, logits, samples, tokens, experts, mask.data(), tasks) ==
                  direct[i]);
            if (i > 0)
                check_balance_gradient(held[i], gates, logits, samples, tokens, experts, mask.data(), tasks);
        }
        // The gradients of none add nothing.
        std::vector<double> dgates(gates.size(), 1.0);
        moe::add_balance_gate_gradient(loramoe::cpu{}, moe::balance::none{},
                                       matrix_view<const double>(gates.data(), rows, experts),
                                       matrix_view<const double>(logits.data(), rows, experts),
                                       moe::routing_batch<double>{samples, tokens, nullptr, tasks}, 1.0,
                                       matrix_view<double>(dgates.data(), rows, experts));
        CHECK(dgates == std::vector<double>(gates.size(), 1.0));
    }

    TEST_CASE("balance gradients are scaled by the weight and accumulate") {
        using namespace balance_test;
        using loramoe::index;
        const index samples = 2, tokens = 2, experts = 2, rows = 4;
        const moe::routing_batch<double> batch{samples, tokens, nullptr, lbc_tasks};
        const auto config = lbc_config(moe::lbc_statistic::cv2);
        const std::vector<double> logits(8, 0.0);
        std::vector<double> once(8, 0.0), twice(8, 0.0), prior(8, 0.0);
        auto add = [&](std::vector<double>& into, double weight) {
            moe::add_balance_gate_gradient(loramoe::cpu{}, config,
                                           matrix_view<const double>(lbc_gates.data(), rows, experts),
                                           matrix_view<const double>(logits.data(), rows, experts), batch,
                                           weight, matrix_view<double>(into.data(), rows, experts));
        };
        add(once, 1.0);
        add(twice, 0.5);
        add(twice, 0.5);
        add(prior, 0.0);  // weight 0: nothing
        loramoe::test::expect_close(twice, once, 1e-15, 1e-14);
        CHECK(prior == std::vector<double>(8, 0.0));
        CHECK(loramoe::test::max_abs(once) > 1e-3);
    }

    TEST_CASE("every balancing loss of a batch whose tokens are all padding is 0, with no gradient") {
        // Switch and z-loss say so in their code; the LBC must not divide 0 by 0 either (a NaN loss would
        // poison the whole step).
        using namespace balance_test;
        using loramoe::index;
        const index samples = 2, tokens = 2, experts = 3, rows = samples * tokens;
        const auto gates = loramoe::test::random_vector<double>(rows * experts, 3, 0.05, 1);
        const auto logits = loramoe::test::random_vector<double>(rows * experts, 4);
        const std::vector<double> padding(rows, 0.0);
        const std::vector<std::int64_t> tasks = {0, 1};
        const std::vector<moe::balance::dynamic> losses = {
            moe::balance::lbc{0.1, moe::lbc_statistic::cv2, {}},
            moe::balance::lbc{0.1, moe::lbc_statistic::var_over_mean, {}}, moe::balance::switch_load{},
            moe::balance::router_z{}};
        const char* const names[] = {"lbc cv2", "lbc var_over_mean", "switch_load", "router_z"};
        for (std::size_t i = 0; i < losses.size(); ++i) {
            INFO(std::string(names[i]));
            CHECK(loss_value(losses[i], gates, logits, samples, tokens, experts, padding.data(), tasks) ==
                  0.0);
            std::vector<double> dgates(gates.size(), 0.0), dlogits(gates.size(), 0.0);
            const moe::routing_batch<double> batch{samples, tokens, padding.data(), tasks};
            moe::add_balance_gate_gradient(loramoe::cpu{}, losses[i],
                                           matrix_view<const double>(gates.data(), rows, experts),
                                           matrix_view<const double>(logits.data(), rows, experts), batch,
                                           1.0, matrix_view<double>(dgates.data(), rows, experts));
            moe::add_balance_logit_gradient(loramoe::cpu{}, losses[i],
                                            matrix_view<const double>(gates.data(), rows, experts),
                                            matrix_view<const double>(logits.data(), rows, experts), batch,
                                            1.0, matrix_view<double>(dlogits.data(), rows, experts));
            CHECK(dgates == std::vector<double>(gates.size(), 0.0));
            CHECK(dlogits == std::vector<double>(gates.size(), 0.0));
        }
    }

}  // TEST_SUITE
