// A tiny LoRAMoE layer forward through the public API, checked against the formula written out: exits 0
// when they agree. Built by the packaging tests against an installed loramoe and the source tree.

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include <loramoe/loramoe.hpp>

int main() {
    namespace moe = loramoe::moe;
    const loramoe::index rows = 3, d_in = 4, d_out = 2, experts = 2, rank = 1;
    moe::loramoe_linear<double> layer(
        {.in_features = d_in, .out_features = d_out, .experts = experts, .rank = rank, .alpha = 2});
    loramoe::parameter_buffer<double> parameters(layer.parameter_count());
    layer.bind(parameters.all());
    loramoe::random_generator rng(1);
    for (double& v : parameters.values().span()) v = rng.uniform(-1, 1);
    loramoe::tensor<double> x({rows, d_in}), w0({d_out, d_in}), y({rows, d_out});
    for (double& v : x.span()) v = rng.uniform(-1, 1);
    for (double& v : w0.span()) v = rng.uniform(-1, 1);
    layer.set_base({w0.matrix()});

    moe::loramoe_linear<double>::saved saved;

    moe::loramoe_linear<double>::workspace workspace;
    const std::vector<std::int64_t> task_types(rows, 0);
    const moe::routing_batch<double> batch{rows, 1, nullptr, task_types};
    layer.forward(x.matrix(), batch, y.matrix(), saved, workspace);

    // y = x W0^T + sum_i g_i (alpha / r) B_i A_i x,  g = softmax(x W_r^T)
    const auto a = layer.a(), router = layer.router(), b = layer.b();
    double worst = 0;
    for (loramoe::index t = 0; t < rows; ++t) {
        double z[experts], sum = 0;
        for (loramoe::index i = 0; i < experts; ++i) {
            z[i] = 0;
            for (loramoe::index j = 0; j < d_in; ++j) z[i] += router(i, j) * x.matrix()(t, j);
        }
        for (double& zi : z) sum += (zi = std::exp(zi));
        for (loramoe::index o = 0; o < d_out; ++o) {
            double want = 0;
            for (loramoe::index j = 0; j < d_in; ++j) want += w0.matrix()(o, j) * x.matrix()(t, j);
            for (loramoe::index i = 0; i < experts; ++i) {
                double h = 0;
                for (loramoe::index j = 0; j < d_in; ++j) h += a(i, j) * x.matrix()(t, j);
                want += z[i] / sum * 2.0 * b(o, i) * h;
            }
            worst = std::fmax(worst, std::fabs(y.matrix()(t, o) - want));
        }
    }
    std::printf("loramoe consumer: max |y - formula| = %.3g\n", worst);
    return worst < 1e-12 ? 0 : 1;
}
