#pragma once
// The solution of exercise 06 (examples/06_exercise_rmsnorm.cpp): try it yourself first.
//
// Per row, with dx̂ = dy ⊙ γ (γ is `w`) and x̂ = x rstd (docs/tutorial.md, section 5):
//   dx_k = dx̂_k rstd + sum_j dx̂_j x_j (-rstd^3 x_k / D)
//        = rstd (dx̂_k - x̂_k mean(dx̂ ⊙ x̂))
//   dγ  += dy ⊙ x̂
// The library's version, vectorised and threaded, is rmsnorm_backward in include/loramoe/cpu/rmsnorm.hpp.

#include <cmath>
#include <cstddef>
#include <vector>

namespace solutions {

inline void rmsnorm_backward(const std::vector<double>& x, const std::vector<double>& w,
                             const std::vector<double>& dy, std::size_t m, std::size_t d,
                             std::vector<double>& dx, std::vector<double>& dw) {
    constexpr double eps = 1e-6;  // as the exercise's forward
    for (std::size_t t = 0; t < m; ++t) {
        const double* xt = &x[t * d];
        const double* dyt = &dy[t * d];
        double square_sum = 0;
        for (std::size_t j = 0; j < d; ++j) square_sum += xt[j] * xt[j];
        const double rstd = 1 / std::sqrt(square_sum / static_cast<double>(d) + eps);
        double mean_dxhat_xhat = 0;  // mean(dx̂ ⊙ x̂)
        for (std::size_t j = 0; j < d; ++j) mean_dxhat_xhat += dyt[j] * w[j] * xt[j] * rstd;
        mean_dxhat_xhat /= static_cast<double>(d);
        for (std::size_t j = 0; j < d; ++j) {
            dx[t * d + j] = rstd * (dyt[j] * w[j] - xt[j] * rstd * mean_dxhat_xhat);
            dw[j] += dyt[j] * xt[j] * rstd;
        }
    }
}

}  // namespace solutions
