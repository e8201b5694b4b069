// The row and column operations Eigen does not fuse into a product: bias, column sums (a parameter
// gradient: accumulates), axpy, strided copies, scaling rows by a column of coefficients, row dots.

#include "test_support.hpp"

#include <vector>

#include <loramoe/cpu/elementwise.hpp>

TEST_SUITE("cpu") {
    TEST_CASE_TEMPLATE("add_bias and add_column_sums (accumulating), against naive loops", T, float, double) {
        for (loramoe::index cols : loramoe::test::edge_sizes<T>()) {
            CAPTURE(cols);
            const loramoe::index rows = 5, stride = cols + 2;
            auto y = loramoe::test::random_vector<T>(rows * stride, 1 + cols);
            const auto b = loramoe::test::random_vector<T>(cols, 2 + cols);
            const auto before = y;
            const loramoe::matrix_view<T> view(y.data(), rows, cols, stride);
            loramoe::add_bias(loramoe::cpu{}, b.data(), view);
            for (loramoe::index t = 0; t < rows; ++t)
                for (loramoe::index j = 0; j < stride; ++j)
                    CHECK(y[t * stride + j] ==
                          (j < cols ? before[t * stride + j] + b[j] : before[t * stride + j]));

            std::vector<T> db(static_cast<std::size_t>(cols), T(1));
            loramoe::add_column_sums(loramoe::cpu{}, loramoe::matrix_view<const T>(view), db.data());
            std::vector<double> want(static_cast<std::size_t>(cols), 1.0);
            for (loramoe::index t = 0; t < rows; ++t)
                for (loramoe::index j = 0; j < cols; ++j) want[j] += view(t, j);
            loramoe::test::expect_close(db, want, 1e-5, 1e-6);
        }
    }

    TEST_CASE_TEMPLATE("axpy, copy_matrix and fill_matrix on strided views touch only the view", T, float,
                       double) {
        const loramoe::index rows = 3, cols = 7, stride = 10;
        auto x = loramoe::test::random_vector<T>(rows * stride, 1);
        auto y = loramoe::test::random_vector<T>(rows * stride, 2);
        const auto y0 = y;
        const loramoe::matrix_view<const T> xv(x.data(), rows, cols, stride);
        const loramoe::matrix_view<T> yv(y.data(), rows, cols, stride);
        loramoe::axpy(loramoe::cpu{}, T(-2), xv, yv);
        for (loramoe::index t = 0; t < rows; ++t)
            for (loramoe::index j = 0; j < stride; ++j)
                CHECK(y[t * stride + j] == doctest::Approx(j < cols
                                                               ? y0[t * stride + j] - 2 * x[t * stride + j]
                                                               : y0[t * stride + j]));
        loramoe::copy_matrix(loramoe::cpu{}, xv, yv);
        for (loramoe::index t = 0; t < rows; ++t)
            for (loramoe::index j = 0; j < stride; ++j)
                CHECK(y[t * stride + j] == (j < cols ? x[t * stride + j] : y0[t * stride + j]));
        loramoe::fill_matrix(loramoe::cpu{}, yv, T(4));
        for (loramoe::index t = 0; t < rows; ++t)
            for (loramoe::index j = 0; j < stride; ++j)
                CHECK(y[t * stride + j] == (j < cols ? T(4) : y0[t * stride + j]));
    }

    TEST_CASE_TEMPLATE(
        "scale_rows: y = s c[t] x (overwrite) or y += s c[t] x (accumulate), c a strided column", T, float,
        double) {
        for (loramoe::index cols : loramoe::test::edge_sizes<T>()) {
            CAPTURE(cols);
            const loramoe::index rows = 4, coefficient_stride = 3;
            const auto x = loramoe::test::random_vector<T>(rows * cols, 1);
            const auto c = loramoe::test::random_vector<T>(rows * coefficient_stride, 2);
            const auto y0 = loramoe::test::random_vector<T>(rows * cols, 3);
            for (bool accumulate : {false, true}) {
                CAPTURE(accumulate);
                auto y = y0;
                loramoe::scale_rows(loramoe::cpu{}, c.data() + 1, coefficient_stride, T(1.5),
                                    loramoe::matrix_view<const T>(x.data(), rows, cols),
                                    loramoe::matrix_view<T>(y.data(), rows, cols), accumulate);
                std::vector<double> want;
                for (loramoe::index t = 0; t < rows; ++t)
                    for (loramoe::index j = 0; j < cols; ++j)
                        want.push_back((accumulate ? double(y0[t * cols + j]) : 0.0) +
                                       1.5 * double(c[t * coefficient_stride + 1]) * x[t * cols + j]);
                loramoe::test::expect_close(y, want, 1e-6, 1e-6);
            }
        }
    }

    TEST_CASE_TEMPLATE("row_dots: out[t * stride] = s <a[t], b[t]>", T, float, double) {
        for (loramoe::index cols : loramoe::test::edge_sizes<T>()) {
            CAPTURE(cols);
            const loramoe::index rows = 6;
            const auto a = loramoe::test::random_vector<T>(rows * cols, 4);
            const auto b = loramoe::test::random_vector<T>(rows * cols, 5);
            std::vector<T> out(static_cast<std::size_t>(rows * 2), T(9));
            loramoe::row_dots(loramoe::cpu{}, loramoe::matrix_view<const T>(a.data(), rows, cols),
                              loramoe::matrix_view<const T>(b.data(), rows, cols), T(0.5), out.data() + 1, 2);
            for (loramoe::index t = 0; t < rows; ++t) {
                double dot = 0;
                for (loramoe::index j = 0; j < cols; ++j) dot += double(a[t * cols + j]) * b[t * cols + j];
                CHECK(out[2 * t] == T(9));
                CHECK(double(out[2 * t + 1]) == doctest::Approx(0.5 * dot).epsilon(1e-5));
            }
        }
    }

}  // TEST_SUITE
