// The router's reductions over tokens and samples (the heavy part of the balancing losses), against
// naive loops, with and without a padding mask.

#include "test_support.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include <loramoe/cpu/routing.hpp>

namespace routing_test {

using loramoe::index;
using loramoe::matrix_view;

// A padding mask for samples x tokens: sample b has tokens - (b % tokens) real tokens (right padding).
template <class T>
std::vector<T> right_padding(index samples, index tokens) {
    std::vector<T> mask(static_cast<std::size_t>(samples * tokens), T(0));
    for (index b = 0; b < samples; ++b)
        for (index t = 0; t < tokens - (b % tokens); ++t) mask[b * tokens + t] = T(1);
    return mask;
}

}  // namespace routing_test

TEST_SUITE("cpu") {
    TEST_CASE_TEMPLATE("sum_gates_per_sample: masked sums per sample, overwriting q", T, float, double) {
        using namespace routing_test;
        using loramoe::index;
        for (index experts : loramoe::test::edge_sizes<T>()) {
            CAPTURE(experts);
            const index samples = 3, tokens = 4, rows = samples * tokens;
            const auto gates = loramoe::test::random_vector<T>(rows * experts, 10 + experts, 0, 1);
            const auto mask = right_padding<T>(samples, tokens);
            for (const T* m : {static_cast<const T*>(nullptr), mask.data()}) {
                CAPTURE(m != nullptr);
                std::vector<double> want(static_cast<std::size_t>(samples * experts), 0.0);
                for (index b = 0; b < samples; ++b)
                    for (index t = 0; t < tokens; ++t)
                        for (index n = 0; n < experts; ++n)
                            want[b * experts + n] +=
                                (m ? m[b * tokens + t] : 1) * double(gates[(b * tokens + t) * experts + n]);
                std::vector<T> q(want.size(), std::numeric_limits<T>::quiet_NaN());
                loramoe::sum_gates_per_sample(loramoe::cpu{},
                                              matrix_view<const T>(gates.data(), rows, experts), m, samples,
                                              tokens, matrix_view<T>(q.data(), samples, experts));
                loramoe::test::expect_close(q, want, 1e-6, 1e-6);
            }
        }
    }

    TEST_CASE_TEMPLATE("add_per_sample_gradient: dgates[b*S + t] += mask * dq[b], accumulating", T, float,
                       double) {
        using namespace routing_test;
        using loramoe::index;
        const index samples = 2, tokens = 5, experts = loramoe::test::simd_width<T> + 1,
                    rows = samples * tokens;
        const auto dq = loramoe::test::random_vector<T>(samples * experts, 1);
        const auto prior = loramoe::test::random_vector<T>(rows * experts, 2);
        const auto mask = right_padding<T>(samples, tokens);
        for (const T* m : {static_cast<const T*>(nullptr), mask.data()}) {
            CAPTURE(m != nullptr);
            auto dgates = prior;
            loramoe::add_per_sample_gradient(loramoe::cpu{},
                                             matrix_view<const T>(dq.data(), samples, experts), m, samples,
                                             tokens, matrix_view<T>(dgates.data(), rows, experts));
            std::vector<double> want(prior.begin(), prior.end());
            for (index row = 0; row < rows; ++row)
                for (index n = 0; n < experts; ++n)
                    want[row * experts + n] += (m ? m[row] : 1) * double(dq[(row / tokens) * experts + n]);
            loramoe::test::expect_close(dgates, want, 1e-6, 1e-6);
        }
    }

    TEST_CASE("count_top_expert: counts real tokens by their largest gate, the lower index among ties") {
        const std::vector<double> gates = {
            0.2, 0.5,  0.3,   // expert 1
            0.4, 0.4,  0.2,   // tie: expert 0
            0.1, 0.1,  0.8,   // expert 2, but padding
            0.3, 0.3,  0.4,   // expert 2
            0.3, 0.35, 0.35,  // tie: expert 1
        };
        const std::vector<double> mask = {1, 1, 0, 1, 1};
        std::vector<double> counts(3, -1.0);
        loramoe::count_top_expert(loramoe::cpu{}, loramoe::matrix_view<const double>(gates.data(), 5, 3),
                                  mask.data(), counts.data());
        CHECK(counts == std::vector<double>{1, 2, 1});
        loramoe::count_top_expert(loramoe::cpu{}, loramoe::matrix_view<const double>(gates.data(), 5, 3),
                                  static_cast<const double*>(nullptr), counts.data());
        CHECK(counts == std::vector<double>{1, 2, 2});
    }

    TEST_CASE_TEMPLATE("logsumexp_rows: against a naive loop, large magnitudes included", T, float, double) {
        for (loramoe::index cols : loramoe::test::edge_sizes<T>()) {
            CAPTURE(cols);
            const loramoe::index rows = 4;
            auto z = loramoe::test::random_vector<T>(rows * cols, 3 + cols, -3, 3);
            for (loramoe::index j = 0; j < cols; ++j) z[3 * cols + j] += T(800);  // exp would overflow
            std::vector<T> lse(rows);
            loramoe::logsumexp_rows(loramoe::cpu{}, loramoe::matrix_view<const T>(z.data(), rows, cols),
                                    lse.data());
            std::vector<double> want;
            for (loramoe::index t = 0; t < rows; ++t) {
                double top = -INFINITY, sum = 0;
                for (loramoe::index j = 0; j < cols; ++j) top = std::max(top, double(z[t * cols + j]));
                for (loramoe::index j = 0; j < cols; ++j) sum += std::exp(double(z[t * cols + j]) - top);
                want.push_back(top + std::log(sum));
            }
            const double tol = std::is_same_v<T, float> ? 2e-6 : 1e-14;
            loramoe::test::expect_close(lse, want, tol, tol);
        }
    }

    TEST_CASE(
        "add_squared_logsumexp_gradient: the gradient of c * sum_t mask_t lse_t^2, by finite differences") {
        using namespace routing_test;
        using loramoe::index;
        const loramoe::index rows = 6, cols = 5;
        const double c = 0.7;
        auto z = loramoe::test::random_vector<double>(rows * cols, 8, -2, 2);
        const auto mask = right_padding<double>(2, 3);
        auto objective = [&] {
            std::vector<double> lse(rows);
            loramoe::logsumexp_rows(loramoe::cpu{}, loramoe::matrix_view<const double>(z.data(), rows, cols),
                                    lse.data());
            double sum = 0;
            for (loramoe::index t = 0; t < rows; ++t) sum += mask[t] * lse[t] * lse[t];
            return c * sum;
        };
        std::vector<double> lse(rows), dz(z.size(), 0.25);  // accumulates onto 0.25
        loramoe::logsumexp_rows(loramoe::cpu{}, loramoe::matrix_view<const double>(z.data(), rows, cols),
                                lse.data());
        loramoe::add_squared_logsumexp_gradient(
            loramoe::cpu{}, loramoe::matrix_view<const double>(z.data(), rows, cols), lse.data(), mask.data(),
            c, loramoe::matrix_view<double>(dz.data(), rows, cols));
        std::vector<double> numeric(z.size());
        for (std::size_t k = 0; k < z.size(); ++k) {
            const double original = z[k];
            z[k] = original + 1e-6;
            const double plus = objective();
            z[k] = original - 1e-6;
            const double minus = objective();
            z[k] = original;
            numeric[k] = 0.25 + (plus - minus) / 2e-6;
        }
        loramoe::test::expect_close(dz, numeric, 1e-8, 1e-6);
    }

}  // TEST_SUITE
