// Example 01: one LoRAMoE layer, forward and backward, and the two checks that make it trustworthy.
//
// What it teaches:
//   - how a LoRAMoE linear is put together: a config, one parameter buffer bound to the layer (the
//     experts' A, the router, the experts' B, and their gradients), a frozen base weight W0 beside it;
//   - what the localized balancing constraint (LBC) needs from the batch: the padding mask and the
//     task type of each sample;
//   - forward writes a `saved` struct that backward reads; scratch lives in a `workspace` you own
//     (one may serve many layers); parameter gradients accumulate (+=), the input gradient is
//     overwritten;
//   - how to check it: gradcheck in double against finite differences, and the fused path (all
//     experts in two matrix products) against the reference path (one expert at a time).
//
// Run:  cmake --build --preset release --target 01_loramoe_layer && build/release/bin/01_loramoe_layer
// Exit status 0 when gradcheck and the fused/reference comparison pass, 1 otherwise.

#include <chrono>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include <fmt/format.h>

#include <loramoe/loramoe.hpp>

namespace example {
using namespace loramoe;
using loramoe::index;  // not POSIX's index() from <strings.h>, which the global namespace also holds

// The paper's adapter: N = 6 experts of rank r = 4, lora_alpha = 32 (each expert scaled by 32 / 4),
// the LBC with delta = 0.1 and weight beta = 0.1 in the loss, and the official expert layout (experts
// 0-2 serve task type 1, world knowledge; experts 3-5 serve task type 0, downstream tasks).
// N and r are fixed at compile time here; loramoe::dynamic reads them at run time instead.
constexpr index experts = 6, rank = 4;
constexpr double alpha = 32, delta = 0.1, beta = 0.1;

template <class T>
using layer_type = moe::loramoe_linear<T, cpu, experts, rank, moe::balance::lbc>;

template <class T>
void fill_normal(random_generator& rng, matrix_view<T> m, double scale) {
    for (index i = 0; i < m.rows; ++i)
        for (index j = 0; j < m.cols; ++j) m(i, j) = static_cast<T>(scale * rng.normal());
}

template <class T>
tensor<T> random_tensor(shape_type shape, std::uint64_t seed) {
    tensor<T> t(std::move(shape));
    random_generator rng(seed);
    fill_normal(rng, t.matrix(), 1.0);
    return t;
}

// A contiguous matrix as a flat span, the form gradcheck takes.
template <class T>
std::span<T> flat(matrix_view<T> m) {
    return {m.data, static_cast<std::size_t>(m.size())};
}

// B samples of S tokens: sample b has task type b % 2 and ends with b * S / 8 padding tokens.
template <class T>
struct example_batch {
    index samples, tokens;
    std::vector<std::int64_t> task_types;  // (B)
    std::vector<index> padding;            // (B): padding tokens at the end of each sample
    tensor<T> mask;                        // (B, S): 1 real token, 0 padding

    example_batch(index samples_, index tokens_)
        : samples(samples_), tokens(tokens_), mask({samples_, tokens_}) {
        for (index b = 0; b < samples; ++b) {
            task_types.push_back(b % 2);
            padding.push_back(b * tokens / 8);
            for (index t = 0; t < tokens; ++t) mask.matrix()(b, t) = t < tokens - padding[b] ? T(1) : T(0);
        }
    }
    moe::routing_batch<T> routing() const { return {samples, tokens, mask.data(), task_types}; }
};

// A layer with its parameters and its frozen base.
template <class T>
struct example_layer {
    layer_type<T> layer;
    parameter_buffer<T> parameters;               // [A_cat; W_r] then B_cat, values and gradients
    tensor<T> w0;                                 // (d_out, d_in), frozen: it has no gradient at all
    typename layer_type<T>::saved saved;          // what forward writes and backward reads
    typename layer_type<T>::workspace workspace;  // scratch of both

    example_layer(index d_in, index d_out, moe::execution_path path)
        : layer(moe::loramoe_config{.in_features = d_in,
                                    .out_features = d_out,
                                    .experts = experts,
                                    .rank = rank,
                                    .alpha = alpha,
                                    .path = path},
                moe::balance::lbc{delta, moe::lbc_statistic::cv2, moe::official_expert_types(experts)}),
          parameters(layer.parameter_count()),
          w0({d_out, d_in}) {
        layer.bind(parameters.all());
        layer.reset_parameters(/*seed=*/1);  // the official init: A_i and W_r Kaiming-uniform, B_i = 0
        random_generator rng(2);
        fill_normal(rng, layer.b(), 0.01);  // with B = 0 the experts would add nothing yet
        moe::kaiming_uniform(rng, w0.matrix());
        layer.set_base({w0.matrix()});
    }

    // Forward, then backward of L = <y, dy> + beta * lbc, from zeroed parameter gradients.
    void run(const tensor<T>& x, const tensor<T>& dy, const example_batch<T>& batch, tensor<T>& y,
             tensor<T>& dx) {
        parameters.zero_grad();
        layer.forward(x.matrix(), batch.routing(), y.matrix(), saved, workspace);
        layer.backward(x.matrix(), dy.matrix(), batch.routing(), T(beta), saved, workspace, dx.matrix());
    }
};

// Passes when every |got - want| <= 1e-5 + 1e-4 |want| (float, products of length 256).
bool agree(const char* what, std::span<const float> got, std::span<const float> want) {
    double worst = 0, max_error = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double error = std::abs(double(got[i]) - double(want[i]));
        max_error = std::max(max_error, error);
        worst = std::max(worst, error / (1e-5 + 1e-4 * std::abs(double(want[i]))));
    }
    fmt::print("  {:<26} max |fused - reference| = {:.2e}  {}\n", what, max_error,
               worst <= 1 ? "ok" : "MISMATCH");
    return worst <= 1;
}

double norm(std::span<const float> v) {
    double sum = 0;
    for (float e : v) sum += double(e) * e;
    return std::sqrt(sum);
}

template <class F>
double milliseconds_per_call(int calls, F&& f) {
    f();  // warm-up: the first call allocates the saved state and the workspace
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) f();
    const std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - start;
    return elapsed.count() / calls;
}

int run() {
    const index d_in = 256, d_out = 256, samples = 4, tokens = 32, m = samples * tokens;
    fmt::print("LoRAMoE linear in float: d_in = {}, d_out = {}, N = {} experts of rank {}, alpha = {}\n",
               d_in, d_out, experts, rank, alpha);
    fmt::print("LBC: cv2, delta = {}, weight {}; experts' types {} (the official layout)\n", delta, beta,
               moe::official_expert_types(experts));

    example_layer<float> fused(d_in, d_out, moe::execution_path::fused);
    const example_batch<float> batch(samples, tokens);
    const auto x = random_tensor<float>({samples, tokens, d_in}, 3);    // (B, S, d_in)
    const auto dy = random_tensor<float>({samples, tokens, d_out}, 4);  // (B, S, d_out): dL/dy
    tensor<float> y({samples, tokens, d_out}), dx({samples, tokens, d_in});
    fmt::print("batch: {} samples x {} tokens, task types {}, padding tokens per sample {}\n\n", samples,
               tokens, batch.task_types, batch.padding);
    fused.run(x, dy, batch, y, dx);

    // --- forward: y = x W0^T + sum_i g_i(x) s B_i A_i x -------------------------------------------
    tensor<float> base({m, d_out});  // x W0^T alone, to see how much the experts add
    gemm(cpu{}, 1.0f, x.matrix(), transpose::no, as_const(fused.w0.matrix()), transpose::yes, 0.0f,
         base.matrix());
    double sum = 0, sum2 = 0, change2 = 0;
    for (index i = 0; i < y.size(); ++i) {
        sum += y[i];
        sum2 += double(y[i]) * y[i];
        change2 += std::pow(double(y[i]) - base[i], 2);
    }
    const double mean = sum / double(y.size()), deviation = std::sqrt(sum2 / double(y.size()) - mean * mean);
    fmt::print("forward\n  y: mean {:+.4f}, standard deviation {:.4f}\n", mean, deviation);
    fmt::print("  the experts' share: ||y - x W0^T|| / ||x W0^T|| = {:.4f}\n",
               std::sqrt(change2) / norm(base.span()));

    // Mean gate of each expert over the real tokens of the samples of each task type.
    fmt::print("  mean gate      expert:");
    for (index n = 0; n < experts; ++n) fmt::print(" {:>7}", n);
    fmt::print("\n");
    for (std::int64_t type : {0, 1}) {
        std::vector<double> gate(experts, 0.0);
        double count = 0;
        for (index row = 0; row < m; ++row) {
            if (batch.task_types[row / tokens] != type || batch.mask[row] == 0) continue;
            for (index n = 0; n < experts; ++n) gate[n] += fused.saved.gates.matrix()(row, n);
            count += 1;
        }
        fmt::print("    task type {} ({:>2} tokens):", type, count);
        for (double g : gate) fmt::print(" {:>7.4f}", g / count);
        fmt::print("\n");
    }
    fmt::print("  LBC (cv2, unweighted) = {:.6f}\n", fused.saved.balance_loss);

    // --- backward of L = <y, dy> + beta * lbc ---------------------------------------------------
    fmt::print("backward\n  ||dA_cat|| = {:.4e}, ||dW_r|| = {:.4e}, ||dB_cat|| = {:.4e}, ||dx|| = {:.4e}\n\n",
               norm(flat(fused.layer.a_grad())), norm(flat(fused.layer.router_grad())),
               norm(flat(fused.layer.b_grad())), norm(dx.span()));

    // --- check 1: the fused path against the reference path (one expert at a time) --------------
    fmt::print("fused path against the reference path (float, |err| <= 1e-5 + 1e-4 |ref|)\n");
    example_layer<float> reference(d_in, d_out, moe::execution_path::reference);
    tensor<float> y_ref({samples, tokens, d_out}), dx_ref({samples, tokens, d_in});
    reference.run(x, dy, batch, y_ref, dx_ref);
    bool paths_agree = agree("y", y.span(), y_ref.span());
    paths_agree &= agree("dx", dx.span(), dx_ref.span());
    paths_agree &=
        agree("d[A_cat; W_r; B_cat]", fused.parameters.grads().span(), reference.parameters.grads().span());
    paths_agree &= agree("LBC", {&fused.saved.balance_loss, 1}, {&reference.saved.balance_loss, 1});

    // --- timing: wall clock on this machine, a rough figure rather than a benchmark -----------
    const int calls = 200;
    const double forward_ms = milliseconds_per_call(calls, [&] {
        fused.layer.forward(x.matrix(), batch.routing(), y.matrix(), fused.saved, fused.workspace);
    });
    const double step_ms = milliseconds_per_call(calls, [&] { fused.run(x, dy, batch, y, dx); });
    fmt::print("\ntiming of the fused path on {} tokens, mean of {} calls:\n", m, calls);
    fmt::print("  forward {:.3f} ms, forward + backward {:.3f} ms\n\n", forward_ms, step_ms);

    // --- check 2: gradcheck of the same layer, smaller, in double ---------------------------------
    // L(x, A, W_r, B) = <y, w> + beta * lbc(gates) for a fixed random w; every element of every
    // tensor is moved by +-h and (L+ - L-) / 2h compared with the gradient backward computed.
    const index small_in = 12, small_out = 10, small_tokens = 8;
    example_layer<double> small(small_in, small_out, moe::execution_path::fused);
    const example_batch<double> small_batch(samples, small_tokens);
    auto xs = random_tensor<double>({samples, small_tokens, small_in}, 5);
    const auto w = random_tensor<double>({samples, small_tokens, small_out}, 6);
    tensor<double> ys({samples, small_tokens, small_out}), dxs({samples, small_tokens, small_in});
    auto loss = [&] {
        small.layer.forward(xs.matrix(), small_batch.routing(), ys.matrix(), small.saved, small.workspace);
        double l = beta * small.saved.balance_loss;
        for (index i = 0; i < ys.size(); ++i) l += ys[i] * w[i];
        return l;
    };
    auto gradients = [&] { small.run(xs, w, small_batch, ys, dxs); };
    const auto& layer = small.layer;
    const check::gradcheck_report report =
        check::gradcheck(loss, gradients,
                         {{"x", xs.span(), dxs.span()},
                          {"lora_A (A_cat)", flat(layer.a()), flat(layer.a_grad())},
                          {"router W_r", flat(layer.router()), flat(layer.router_grad())},
                          {"lora_B (B_cat)", flat(layer.b()), flat(layer.b_grad())}});
    fmt::print("gradcheck in double: the same layer with d_in = {}, d_out = {}, on {} samples x {} tokens\n",
               small_in, small_out, samples, small_tokens);
    fmt::print("{}", report.table());

    fmt::print("\ngradcheck: {}; fused against reference: {}\n", report.passed() ? "passed" : "FAILED",
               paths_agree ? "agree" : "DISAGREE");
    return report.passed() && paths_agree ? 0 : 1;
}

}  // namespace example

int main() {
    return example::run();
}
