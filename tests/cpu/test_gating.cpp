// scale_by_gates and its backward: each expert's r low-rank activations scaled by its gate, with a
// static rank (extent<4>) and a dynamic one, from strided activations.

#include "test_support.hpp"

#include <limits>
#include <vector>

#include <loramoe/cpu/gating.hpp>

namespace gating_test {

using loramoe::index;
using loramoe::matrix_view;

template <class T, int Rank>
void check_gating(index rows, index experts, loramoe::extent<Rank> rank, std::uint64_t seed) {
    const index r = rank.value(), width = experts * r, stride = width + 5;  // h is a column block
    const T s = T(2.5);
    auto h_storage = loramoe::test::random_vector<T>(rows * stride, seed);
    auto gates = loramoe::test::random_vector<T>(rows * experts, seed + 1, 0, 1);
    auto dhs = loramoe::test::random_vector<T>(rows * width, seed + 2);
    const matrix_view<const T> h(h_storage.data() + 2, rows, width, stride), g(gates.data(), rows, experts);

    std::vector<double> want_hs, want_dh, want_dg;
    for (index t = 0; t < rows; ++t) {
        for (index i = 0; i < experts; ++i) {
            double dg = 0;
            for (index j = 0; j < r; ++j) {
                want_hs.push_back(double(s) * g(t, i) * h(t, i * r + j));
                want_dh.push_back(double(s) * g(t, i) * dhs[t * width + i * r + j]);
                dg += double(dhs[t * width + i * r + j]) * h(t, i * r + j);
            }
            want_dg.push_back(double(s) * dg);
        }
    }
    const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-14;

    std::vector<T> hs(static_cast<std::size_t>(rows * width), std::numeric_limits<T>::quiet_NaN());
    loramoe::scale_by_gates(loramoe::cpu{}, h, g, s, rank, matrix_view<T>(hs.data(), rows, width));
    loramoe::test::expect_close(hs, want_hs, tol, tol);

    // Backward overwrites dh and dgates (NaN before), with dh written over dhs in place.
    std::vector<T> dg(static_cast<std::size_t>(rows * experts), std::numeric_limits<T>::quiet_NaN());
    loramoe::scale_by_gates_backward(loramoe::cpu{}, h, g, matrix_view<const T>(dhs.data(), rows, width), s,
                                     rank, matrix_view<T>(dhs.data(), rows, width),
                                     matrix_view<T>(dg.data(), rows, experts));
    loramoe::test::expect_close(dhs, want_dh, tol, tol);
    loramoe::test::expect_close(dg, want_dg, tol * r, tol);
}

}  // namespace gating_test

TEST_SUITE("cpu") {
    TEST_CASE_TEMPLATE("scale_by_gates: static extent<4> against a naive loop, forward and backward", T,
                       float, double) {
        for (loramoe::index rows : {1, 3, 17})
            for (loramoe::index experts : {1, 3, 6}) {
                CAPTURE(rows);
                CAPTURE(experts);
                gating_test::check_gating<T>(rows, experts, loramoe::extent<4>{}, 100 + rows * 7 + experts);
            }
    }

    TEST_CASE_TEMPLATE("scale_by_gates: dynamic rank 1, odd, SIMD-width and more, forward and backward", T,
                       float, double) {
        for (loramoe::index r : loramoe::test::edge_sizes<T>())
            for (loramoe::index experts : {1, 2, 5}) {
                CAPTURE(r);
                CAPTURE(experts);
                gating_test::check_gating<T>(9, experts, loramoe::extent<loramoe::dynamic>(r),
                                             500 + r * 11 + experts);
            }
    }

    TEST_CASE("scale_by_gates: static and dynamic rank give identical results") {
        const loramoe::index rows = 5, experts = 3, r = 4, width = experts * r;
        const auto h = loramoe::test::random_vector<float>(rows * width, 1);
        const auto g = loramoe::test::random_vector<float>(rows * experts, 2, 0, 1);
        std::vector<float> a(h.size()), b(h.size());
        loramoe::scale_by_gates(loramoe::cpu{}, loramoe::matrix_view<const float>(h.data(), rows, width),
                                loramoe::matrix_view<const float>(g.data(), rows, experts), 0.5f,
                                loramoe::extent<4>{}, loramoe::matrix_view<float>(a.data(), rows, width));
        loramoe::scale_by_gates(loramoe::cpu{}, loramoe::matrix_view<const float>(h.data(), rows, width),
                                loramoe::matrix_view<const float>(g.data(), rows, experts), 0.5f,
                                loramoe::extent<loramoe::dynamic>(4),
                                loramoe::matrix_view<float>(b.data(), rows, width));
        CHECK(a == b);
    }

}  // TEST_SUITE
