#pragma once
// Rotary position embedding on the host, in HuggingFace's rotate-half layout, forward and backward.
//
// For each head of Dh features, h = Dh/2, and angle a_i = position * theta^(-2i/Dh), i < h:
//   forward:   y[i]     = x[i] cos a_i - x[i+h] sin a_i        (= x cos + rotate_half(x) sin)
//              y[i+h]   = x[i+h] cos a_i + x[i] sin a_i
//   backward:  dx[i]    = dy[i] cos a_i + dy[i+h] sin a_i      (the transpose of the rotation)
//              dx[i+h]  = dy[i+h] cos a_i - dy[i] sin a_i
// x (M, heads*Dh), rows sample-major; position of row t = positions[t].

#include <loramoe/core/view.hpp>
#include <loramoe/cpu/parallel.hpp>

namespace loramoe {

// cos and sin tables (P, Dh/2); `inverse` = false rotates forward, true applies the transpose
// (the backward). In place is allowed (y may alias x).
template <class T>
void rotate(cpu, matrix_view<const T> x, index head_dim, const std::int64_t* positions,
            matrix_view<const T> cos, matrix_view<const T> sin, bool inverse, matrix_view<T> y) {
    LORAMOE_ASSERT(x.cols % head_dim == 0 && head_dim % 2 == 0);
    const index half = head_dim / 2, heads = x.cols / head_dim;
    const T direction = inverse ? T(-1) : T(1);
    parallel_for(cpu{}, x.rows, 3 * x.cols, [&](index t) {
        const T* c = cos.row(positions[t]);
        const T* s = sin.row(positions[t]);
        for (index head = 0; head < heads; ++head) {
            const T* xh = x.row(t) + head * head_dim;
            T* yh = y.row(t) + head * head_dim;
            for (index i = 0; i < half; ++i) {
                const T a = xh[i], b = xh[i + half], si = direction * s[i];
                yh[i] = a * c[i] - b * si;
                yh[i + half] = b * c[i] + a * si;
            }
        }
    });
}

}  // namespace loramoe
