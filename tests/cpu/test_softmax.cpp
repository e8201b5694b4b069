// softmax_rows, its backward, and keep_top_k, against naive loops in double and finite differences.

#include "test_support.hpp"

#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include <loramoe/cpu/softmax.hpp>

namespace softmax_test {

using loramoe::index;

// The softmax of each row of (rows, cols) logits, in long double with the max shift.
template <class T>
std::vector<double> naive_softmax(const std::vector<T>& z, index rows, index cols) {
    std::vector<double> p(z.size());
    for (index t = 0; t < rows; ++t) {
        long double top = -std::numeric_limits<long double>::infinity(), sum = 0;
        for (index j = 0; j < cols; ++j) top = std::max<long double>(top, z[t * cols + j]);
        for (index j = 0; j < cols; ++j) sum += std::exp(static_cast<long double>(z[t * cols + j]) - top);
        for (index j = 0; j < cols; ++j)
            p[t * cols + j] =
                static_cast<double>(std::exp(static_cast<long double>(z[t * cols + j]) - top) / sum);
    }
    return p;
}

template <class T>
double tolerance() {
    return std::is_same_v<T, float> ? 2e-6 : 1e-14;
}

}  // namespace softmax_test

TEST_SUITE("cpu") {
    TEST_CASE_TEMPLATE("softmax_rows: against a naive loop, at every edge size, from strided logits", T,
                       float, double) {
        using namespace softmax_test;
        using loramoe::index;
        for (index cols : loramoe::test::edge_sizes<T>()) {
            CAPTURE(cols);
            const index rows = 5, stride = cols + 3;
            auto storage =
                loramoe::test::random_vector<T>(rows * stride, static_cast<std::uint64_t>(cols), -4, 4);
            std::vector<T> z(static_cast<std::size_t>(rows * cols));
            for (index t = 0; t < rows; ++t)
                for (index j = 0; j < cols; ++j) z[t * cols + j] = storage[t * stride + j];
            std::vector<T> p(z.size(), std::numeric_limits<T>::quiet_NaN());
            loramoe::softmax_rows(loramoe::cpu{},
                                  loramoe::matrix_view<const T>(storage.data(), rows, cols, stride),
                                  loramoe::matrix_view<T>(p.data(), rows, cols));
            loramoe::test::expect_close(p, naive_softmax(z, rows, cols), tolerance<T>() * 0.1,
                                        tolerance<T>());
            for (index t = 0; t < rows; ++t) {
                double sum = 0;
                for (index j = 0; j < cols; ++j) sum += p[t * cols + j];
                CHECK(sum == doctest::Approx(1.0).epsilon(10 * tolerance<T>()));
            }
        }
    }

    TEST_CASE_TEMPLATE("softmax_rows: large-magnitude logits neither overflow nor underflow into NaN", T,
                       float, double) {
        using namespace softmax_test;
        using loramoe::index;
        const index cols = loramoe::test::simd_width<T> + 3;
        std::vector<T> z(static_cast<std::size_t>(3 * cols));
        for (index j = 0; j < cols; ++j) {
            z[j] = T(1000) + T(j % 4);                    // huge, close together
            z[cols + j] = T(-1000) - T(j % 3);            // very negative
            z[2 * cols + j] = j == 5 ? T(5e3) : T(-5e3);  // one dominates completely
        }
        std::vector<T> p(z.size());
        loramoe::softmax_rows(loramoe::cpu{}, loramoe::matrix_view<const T>(z.data(), 3, cols),
                              loramoe::matrix_view<T>(p.data(), 3, cols));
        for (T v : p) REQUIRE(std::isfinite(v));
        loramoe::test::expect_close(p, naive_softmax(z, 3, cols), tolerance<T>() * 0.1, tolerance<T>());
        CHECK(p[2 * cols + 5] == T(1));
        CHECK(p[2 * cols + 4] == T(0));
    }

    TEST_CASE_TEMPLATE("softmax_rows: may write in place", T, float, double) {
        using namespace softmax_test;
        using loramoe::index;
        const index cols = 2 * loramoe::test::simd_width<T> + 1;
        auto z = loramoe::test::random_vector<T>(2 * cols, 5, -3, 3);
        const auto want = naive_softmax(z, 2, cols);
        loramoe::softmax_rows(loramoe::cpu{}, loramoe::matrix_view<const T>(z.data(), 2, cols),
                              loramoe::matrix_view<T>(z.data(), 2, cols));
        loramoe::test::expect_close(z, want, tolerance<T>() * 0.1, tolerance<T>());
    }

    TEST_CASE("softmax_rows_backward: against central finite differences of <softmax(z), w>, in double") {
        using namespace softmax_test;
        using loramoe::index;
        for (index cols : loramoe::test::edge_sizes<double>()) {
            CAPTURE(cols);
            const index rows = 3;
            auto z = loramoe::test::random_vector<double>(rows * cols, 10 + cols, -2, 2);
            const auto w = loramoe::test::random_vector<double>(rows * cols, 20 + cols);
            auto objective = [&](const std::vector<double>& logits) {
                std::vector<double> p(logits.size());
                loramoe::softmax_rows(loramoe::cpu{},
                                      loramoe::matrix_view<const double>(logits.data(), rows, cols),
                                      loramoe::matrix_view<double>(p.data(), rows, cols));
                return std::inner_product(p.begin(), p.end(), w.begin(), 0.0);
            };
            std::vector<double> p(z.size()), dz(z.size(), std::numeric_limits<double>::quiet_NaN());
            loramoe::softmax_rows(loramoe::cpu{}, loramoe::matrix_view<const double>(z.data(), rows, cols),
                                  loramoe::matrix_view<double>(p.data(), rows, cols));
            loramoe::softmax_rows_backward(loramoe::cpu{},
                                           loramoe::matrix_view<const double>(p.data(), rows, cols),
                                           loramoe::matrix_view<const double>(w.data(), rows, cols),
                                           loramoe::matrix_view<double>(dz.data(), rows, cols));
            std::vector<double> numeric(z.size());
            const double h = 1e-6;
            for (std::size_t k = 0; k < z.size(); ++k) {
                const double original = z[k];
                z[k] = original + h;
                const double plus = objective(z);
                z[k] = original - h;
                const double minus = objective(z);
                z[k] = original;
                numeric[k] = (plus - minus) / (2 * h);
            }
            loramoe::test::expect_close(dz, numeric, 1e-9, 1e-6);
        }
    }

    TEST_CASE_TEMPLATE("softmax_rows_backward: p o (dp - <p, dp>), also in place over dp", T, float, double) {
        using namespace softmax_test;
        using loramoe::index;
        for (index cols : loramoe::test::edge_sizes<T>()) {
            CAPTURE(cols);
            const index rows = 4;
            auto z = loramoe::test::random_vector<T>(rows * cols, 30 + cols, -2, 2);
            auto dp = loramoe::test::random_vector<T>(rows * cols, 40 + cols);
            std::vector<T> p(z.size());
            loramoe::softmax_rows(loramoe::cpu{}, loramoe::matrix_view<const T>(z.data(), rows, cols),
                                  loramoe::matrix_view<T>(p.data(), rows, cols));
            std::vector<double> want(z.size());
            for (index t = 0; t < rows; ++t) {
                double inner = 0;
                for (index j = 0; j < cols; ++j) inner += double(p[t * cols + j]) * dp[t * cols + j];
                for (index j = 0; j < cols; ++j)
                    want[t * cols + j] = p[t * cols + j] * (dp[t * cols + j] - inner);
            }
            loramoe::softmax_rows_backward(loramoe::cpu{},
                                           loramoe::matrix_view<const T>(p.data(), rows, cols),
                                           loramoe::matrix_view<const T>(dp.data(), rows, cols),
                                           loramoe::matrix_view<T>(dp.data(), rows, cols));
            loramoe::test::expect_close(dp, want, tolerance<T>(), tolerance<T>());
        }
    }

    TEST_CASE_TEMPLATE("keep_top_k: keeps the k largest, renormalised; k = 0 or k >= N changes nothing", T,
                       float, double) {
        using namespace softmax_test;
        using loramoe::index;
        const index cols = loramoe::test::simd_width<T> + 1, rows = 6;
        auto z = loramoe::test::random_vector<T>(rows * cols, 77, -3, 3);
        std::vector<T> p(z.size());
        loramoe::softmax_rows(loramoe::cpu{}, loramoe::matrix_view<const T>(z.data(), rows, cols),
                              loramoe::matrix_view<T>(p.data(), rows, cols));
        for (index k : {index{0}, cols, cols + 2}) {
            auto q = p;
            loramoe::keep_top_k(loramoe::cpu{}, k, loramoe::matrix_view<T>(q.data(), rows, cols));
            CHECK(q == p);
        }
        for (index k : {index{1}, index{2}, cols - 1}) {
            CAPTURE(k);
            auto q = p;
            loramoe::keep_top_k(loramoe::cpu{}, k, loramoe::matrix_view<T>(q.data(), rows, cols));
            // It equals a softmax over the k largest logits alone.
            std::vector<double> want(q.size(), 0.0);
            for (index t = 0; t < rows; ++t) {
                std::vector<index> order(static_cast<std::size_t>(cols));
                std::iota(order.begin(), order.end(), index{0});
                std::stable_sort(order.begin(), order.end(),
                                 [&](index a, index b) { return z[t * cols + a] > z[t * cols + b]; });
                double sum = 0;
                for (index j = 0; j < k; ++j) sum += std::exp(double(z[t * cols + order[j]]));
                for (index j = 0; j < k; ++j)
                    want[t * cols + order[j]] = std::exp(double(z[t * cols + order[j]])) / sum;
            }
            loramoe::test::expect_close(q, want, tolerance<T>(), 4 * tolerance<T>());
            for (index t = 0; t < rows; ++t) {
                index nonzero = 0;
                for (index j = 0; j < cols; ++j) nonzero += q[t * cols + j] != T(0);
                CHECK(nonzero == k);
            }
        }
    }

    TEST_CASE("keep_top_k: among ties the lower index is kept") {
        std::vector<double> p = {0.25, 0.25, 0.25, 0.25, 0.1, 0.3, 0.3, 0.3};
        loramoe::keep_top_k(loramoe::cpu{}, 2, loramoe::matrix_view<double>(p.data(), 2, 4));
        CHECK(p == std::vector<double>{0.5, 0.5, 0.0, 0.0, 0.0, 0.5, 0.5, 0.0});
    }

}  // TEST_SUITE
