#pragma once
// The few vector primitives the elementwise kernels share, on xsimd's batch of the build's best
// architecture (fixed once per build by the compiler flags), with scalar tails.

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

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
        for (i = width<T>; i + width<T> <= n; i += width<T>)
            acc = xsimd::max(acc, batch<T>::load_unaligned(x + i));
        alignas(64) T lanes[width<T>];
        acc.store_aligned(lanes);
        best = *std::max_element(lanes, lanes + width<T>);
    }
    for (; i < n; ++i) best = std::max(best, x[i]);
    return best;
}

// An element-wise loop written once for both widths: f(i, V{}) with V = batch<T> for the whole batches
// from i = 0, then with V = T for the tail; inside, load<V>(p) and store(p, v) move one V.
template <class T, class F>
void for_each_lane(index n, F&& f) {
    index i = 0;
    for (; i + width<T> <= n; i += width<T>) f(i, batch<T>{});
    for (; i < n; ++i) f(i, T{});
}

template <class V, class T>
V load(const T* p) {
    if constexpr (std::is_same_v<V, T>)
        return *p;
    else
        return V::load_unaligned(p);
}

template <class T, class V>
void store(T* p, V v) {
    if constexpr (std::is_same_v<V, T>)
        *p = v;
    else
        v.store_unaligned(p);
}

// 1 / (1 + exp(-x)) for a T or a batch of them (xsimd's exp for batches).
template <class V>
V sigmoid(V x) {
    using std::exp;
    return V(1) / (V(1) + exp(-x));
}

// y[i] = exp(x[i] - shift); returns the sum of the y[i]. y may alias x.
template <class T>
T exp_shifted(const T* x, T shift, T* y, index n) {
    batch<T> acc(T(0));
    const batch<T> s(shift);
    // xsimd's exp converts -inf (a masked score) to an integer on its way to 0, which C++ leaves
    // undefined (UBSan reports it); any argument below -1000 gives 0 in float and double alike, so it
    // is raised to -1000 first. A select, not a max: a NaN must stay a NaN.
    const batch<T> floor(T(-1000));
    index i = 0;
    for (; i + width<T> <= n; i += width<T>) {
        const batch<T> d = batch<T>::load_unaligned(x + i) - s;
        const batch<T> e = xsimd::exp(xsimd::select(d < floor, floor, d));
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
