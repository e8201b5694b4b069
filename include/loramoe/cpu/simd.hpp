#pragma once
// The few vector primitives the elementwise kernels share, on xsimd's batch of the build's best
// architecture (fixed once per build by the compiler flags), with scalar tails.

#include <algorithm>
#include <cmath>
#include <limits>

#include <xsimd/xsimd.hpp>

#include <loramoe/core/backend.hpp>

namespace loramoe::simd {

template <class T>
using batch = xsimd::batch<T>;

template <class T>
inline constexpr index width = static_cast<index>(batch<T>::size);

template <class T>
T max(const T* x, index n) {
    T best = -std::numeric_limits<T>::infinity();
    index i = 0;
    if (n >= width<T>) {
        batch<T> acc = batch<T>::load_unaligned(x);
        for (i = width<T>; i + width<T> <= n; i += width<T>) acc = xsimd::max(acc, batch<T>::load_unaligned(x + i));
        alignas(64) T lanes[width<T>];
        acc.store_aligned(lanes);
        best = *std::max_element(lanes, lanes + width<T>);
    }
    for (; i < n; ++i) best = std::max(best, x[i]);
    return best;
}

// y[i] = exp(x[i] - shift); returns the sum of the y[i]. y may alias x.
template <class T>
T exp_shifted(const T* x, T shift, T* y, index n) {
    batch<T> acc(T(0));
    const batch<T> s(shift);
    index i = 0;
    for (; i + width<T> <= n; i += width<T>) {
        const batch<T> e = xsimd::exp(batch<T>::load_unaligned(x + i) - s);
        e.store_unaligned(y + i);
        acc += e;
    }
    T sum = xsimd::hadd(acc);
    for (; i < n; ++i) sum += (y[i] = std::exp(x[i] - shift));
    return sum;
}

// y[i] = a * x[i]; y may alias x.
template <class T>
void scale(T a, const T* x, T* y, index n) {
    const batch<T> s(a);
    index i = 0;
    for (; i + width<T> <= n; i += width<T>) (batch<T>::load_unaligned(x + i) * s).store_unaligned(y + i);
    for (; i < n; ++i) y[i] = a * x[i];
}

// y[i] = x[i] * w[i]; y may alias x.
template <class T>
void multiply(const T* x, const T* w, T* y, index n) {
    index i = 0;
    for (; i + width<T> <= n; i += width<T>)
        (batch<T>::load_unaligned(x + i) * batch<T>::load_unaligned(w + i)).store_unaligned(y + i);
    for (; i < n; ++i) y[i] = x[i] * w[i];
}

template <class T>
T dot(const T* x, const T* y, index n) {
    batch<T> acc(T(0));
    index i = 0;
    for (; i + width<T> <= n; i += width<T>)
        acc = xsimd::fma(batch<T>::load_unaligned(x + i), batch<T>::load_unaligned(y + i), acc);
    T sum = xsimd::hadd(acc);
    for (; i < n; ++i) sum += x[i] * y[i];
    return sum;
}

}  // namespace loramoe::simd
