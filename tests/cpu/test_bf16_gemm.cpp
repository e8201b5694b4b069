// A frozen weight W held in bfloat16, row-major, and its two products (cpu/bf16_gemm.hpp):
//   forward          c (M, N) = alpha a (M, K) W^T + beta c
//   input gradient   c (M, K) = alpha a (M, N) W   + beta c
// against a product in double of the same bfloat16 values (W's, and a's rounded to bfloat16): the
// sums are float, so the two agree to float accuracy. Sizes 1, odd, the tile's 6 x 64, past a pass of
// 256 rows of b and a block of 768 rows of a, and large enough for the threads to split rows or
// panels; beta 0 / 1 / other; strided views, W's included (the panels are packed from W's rows). Then what
// bfloat16 costs: the relative error against the float product of the unrounded operands, on random data.

#include "test_support.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <loramoe/cpu/bf16_gemm.hpp>
#include <loramoe/cpu/bfloat16.hpp>

namespace bf16_gemm_test {

using loramoe::index;
using loramoe::matrix_view;
using loramoe::transpose;

using padded_matrix = loramoe::test::padded_matrix<float>;

inline double rounded(float x) {
    return loramoe::bfloat16_value(loramoe::bfloat16_bits(x));
}

// alpha * a op(W) + beta * c in double, with W (N, K) given by its values and a rounded to bfloat16
// when `round_a` (the reference of the product), or not (the float product bfloat16 is measured against).
std::vector<double> reference(double alpha, matrix_view<const float> a, matrix_view<const float> w,
                              transpose op_w, double beta, matrix_view<const float> c, bool round_a) {
    const bool forward = op_w == transpose::yes;
    std::vector<double> out;
    out.reserve(static_cast<std::size_t>(c.size()));
    for (index i = 0; i < c.rows; ++i)
        for (index j = 0; j < c.cols; ++j) {
            double sum = 0;
            for (index p = 0; p < a.cols; ++p)
                sum += (round_a ? rounded(a(i, p)) : double(a(i, p))) * (forward ? w(j, p) : w(p, j));
            out.push_back(alpha * sum + (beta == 0 ? 0.0 : beta * c(i, j)));
        }
    return out;
}

// One product with W (n, k) from a strided view; a and c strided by `pad`, with sentinels around.
void check_product(index m, index n, index k, transpose op_w, float alpha, float beta, index pad,
                   std::uint64_t seed) {
    const bool forward = op_w == transpose::yes;
    const index depth = forward ? k : n, width = forward ? n : k;
    const float sentinel = 12345.0f;
    padded_matrix w_source(n, k, pad, sentinel), a(m, depth, pad, sentinel), c(m, width, pad, sentinel);
    loramoe::random_generator rng(seed);
    loramoe::test::fill_uniform(w_source.view(), rng);
    // W in bfloat16 with rows `pad` apart beyond k, the padding infinite: a product reading it would show.
    const index w_stride = k + pad;
    std::vector<loramoe::bfloat16> w_storage(static_cast<std::size_t>(n * w_stride + 1),
                                             loramoe::to_bfloat16(std::numeric_limits<float>::infinity()));
    const matrix_view<loramoe::bfloat16> w(w_storage.data(), n, k, w_stride);
    loramoe::tensor<float> w_values({n, k});
    for (index i = 0; i < n; ++i)
        for (index j = 0; j < k; ++j) {
            w(i, j) = loramoe::to_bfloat16(w_source.view()(i, j));
            w_values[i * k + j] = static_cast<float>(w(i, j));
        }
    loramoe::test::fill_uniform(a.view(), rng);
    loramoe::test::fill_uniform(c.view(), rng);
    if (beta == 0.0f)  // beta = 0 overwrites c, NaN included
        for (index i = 0; i < m; ++i)
            for (index j = 0; j < width; ++j) c.view()(i, j) = std::numeric_limits<float>::quiet_NaN();
    const auto want =
        reference(alpha, as_const(a.view()), w_values.matrix(), op_w, beta, as_const(c.view()), true);
    loramoe::gemm(loramoe::cpu{}, alpha, as_const(a.view()), as_const(w), op_w, beta, c.view());
    const double eps = std::numeric_limits<float>::epsilon();
    loramoe::test::expect_close(loramoe::test::flatten(c.view()).values, want,
                                8 * eps * static_cast<double>(depth + 1), 8 * eps);
    CHECK_MESSAGE(c.outside_untouched(sentinel), "the product wrote outside the view of c");
    CHECK(a.outside_untouched(sentinel));
}

// Relative error in the Frobenius norm, ||got - want|| / ||want||.
inline double relative_error(const std::vector<double>& got, const std::vector<double>& want) {
    double difference = 0, norm = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        difference += (got[i] - want[i]) * (got[i] - want[i]);
        norm += want[i] * want[i];
    }
    return std::sqrt(difference / norm);
}

}  // namespace bf16_gemm_test

TEST_SUITE("cpu") {
    TEST_CASE("rounded_to_bfloat16: a strided float matrix, each element to nearest even, row-major") {
        bf16_gemm_test::padded_matrix source(5, 37, 3, 0.0f);
        loramoe::random_generator rng(7);
        loramoe::test::fill_uniform(source.view(), rng, -4, 4);
        const auto w = loramoe::rounded_to_bfloat16(as_const(source.view()));
        CHECK(w.shape() == loramoe::shape_type{5, 37});
        loramoe::index mismatches = 0;
        for (loramoe::index i = 0; i < 5; ++i)
            for (loramoe::index j = 0; j < 37; ++j)
                mismatches += Eigen::numext::bit_cast<std::uint16_t>(w[i * 37 + j]) !=
                              loramoe::bfloat16_bits(source.view()(i, j));
        CHECK(mismatches == 0);
    }

    TEST_CASE(
        "gemm with a bf16 weight: both products, beta 0, 1 and 0.5, against double on the bfloat16 values") {
        const std::vector<std::tuple<loramoe::index, loramoe::index, loramoe::index>> shapes = {
            {1, 1, 1},    {1, 1, 2},       {3, 5, 7},      {6, 64, 32},    {5, 63, 31},
            {7, 65, 33},  {2, 1, 513},     {13, 130, 257}, {37, 19, 45},   {61, 200, 300},
            {800, 20, 9}, {256, 200, 300}, {64, 700, 300}, {3, 129, 1001}, {1, 300, 17}};
        std::uint64_t seed = 1;
        for (const auto& shape : shapes)
            for (loramoe::transpose op : {loramoe::transpose::yes, loramoe::transpose::no})
                for (float beta : {0.0f, 1.0f, 0.5f}) {
                    const loramoe::index m = std::get<0>(shape), n = std::get<1>(shape),
                                         k = std::get<2>(shape);
                    INFO("m = ", m, ", n = ", n, ", k = ", k, ", ",
                         op == loramoe::transpose::yes ? "forward" : "input gradient", ", beta = ", beta);
                    bf16_gemm_test::check_product(m, n, k, op, 0.75f, beta, 0, seed++);
                }
    }

    TEST_CASE("gemm with a bf16 weight: strided views read and write only their block") {
        std::uint64_t seed = 100;
        for (loramoe::index pad : {1, 3, 16})
            for (loramoe::transpose op : {loramoe::transpose::yes, loramoe::transpose::no})
                for (float beta : {0.0f, 1.0f, -2.0f}) {
                    CAPTURE(pad);
                    CAPTURE(static_cast<bool>(op));
                    CAPTURE(beta);
                    bf16_gemm_test::check_product(9, 70, 35, op, -1.5f, beta, pad, seed++);
                    bf16_gemm_test::check_product(20, 7, 301, op, 1.0f, beta, pad, seed++);
                }
    }

    TEST_CASE("gemm with a bf16 weight: an empty inner dimension gives beta * c; an empty c is left alone") {
        const loramoe::matrix_view<const loramoe::bfloat16> w(nullptr, 3, 0);
        std::vector<float> a_storage(1), c_storage = {1, 2, 3, 4, 5, 6};
        const loramoe::matrix_view<const float> a(a_storage.data(), 2, 0);
        loramoe::gemm(loramoe::cpu{}, 1.0f, a, w, loramoe::transpose::yes, 2.0f,
                      loramoe::matrix_view<float>(c_storage.data(), 2, 3));
        CHECK(c_storage == std::vector<float>{2, 4, 6, 8, 10, 12});
        loramoe::gemm(loramoe::cpu{}, 1.0f, a, w, loramoe::transpose::yes, 0.0f,
                      loramoe::matrix_view<float>(c_storage.data(), 2, 3));
        CHECK(c_storage == std::vector<float>(6, 0.0f));
        loramoe::gemm(loramoe::cpu{}, 1.0f, loramoe::matrix_view<const float>(a_storage.data(), 0, 0), w,
                      loramoe::transpose::yes, 0.0f, loramoe::matrix_view<float>(c_storage.data(), 0, 3));
    }

    TEST_CASE("gemm with a bf16 weight: wrong shapes are named") {
        std::vector<float> storage(64, 1.0f);
        const auto w = loramoe::rounded_to_bfloat16(loramoe::matrix_view<const float>(storage.data(), 4, 3));
        const loramoe::matrix_view<const float> x(storage.data(), 2, 3), dy(storage.data(), 2, 4);
        std::vector<float> out(16);
        CHECK_THROWS_NAMING(loramoe::shape_error,
                            loramoe::gemm(loramoe::cpu{}, 1.0f, dy, w.matrix(), loramoe::transpose::yes, 0.0f,
                                          loramoe::matrix_view<float>(out.data(), 2, 4)),
                            "bfloat16 weight W [4, 3]", "a [2, 4]", "expected a [M, 3]");
        CHECK_THROWS_NAMING(loramoe::shape_error,
                            loramoe::gemm(loramoe::cpu{}, 1.0f, x, w.matrix(), loramoe::transpose::yes, 0.0f,
                                          loramoe::matrix_view<float>(out.data(), 2, 3)),
                            "c [2, 3]", "c [2, 4]");
        loramoe::gemm(loramoe::cpu{}, 1.0f, dy, w.matrix(), loramoe::transpose::no, 0.0f,
                      loramoe::matrix_view<float>(out.data(), 2, 3));
        CHECK(out[0] == 4.0f);
    }

    TEST_CASE(
        "gemm with a bf16 weight: the accuracy lost to bfloat16 against the float product, on random data") {
        // x ~ N(0, 1) as activations after RMSNorm, W Kaiming-uniform as a linear's weight. The error is the
        // operands' rounding (a relative 2^-8 at most, each): about 2e-3 in the Frobenius norm, whatever K.
        for (loramoe::index depth : {256, 1024, 4096}) {
            const loramoe::index m = 32, width = 128;
            loramoe::random_generator rng(static_cast<std::uint64_t>(depth));
            loramoe::tensor<float> a({m, depth});
            for (float& v : a.span()) v = static_cast<float>(rng.normal());
            for (loramoe::transpose op : {loramoe::transpose::yes, loramoe::transpose::no}) {
                const bool forward = op == loramoe::transpose::yes;
                // W (N, K): (width, depth) for the forward's a W^T, (depth, width) for the input gradient's a
                // W.
                loramoe::tensor<float> w_float(forward ? loramoe::shape_type{width, depth}
                                                       : loramoe::shape_type{depth, width});
                const double bound = 1.0 / std::sqrt(static_cast<double>(w_float.dim(1)));
                for (float& v : w_float.span()) v = static_cast<float>(rng.uniform(-bound, bound));
                const auto w = loramoe::rounded_to_bfloat16(as_const(w_float.matrix()));
                loramoe::tensor<float> w_rounded(w_float.shape());
                for (loramoe::index i = 0; i < w.size(); ++i) w_rounded[i] = static_cast<float>(w[i]);
                loramoe::tensor<float> c({m, width});
                loramoe::gemm(loramoe::cpu{}, 1.0f, as_const(a.matrix()), w.matrix(), op, 0.0f, c.matrix());
                const auto exact =
                    bf16_gemm_test::reference(1.0, as_const(a.matrix()), as_const(w_float.matrix()), op, 0.0,
                                              as_const(c.matrix()), false);
                const auto same_values = bf16_gemm_test::reference(
                    1.0, as_const(a.matrix()), w_rounded.matrix(), op, 0.0, as_const(c.matrix()), true);
                const auto got = loramoe::test::flatten(c).values;
                const double loss = bf16_gemm_test::relative_error(got, exact);
                const double sums = bf16_gemm_test::relative_error(got, same_values);
                MESSAGE(std::string(forward ? "forward" : "input gradient"), ", depth ", depth,
                        ": relative error against the float product ", loss,
                        ", against double on the bfloat16 values ", sums);
                CHECK(loss < 3.5e-3);
                CHECK(loss > 5e-4);  // the operands really were rounded
                CHECK(sums < 1e-6);
            }
        }
    }

}  // TEST_SUITE
