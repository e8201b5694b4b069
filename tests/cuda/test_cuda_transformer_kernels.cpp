// The CUDA backend's RMSNorm, RoPE, SwiGLU, embedding, cross-entropy and attention kernels against the
// host's, on the same seeded inputs: odd sizes, strided views, both gradient modes, repeated token ids,
// ignored targets, grouped-query heads, and left and right padding.

#include "cuda/cuda_support.hpp"

#include <cmath>
#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

namespace test_cuda_transformer_kernels {

using loramoe::cpu;
using loramoe::cuda;
using loramoe::index;
using loramoe::test::expect_same;
using loramoe::test::on_device;
using loramoe::test::random_tensor;

// A host tensor of ids in [0, bound), or ignore_index where `ignored` says so.
inline loramoe::tensor<std::int64_t, cpu> random_ids(index count, index bound, std::uint64_t seed,
                                                     const std::vector<index>& ignored = {}) {
    loramoe::tensor<std::int64_t, cpu> ids({count});
    loramoe::random_generator rng(seed);
    for (index t = 0; t < count; ++t)
        ids[t] = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(bound)));
    for (index t : ignored) ids[t] = loramoe::ignore_index;
    return ids;
}

// The columns [first, first + cols) of a (rows, wider) tensor: a strided view, on either backend.
template <class Tensor>
auto columns(Tensor& t, index first, index cols) {
    return t.matrix().col_block(first, cols);
}

// One attention configuration: sizes, and the padding of each sample (leading and trailing padding
// tokens), or no mask at all.
struct attention_case {
    index samples, tokens, heads, kv_heads, head_dim;
    bool masked;
    std::vector<std::pair<index, index>> padding;  // (left, right) per sample, when masked
};

// (B*S): 1 real token, 0 padding; all ones when the case has no mask.
template <class T>
loramoe::tensor<T, cpu> padding_mask(const attention_case& c) {
    loramoe::tensor<T, cpu> mask({c.samples * c.tokens});
    for (index b = 0; b < c.samples; ++b) {
        const auto [left, right] =
            c.masked ? c.padding[static_cast<std::size_t>(b)] : std::pair<index, index>{0, 0};
        for (index i = 0; i < c.tokens; ++i)
            mask[b * c.tokens + i] = i >= left && i < c.tokens - right ? T(1) : T(0);
    }
    return mask;
}

// One KV-cache configuration.
struct cached_case {
    index heads, kv_heads, head_dim, past, queries;
};

}  // namespace test_cuda_transformer_kernels

TEST_SUITE("gpu") {
    TEST_CASE_TEMPLATE("cuda: rmsnorm forward and backward, both modes, strided rows", T, float, double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_transformer_kernels;
        using loramoe::index;
        for (index rows : {1, 5, 37})
            for (index d : {1, 7, 64, 129}) {
                CAPTURE(rows);
                CAPTURE(d);
                // x and dy are the middle columns of wider tensors; weight is positive and negative.
                const auto x = random_tensor<T>({rows, d + 4}, 11, -2, 2),
                           dy = random_tensor<T>({rows, d + 1}, 12);
                const auto weight = random_tensor<T>({d}, 13, -1.5, 1.5);
                const auto xd = on_device(x), dyd = on_device(dy), weightd = on_device(weight);
                const auto xv = loramoe::as_const(x.matrix().col_block(2, d));
                const auto xdv = loramoe::as_const(xd.matrix().col_block(2, d));
                auto y = random_tensor<T>({rows, d + 3}, 14);
                auto yd = on_device(y);
                loramoe::tensor<T, cpu> rstd({rows});
                loramoe::tensor<T, cuda> rstdd({rows});
                const T eps = T(1e-5);
                loramoe::rmsnorm_forward(cpu{}, xv, weight.data(), eps, columns(y, 1, d), rstd.data());
                loramoe::rmsnorm_forward(cuda{}, xdv, weightd.data(), eps, columns(yd, 1, d), rstdd.data());
                expect_same(yd, y);
                expect_same(rstdd, rstd);
                for (auto mode : {loramoe::gradient_mode::overwrite, loramoe::gradient_mode::accumulate}) {
                    auto dx = random_tensor<T>({rows, d + 2}, 15);
                    auto dxd = on_device(dx);
                    auto dweight = random_tensor<T>({d}, 16);
                    auto dweightd = on_device(dweight);
                    loramoe::rmsnorm_backward(cpu{}, xv, weight.data(), rstd.data(), columns(dy, 0, d),
                                              columns(dx, 2, d), mode, dweight.data());
                    loramoe::rmsnorm_backward(cuda{}, xdv, weightd.data(), rstdd.data(),
                                              loramoe::as_const(dyd.matrix().col_block(0, d)),
                                              columns(dxd, 2, d), mode, dweightd.data());
                    expect_same(dxd, dx);
                    expect_same(dweightd, dweight);
                    // Without a weight gradient.
                    loramoe::rmsnorm_backward(cpu{}, xv, weight.data(), rstd.data(), columns(dy, 0, d),
                                              columns(dx, 2, d), mode, static_cast<T*>(nullptr));
                    loramoe::rmsnorm_backward(cuda{}, xdv, weightd.data(), rstdd.data(),
                                              loramoe::as_const(dyd.matrix().col_block(0, d)),
                                              columns(dxd, 2, d), mode, static_cast<T*>(nullptr));
                    expect_same(dxd, dx);
                }
            }
    }

    TEST_CASE_TEMPLATE(
        "cuda: rotary embedding forward and inverse, out of place from strided views and in place", T, float,
        double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_transformer_kernels;
        using loramoe::index;
        const index rows = 13, heads = 3, positions_count = 17;
        for (index head_dim : {2, 8, 14}) {
            CAPTURE(head_dim);
            const index width = heads * head_dim, half = head_dim / 2;
            const auto x = random_tensor<T>({rows, width + 3}, 21);
            // The tables are the middle columns of wider ones: strided views.
            const auto cos_table = random_tensor<T>({positions_count, half + 2}, 22);
            const auto sin_table = random_tensor<T>({positions_count, half + 2}, 23);
            const auto positions = random_ids(rows, positions_count, 24);
            const auto xd = on_device(x), cosd = on_device(cos_table), sind = on_device(sin_table);
            const auto positionsd = on_device(positions);
            for (bool inverse : {false, true}) {
                CAPTURE(inverse);
                auto y = random_tensor<T>({rows, width + 1}, 25);
                auto yd = on_device(y);
                loramoe::rotate(cpu{}, loramoe::as_const(x.matrix().col_block(3, width)), head_dim,
                                positions.data(), loramoe::as_const(cos_table.matrix().col_block(1, half)),
                                loramoe::as_const(sin_table.matrix().col_block(1, half)), inverse,
                                columns(y, 0, width));
                loramoe::rotate(cuda{}, loramoe::as_const(xd.matrix().col_block(3, width)), head_dim,
                                positionsd.data(), loramoe::as_const(cosd.matrix().col_block(1, half)),
                                loramoe::as_const(sind.matrix().col_block(1, half)), inverse,
                                columns(yd, 0, width));
                expect_same(yd, y);
                // In place, on the rotated values.
                loramoe::rotate(cpu{}, loramoe::as_const(columns(y, 0, width)), head_dim, positions.data(),
                                loramoe::as_const(cos_table.matrix().col_block(1, half)),
                                loramoe::as_const(sin_table.matrix().col_block(1, half)), !inverse,
                                columns(y, 0, width));
                loramoe::rotate(cuda{}, loramoe::as_const(columns(yd, 0, width)), head_dim, positionsd.data(),
                                loramoe::as_const(cosd.matrix().col_block(1, half)),
                                loramoe::as_const(sind.matrix().col_block(1, half)), !inverse,
                                columns(yd, 0, width));
                expect_same(yd, y);
            }
        }
    }

    TEST_CASE_TEMPLATE("cuda: swiglu forward and backward on strided views", T, float, double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_transformer_kernels;
        using loramoe::index;
        for (index rows : {1, 9})
            for (index cols : {1, 31, 100}) {
                CAPTURE(rows);
                CAPTURE(cols);
                // gate and up side by side in one (rows, 2 * cols) tensor, as a fused projection writes them.
                const auto gu = random_tensor<T>({rows, 2 * cols}, 31, -6, 6),
                           dout = random_tensor<T>({rows, cols + 2}, 32);
                const auto gud = on_device(gu), doutd = on_device(dout);
                auto out = random_tensor<T>({rows, cols + 1}, 33);
                auto outd = on_device(out);
                loramoe::swiglu_forward(cpu{}, loramoe::as_const(gu.matrix().col_block(0, cols)),
                                        loramoe::as_const(gu.matrix().col_block(cols, cols)),
                                        columns(out, 1, cols));
                loramoe::swiglu_forward(cuda{}, loramoe::as_const(gud.matrix().col_block(0, cols)),
                                        loramoe::as_const(gud.matrix().col_block(cols, cols)),
                                        columns(outd, 1, cols));
                expect_same(outd, out);
                auto dgu = random_tensor<T>({rows, 2 * cols}, 34);
                auto dgud = on_device(dgu);
                loramoe::swiglu_backward(cpu{}, loramoe::as_const(gu.matrix().col_block(0, cols)),
                                         loramoe::as_const(gu.matrix().col_block(cols, cols)),
                                         loramoe::as_const(dout.matrix().col_block(2, cols)),
                                         columns(dgu, 0, cols), columns(dgu, cols, cols));
                loramoe::swiglu_backward(cuda{}, loramoe::as_const(gud.matrix().col_block(0, cols)),
                                         loramoe::as_const(gud.matrix().col_block(cols, cols)),
                                         loramoe::as_const(doutd.matrix().col_block(2, cols)),
                                         columns(dgud, 0, cols), columns(dgud, cols, cols));
                expect_same(dgud, dgu);
                // d up in d out's place, as the block's backward writes it.
                auto in_place = on_device(dout);
                loramoe::swiglu_backward(cuda{}, loramoe::as_const(gud.matrix().col_block(0, cols)),
                                         loramoe::as_const(gud.matrix().col_block(cols, cols)),
                                         loramoe::as_const(in_place.matrix().col_block(2, cols)),
                                         columns(dgud, 0, cols), columns(in_place, 2, cols));
                const auto got = loramoe::to_host(in_place), want = loramoe::to_host(dgud);
                for (index r = 0; r < rows; ++r)
                    for (index j = 0; j < cols; ++j)
                        CHECK(got.matrix()(r, 2 + j) == want.matrix()(r, cols + j));
            }
    }

    TEST_CASE_TEMPLATE("cuda: embedding gather and scatter-add with repeated ids", T, float, double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_transformer_kernels;
        using loramoe::index;
        const index vocabulary = 11;
        for (index rows : {1, 40})
            for (index d : {1, 33, 300}) {
                CAPTURE(rows);
                CAPTURE(d);
                const auto table = random_tensor<T>({vocabulary, d}, 41);
                const auto ids = random_ids(rows, 5, 42);  // ids below 5 of 11: many repeats
                const auto tabled = on_device(table);
                const auto idsd = on_device(ids);
                auto out = random_tensor<T>({rows, d + 2}, 43);
                auto outd = on_device(out);
                loramoe::embedding_forward(cpu{}, loramoe::as_const(table.matrix()), ids.data(),
                                           columns(out, 1, d));
                loramoe::embedding_forward(cuda{}, loramoe::as_const(tabled.matrix()), idsd.data(),
                                           columns(outd, 1, d));
                expect_same(outd, out);
                // dtable accumulates into what it holds; dout is strided.
                const auto dout = random_tensor<T>({rows, d + 3}, 44);
                const auto doutd = on_device(dout);
                auto dtable = random_tensor<T>({vocabulary, d}, 45);
                auto dtabled = on_device(dtable);
                loramoe::embedding_backward(
                    cpu{}, ids.data(), loramoe::as_const(dout.matrix().col_block(3, d)), dtable.matrix());
                loramoe::embedding_backward(
                    cuda{}, idsd.data(), loramoe::as_const(doutd.matrix().col_block(3, d)), dtabled.matrix());
                expect_same(dtabled, dtable);
            }
    }

    TEST_CASE("cuda: a frozen weight in bfloat16: both products and the embedding match the host's") {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_transformer_kernels;
        using loramoe::as_const;
        using loramoe::index;
        using loramoe::transpose;
        // W (n, k) a strided view of bfloat16 values; both sides round a to bfloat16 alike (a denormal
        // and a NaN-free spread included) and sum exact products in float, in their own orders.
        const index m = 37, k = 70, n = 45;
        const auto w_float = random_tensor<float>({n, k + 3}, 50);
        const auto w = loramoe::rounded_to_bfloat16(as_const(w_float.matrix()));
        const auto wd = on_device(w);
        const auto w_view = as_const(w.matrix()).col_block(2, k);
        const auto wd_view = as_const(wd.matrix()).col_block(2, k);
        auto x = random_tensor<float>({m, k}, 51, -2, 2);
        x[0] = 1e-39f;  // a denormal: a zero of its sign in bfloat16 on both
        const auto xd = on_device(x);
        for (float beta : {0.0f, 1.0f}) {
            CAPTURE(beta);
            auto y = random_tensor<float>({m, n + 1}, 52);  // strided output
            auto yd = on_device(y);
            loramoe::gemm(cpu{}, 0.5f, as_const(x.matrix()), w_view, transpose::yes, beta, columns(y, 1, n));
            loramoe::gemm(cuda{}, 0.5f, as_const(xd.matrix()), wd_view, transpose::yes, beta,
                          columns(yd, 1, n));
            expect_same(yd, y, 1e-5);
            const auto dy = random_tensor<float>({m, n}, 53);
            const auto dyd = on_device(dy);
            auto dx = random_tensor<float>({m, k}, 54);
            auto dxd = on_device(dx);
            loramoe::gemm(cpu{}, 1.0f, as_const(dy.matrix()), w_view, transpose::no, beta, dx.matrix());
            loramoe::gemm(cuda{}, 1.0f, as_const(dyd.matrix()), wd_view, transpose::no, beta, dxd.matrix());
            expect_same(dxd, dx, 1e-5);
        }
        // The embedding of a bfloat16 table: the same floats, exactly.
        const auto ids = random_ids(40, 5, 55);
        const auto idsd = on_device(ids);
        loramoe::tensor<float, cpu> out({40, k});
        loramoe::tensor<float, cuda> outd({40, k});
        loramoe::embedding_forward(cpu{}, w_view.row_block(0, 11), ids.data(), out.matrix());
        loramoe::embedding_forward(cuda{}, wd_view.row_block(0, 11), idsd.data(), outd.matrix());
        expect_same(outd, out, 0);
    }

    TEST_CASE_TEMPLATE("cuda: cross-entropy sum and backward, with ignored targets and in place", T, float,
                       double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_transformer_kernels;
        using loramoe::index;
        for (index vocabulary : {1, 37, 1000}) {
            CAPTURE(vocabulary);
            const index rows = 23;
            auto logits = random_tensor<T>({rows, vocabulary + 2}, 51, -8, 8);
            const auto targets = random_ids(rows, vocabulary, 52, {0, 7, 8, 22});
            auto logitsd = on_device(logits);
            const auto targetsd = on_device(targets);
            const auto z = loramoe::as_const(logits.matrix().col_block(1, vocabulary));
            const auto zd = loramoe::as_const(logitsd.matrix().col_block(1, vocabulary));
            const double want = loramoe::cross_entropy_sum(cpu{}, z, targets.data());
            const double got = loramoe::cross_entropy_sum(cuda{}, zd, targetsd.data());
            CHECK(std::abs(got - want) <=
                  loramoe::test::backend_tolerance<T>() * std::max(std::abs(want), 1.0));
            // Every target ignored: 0.
            loramoe::tensor<std::int64_t, cpu> none({rows});
            none.fill_with(loramoe::ignore_index);
            CHECK(loramoe::cross_entropy_sum(cuda{}, zd, on_device(none).data()) == 0.0);
            // Out of place into a strided gradient, then in place over the logits.
            const T scale = T(1) / T(19);
            auto dz = random_tensor<T>({rows, vocabulary + 1}, 54);
            auto dzd = on_device(dz);
            loramoe::cross_entropy_backward(cpu{}, z, targets.data(), scale, columns(dz, 0, vocabulary));
            loramoe::cross_entropy_backward(cuda{}, zd, targetsd.data(), scale, columns(dzd, 0, vocabulary));
            expect_same(dzd, dz);
            loramoe::cross_entropy_backward(cpu{}, z, targets.data(), scale, columns(logits, 1, vocabulary));
            loramoe::cross_entropy_backward(cuda{}, zd, targetsd.data(), scale,
                                            columns(logitsd, 1, vocabulary));
            expect_same(logitsd, logits);
        }
    }

    TEST_CASE_TEMPLATE("cuda: attention forward and backward, grouped heads, left and right padding", T,
                       float, double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_transformer_kernels;
        using loramoe::index;
        const std::vector<attention_case> cases = {
            {1, 1, 1, 1, 2, false, {}},
            {2, 7, 4, 2, 5, true, {{3, 0}, {0, 2}}},          // left padding, right padding
            {3, 9, 6, 3, 8, true, {{0, 0}, {9, 0}, {2, 3}}},  // none, an all-padding sample, both sides
            {2, 33, 4, 1, 6, true, {{5, 0}, {0, 31}}},        // one kv head for all; longer than a warp
            {2, 6, 3, 3, 4, false, {}},                       // no mask, no grouping
        };
        for (const attention_case& c : cases) {
            CAPTURE(c.samples);
            CAPTURE(c.tokens);
            CAPTURE(c.heads);
            CAPTURE(c.kv_heads);
            CAPTURE(c.head_dim);
            const index B = c.samples, S = c.tokens, H = c.heads, Hkv = c.kv_heads, Dh = c.head_dim;
            const loramoe::attention_shape shape{B, S, H, Hkv, Dh};
            // q, k and v are column blocks of one fused (B*S, (H + 2 Hkv) Dh) projection: strided views.
            const index qkv_cols = (H + 2 * Hkv) * Dh;
            const auto qkv = random_tensor<T>({B * S, qkv_cols}, 61, -2, 2),
                       dout = random_tensor<T>({B * S, H * Dh + 1}, 62);
            const auto qkvd = on_device(qkv), doutd = on_device(dout);
            const auto mask = padding_mask<T>(c);
            const auto maskd = on_device(mask);
            const T* mask_host = c.masked ? mask.data() : nullptr;
            const T* mask_device = c.masked ? maskd.data() : nullptr;
            auto views = [&](const auto& t) {
                const auto m = t.matrix();
                return std::tuple{m.col_block(0, H * Dh), m.col_block(H * Dh, Hkv * Dh),
                                  m.col_block((H + Hkv) * Dh, Hkv * Dh)};
            };
            const auto [q, k, v] = views(qkv);
            const auto [qd, kd, vd] = views(qkvd);

            loramoe::tensor<T, cpu> probs({B, H, S, S});
            loramoe::tensor<T, cuda> probsd({B, H, S, S});
            auto out = random_tensor<T>({B * S, H * Dh + 2}, 63);
            auto outd = on_device(out);
            loramoe::attention_forward(cpu{}, shape, q, k, v, mask_host, probs.data(),
                                       columns(out, 1, H * Dh));
            loramoe::attention_forward(cuda{}, shape, qd, kd, vd, mask_device, probsd.data(),
                                       columns(outd, 1, H * Dh));
            expect_same(probsd, probs);
            expect_same(outd, out);

            // The gradients into one fused (B*S, (H + 2 Hkv) Dh) tensor, filled with garbage first:
            // overwritten.
            auto dqkv = random_tensor<T>({B * S, qkv_cols}, 64);
            auto dqkvd = on_device(dqkv);
            auto grads = [&](auto& t) {
                const auto m = t.matrix();
                return std::tuple{m.col_block(0, H * Dh), m.col_block(H * Dh, Hkv * Dh),
                                  m.col_block((H + Hkv) * Dh, Hkv * Dh)};
            };
            const auto [dq, dk, dv] = grads(dqkv);
            const auto [dqd, dkd, dvd] = grads(dqkvd);
            loramoe::attention_backward(cpu{}, shape, q, k, v, mask_host, probs.data(),
                                        loramoe::as_const(dout.matrix().col_block(0, H * Dh)), dq, dk, dv);
            loramoe::attention_backward(cuda{}, shape, qd, kd, vd, mask_device, probsd.data(),
                                        loramoe::as_const(doutd.matrix().col_block(0, H * Dh)), dqd, dkd,
                                        dvd);
            expect_same(dqkvd, dqkv);
        }
    }

    TEST_CASE_TEMPLATE("cuda: attention with a KV cache, new queries after cached positions", T, float,
                       double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_transformer_kernels;
        using loramoe::index;
        const index capacity = 40;
        std::vector<cached_case> cases;
        for (const auto& heads : {std::vector<index>{4, 2, 6}, {3, 1, 8}, {2, 2, 4}})          // H, Hkv, Dh
            for (const auto& positions : {std::vector<index>{0, 1}, {0, 5}, {7, 1}, {3, 33}})  // past, n
                cases.push_back({heads[0], heads[1], heads[2], positions[0], positions[1]});
        for (const cached_case& c : cases) {
            CAPTURE(c.heads);
            CAPTURE(c.kv_heads);
            CAPTURE(c.past);
            CAPTURE(c.queries);
            const index H = c.heads, Hkv = c.kv_heads, Dh = c.head_dim, past = c.past, n = c.queries;
            const loramoe::attention_shape shape{1, n, H, Hkv, Dh};
            // The cache holds more rows than past + n: only the first past + n are read.
            const auto q = random_tensor<T>({n, H * Dh + 3}, 71, -2, 2);
            const auto kv = random_tensor<T>({capacity, 2 * Hkv * Dh}, 72, -2, 2);
            const auto qd = on_device(q), kvd = on_device(kv);
            auto out = random_tensor<T>({n, H * Dh}, 73);
            auto outd = on_device(out);
            loramoe::attention_cached(cpu{}, shape, past, loramoe::as_const(q.matrix().col_block(3, H * Dh)),
                                      loramoe::as_const(kv.matrix().col_block(0, Hkv * Dh)),
                                      loramoe::as_const(kv.matrix().col_block(Hkv * Dh, Hkv * Dh)),
                                      out.matrix());
            loramoe::attention_cached(
                cuda{}, shape, past, loramoe::as_const(qd.matrix().col_block(3, H * Dh)),
                loramoe::as_const(kvd.matrix().col_block(0, Hkv * Dh)),
                loramoe::as_const(kvd.matrix().col_block(Hkv * Dh, Hkv * Dh)), outd.matrix());
            expect_same(outd, out);
        }
    }

    TEST_CASE("cuda: a sliding window shorter than the keys is refused, one as long is computed") {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_transformer_kernels;
        const loramoe::index S = 6, H = 2, Dh = 4;
        const float* no_mask = nullptr;
        const auto q = random_tensor<float>({S, H * Dh}, 81, -2, 2);
        const auto qd = on_device(q);
        loramoe::tensor<float, cuda> probs({1, H, S, S}), out({S, H * Dh});
        const auto view = loramoe::as_const(qd.matrix());
        const loramoe::attention_shape narrow{1, S, H, H, Dh, S - 1}, wide{1, S, H, H, Dh, S};
        CHECK_THROWS_NAMING(
            loramoe::value_error,
            loramoe::attention_forward(cuda{}, narrow, view, view, view, no_mask, probs.data(), out.matrix()),
            "sliding window of 5", "CPU");
        CHECK_THROWS_NAMING(loramoe::value_error,
                            loramoe::attention_cached(cuda{}, narrow, 0, view, view, view, out.matrix()),
                            "sliding window of 5");
        CHECK_NOTHROW(
            loramoe::attention_forward(cuda{}, wide, view, view, view, no_mask, probs.data(), out.matrix()));
    }

}  // TEST_SUITE
