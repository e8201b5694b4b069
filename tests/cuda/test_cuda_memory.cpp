// The CUDA backend's memory, transfers and products against the host.

#include "cuda/cuda_support.hpp"

namespace test_cuda_memory {
using namespace loramoe::test;
}

TEST_SUITE("gpu") {
    TEST_CASE_TEMPLATE("cuda: tensors round-trip through the device, fill and copy", T, float, double) {
        loramoe::test::require_cuda_device();
        const auto host = loramoe::test::random_tensor<T>({7, 13}, 1);
        auto device = loramoe::test::on_device(host);
        CHECK(device.size() == host.size());
        loramoe::test::expect_same(device, host, 0);
        loramoe::tensor<T, loramoe::cuda> copy = device.clone();
        loramoe::test::expect_same(copy, host, 0);
        device.fill_with(T(2.5));
        for (T v : loramoe::to_host(device).span()) CHECK(v == T(2.5));
        device.zero();
        for (T v : loramoe::to_host(device).span()) CHECK(v == T(0));
        // A moved-from device tensor is empty and usable.
        loramoe::tensor<T, loramoe::cuda> moved = std::move(copy);
        CHECK(copy.size() == 0);
        copy.resize({3});
        copy.fill_with(T(1));
        CHECK(loramoe::to_host(copy)[2] == T(1));
    }

    TEST_CASE_TEMPLATE("cuda: strided download and upload", T, float, double) {
        loramoe::test::require_cuda_device();
        const auto host = loramoe::test::random_tensor<T>({6, 10}, 2);
        auto device = loramoe::test::on_device(host);
        loramoe::tensor<T, loramoe::cpu> block({6, 3});
        loramoe::download(loramoe::cuda{}, loramoe::as_const(device.matrix().col_block(4, 3)),
                          block.matrix());
        for (loramoe::index i = 0; i < 6; ++i)
            for (loramoe::index j = 0; j < 3; ++j) CHECK(block.matrix()(i, j) == host.matrix()(i, 4 + j));
        block.fill_with(T(-1));
        loramoe::upload(loramoe::cuda{}, loramoe::as_const(block.matrix()), device.matrix().col_block(2, 3));
        const auto back = loramoe::to_host(device);
        CHECK(back.matrix()(5, 2) == T(-1));
        CHECK(back.matrix()(5, 5) == host.matrix()(5, 5));
    }

    TEST_CASE_TEMPLATE("cuda: gemm in every layout, with beta 0, 1 and 0.5, on strided views", T, float,
                       double) {
        loramoe::test::require_cuda_device();
        using loramoe::transpose;
        for (auto [ta, tb] :
             {std::pair{transpose::no, transpose::no}, std::pair{transpose::yes, transpose::no},
              std::pair{transpose::no, transpose::yes}, std::pair{transpose::yes, transpose::yes}})
            for (T beta : {T(0), T(1), T(0.5)}) {
                const loramoe::index m = 37, n = 19, k = 23;
                const auto a = loramoe::test::random_tensor<T>(
                    ta == transpose::yes ? loramoe::shape_type{k, m + 3} : loramoe::shape_type{m, k + 3}, 3);
                const auto b = loramoe::test::random_tensor<T>(
                    tb == transpose::yes ? loramoe::shape_type{n, k} : loramoe::shape_type{k, n}, 4);
                auto c = loramoe::test::random_tensor<T>({m, n}, 5);
                auto ad = loramoe::test::on_device(a);
                auto bd = loramoe::test::on_device(b);
                auto cd = loramoe::test::on_device(c);
                // a's last 3 columns are not part of the operand: a strided view.
                const auto av = loramoe::as_const(ad.matrix().col_block(0, ad.dim(1) - 3));
                const auto ah = loramoe::as_const(a.matrix().col_block(0, a.dim(1) - 3));
                loramoe::gemm(loramoe::cuda{}, T(1.5), av, ta, loramoe::as_const(bd.matrix()), tb, beta,
                              cd.matrix());
                loramoe::gemm(loramoe::cpu{}, T(1.5), ah, ta, loramoe::as_const(b.matrix()), tb, beta,
                              c.matrix());
                loramoe::test::expect_same(cd, c);
            }
    }

    TEST_CASE_TEMPLATE("cuda: softmax rows, its backward, and top-k", T, float, double) {
        loramoe::test::require_cuda_device();
        for (loramoe::index cols : {1, 6, 33, 1000}) {
            CAPTURE(cols);
            auto z = loramoe::test::random_tensor<T>({41, cols}, 6, -8, 8);
            const auto dp = loramoe::test::random_tensor<T>({41, cols}, 7);
            loramoe::tensor<T, loramoe::cpu> p({41, cols}), dz({41, cols});
            auto zd = loramoe::test::on_device(z), dpd = loramoe::test::on_device(dp);
            loramoe::tensor<T, loramoe::cuda> pd({41, cols}), dzd({41, cols});
            loramoe::softmax_rows(loramoe::cpu{}, loramoe::as_const(z.matrix()), p.matrix());
            loramoe::softmax_rows(loramoe::cuda{}, loramoe::as_const(zd.matrix()), pd.matrix());
            loramoe::test::expect_same(pd, p);
            loramoe::softmax_rows_backward(loramoe::cpu{}, loramoe::as_const(p.matrix()),
                                           loramoe::as_const(dp.matrix()), dz.matrix());
            loramoe::softmax_rows_backward(loramoe::cuda{}, loramoe::as_const(pd.matrix()),
                                           loramoe::as_const(dpd.matrix()), dzd.matrix());
            loramoe::test::expect_same(dzd, dz);
            if (cols <= 64)
                for (loramoe::index k : {1, 2, 5}) {
                    auto pk = p.clone();
                    auto pkd = pd.clone();
                    loramoe::keep_top_k(loramoe::cpu{}, k, pk.matrix());
                    loramoe::keep_top_k(loramoe::cuda{}, k, pkd.matrix());
                    loramoe::test::expect_same(pkd, pk);
                }
        }
    }

}  // TEST_SUITE
