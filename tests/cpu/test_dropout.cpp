// Inverted dropout with a counter-based mask: deterministic in (seed, stream), keyed by each token's
// sample and position (not by its row, so neither padding nor a split over ranks changes a token's
// mask), the kept fraction near 1 - p, kept values scaled by exactly 1 / (1 - p), the same kernel
// serving as its own backward.

#include "test_support.hpp"

#include <vector>

#include <loramoe/cpu/dropout.hpp>

namespace dropout_test {

using loramoe::index;
using loramoe::matrix_view;

template <class T>
std::vector<T> run_dropout(std::uint64_t seed, std::uint64_t stream, T p, const std::vector<T>& x, index rows,
                           index cols, loramoe::token_rows samples = {}) {
    std::vector<T> y(x.size(), T(-999));
    loramoe::dropout(loramoe::cpu{}, seed, stream, p, matrix_view<const T>(x.data(), rows, cols),
                     matrix_view<T>(y.data(), rows, cols), samples);
    return y;
}

}  // namespace dropout_test

TEST_SUITE("cpu") {
    TEST_CASE_TEMPLATE("dropout: the mask is a pure function of (seed, stream, position)", T, float, double) {
        using namespace dropout_test;
        using loramoe::index;
        const index rows = 7, cols = loramoe::test::simd_width<T> + 3;
        const auto x = loramoe::test::random_vector<T>(rows * cols, 1, 0.5, 1.5);  // never zero
        const auto a = run_dropout<T>(42, 3, T(0.4), x, rows, cols);
        const auto b = run_dropout<T>(42, 3, T(0.4), x, rows, cols);
        const auto other_stream = run_dropout<T>(42, 4, T(0.4), x, rows, cols);
        const auto other_seed = run_dropout<T>(43, 3, T(0.4), x, rows, cols);
        CHECK(a == b);
        CHECK(a != other_stream);
        CHECK(a != other_seed);
        // The mask does not depend on the values: dropping out ones gives the same zeros.
        const auto ones = run_dropout<T>(42, 3, T(0.4), std::vector<T>(x.size(), T(1)), rows, cols);
        for (std::size_t k = 0; k < x.size(); ++k) CHECK((a[k] == T(0)) == (ones[k] == T(0)));
        // It is the documented formula: kept where uniform(seed, stream, token_counter(t, 0, cols, j)) >= p
        // (by default each row is a sample of one token).
        for (index t = 0; t < rows; ++t)
            for (index j = 0; j < cols; ++j) {
                const auto counter =
                    loramoe::token_counter(static_cast<std::uint64_t>(t), 0, static_cast<std::uint64_t>(cols),
                                           static_cast<std::uint64_t>(j));
                const bool kept = loramoe::unit_uniform(loramoe::random_bits(42, 3, counter)) >= 0.4;
                CHECK(kept == (a[static_cast<std::size_t>(t * cols + j)] != T(0)));
            }
    }

    TEST_CASE("dropout: a token's mask depends on its sample and position, not on padding or a split") {
        using namespace dropout_test;
        using loramoe::index;
        // 3 samples of 4 tokens, padded to 6; and samples 1 and 2 alone (a second rank's part).
        const index samples = 3, tokens = 4, padded = 6, cols = 11;
        const std::vector<double> ones(static_cast<std::size_t>(samples * padded * cols), 1.0);
        const auto whole = run_dropout<double>(9, 1, 0.5, ones, samples * tokens, cols, {tokens, 0});
        const auto wider = run_dropout<double>(9, 1, 0.5, ones, samples * padded, cols, {padded, 0});
        const auto part = run_dropout<double>(9, 1, 0.5, ones, 2 * tokens, cols, {tokens, 1});
        for (index b = 0; b < samples; ++b)
            for (index t = 0; t < tokens; ++t)
                for (index j = 0; j < cols; ++j) {
                    CAPTURE(b);
                    CAPTURE(t);
                    CAPTURE(j);
                    const double kept = whole[static_cast<std::size_t>((b * tokens + t) * cols + j)];
                    CHECK(wider[static_cast<std::size_t>((b * padded + t) * cols + j)] == kept);
                    if (b > 0)
                        CHECK(part[static_cast<std::size_t>(((b - 1) * tokens + t) * cols + j)] == kept);
                }
        CHECK(whole != run_dropout<double>(9, 1, 0.5, ones, samples * tokens, cols, {tokens, 1}));
    }

    TEST_CASE_TEMPLATE("dropout: about 1 - p is kept, each kept value scaled by exactly 1 / (1 - p)", T,
                       float, double) {
        using namespace dropout_test;
        using loramoe::index;
        const index rows = 200, cols = 501;
        const auto x = loramoe::test::random_vector<T>(rows * cols, 9, 0.5, 1.5);
        for (T p : {T(0.1), T(0.3), T(0.5), T(0.9)}) {
            CAPTURE(p);
            const auto y = run_dropout<T>(7, 0, p, x, rows, cols);
            const T scale = T(1) / (T(1) - p);
            index kept = 0;
            for (std::size_t k = 0; k < x.size(); ++k) {
                if (y[k] == T(0)) continue;
                ++kept;
                REQUIRE(y[k] == x[k] * scale);
            }
            const double fraction = static_cast<double>(kept) / static_cast<double>(x.size());
            CHECK(std::abs(fraction - (1.0 - double(p))) < 0.01);  // 1e5 draws: 4 sigma is below 0.007
        }
    }

    TEST_CASE_TEMPLATE("dropout: p = 0 is the identity; in place and strided views work", T, float, double) {
        using namespace dropout_test;
        using loramoe::index;
        const index rows = 4, cols = 9, stride = 12;
        auto x = loramoe::test::random_vector<T>(rows * stride, 3);
        const auto identity =
            run_dropout<T>(1, 1, T(0), std::vector<T>(x.begin(), x.begin() + rows * cols), rows, cols);
        CHECK(identity == std::vector<T>(x.begin(), x.begin() + rows * cols));

        // A strided view draws the same mask as a contiguous copy of it (the counter is the element's token
        // and column).
        std::vector<T> packed(static_cast<std::size_t>(rows * cols));
        for (index t = 0; t < rows; ++t)
            for (index j = 0; j < cols; ++j) packed[t * cols + j] = x[t * stride + j];
        const auto want = run_dropout<T>(5, 2, T(0.5), packed, rows, cols);
        const matrix_view<T> view(x.data(), rows, cols, stride);
        loramoe::dropout(loramoe::cpu{}, 5, 2, T(0.5), matrix_view<const T>(view), view);  // in place
        CHECK(loramoe::test::flatten(view).values == std::vector<double>(want.begin(), want.end()));
    }

    TEST_CASE("dropout: the backward is the same kernel on dy: dx = m o dy / (1 - p)") {
        using namespace dropout_test;
        using loramoe::index;
        const index rows = 6, cols = 10;
        const auto x = loramoe::test::random_vector<double>(rows * cols, 1, 0.5, 1.5);
        const auto dy = loramoe::test::random_vector<double>(rows * cols, 2);
        const auto y = run_dropout<double>(3, 8, 0.25, x, rows, cols);
        const auto dx = run_dropout<double>(3, 8, 0.25, dy, rows, cols);
        // y is linear in x: <dy, y> = <dx, x>.
        double lhs = 0, rhs = 0;
        for (std::size_t k = 0; k < x.size(); ++k) {
            lhs += dy[k] * y[k];
            rhs += dx[k] * x[k];
            CHECK((dx[k] == 0) == (y[k] == 0));
        }
        CHECK(lhs == doctest::Approx(rhs).epsilon(1e-13));
    }

}  // TEST_SUITE
