#pragma once
// RMSNorm as LLaMA uses it: y = w o x / sqrt(mean(x^2) + eps), per token (kernels: cpu/rmsnorm.hpp).

#include <loramoe/core/gradient_mode.hpp>
#include <loramoe/core/tensor.hpp>
#include <loramoe/cpu/rmsnorm.hpp>

namespace loramoe::nn {

template <scalar T, backend Backend = cpu>
struct rms_norm {
    const T* weight = nullptr;  // (D)
    T* weight_grad = nullptr;   // (D) or null: frozen
    T eps = T(1e-6);

    struct saved {
        tensor<T, Backend> rstd;  // (M): 1 / sqrt(mean(x^2) + eps)
    };

    void forward(matrix_view<const T> x, matrix_view<T> y, saved& s) const {
        s.rstd.resize({x.rows});
        rmsnorm_forward(Backend{}, x, weight, eps, y, s.rstd.data());
    }

    void backward(matrix_view<const T> x, matrix_view<const T> dy, const saved& s, matrix_view<T> dx,
                  gradient_mode mode = gradient_mode::overwrite) const {
        rmsnorm_backward(Backend{}, x, weight, s.rstd.data(), dy, dx, mode, weight_grad);
    }
};

}  // namespace loramoe::nn
