// Exercise 07: write the router's backward with the localized balancing constraint (LBC), and let
// gradcheck tell you when it is right.
//
// A batch of B samples of S positions, M = B*S tokens as rows, sample-major (row t is position t % S of
// sample b = t / S); mask[t] is 1 for a real token, 0 for padding. The router, over N experts
// (docs/tutorial.md, sections 1.6 and 4):
//
//   z = x W_r^T                                  (M, N)     x (M, d), W_r (N, d)
//   g = softmax(z), row by row                   (M, N)
//   Q[b, i] = sum over t of sample b of mask[t] g[t, i]      (B, N)
//   R = I ⊙ Q, flattened to K = B*N values       I (B, N): 1 + δ where expert i's type is
//                                                sample b's task type, 1 - δ elsewhere
//   μ = mean(R),  σ² = sum_m (R_m - μ)² / (K - 1)
//   lbc = σ² / (μ² + 1e-10)
//   L = <g, probe> + β lbc
//
// Your task: fill in `your_backward` below. Given g (saved by forward), write dx (M, d), overwriting
// it, and add the router's gradient into dW_r (N, d): parameter gradients accumulate. Derive the LBC's
// part yourself first (docs/tutorial.md, section 4, steps 1 to 5); the one hint here is the lesson of
// the exercise: both terms of L depend on x and W_r only through g, so add up dL/dg (M, N), the probe's
// part and β's, and only then go through the softmax's backward. A padding row gets the probe's
// gradient, not the LBC's.
// The classic mistake: the softmax's backward on the probe alone, then β ∂lbc/∂g added to dz as if
// the LBC were a loss on the logits. gradcheck fails it, on both x and W_r.
//
// Run:  cmake --build --preset release --target 07_exercise_router_lbc &&
//       build/release/bin/07_exercise_router_lbc
// As shipped, your_backward writes nothing, and the report says so ("the analytic gradient is 0").
// When your backward is right, every row says ok and the program exits 0.
//
//   build/release/bin/07_exercise_router_lbc --solution
// checks the solution instead (examples/solutions/router_lbc_backward.hpp: read it after trying); the
// test suite runs that (ctest -L example).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <loramoe/check/gradcheck.hpp>
#include <loramoe/core/random.hpp>

#include "solutions/router_lbc_backward.hpp"

namespace {

// g = softmax(x W_r^T), row by row; x (m, d), w_r (n, d), g (m, n), row-major.
void router_forward(const std::vector<double>& x, const std::vector<double>& w_r, std::size_t m,
                    std::size_t d, std::size_t n, std::vector<double>& g) {
    for (std::size_t t = 0; t < m; ++t) {
        double* gt = &g[t * n];
        for (std::size_t i = 0; i < n; ++i) {
            gt[i] = 0;
            for (std::size_t k = 0; k < d; ++k) gt[i] += x[t * d + k] * w_r[i * d + k];
        }
        const double largest = *std::max_element(gt, gt + n);  // subtracted so that exp cannot overflow
        double sum = 0;
        for (std::size_t i = 0; i < n; ++i) sum += gt[i] = std::exp(gt[i] - largest);
        for (std::size_t i = 0; i < n; ++i) gt[i] /= sum;
    }
}

// lbc = σ² / (μ² + 1e-10) of R = I ⊙ Q; g (samples * positions, n), mask (samples * positions),
// localisation I (samples, n).
double lbc_forward(const std::vector<double>& g, const std::vector<double>& mask,
                   const std::vector<double>& localisation, std::size_t samples, std::size_t positions,
                   std::size_t n) {
    const std::size_t k = samples * n;
    std::vector<double> weighted(k, 0.0);  // R = I ⊙ Q (samples, n)
    for (std::size_t t = 0; t < samples * positions; ++t)
        for (std::size_t i = 0; i < n; ++i) weighted[t / positions * n + i] += mask[t] * g[t * n + i];
    for (std::size_t j = 0; j < k; ++j) weighted[j] *= localisation[j];
    double mean = 0;
    for (double value : weighted) mean += value;
    mean /= static_cast<double>(k);
    double variance = 0;
    for (double value : weighted) variance += (value - mean) * (value - mean);
    variance /= static_cast<double>(k - 1);
    return variance / (mean * mean + 1e-10);
}

// ---- your code -------------------------------------------------------------------------------------
// dx = dL/dx (overwrite), dw_r += dL/dW_r, for L = <g, probe> + β lbc. x, dx are (m, d) with
// m = samples * positions; w_r, dw_r (n, d); g, probe (m, n); mask (m); localisation I (samples, n).
void your_backward(const std::vector<double>& x, const std::vector<double>& w_r, const std::vector<double>& g,
                   const std::vector<double>& mask, const std::vector<double>& localisation,
                   const std::vector<double>& probe, double beta, std::size_t samples, std::size_t positions,
                   std::size_t d, std::size_t n, std::vector<double>& dx, std::vector<double>& dw_r) {
    // remove the next line when you start
    (void)x, (void)w_r, (void)g, (void)mask, (void)localisation, (void)probe, (void)beta, (void)samples,
        (void)positions, (void)d, (void)n, (void)dx, (void)dw_r;
}
// ----------------------------------------------------------------------------------------------------

}  // namespace

int main(int argc, char** argv) {
    const bool solution = argc > 1 && std::string_view(argv[1]) == "--solution";
    const auto backward = solution ? &solutions::router_lbc_backward : &your_backward;
    const std::size_t samples = 2, positions = 3, m = samples * positions, d = 5, n = 4;
    const double delta = 0.1;
    const double beta = 0.5;  // large, so that a wrong LBC gradient shows next to the probe's
    const std::vector<double> mask = {1, 1, 1, 1, 1, 0};  // the second sample's last position is padding
    const std::vector<int> task_types = {1, 0};           // task type of sample b
    std::vector<double> localisation(samples * n);        // I (samples, n)
    for (std::size_t b = 0; b < samples; ++b)
        for (std::size_t i = 0; i < n; ++i) {
            const int expert_type = i < n / 2 ? 1 : 0;  // the official layout: the first N/2 experts type 1
            localisation[b * n + i] = expert_type == task_types[b] ? 1 + delta : 1 - delta;
        }

    loramoe::random_generator rng(7);
    std::vector<double> x(m * d), w_r(n * d), probe(m * n), g(m * n), dx(m * d), dw_r(n * d);
    for (double& v : x) v = rng.normal();
    for (double& v : w_r) v = 0.5 * rng.normal();
    for (double& v : probe) v = rng.normal();

    auto loss = [&] {  // L = <g, probe> + β lbc
        router_forward(x, w_r, m, d, n, g);
        double l = 0;
        for (std::size_t i = 0; i < m * n; ++i) l += g[i] * probe[i];
        return l + beta * lbc_forward(g, mask, localisation, samples, positions, n);
    };
    auto gradients = [&] {
        router_forward(x, w_r, m, d, n, g);        // the gates backward reads
        std::fill(dw_r.begin(), dw_r.end(), 0.0);  // dw_r accumulates: zero it first; dx is overwritten
        backward(x, w_r, g, mask, localisation, probe, beta, samples, positions, d, n, dx, dw_r);
    };
    const auto report =
        loramoe::check::gradcheck(loss, gradients, {{"x", x, dx, {m, d}}, {"W_r", w_r, dw_r, {n, d}}});
    fmt::print("{} backward:\n{}", solution ? "the solution's" : "your", report.table());
    fmt::print("{}\n", report.passed()
                           ? "right: every gradient matches the finite differences"
                           : "not yet: see the rows that say FAILED, and the line under the table");
    return report.passed() ? 0 : 1;
}
