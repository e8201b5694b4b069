// The CUDA backend's gating, elementwise, dropout, routing and optimizer kernels against the host's, on
// the same seeded inputs: odd sizes, and operands that are strided views (a column block of a wider
// tensor, whose other columns must come back untouched).

#include "cuda/cuda_support.hpp"

#include <cmath>
#include <cstdint>

namespace test_cuda_adapter_kernels {

using loramoe::index;
template <class T>
using host = loramoe::tensor<T, loramoe::cpu>;
template <class T>
using device = loramoe::tensor<T, loramoe::cuda>;

inline constexpr index left_pad = 2, right_pad = 3;

// A rows x (left_pad + cols + right_pad) tensor whose middle `cols` columns are the operand.
template <class T>
host<T> padded(index rows, index cols, std::uint64_t seed, double low = -1, double high = 1) {
    return loramoe::test::random_tensor<T>({rows, left_pad + cols + right_pad}, seed, low, high);
}

// The operand inside a padded tensor: a strided view.
template <class Tensor>
auto inner(Tensor& t, index cols) {
    return t.matrix().col_block(left_pad, cols);
}
template <class Tensor>
auto inner_const(const Tensor& t, index cols) {
    return t.matrix().col_block(left_pad, cols);
}

// mask[row] = 0 for every third token (padding), 1 otherwise.
template <class T>
host<T> every_third_padded(index rows) {
    host<T> mask({rows});
    for (index row = 0; row < rows; ++row) mask[row] = row % 3 == 1 ? T(0) : T(1);
    return mask;
}

// Gates that tie often: uniform values rounded to quarters.
template <class T>
host<T> tied_gates(index rows, index cols, std::uint64_t seed) {
    auto gates = loramoe::test::random_tensor<T>({rows, cols}, seed, 0, 1);
    for (T& g : gates.span()) g = std::round(g * T(4)) / T(4);
    return gates;
}

}  // namespace test_cuda_adapter_kernels

TEST_SUITE("gpu") {
    TEST_CASE_TEMPLATE("cuda: scale_by_gates and its backward, on strided views, dh aliasing dhs or not", T,
                       float, double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_adapter_kernels;
        using loramoe::index;
        for (index rows : {1, 37})
            for (index experts : {1, 3, 6})
                for (index rank : {1, 4, 7}) {
                    CAPTURE(rows);
                    CAPTURE(experts);
                    CAPTURE(rank);
                    const index cols = experts * rank;
                    const T s = T(1.75);
                    const auto h = padded<T>(rows, cols, 1);
                    const auto gates = padded<T>(rows, experts, 2, 0, 1);
                    const auto dhs = padded<T>(rows, cols, 3);
                    const auto hd = loramoe::test::on_device(h), gatesd = loramoe::test::on_device(gates),
                               dhsd = loramoe::test::on_device(dhs);

                    auto hs = padded<T>(rows, cols, 4);
                    auto hsd = loramoe::test::on_device(hs);
                    loramoe::scale_by_gates(loramoe::cpu{}, inner_const(h, cols), inner_const(gates, experts),
                                            s, loramoe::extent<loramoe::dynamic>(rank), inner(hs, cols));
                    loramoe::scale_by_gates(loramoe::cuda{}, inner_const(hd, cols),
                                            inner_const(gatesd, experts), s, rank, inner(hsd, cols));
                    loramoe::test::expect_same(hsd, hs);

                    // dh in a tensor of its own.
                    auto dh = padded<T>(rows, cols, 5);
                    auto dgates = padded<T>(rows, experts, 6);
                    auto dhd = loramoe::test::on_device(dh), dgatesd = loramoe::test::on_device(dgates);
                    loramoe::scale_by_gates_backward(loramoe::cpu{}, inner_const(h, cols),
                                                     inner_const(gates, experts), inner_const(dhs, cols), s,
                                                     loramoe::extent<loramoe::dynamic>(rank), inner(dh, cols),
                                                     inner(dgates, experts));
                    loramoe::scale_by_gates_backward(loramoe::cuda{}, inner_const(hd, cols),
                                                     inner_const(gatesd, experts), inner_const(dhsd, cols), s,
                                                     rank, inner(dhd, cols), inner(dgatesd, experts));
                    loramoe::test::expect_same(dhd, dh);
                    loramoe::test::expect_same(dgatesd, dgates);

                    // dh aliasing dhs: the gate gradients still see dhs as it was.
                    auto dgates_aliased = padded<T>(rows, experts, 7);
                    auto dgates_aliasedd = loramoe::test::on_device(dgates_aliased);
                    auto in_place = loramoe::test::on_device(dhs);
                    loramoe::scale_by_gates_backward(loramoe::cuda{}, inner_const(hd, cols),
                                                     inner_const(gatesd, experts),
                                                     inner_const(in_place, cols), s, rank,
                                                     inner(in_place, cols), inner(dgates_aliasedd, experts));
                    auto dh_in_place = dhs.clone();  // the host's result, in dhs's padding
                    for (index t = 0; t < rows; ++t)
                        for (index j = 0; j < cols; ++j)
                            dh_in_place.matrix()(t, left_pad + j) = dh.matrix()(t, left_pad + j);
                    auto dgates_want = dgates_aliased.clone();
                    for (index t = 0; t < rows; ++t)
                        for (index i = 0; i < experts; ++i)
                            dgates_want.matrix()(t, left_pad + i) = dgates.matrix()(t, left_pad + i);
                    loramoe::test::expect_same(in_place, dh_in_place);
                    loramoe::test::expect_same(dgates_aliasedd, dgates_want);
                }
    }

    TEST_CASE_TEMPLATE("cuda: scale_by_gates with a static rank forwards to the run-time one", T, float,
                       double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_adapter_kernels;
        using loramoe::index;
        const index rows = 9, experts = 3, cols = experts * 4;
        const auto h = loramoe::test::random_tensor<T>({rows, cols}, 8);
        const auto gates = loramoe::test::random_tensor<T>({rows, experts}, 9, 0, 1);
        host<T> hs({rows, cols});
        device<T> hsd({rows, cols});
        const auto hd = loramoe::test::on_device(h), gatesd = loramoe::test::on_device(gates);
        loramoe::scale_by_gates(loramoe::cpu{}, h.matrix(), gates.matrix(), T(0.5), loramoe::extent<4>{},
                                hs.matrix());
        loramoe::scale_by_gates(loramoe::cuda{}, hd.matrix(), gatesd.matrix(), T(0.5), loramoe::extent<4>{},
                                hsd.matrix());
        loramoe::test::expect_same(hsd, hs);
    }

    TEST_CASE_TEMPLATE("cuda: add_bias, add_column_sums, axpy, copy_matrix and fill_matrix on strided views",
                       T, float, double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_adapter_kernels;
        using loramoe::index;
        for (index rows : {1, 13, 300})
            for (index cols : {1, 7, 33, 300}) {
                CAPTURE(rows);
                CAPTURE(cols);
                const auto x = padded<T>(rows, cols, 10);
                const auto xd = loramoe::test::on_device(x);

                // y[t, :] += b
                const auto b = loramoe::test::random_tensor<T>({cols}, 11);
                const auto bd = loramoe::test::on_device(b);
                auto y = padded<T>(rows, cols, 12);
                auto yd = loramoe::test::on_device(y);
                loramoe::add_bias(loramoe::cpu{}, b.data(), inner(y, cols));
                loramoe::add_bias(loramoe::cuda{}, bd.data(), inner(yd, cols));
                loramoe::test::expect_same(yd, y);

                // db += sum_t dy[t, :]
                auto db = loramoe::test::random_tensor<T>({cols}, 13);
                auto dbd = loramoe::test::on_device(db);
                loramoe::add_column_sums(loramoe::cpu{}, inner_const(x, cols), db.data());
                loramoe::add_column_sums(loramoe::cuda{}, inner_const(xd, cols), dbd.data());
                loramoe::test::expect_same(dbd, db);

                // y += a * x
                loramoe::axpy(loramoe::cpu{}, T(-0.75), inner_const(x, cols), inner(y, cols));
                loramoe::axpy(loramoe::cuda{}, T(-0.75), inner_const(xd, cols), inner(yd, cols));
                loramoe::test::expect_same(yd, y);

                // y = x, then a constant
                loramoe::copy_matrix(loramoe::cpu{}, inner_const(x, cols), inner(y, cols));
                loramoe::copy_matrix(loramoe::cuda{}, inner_const(xd, cols), inner(yd, cols));
                loramoe::test::expect_same(yd, y, 0);
                loramoe::fill_matrix(loramoe::cpu{}, inner(y, cols), T(3.25));
                loramoe::fill_matrix(loramoe::cuda{}, inner(yd, cols), T(3.25));
                loramoe::test::expect_same(yd, y, 0);
            }
    }

    TEST_CASE_TEMPLATE(
        "cuda: scale_rows (overwriting and accumulating) and row_dots, with strided coefficients", T, float,
        double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_adapter_kernels;
        using loramoe::index;
        for (index rows : {1, 13, 300})
            for (index cols : {1, 7, 33, 300}) {
                CAPTURE(rows);
                CAPTURE(cols);
                const index coefficient_stride = 3;
                const auto coefficients = loramoe::test::random_tensor<T>({rows, coefficient_stride}, 20);
                const auto coefficientsd = loramoe::test::on_device(coefficients);
                const auto x = padded<T>(rows, cols, 21);
                const auto xd = loramoe::test::on_device(x);
                for (bool accumulate : {false, true}) {
                    CAPTURE(accumulate);
                    auto y = padded<T>(rows, cols, 22);
                    auto yd = loramoe::test::on_device(y);
                    // Column 1 of the coefficients: c[t] = coefficients[1 + 3 t].
                    loramoe::scale_rows(loramoe::cpu{}, coefficients.data() + 1, coefficient_stride, T(1.5),
                                        inner_const(x, cols), inner(y, cols), accumulate);
                    loramoe::scale_rows(loramoe::cuda{}, coefficientsd.data() + 1, coefficient_stride, T(1.5),
                                        inner_const(xd, cols), inner(yd, cols), accumulate);
                    loramoe::test::expect_same(yd, y);
                    // In place: y = s c[t] y.
                    loramoe::scale_rows(loramoe::cpu{}, coefficients.data(), coefficient_stride, T(0.5),
                                        inner_const(y, cols), inner(y, cols), false);
                    loramoe::scale_rows(loramoe::cuda{}, coefficientsd.data(), coefficient_stride, T(0.5),
                                        inner_const(yd, cols), inner(yd, cols), false);
                    loramoe::test::expect_same(yd, y);
                }

                // out[t * 2] = s <a[t], b[t]>; the odd entries are left alone.
                const auto b = padded<T>(rows, cols, 23);
                const auto bd = loramoe::test::on_device(b);
                auto out = loramoe::test::random_tensor<T>({rows, 2}, 24);
                auto outd = loramoe::test::on_device(out);
                loramoe::row_dots(loramoe::cpu{}, inner_const(x, cols), inner_const(b, cols), T(-2),
                                  out.data(), index{2});
                loramoe::row_dots(loramoe::cuda{}, inner_const(xd, cols), inner_const(bd, cols), T(-2),
                                  outd.data(), index{2});
                loramoe::test::expect_same(outd, out);
            }
    }

    TEST_CASE_TEMPLATE("cuda: dropout draws the host's mask bit for bit, also in place and keyed by sample",
                       T, float, double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_adapter_kernels;
        using loramoe::index;
        for (index rows : {1, 13, 257})
            for (index cols : {1, 7, 300})
                for (T p : {T(0), T(0.1), T(0.5), T(0.9)}) {
                    CAPTURE(rows);
                    CAPTURE(cols);
                    CAPTURE(p);
                    const std::uint64_t seed = 1234, stream = 77;
                    const auto x = padded<T>(rows, cols, 30);
                    const auto xd = loramoe::test::on_device(x);
                    auto y = padded<T>(rows, cols, 31);
                    auto yd = loramoe::test::on_device(y);
                    loramoe::dropout(loramoe::cpu{}, seed, stream, p, inner_const(x, cols), inner(y, cols));
                    loramoe::dropout(loramoe::cuda{}, seed, stream, p, inner_const(xd, cols),
                                     inner(yd, cols));
                    // One multiplication in T on either side: the same values exactly, zeros where the
                    // host's.
                    loramoe::test::expect_same(yd, y, 0);

                    // In place, and with the rows as tokens of samples 2, 3, ... (3 tokens each).
                    auto in_place = x.clone();
                    auto in_placed = loramoe::test::on_device(x);
                    const loramoe::token_rows samples{3, 2};
                    loramoe::dropout(loramoe::cpu{}, seed, stream + 1, p, inner_const(in_place, cols),
                                     inner(in_place, cols), samples);
                    loramoe::dropout(loramoe::cuda{}, seed, stream + 1, p, inner_const(in_placed, cols),
                                     inner(in_placed, cols), samples);
                    loramoe::test::expect_same(in_placed, in_place, 0);
                }
    }

    TEST_CASE_TEMPLATE("cuda: sum_gates_per_sample and add_per_sample_gradient, with and without a mask", T,
                       float, double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_adapter_kernels;
        using loramoe::index;
        for (index samples : {1, 3})
            for (index tokens : {1, 7, 129})
                for (index experts : {1, 5, 8}) {
                    CAPTURE(samples);
                    CAPTURE(tokens);
                    CAPTURE(experts);
                    const index rows = samples * tokens;
                    const auto gates = padded<T>(rows, experts, 40, 0, 1);
                    const auto gatesd = loramoe::test::on_device(gates);
                    const auto mask = every_third_padded<T>(rows);
                    const auto maskd = loramoe::test::on_device(mask);
                    const auto dq = padded<T>(samples, experts, 41);
                    const auto dqd = loramoe::test::on_device(dq);
                    for (bool masked : {false, true}) {
                        CAPTURE(masked);
                        const T* m = masked ? mask.data() : nullptr;
                        const T* md = masked ? maskd.data() : nullptr;
                        auto q = padded<T>(samples, experts, 42);
                        auto qd = loramoe::test::on_device(q);
                        loramoe::sum_gates_per_sample(loramoe::cpu{}, inner_const(gates, experts), m, samples,
                                                      tokens, inner(q, experts));
                        loramoe::sum_gates_per_sample(loramoe::cuda{}, inner_const(gatesd, experts), md,
                                                      samples, tokens, inner(qd, experts));
                        loramoe::test::expect_same(qd, q);

                        auto dgates = padded<T>(rows, experts, 43);
                        auto dgatesd = loramoe::test::on_device(dgates);
                        loramoe::add_per_sample_gradient(loramoe::cpu{}, inner_const(dq, experts), m, samples,
                                                         tokens, inner(dgates, experts));
                        loramoe::add_per_sample_gradient(loramoe::cuda{}, inner_const(dqd, experts), md,
                                                         samples, tokens, inner(dgatesd, experts));
                        loramoe::test::expect_same(dgatesd, dgates);
                    }
                }
    }

    TEST_CASE_TEMPLATE("cuda: count_top_expert counts exactly, the lower index among ties, skipping padding",
                       T, float, double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_adapter_kernels;
        using loramoe::index;
        for (index rows : {1, 7, 1000})
            for (index experts : {1, 2, 6, 33}) {
                CAPTURE(rows);
                CAPTURE(experts);
                // Quarters in a wider tensor: ties are frequent, and the view is strided.
                const auto wide = tied_gates<T>(rows, experts + 3, 50);
                const auto wided = loramoe::test::on_device(wide);
                const auto gates = wide.matrix().col_block(1, experts);
                const auto gatesd = wided.matrix().col_block(1, experts);
                const auto mask = every_third_padded<T>(rows);
                const auto maskd = loramoe::test::on_device(mask);
                for (bool masked : {false, true}) {
                    CAPTURE(masked);
                    host<T> counts({experts});
                    auto countsd = loramoe::test::on_device(
                        loramoe::test::random_tensor<T>({experts}, 51));  // overwritten
                    loramoe::count_top_expert(loramoe::cpu{}, gates, masked ? mask.data() : nullptr,
                                              counts.data());
                    loramoe::count_top_expert(loramoe::cuda{}, gatesd, masked ? maskd.data() : nullptr,
                                              countsd.data());
                    loramoe::test::expect_same(countsd, counts, 0);
                }
            }
    }

    TEST_CASE_TEMPLATE("cuda: logsumexp_rows and the squared-logsumexp gradient, with and without a mask", T,
                       float, double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_adapter_kernels;
        using loramoe::index;
        for (index rows : {1, 13, 300})
            for (index cols : {1, 6, 33, 100}) {
                CAPTURE(rows);
                CAPTURE(cols);
                const auto logits = padded<T>(rows, cols, 60, -8, 8);
                const auto logitsd = loramoe::test::on_device(logits);
                host<T> lse({rows});
                device<T> lsed({rows});
                loramoe::logsumexp_rows(loramoe::cpu{}, inner_const(logits, cols), lse.data());
                loramoe::logsumexp_rows(loramoe::cuda{}, inner_const(logitsd, cols), lsed.data());
                loramoe::test::expect_same(lsed, lse);

                const auto mask = every_third_padded<T>(rows);
                const auto maskd = loramoe::test::on_device(mask);
                for (bool masked : {false, true}) {
                    CAPTURE(masked);
                    auto dlogits = padded<T>(rows, cols, 61);
                    auto dlogitsd = loramoe::test::on_device(dlogits);
                    // Both from the host's lse, so that only this kernel is compared.
                    const auto lse_on_device = loramoe::test::on_device(lse);
                    loramoe::add_squared_logsumexp_gradient(loramoe::cpu{}, inner_const(logits, cols),
                                                            lse.data(), masked ? mask.data() : nullptr,
                                                            T(0.3), inner(dlogits, cols));
                    loramoe::add_squared_logsumexp_gradient(
                        loramoe::cuda{}, inner_const(logitsd, cols), lse_on_device.data(),
                        masked ? maskd.data() : nullptr, T(0.3), inner(dlogitsd, cols));
                    loramoe::test::expect_same(dlogitsd, dlogits);
                }
            }
    }

    TEST_CASE_TEMPLATE("cuda: adamw_update over several steps, with and without weight decay", T, float,
                       double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_adapter_kernels;
        using loramoe::index;
        for (index n : {1, 1001, 70001})
            for (double weight_decay : {0.0, 0.1}) {
                CAPTURE(n);
                CAPTURE(weight_decay);
                const loramoe::adamw_hyperparameters h{
                    .lr = 1e-2, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = weight_decay};
                auto p = loramoe::test::random_tensor<T>({n}, 70);
                host<T> m({n}), v({n});
                m.zero();
                v.zero();
                auto pd = loramoe::test::on_device(p), md = loramoe::test::on_device(m),
                     vd = loramoe::test::on_device(v);
                for (index t = 1; t <= 3; ++t) {
                    CAPTURE(t);
                    const auto g = loramoe::test::random_tensor<T>({n}, 70 + static_cast<std::uint64_t>(t));
                    const auto gd = loramoe::test::on_device(g);
                    loramoe::adamw_update(loramoe::cpu{}, p.data(), g.data(), m.data(), v.data(), n, h, t);
                    loramoe::adamw_update(loramoe::cuda{}, pd.data(), gd.data(), md.data(), vd.data(), n, h,
                                          t);
                    loramoe::test::expect_same(pd, p);
                    loramoe::test::expect_same(md, m);
                    loramoe::test::expect_same(vd, v);
                }
            }
    }

    TEST_CASE_TEMPLATE("cuda: sum_of_squares in double and scale_values", T, float, double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_adapter_kernels;
        using loramoe::index;
        // 300001: more blocks than the first pass keeps, so its grid-stride loop turns more than once.
        for (index n : {1, 7, 256, 1000, 300001}) {
            CAPTURE(n);
            auto g = loramoe::test::random_tensor<T>({n}, 80, -3, 3);
            auto gd = loramoe::test::on_device(g);
            const double want = loramoe::sum_of_squares(loramoe::cpu{}, g.data(), n);
            const double got = loramoe::sum_of_squares(loramoe::cuda{}, gd.data(), n);
            // Both sum the same doubles; only the order differs.
            CHECK(std::abs(got - want) <= 1e-12 * want);

            loramoe::scale_values(loramoe::cpu{}, g.data(), n, T(0.3));
            loramoe::scale_values(loramoe::cuda{}, gd.data(), n, T(0.3));
            loramoe::test::expect_same(gd, g, 0);
        }
        CHECK(loramoe::sum_of_squares(loramoe::cuda{}, static_cast<const T*>(nullptr), 0) == 0.0);
    }

}  // TEST_SUITE
