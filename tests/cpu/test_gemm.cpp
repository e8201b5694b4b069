// gemm(cpu, alpha, a, op_a, b, op_b, beta, c) against a naive triple loop: the four transpose
// combinations, beta 0 / 1 / other, strided views, and sizes 1, odd, SIMD-width and larger; then the
// narrow products' own kernel (cpu/narrow_gemm.hpp, n <= 64) directly and through gemm, on every width
// of its panel, tiles cut short, and enough rows for the threads.

#include "test_support.hpp"

#include <limits>
#include <tuple>
#include <utility>
#include <vector>

#include <loramoe/cpu/gemm.hpp>

namespace gemm_test {

using loramoe::index;
using loramoe::matrix_view;
using loramoe::transpose;

using loramoe::test::padded_matrix;

// c = alpha * op(a) op(b) + beta * c, in long double.
template <class T>
std::vector<double> naive_gemm(T alpha, matrix_view<const T> a, transpose op_a, matrix_view<const T> b,
                               transpose op_b, T beta, matrix_view<const T> c) {
    const bool ta = op_a == transpose::yes, tb = op_b == transpose::yes;
    const index m = c.rows, n = c.cols, k = ta ? a.rows : a.cols;
    std::vector<double> out;
    for (index i = 0; i < m; ++i)
        for (index j = 0; j < n; ++j) {
            long double sum = 0;
            for (index p = 0; p < k; ++p)
                sum += static_cast<long double>(ta ? a(p, i) : a(i, p)) * (tb ? b(j, p) : b(p, j));
            const long double prior = beta == T(0) ? 0 : static_cast<long double>(beta) * c(i, j);
            out.push_back(static_cast<double>(alpha * sum + prior));
        }
    return out;
}

// `product` computes c = alpha op(a) op(b) + beta c: loramoe::gemm, or a kernel of its own.
template <class T, class Product>
void check_product(Product&& product, index m, index n, index k, transpose op_a, transpose op_b, T alpha,
                   T beta, index pad, std::uint64_t seed) {
    const bool ta = op_a == transpose::yes, tb = op_b == transpose::yes;
    const T sentinel = T(12345);
    padded_matrix<T> a(ta ? k : m, ta ? m : k, pad, sentinel), b(tb ? n : k, tb ? k : n, pad, sentinel),
        c(m, n, pad, sentinel);
    loramoe::random_generator rng(seed);
    loramoe::test::fill_uniform(a.view(), rng);
    loramoe::test::fill_uniform(b.view(), rng);
    loramoe::test::fill_uniform(c.view(), rng);
    if (beta == T(0))  // beta = 0 overwrites c, NaN included
        for (index i = 0; i < m; ++i)
            for (index j = 0; j < n; ++j) c.view()(i, j) = std::numeric_limits<T>::quiet_NaN();
    const auto want = naive_gemm<T>(alpha, a.view(), op_a, b.view(), op_b, beta, c.view());
    product(alpha, matrix_view<const T>(a.view()), op_a, matrix_view<const T>(b.view()), op_b, beta,
            c.view());
    const double eps = std::numeric_limits<T>::epsilon();
    loramoe::test::expect_close(loramoe::test::flatten(c.view()).values, want,
                                8 * eps * static_cast<double>(k + 1), 8 * eps);
    CHECK_MESSAGE(c.outside_untouched(sentinel), "gemm wrote outside the view of c");
    CHECK(a.outside_untouched(sentinel));
}

template <class T>
void check_gemm(index m, index n, index k, transpose op_a, transpose op_b, T alpha, T beta, index pad,
                std::uint64_t seed) {
    check_product<T>([](auto... arguments) { loramoe::gemm(loramoe::cpu{}, arguments...); }, m, n, k, op_a,
                     op_b, alpha, beta, pad, seed);
}

}  // namespace gemm_test

TEST_SUITE("cpu") {
    TEST_CASE_TEMPLATE("gemm: all four transpose combinations, beta 0, 1 and 0.5, against a naive loop", T,
                       float, double) {
        using loramoe::transpose;
        constexpr loramoe::index w = loramoe::test::simd_width<T>;
        const std::vector<std::tuple<loramoe::index, loramoe::index, loramoe::index>> shapes = {
            {1, 1, 1}, {3, 5, 7}, {w, w, w}, {w + 1, 2 * w + 3, w - 1}, {2, 1, 13}, {37, 19, 45}};
        std::uint64_t seed = 1;
        for (const auto& shape : shapes)
            for (transpose op_a : {transpose::no, transpose::yes})
                for (transpose op_b : {transpose::no, transpose::yes})
                    for (T beta : {T(0), T(1), T(0.5)}) {
                        const loramoe::index m = std::get<0>(shape), n = std::get<1>(shape),
                                             k = std::get<2>(shape);
                        INFO("m = ", m, ", n = ", n, ", k = ", k, ", op_a = ", bool(op_a),
                             ", op_b = ", bool(op_b), ", beta = ", beta);
                        gemm_test::check_gemm<T>(m, n, k, op_a, op_b, T(0.75), beta, 0, seed++);
                    }
    }

    TEST_CASE_TEMPLATE("gemm: strided views (blocks of larger matrices) read and write only their block", T,
                       float, double) {
        using loramoe::transpose;
        std::uint64_t seed = 100;
        for (loramoe::index pad : {1, 3, 16})
            for (transpose op_a : {transpose::no, transpose::yes})
                for (transpose op_b : {transpose::no, transpose::yes})
                    for (T beta : {T(0), T(1), T(-2)}) {
                        CAPTURE(pad);
                        CAPTURE(static_cast<bool>(op_a));
                        CAPTURE(static_cast<bool>(op_b));
                        CAPTURE(beta);
                        gemm_test::check_gemm<T>(9, 6, 11, op_a, op_b, T(-1.5), beta, pad, seed++);
                    }
    }

    TEST_CASE("narrow_gemm (n <= 64): every panel width, short tiles, the threads' split, strided views") {
        using loramoe::transpose;
        if (!loramoe::narrow_gemm_available) {
            MESSAGE("this build has no AVX-512: gemm keeps Eigen for narrow products, nothing to test here");
            return;
        }
        auto narrow = [](auto... arguments) { loramoe::narrow_gemm(arguments...); };
        std::uint64_t seed = 500;
        // n: each of the 4 panel widths, full and partial; m: short tiles of every kernel (rows 12, 8, 6),
        // and 300 rows, split over the threads; k: 1 and the adapters' sizes.
        for (loramoe::index n : {1, 15, 16, 17, 24, 30, 33, 48, 49, 64})
            for (const auto& shape :
                 {std::pair<loramoe::index, loramoe::index>{1, 1}, {7, 40}, {29, 3}, {300, 257}})
                for (transpose op_a : {transpose::no, transpose::yes})
                    for (transpose op_b : {transpose::no, transpose::yes}) {
                        const loramoe::index m = shape.first, k = shape.second;  // (a binding: not in INFO)
                        const float beta = seed % 3 == 0 ? 0.0f : seed % 3 == 1 ? 1.0f : -0.5f;
                        INFO("m = ", m, ", n = ", n, ", k = ", k, ", op_a = ", bool(op_a),
                             ", op_b = ", bool(op_b), ", beta = ", beta);
                        gemm_test::check_product<float>(narrow, m, n, k, op_a, op_b, 0.75f, beta,
                                                        seed % 2 * 5, seed);
                        // gemm sends these here from 64 rows and 2^14 multiply-adds per column on
                        gemm_test::check_gemm<float>(m, n, k, op_a, op_b, 0.75f, beta, 3, seed + 1000);
                        ++seed;
                    }
    }

    TEST_CASE("gemm: an empty inner dimension gives beta * c; an empty c is left alone") {
        using loramoe::transpose;
        std::vector<double> a_storage(1), b_storage(1), c_storage = {1, 2, 3, 4, 5, 6};
        const loramoe::matrix_view<const double> a(a_storage.data(), 2, 0), b(b_storage.data(), 0, 3);
        loramoe::gemm(loramoe::cpu{}, 1.0, a, transpose::no, b, transpose::no, 2.0,
                      loramoe::matrix_view<double>(c_storage.data(), 2, 3));
        CHECK(c_storage == std::vector<double>{2, 4, 6, 8, 10, 12});
        loramoe::gemm(loramoe::cpu{}, 1.0, a, transpose::no, b, transpose::no, 0.0,
                      loramoe::matrix_view<double>(c_storage.data(), 2, 3));
        CHECK(c_storage == std::vector<double>(6, 0.0));
    }

    TEST_CASE("gemm: mismatched inner dimensions trip LORAMOE_ASSERT") {
        using loramoe::transpose;
        std::vector<double> s(64);
        const loramoe::matrix_view<const double> a(s.data(), 2, 3), b(s.data(), 4, 2);
        CHECK_THROWS_AS(loramoe::gemm(loramoe::cpu{}, 1.0, a, transpose::no, b, transpose::no, 0.0,
                                      loramoe::matrix_view<double>(s.data() + 32, 2, 2)),
                        loramoe::test::assertion_error);
    }

}  // TEST_SUITE
