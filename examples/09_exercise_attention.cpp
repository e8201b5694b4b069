// Exercise 09: write the backward of one head of causal self-attention, and let gradcheck tell you
// when it is right.
//
// One head over S tokens (docs/tutorial.md, section 5):
//
//   c = q k^T / sqrt(Dh)                     (S, S)    q, k (S, Dh)
//   a = softmax(c), row by row, over the keys j <= i; a[i, j] = 0 for j > i (the causal mask)
//   o = a v                                  (S, Dh)   v (S, Dh)
//   L = <o, probe>, so do = probe
//
// Your task: fill in `your_backward` below. Given a (saved by forward) and do (S, Dh), write dq, dk
// and dv (S, Dh), overwriting them (they are activation gradients). Hints:
//   - for a product C = A B, dA = dC B^T and dB = A^T dC: da = do v^T, dv = a^T do;
//   - the softmax's backward, row by row: dc = a ⊙ (da - rowsum(a ⊙ da)); the masked scores have
//     a = 0, so they get no gradient, and no extra care is needed;
//   - dq = dc k / sqrt(Dh), dk = dc^T q / sqrt(Dh).
//
// Run:  cmake --build --preset release --target 09_exercise_attention &&
//       build/release/bin/09_exercise_attention
// As shipped, your_backward writes nothing, and the report says so ("the analytic gradient is 0").
// When your backward is right, every row says ok and the program exits 0.
//
//   build/release/bin/09_exercise_attention --solution
// checks the solution instead (examples/solutions/attention_backward.hpp: read it after trying); the
// test suite runs that (ctest -L example).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <loramoe/check/gradcheck.hpp>
#include <loramoe/core/random.hpp>

#include "solutions/attention_backward.hpp"

namespace {

// a (s, s) = the causal softmax of q k^T / sqrt(dh), and o = a v (s, dh); q, k, v (s, dh), row-major.
void attention_forward(const std::vector<double>& q, const std::vector<double>& k,
                       const std::vector<double>& v, std::size_t s, std::size_t dh, std::vector<double>& a,
                       std::vector<double>& o) {
    const double scale = 1 / std::sqrt(static_cast<double>(dh));
    for (std::size_t i = 0; i < s; ++i) {
        double* ai = &a[i * s];
        double largest = -INFINITY;  // subtracted so that exp cannot overflow
        for (std::size_t j = 0; j <= i; ++j) {
            ai[j] = 0;
            for (std::size_t c = 0; c < dh; ++c) ai[j] += q[i * dh + c] * k[j * dh + c];
            ai[j] *= scale;
            largest = std::max(largest, ai[j]);
        }
        double sum = 0;
        for (std::size_t j = 0; j <= i; ++j) sum += ai[j] = std::exp(ai[j] - largest);
        for (std::size_t j = 0; j <= i; ++j) ai[j] /= sum;
        for (std::size_t j = i + 1; j < s; ++j) ai[j] = 0;  // the keys after the query: masked

        for (std::size_t c = 0; c < dh; ++c) {
            o[i * dh + c] = 0;
            for (std::size_t j = 0; j <= i; ++j) o[i * dh + c] += ai[j] * v[j * dh + c];
        }
    }
}

// ---- your code -------------------------------------------------------------------------------------
// dq, dk, dv = dL/dq, dL/dk, dL/dv (overwrite). q, k, v, dout (= do), dq, dk, dv are (s, dh); a (s, s).
void your_backward(const std::vector<double>& q, const std::vector<double>& k, const std::vector<double>& v,
                   const std::vector<double>& a, const std::vector<double>& dout, std::size_t s,
                   std::size_t dh, std::vector<double>& dq, std::vector<double>& dk,
                   std::vector<double>& dv) {
    // remove the next line when you start
    (void)q, (void)k, (void)v, (void)a, (void)dout, (void)s, (void)dh, (void)dq, (void)dk, (void)dv;
}
// ----------------------------------------------------------------------------------------------------

}  // namespace

int main(int argc, char** argv) {
    const bool solution = argc > 1 && std::string_view(argv[1]) == "--solution";
    const auto backward = solution ? &solutions::attention_backward : &your_backward;
    const std::size_t s = 5, dh = 4;
    loramoe::random_generator rng(9);
    std::vector<double> q(s * dh), k(s * dh), v(s * dh), probe(s * dh), a(s * s), o(s * dh);
    std::vector<double> dq(s * dh), dk(s * dh), dv(s * dh);
    for (auto* values : {&q, &k, &v, &probe})
        for (double& value : *values) value = rng.normal();

    auto loss = [&] {  // L = <o, probe>, so dL/do = probe
        attention_forward(q, k, v, s, dh, a, o);
        double l = 0;
        for (std::size_t i = 0; i < s * dh; ++i) l += o[i] * probe[i];
        return l;
    };
    auto gradients = [&] {
        attention_forward(q, k, v, s, dh, a, o);         // the probabilities backward reads
        backward(q, k, v, a, probe, s, dh, dq, dk, dv);  // no parameters here: every gradient is overwritten
    };
    const auto report = loramoe::check::gradcheck(
        loss, gradients, {{"q", q, dq, {s, dh}}, {"k", k, dk, {s, dh}}, {"v", v, dv, {s, dh}}});
    fmt::print("{} backward:\n{}", solution ? "the solution's" : "your", report.table());
    fmt::print("{}\n", report.passed()
                           ? "right: every gradient matches the finite differences"
                           : "not yet: see the rows that say FAILED, and the line under the table");
    return report.passed() ? 0 : 1;
}
