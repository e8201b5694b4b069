// Example 02: gradcheck your own module.
//
// What it teaches: how to check a hand-written backward with loramoe::check::gradcheck, and what a
// wrong backward looks like in its report. The module is a tiny "scaled tanh" layer written here,
// forward and backward, with plain loops:
//
//   y = tanh(x W^T) o s        x (M, K), W (N, K), s (N), y (M, N)
//
// The recipe, for any module:
//   1. make the module compute in double;
//   2. pick a scalar loss of its output, L = <y, w> for a fixed random w (then dL/dy = w);
//   3. give gradcheck the loss, a function that runs forward and backward and fills the analytic
//      gradients, and each tensor to check with the span its gradient lands in;
//   4. print the report: one row per tensor, FAILED where the backward disagrees with
//      (L(v + h) - L(v - h)) / 2h, with the worst element as a multi-index, both values, its error over
//      its tolerance (err/tol, above 1 fails), and below the table the usual cause when one fits (a
//      gradient exactly 2x the slope: it accumulated twice, or was not zeroed first).
// The defaults (h = 1e-6, pass when |analytic - numeric| <= 1e-6 + 1e-5 max(|analytic|, |numeric|))
// suit double; check::gradcheck_options changes them, and checks a random subset of the elements of
// tensors too large to check whole.
//
// Run:  cmake --build --preset release --target 02_gradcheck_your_module &&
//       build/release/bin/02_gradcheck_your_module
// Exit status 0 when the correct backward passes and the broken one fails, as they should.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include <fmt/format.h>

#include <loramoe/check/gradcheck.hpp>
#include <loramoe/core/random.hpp>

struct scaled_tanh {
    std::size_t m, k, n;
    std::vector<double> w, s;    // parameters: W (N, K), s (N)
    std::vector<double> dw, ds;  // their gradients, accumulated (+=) by backward
    std::vector<double> a;       // saved by forward for backward: a = tanh(x W^T) (M, N)

    scaled_tanh(std::size_t m_, std::size_t k_, std::size_t n_)
        : m(m_), k(k_), n(n_), w(n * k), s(n), dw(n * k), ds(n), a(m * n) {}

    // y = tanh(x W^T) o s
    void forward(const std::vector<double>& x, std::vector<double>& y) {
        for (std::size_t t = 0; t < m; ++t)
            for (std::size_t j = 0; j < n; ++j) {
                double z = 0;
                for (std::size_t i = 0; i < k; ++i) z += x[t * k + i] * w[j * k + i];
                a[t * n + j] = std::tanh(z);
                y[t * n + j] = a[t * n + j] * s[j];
            }
    }

    // ds += sum_t dy o a          dz = dy o s o (1 - a^2)
    // dW += dz^T x                dx = dz W          (dx is overwritten)
    // With forget_tanh_derivative the (1 - a^2) factor is left out: the bug this example shows.
    void backward(const std::vector<double>& x, const std::vector<double>& dy, std::vector<double>& dx,
                  bool forget_tanh_derivative = false) {
        std::fill(dx.begin(), dx.end(), 0.0);
        for (std::size_t t = 0; t < m; ++t)
            for (std::size_t j = 0; j < n; ++j) {
                const double at = a[t * n + j], dyt = dy[t * n + j];
                ds[j] += dyt * at;
                const double dz = dyt * s[j] * (forget_tanh_derivative ? 1.0 : 1.0 - at * at);
                for (std::size_t i = 0; i < k; ++i) {
                    dw[j * k + i] += dz * x[t * k + i];
                    dx[t * k + i] += dz * w[j * k + i];
                }
            }
    }
};

std::vector<double> random_vector(loramoe::random_generator& rng, std::size_t size) {
    std::vector<double> v(size);
    for (double& e : v) e = rng.normal();
    return v;
}

// Runs gradcheck on the module with the correct or the broken backward, prints the report.
bool check_module(bool forget_tanh_derivative) {
    const std::size_t m = 5, k = 7, n = 3;
    loramoe::random_generator rng(42);
    scaled_tanh module(m, k, n);
    module.w = random_vector(rng, n * k);
    module.s = random_vector(rng, n);
    std::vector<double> x = random_vector(rng, m * k), dx(m * k), y(m * n);
    const std::vector<double> probe = random_vector(rng, m * n);  // L = <y, probe>, so dL/dy = probe

    auto loss = [&] {
        module.forward(x, y);
        double l = 0;
        for (std::size_t i = 0; i < m * n; ++i) l += y[i] * probe[i];
        return l;
    };
    auto gradients = [&] {
        // Parameter gradients accumulate (+=): zero them first.
        std::fill(module.dw.begin(), module.dw.end(), 0.0);
        std::fill(module.ds.begin(), module.ds.end(), 0.0);
        module.forward(x, y);
        module.backward(x, probe, dx, forget_tanh_derivative);
    };
    // Each tensor to check: its name, its values (gradcheck moves them one at a time, then restores
    // them), where `gradients` leaves its analytic gradient, and its shape (the report names the worst
    // element as (row, column)).
    const loramoe::check::gradcheck_report report = loramoe::check::gradcheck(
        loss, gradients,
        {{"x", x, dx, {m, k}}, {"W", module.w, module.dw, {n, k}}, {"s", module.s, module.ds, {n}}});
    fmt::print("{}", report.table());
    return report.passed();
}

int main() {
    // The correct backward.
    fmt::print("1. the correct backward: every row should say ok\n");
    const bool correct_passes = check_module(/*forget_tanh_derivative=*/false);

    // The same module with the bug injected: backward forgets the derivative of tanh.
    fmt::print(
        "\n2. a broken backward, the (1 - tanh^2) factor forgotten: W and x should say FAILED;\n"
        "   s still says ok, since its gradient does not go through the tanh\n");
    const bool broken_passes = check_module(/*forget_tanh_derivative=*/true);

    const bool as_expected = correct_passes && !broken_passes;
    fmt::print("\ncorrect backward {}, broken backward {}: {}\n", correct_passes ? "passed" : "FAILED",
               broken_passes ? "passed" : "failed", as_expected ? "as expected" : "NOT as expected");
    return as_expected ? 0 : 1;
}
