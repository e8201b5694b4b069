#pragma once
// The solution of exercise 09 (examples/09_exercise_attention.cpp): try it yourself first.
//
// With C = A B giving dA = dC B^T and dB = A^T dC, and the softmax's backward row by row:
//   da = do v^T,   dv = a^T do
//   dc = a ⊙ (da - rowsum(a ⊙ da))           the masked scores have a = 0: no gradient
//   dq = dc k / sqrt(Dh),   dk = dc^T q / sqrt(Dh)
// The library's version, with heads, key padding and a sliding window, is attention_backward in
// include/loramoe/cpu/attention.hpp.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace solutions {

inline void attention_backward(const std::vector<double>& q, const std::vector<double>& k,
                               const std::vector<double>& v, const std::vector<double>& a,
                               const std::vector<double>& dout, std::size_t s, std::size_t dh,
                               std::vector<double>& dq, std::vector<double>& dk, std::vector<double>& dv) {
    const double scale = 1 / std::sqrt(static_cast<double>(dh));
    std::fill(dq.begin(), dq.end(), 0.0);
    std::fill(dk.begin(), dk.end(), 0.0);
    std::fill(dv.begin(), dv.end(), 0.0);
    std::vector<double> dc(s);  // one query's row of da, then of dc
    for (std::size_t i = 0; i < s; ++i) {
        const double* ai = &a[i * s];
        for (std::size_t j = 0; j < s; ++j) {
            dc[j] = 0;  // da[i, j] = do_i . v_j
            for (std::size_t c = 0; c < dh; ++c) dc[j] += dout[i * dh + c] * v[j * dh + c];
        }
        double inner = 0;  // sum_j a[i, j] da[i, j]
        for (std::size_t j = 0; j < s; ++j) inner += ai[j] * dc[j];
        for (std::size_t j = 0; j < s; ++j) dc[j] = ai[j] * (dc[j] - inner);
        for (std::size_t j = 0; j < s; ++j)
            for (std::size_t c = 0; c < dh; ++c) {
                dq[i * dh + c] += dc[j] * k[j * dh + c] * scale;
                dk[j * dh + c] += dc[j] * q[i * dh + c] * scale;
                dv[j * dh + c] += ai[j] * dout[i * dh + c];
            }
    }
}

}  // namespace solutions
