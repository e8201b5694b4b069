#pragma once
// The solution of exercise 08 (examples/08_exercise_loramoe_experts.cpp): try it yourself first.
//
// With h_i = x A_i^T (M, r) and u_i = h_i B_i^T (M, d_out), per expert i:
//   du_i = s g[:, i] ⊙ dy,   dB_i += du_i^T h_i,   dh_i = du_i B_i,   dA_i += dh_i^T x
//   dg[t, i] = s sum_j dy[t, j] u_i[t, j]
// then the router and the input, through all three paths:
//   dz = g ⊙ (dg - rowsum(g ⊙ dg)),   dW_r += dz^T x
//   dx = dy W0 + sum_i dh_i A_i + dz W_r
// The library's version is loramoe_linear::backward in include/loramoe/moe/loramoe_linear.hpp with
// execution_path::reference (and, fused, every expert in one product: docs/tutorial.md, section 3).

#include <algorithm>
#include <cstddef>
#include <vector>

namespace solutions {

inline void loramoe_experts_backward(const std::vector<double>& x, const std::vector<double>& w0,
                                     const std::vector<double>& a, const std::vector<double>& b,
                                     const std::vector<double>& w_r, const std::vector<double>& g,
                                     const std::vector<double>& dy, double s, std::size_t m, std::size_t d_in,
                                     std::size_t d_out, std::size_t n, std::size_t r, std::vector<double>& dx,
                                     std::vector<double>& da, std::vector<double>& db,
                                     std::vector<double>& dw_r) {
    // dx = dy W0: the frozen base's path.
    for (std::size_t t = 0; t < m; ++t)
        for (std::size_t c = 0; c < d_in; ++c) {
            dx[t * d_in + c] = 0;
            for (std::size_t o = 0; o < d_out; ++o) dx[t * d_in + c] += dy[t * d_out + o] * w0[o * d_in + c];
        }

    std::vector<double> dg(m * n);               // (m, n)
    std::vector<double> h(r), dh(r), du(d_out);  // one token's h_i, dh_i, du_i
    for (std::size_t i = 0; i < n; ++i) {
        const double* a_i = &a[i * r * d_in];   // (r, d_in)
        const double* b_i = &b[i * d_out * r];  // (d_out, r)
        double* da_i = &da[i * r * d_in];
        double* db_i = &db[i * d_out * r];
        for (std::size_t t = 0; t < m; ++t) {
            const double* xt = &x[t * d_in];
            const double* dyt = &dy[t * d_out];
            std::fill(h.begin(), h.end(), 0.0);
            for (std::size_t j = 0; j < r; ++j)
                for (std::size_t c = 0; c < d_in; ++c) h[j] += a_i[j * d_in + c] * xt[c];
            dg[t * n + i] = 0;
            for (std::size_t o = 0; o < d_out; ++o) {
                double u = 0;  // u_i[t, o]
                for (std::size_t j = 0; j < r; ++j) u += b_i[o * r + j] * h[j];
                dg[t * n + i] += s * dyt[o] * u;
                du[o] = s * g[t * n + i] * dyt[o];
            }
            for (std::size_t j = 0; j < r; ++j) {
                dh[j] = 0;
                for (std::size_t o = 0; o < d_out; ++o) {
                    db_i[o * r + j] += du[o] * h[j];
                    dh[j] += du[o] * b_i[o * r + j];
                }
            }
            for (std::size_t j = 0; j < r; ++j)
                for (std::size_t c = 0; c < d_in; ++c) {
                    da_i[j * d_in + c] += dh[j] * xt[c];
                    dx[t * d_in + c] += dh[j] * a_i[j * d_in + c];
                }
        }
    }

    std::vector<double> dz(n);  // one token's dL/dz
    for (std::size_t t = 0; t < m; ++t) {
        const double* gt = &g[t * n];
        double inner = 0;  // sum_k g[t, k] dg[t, k]
        for (std::size_t i = 0; i < n; ++i) inner += gt[i] * dg[t * n + i];
        for (std::size_t i = 0; i < n; ++i) dz[i] = gt[i] * (dg[t * n + i] - inner);
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t c = 0; c < d_in; ++c) {
                dw_r[i * d_in + c] += dz[i] * x[t * d_in + c];
                dx[t * d_in + c] += dz[i] * w_r[i * d_in + c];
            }
    }
}

}  // namespace solutions
