#pragma once
// What the tests of moe::loramoe_linear share: random inputs for a batch of B samples x S tokens, a
// frozen or trainable base, random parameters, one forward + backward on the layer's backend collected
// into host tensors (the GPU tests compare the two backends with it), and the LoRAMoE formula written
// out naively, token by token, in long double.

#include "test_support.hpp"

#include <cmath>
#include <cstdint>
#include <numeric>
#include <optional>
#include <vector>

#include <loramoe/core/parameters.hpp>
#include <loramoe/moe/loramoe_linear.hpp>

namespace loramoe::test {

// The inputs of one layer call, rows sample-major (M = B*S).
template <class T>
struct layer_inputs {
    index samples, tokens, d_in, d_out;
    tensor<T, cpu> x;     // (M, d_in)
    tensor<T, cpu> w0;    // (d_out, d_in)
    tensor<T, cpu> b0;    // (d_out)
    tensor<T, cpu> mask;  // (M): sample b has its last b % S tokens as padding (sample 0 has none)
    tensor<T, cpu> dy;    // (M, d_out): the projection w of the objective <y, w>
    std::vector<std::int64_t> task_types;  // (B): 1, 0, 1, 0, ...

    layer_inputs(index samples_, index tokens_, index d_in_, index d_out_, std::uint64_t seed)
        : samples(samples_),
          tokens(tokens_),
          d_in(d_in_),
          d_out(d_out_),
          x(random_tensor<T>({samples_ * tokens_, d_in_}, seed)),
          w0(random_tensor<T>({d_out_, d_in_}, seed + 1, -0.5, 0.5)),
          b0(random_tensor<T>({d_out_}, seed + 2, -0.5, 0.5)),
          mask({samples_ * tokens_}),
          dy(random_tensor<T>({samples_ * tokens_, d_out_}, seed + 3)) {
        for (index b = 0; b < samples; ++b) {
            task_types.push_back((b + 1) % 2);
            for (index t = 0; t < tokens; ++t) mask[b * tokens + t] = t < tokens - b % tokens ? T(1) : T(0);
        }
    }

    index rows() const { return samples * tokens; }
    moe::routing_batch<T> batch(bool masked = true) const {
        return {samples, tokens, masked ? mask.data() : nullptr, task_types};
    }
};

// How a test builds the base beside the experts.
struct base_options {
    bool present = true;  // false: an empty weight, no base at all
    bool bias = true;
    bool trainable = true;  // gradient pointers for W0 and b0
};

// Random values for every parameter ([A_cat; W_r] then B_cat), B included: with B = 0 the router
// would get no gradient from y.
template <class T>
std::vector<T> random_parameter_values(index count, std::uint64_t seed, double scale = 0.5) {
    return random_vector<T>(count, seed, -scale, scale);
}

// Everything one forward (+ backward) produced, copied out of the layer.
template <class T>
struct layer_result {
    tensor<T, cpu> y, gates, dx;
    std::vector<T> parameter_grads;  // the layer's whole gradient slice
    tensor<T, cpu> w0_grad, b0_grad;
    T balance_loss = 0;
};

// Binds `layer` to a fresh buffer holding `values`, sets the base, runs forward and (when `backward`)
// backward with dy and `balance_weight`; the layer's dropout counter advances as forward does. The
// layer runs in its own backend: the inputs are copied there, the results back to the host. The
// buffer and the base copies die on return: the layer is bound and given a base again before its
// next use.
template <class Layer, class T = typename Layer::value_type>
layer_result<T> run_layer(Layer& layer, const layer_inputs<T>& in, const std::vector<T>& values,
                          base_options base, bool training, T balance_weight, bool masked = true,
                          bool backward = true) {
    using Backend = typename Layer::backend_type;
    parameter_buffer<T, Backend> parameters(layer.parameter_count());
    copy_from_host(Backend{}, values.data(), parameters.values().data(), parameters.size());
    layer.bind(parameters.all());
    const auto x = to_backend<Backend>(in.x), w0 = to_backend<Backend>(in.w0),
               b0 = to_backend<Backend>(in.b0), mask = to_backend<Backend>(in.mask),
               dy = to_backend<Backend>(in.dy);
    tensor<T, Backend> w0_grad({in.d_out, in.d_in}), b0_grad({in.d_out});
    w0_grad.zero();
    b0_grad.zero();
    moe::base_linear<T> linear;
    if (base.present) {
        linear.weight = w0.matrix();
        linear.bias = base.bias ? b0.data() : nullptr;
        if (base.trainable) {
            linear.weight_grad = w0_grad.data();
            linear.bias_grad = base.bias ? b0_grad.data() : nullptr;
        }
    }
    layer.set_base(linear);
    const moe::routing_batch<T> batch{in.samples, in.tokens, masked ? mask.data() : nullptr, in.task_types};
    typename Layer::saved saved;
    typename Layer::workspace workspace;
    tensor<T, Backend> y({in.rows(), in.d_out});
    layer.forward(x.matrix(), batch, y.matrix(), saved, workspace, training);
    layer_result<T> r;
    r.y = to_host(y);
    r.gates = to_host(saved.gates);
    r.balance_loss = saved.balance_loss;
    if (backward) {
        tensor<T, Backend> dx({in.rows(), in.d_in});
        dx.fill_with(std::numeric_limits<T>::quiet_NaN());  // overwritten
        layer.backward(x.matrix(), dy.matrix(), batch, balance_weight, saved, workspace, dx.matrix());
        r.dx = to_host(dx);
        const tensor<T, cpu> grads = to_host(parameters.grads());
        r.parameter_grads.assign(grads.data(), grads.data() + grads.size());
    }
    r.w0_grad = to_host(w0_grad);
    r.b0_grad = to_host(b0_grad);
    return r;
}

// The formula, token by token, in long double:
//   y = x W0^T + b + sum_i g_i s B_i A_i (m_i o x) / (1 - p),   g = keep_top_k(softmax(x W_r^T))
// with the parameters laid out as the layer lays them out, and dropout masks m_i regenerated from the
// documented stream (call * N + i) and counter (the token's sample and position, column) when
// `dropout_call` is set.
template <class T>
std::vector<double> naive_loramoe_forward(const moe::loramoe_config& c, const layer_inputs<T>& in,
                                          const std::vector<T>& values, base_options base,
                                          std::optional<std::uint64_t> dropout_call,
                                          std::vector<double>* gates_out = nullptr) {
    const index n = c.experts, r = c.rank, d_in = c.in_features, d_out = c.out_features;
    const index router_rows = c.router ? n : 0;
    const T* a = values.data();                  // (N*r, d_in)
    const T* wr = values.data() + n * r * d_in;  // (N, d_in)
    const T* bcat = wr + router_rows * d_in;     // (d_out, N*r)
    const long double s = c.alpha / static_cast<double>(r);
    std::vector<double> y;
    for (index t = 0; t < in.rows(); ++t) {
        const T* xt = in.x.data() + t * d_in;
        std::vector<long double> g(static_cast<std::size_t>(n), 1.0L);
        if (c.router) {
            std::vector<long double> z(static_cast<std::size_t>(n));
            for (index i = 0; i < n; ++i) {
                z[i] = 0;
                for (index j = 0; j < d_in; ++j) z[i] += static_cast<long double>(wr[i * d_in + j]) * xt[j];
            }
            std::vector<index> order(static_cast<std::size_t>(n));
            std::iota(order.begin(), order.end(), index{0});
            std::stable_sort(order.begin(), order.end(), [&](index p, index q) { return z[p] > z[q]; });
            const index kept = c.top_k > 0 ? c.top_k : n;
            long double top = z[order[0]], sum = 0;
            for (index k = 0; k < kept; ++k) sum += std::exp(z[order[k]] - top);
            for (index k = 0; k < n; ++k) g[order[k]] = k < kept ? std::exp(z[order[k]] - top) / sum : 0.0L;
        }
        if (gates_out)
            for (index i = 0; i < n; ++i) gates_out->push_back(static_cast<double>(g[i]));
        for (index o = 0; o < d_out; ++o) {
            long double yo = 0;
            if (base.present) {
                for (index j = 0; j < d_in; ++j) yo += static_cast<long double>(in.w0[o * d_in + j]) * xt[j];
                if (base.bias) yo += in.b0[o];
            }
            for (index i = 0; i < n; ++i) {
                for (index k = 0; k < r; ++k) {
                    long double h = 0;  // (A_i (m_i o x))_k
                    for (index j = 0; j < d_in; ++j) {
                        long double xj = xt[j];
                        if (dropout_call) {
                            const auto stream =
                                *dropout_call * static_cast<std::uint64_t>(n) + static_cast<std::uint64_t>(i);
                            const bool keep = unit_uniform(random_bits(
                                                  c.seed, stream,
                                                  token_counter(static_cast<std::uint64_t>(t / in.tokens),
                                                                static_cast<std::uint64_t>(t % in.tokens),
                                                                static_cast<std::uint64_t>(d_in),
                                                                static_cast<std::uint64_t>(j)))) >=
                                              static_cast<double>(static_cast<T>(c.dropout));
                            xj = keep ? xj / (1.0L - static_cast<T>(c.dropout)) : 0.0L;
                        }
                        h += static_cast<long double>(a[(i * r + k) * d_in + j]) * xj;
                    }
                    yo += g[i] * s * static_cast<long double>(bcat[o * n * r + i * r + k]) * h;
                }
            }
            y.push_back(static_cast<double>(yo));
        }
    }
    return y;
}

}  // namespace loramoe::test
