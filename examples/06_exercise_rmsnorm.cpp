// Exercise 06: write RMSNorm's backward, and let gradcheck tell you when it is right.
//
// RMSNorm, as in LLaMA, per row of D features (docs/tutorial.md, section 5):
//
//   rstd = 1 / sqrt(mean(x^2) + eps)      a scalar per row
//   x̂    = x rstd                         (D)
//   y    = γ ⊙ x̂                          (D)    γ, the weight, is `w` below
//
// Your task: fill in `your_backward` below. Given dy (M, D), write dx (M, D), overwriting it, and add
// the weight's gradient into dw (D): parameter gradients accumulate. Hint: x̂_j depends on x_j directly
// and on every x_k through rstd, with ∂rstd/∂x_k = -rstd^3 x_k / D.
//
// Run:  cmake --build --preset release --target 06_exercise_rmsnorm && build/release/bin/06_exercise_rmsnorm
// As shipped, your_backward writes nothing, and the report says so ("the analytic gradient is 0").
// When your backward is right, every row says ok and the program exits 0.
//
//   build/release/bin/06_exercise_rmsnorm --solution
// checks the solution instead (examples/solutions/rmsnorm_backward.hpp: read it after trying); the
// test suite runs that (ctest -L example).

#include <cmath>
#include <cstddef>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <loramoe/check/gradcheck.hpp>
#include <loramoe/core/random.hpp>

#include "solutions/rmsnorm_backward.hpp"

namespace {

constexpr double eps = 1e-6;

// y = w ⊙ (x rstd), row by row; x and y are (m, d) row-major.
void rmsnorm_forward(const std::vector<double>& x, const std::vector<double>& w, std::size_t m, std::size_t d,
                     std::vector<double>& y) {
    for (std::size_t t = 0; t < m; ++t) {
        double square_sum = 0;
        for (std::size_t j = 0; j < d; ++j) square_sum += x[t * d + j] * x[t * d + j];
        const double rstd = 1 / std::sqrt(square_sum / static_cast<double>(d) + eps);
        for (std::size_t j = 0; j < d; ++j) y[t * d + j] = w[j] * x[t * d + j] * rstd;
    }
}

// ---- your code -------------------------------------------------------------------------------------
// dx = dL/dx (overwrite), dw += dL/dw. x, dy, dx are (m, d) row-major; w, dw are (d).
void your_backward(const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>& dy,
                   std::size_t m, std::size_t d, std::vector<double>& dx, std::vector<double>& dw) {
    (void)x, (void)w, (void)dy, (void)m, (void)d, (void)dx, (void)dw;  // remove this line when you start
}
// ----------------------------------------------------------------------------------------------------

}  // namespace

int main(int argc, char** argv) {
    const bool solution = argc > 1 && std::string_view(argv[1]) == "--solution";
    const auto backward = solution ? &solutions::rmsnorm_backward : &your_backward;
    const std::size_t m = 4, d = 6;
    loramoe::random_generator rng(6);
    std::vector<double> x(m * d), w(d), probe(m * d), y(m * d), dx(m * d), dw(d);
    for (double& v : x) v = rng.normal();
    for (double& v : w) v = 1 + 0.1 * rng.normal();
    for (double& v : probe) v = rng.normal();

    auto loss = [&] {  // L = <y, probe>, so dL/dy = probe
        rmsnorm_forward(x, w, m, d, y);
        double l = 0;
        for (std::size_t i = 0; i < m * d; ++i) l += y[i] * probe[i];
        return l;
    };
    auto gradients = [&] {
        std::fill(dw.begin(), dw.end(), 0.0);  // dw accumulates: zero it first; dx is yours to overwrite
        backward(x, w, probe, m, d, dx, dw);
    };
    const auto report = loramoe::check::gradcheck(loss, gradients, {{"x", x, dx, {m, d}}, {"w", w, dw, {d}}});
    fmt::print("{} backward:\n{}", solution ? "the solution's" : "your", report.table());
    fmt::print("{}\n", report.passed()
                           ? "right: every gradient matches the finite differences"
                           : "not yet: see the rows that say FAILED, and the line under the table");
    return report.passed() ? 0 : 1;
}
