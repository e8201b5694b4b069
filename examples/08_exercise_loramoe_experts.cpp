// Exercise 08: write the backward of a LoRAMoE linear, one expert at a time, and let gradcheck tell
// you when it is right.
//
// A frozen linear W0 with N LoRA experts beside it, mixed per token by a router (docs/tutorial.md,
// section 2; the official code's loop over the experts, the library's execution_path::reference):
//
//   z = x W_r^T                              (M, N)       x (M, d_in), W_r (N, d_in)
//   g = softmax(z), row by row               (M, N)
//   h_i = x A_i^T                            (M, r)       A_i (r, d_in)
//   u_i = h_i B_i^T                          (M, d_out)   B_i (d_out, r)
//   y = x W0^T + s sum_i g[:, i] ⊙ u_i       (M, d_out)   W0 (d_out, d_in) frozen, s = alpha / r
//   L = <y, probe>, so dy = probe
//
// where g[:, i] ⊙ u_i scales row t of u_i by token t's gate for expert i. A holds the A_i one after
// the other, (N, r, d_in); B the B_i, (N, d_out, r) (the library stacks them otherwise, as B_cat).
//
// Your task: fill in `your_backward` below. Given g (saved by forward) and dy (M, d_out), write dx
// (M, d_in), overwriting it, and add the gradients of A, B and W_r into dA, dB, dW_r: parameter
// gradients accumulate. W0 is frozen: it has no gradient, but dx goes through it. Hints:
//   - per expert, compute h_i and u_i again; y depends on u_i through s g[:, i], and on the gates
//     through s u_i: dg[t, i] = s sum_j dy[t, j] u_i[t, j];
//   - for a product C = A B, dA = dC B^T and dB = A^T dC: dB_i += du_i^T h_i, dh_i = du_i B_i, ...;
//   - the router: the softmax's backward dz = g ⊙ (dg - rowsum(g ⊙ dg)), then dW_r += dz^T x;
//   - x reaches y by three paths, the base, the experts and the router: dx adds all three.
//
// Run:  cmake --build --preset release --target 08_exercise_loramoe_experts &&
//       build/release/bin/08_exercise_loramoe_experts
// As shipped, your_backward writes nothing, and the report says so ("the analytic gradient is 0").
// When your backward is right, every row says ok and the program exits 0.
//
//   build/release/bin/08_exercise_loramoe_experts --solution
// checks the solution instead (examples/solutions/loramoe_experts_backward.hpp: read it after trying);
// the test suite runs that (ctest -L example).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <loramoe/check/gradcheck.hpp>
#include <loramoe/core/random.hpp>

#include "solutions/loramoe_experts_backward.hpp"

namespace {

// g = softmax(x W_r^T) (m, n) and y = x W0^T + s sum_i g[:, i] ⊙ ((x A_i^T) B_i^T) (m, d_out);
// x (m, d_in), w0 (d_out, d_in), a (n, r, d_in), b (n, d_out, r), w_r (n, d_in), row-major.
void loramoe_forward(const std::vector<double>& x, const std::vector<double>& w0,
                     const std::vector<double>& a, const std::vector<double>& b,
                     const std::vector<double>& w_r, double s, std::size_t m, std::size_t d_in,
                     std::size_t d_out, std::size_t n, std::size_t r, std::vector<double>& g,
                     std::vector<double>& y) {
    for (std::size_t t = 0; t < m; ++t) {
        const double* xt = &x[t * d_in];
        double* gt = &g[t * n];
        for (std::size_t i = 0; i < n; ++i) {
            gt[i] = 0;
            for (std::size_t c = 0; c < d_in; ++c) gt[i] += xt[c] * w_r[i * d_in + c];
        }
        const double largest = *std::max_element(gt, gt + n);  // subtracted so that exp cannot overflow
        double sum = 0;
        for (std::size_t i = 0; i < n; ++i) sum += gt[i] = std::exp(gt[i] - largest);
        for (std::size_t i = 0; i < n; ++i) gt[i] /= sum;

        double* yt = &y[t * d_out];
        for (std::size_t o = 0; o < d_out; ++o) {
            yt[o] = 0;
            for (std::size_t c = 0; c < d_in; ++c) yt[o] += xt[c] * w0[o * d_in + c];
        }
        for (std::size_t i = 0; i < n; ++i) {
            std::vector<double> h(r, 0.0);  // h_i[t] = A_i x_t
            for (std::size_t j = 0; j < r; ++j)
                for (std::size_t c = 0; c < d_in; ++c) h[j] += a[(i * r + j) * d_in + c] * xt[c];
            for (std::size_t o = 0; o < d_out; ++o) {
                double u = 0;  // u_i[t, o] = (B_i h_i[t])_o
                for (std::size_t j = 0; j < r; ++j) u += b[(i * d_out + o) * r + j] * h[j];
                yt[o] += s * gt[i] * u;
            }
        }
    }
}

// ---- your code -------------------------------------------------------------------------------------
// dx = dL/dx (overwrite); da, db, dw_r += dL/dA, dL/dB, dL/dW_r. Shapes as loramoe_forward's: x, dx
// (m, d_in); w0 (d_out, d_in); a, da (n, r, d_in); b, db (n, d_out, r); w_r, dw_r (n, d_in); g (m, n),
// dy (m, d_out); s = alpha / r.
void your_backward(const std::vector<double>& x, const std::vector<double>& w0, const std::vector<double>& a,
                   const std::vector<double>& b, const std::vector<double>& w_r, const std::vector<double>& g,
                   const std::vector<double>& dy, double s, std::size_t m, std::size_t d_in,
                   std::size_t d_out, std::size_t n, std::size_t r, std::vector<double>& dx,
                   std::vector<double>& da, std::vector<double>& db, std::vector<double>& dw_r) {
    // remove the next line when you start
    (void)x, (void)w0, (void)a, (void)b, (void)w_r, (void)g, (void)dy, (void)s, (void)m, (void)d_in,
        (void)d_out, (void)n, (void)r, (void)dx, (void)da, (void)db, (void)dw_r;
}
// ----------------------------------------------------------------------------------------------------

}  // namespace

int main(int argc, char** argv) {
    const bool solution = argc > 1 && std::string_view(argv[1]) == "--solution";
    const auto backward = solution ? &solutions::loramoe_experts_backward : &your_backward;
    const std::size_t m = 5, d_in = 6, d_out = 4, n = 3, r = 2;
    const double alpha = 4, s = alpha / static_cast<double>(r);
    loramoe::random_generator rng(8);
    std::vector<double> x(m * d_in), w0(d_out * d_in), a(n * r * d_in), b(n * d_out * r), w_r(n * d_in);
    std::vector<double> probe(m * d_out), g(m * n), y(m * d_out);
    std::vector<double> dx(m * d_in), da(a.size()), db(b.size()), dw_r(w_r.size());
    for (double& v : x) v = rng.normal();
    for (double& v : w0) v = 0.5 * rng.normal();
    for (double& v : a) v = 0.5 * rng.normal();
    for (double& v : b) v = 0.5 * rng.normal();  // not zero, as a fresh adapter's: dA would be 0 too
    for (double& v : w_r) v = 0.5 * rng.normal();
    for (double& v : probe) v = rng.normal();

    auto loss = [&] {  // L = <y, probe>, so dL/dy = probe
        loramoe_forward(x, w0, a, b, w_r, s, m, d_in, d_out, n, r, g, y);
        double l = 0;
        for (std::size_t i = 0; i < m * d_out; ++i) l += y[i] * probe[i];
        return l;
    };
    auto gradients = [&] {
        loramoe_forward(x, w0, a, b, w_r, s, m, d_in, d_out, n, r, g, y);  // the gates backward reads
        for (auto* gradient : {&da, &db, &dw_r})  // parameter gradients accumulate: zero them first
            std::fill(gradient->begin(), gradient->end(), 0.0);
        backward(x, w0, a, b, w_r, g, probe, s, m, d_in, d_out, n, r, dx, da, db, dw_r);
    };
    const auto report = loramoe::check::gradcheck(loss, gradients,
                                                  {{"x", x, dx, {m, d_in}},
                                                   {"A", a, da, {n, r, d_in}},
                                                   {"B", b, db, {n, d_out, r}},
                                                   {"W_r", w_r, dw_r, {n, d_in}}});
    fmt::print("{} backward:\n{}", solution ? "the solution's" : "your", report.table());
    fmt::print("{}\n", report.passed()
                           ? "right: every gradient matches the finite differences"
                           : "not yet: see the rows that say FAILED, and the line under the table");
    return report.passed() ? 0 : 1;
}
