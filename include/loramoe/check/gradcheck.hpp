#pragma once
// gradcheck: a module's hand-written backward against central finite differences, in double.
//
//   numeric_k = (L(v + h e_k) - L(v - h e_k)) / (2 h)          (error O(h^2))
//
// An element passes when |analytic - numeric| <= absolute_tolerance + relative_tolerance * max(|a|, |n|).
// The report gives, per tensor, the worst absolute and relative errors and the element that came
// closest to (or went furthest past) its tolerance. To check your own module: write L as a scalar of
// its inputs and parameters (a random projection <y, w> of the output is the usual choice), hand the
// tensors and a function that fills their analytic gradients to gradcheck, and print the report
// (examples/02_gradcheck_your_module.cpp).

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <loramoe/core/error.hpp>
#include <loramoe/core/random.hpp>

namespace loramoe::check {

struct gradcheck_options {
    double step = 1e-6;  // h
    double absolute_tolerance = 1e-6;
    double relative_tolerance = 1e-5;
    index max_elements_per_tensor = 0;  // 0: every element; n: a seeded random subset of n elements
    std::uint64_t seed = 0;
};

// One tensor to check: its values (perturbed in place, then restored) and where the analytic gradient
// lands when `gradients` runs.
struct gradcheck_tensor {
    std::string name;
    std::span<double> values;
    std::span<const double> gradient;
};

struct gradcheck_result {
    std::string name;
    index checked = 0;
    double max_absolute_error = 0;
    double max_relative_error = 0;
    index worst_element = -1;  // the element with the largest error relative to its tolerance
    double worst_analytic = 0;
    double worst_numeric = 0;
    bool passed = true;
};

struct gradcheck_report {
    std::vector<gradcheck_result> tensors;

    bool passed() const {
        return std::all_of(tensors.begin(), tensors.end(), [](const auto& t) { return t.passed; });
    }

    // One line per tensor, readable in a terminal.
    std::string table() const {
        std::string out =
            fmt::format("{:<24} {:>8} {:>12} {:>12} {:>10} {:>14} {:>14}  {}\n", "tensor", "checked",
                        "max abs err", "max rel err", "worst at", "analytic", "numeric", "");
        for (const auto& t : tensors)
            out += fmt::format("{:<24} {:>8} {:>12.3e} {:>12.3e} {:>10} {:>14.6e} {:>14.6e}  {}\n", t.name,
                               t.checked, t.max_absolute_error, t.max_relative_error, t.worst_element,
                               t.worst_analytic, t.worst_numeric, t.passed ? "ok" : "FAILED");
        return out;
    }
};

// `loss` computes the scalar L from the current values; `gradients` computes dL/d(values) of every
// tensor into its `gradient` span (it is called once, before any value is perturbed).
inline gradcheck_report gradcheck(const std::function<double()>& loss, const std::function<void()>& gradients,
                                  const std::vector<gradcheck_tensor>& tensors,
                                  const gradcheck_options& options = {}) {
    for (const auto& t : tensors)
        if (t.values.size() != t.gradient.size())
            fail<shape_error>("gradcheck: tensor '{}' has {} values but {} gradient entries", t.name,
                              t.values.size(), t.gradient.size());
    gradients();
    gradcheck_report report;
    random_generator rng(options.seed);
    for (const auto& t : tensors) {
        const std::vector<double> analytic(t.gradient.begin(), t.gradient.end());
        std::vector<index> elements(t.values.size());
        std::iota(elements.begin(), elements.end(), index{0});
        if (options.max_elements_per_tensor > 0 &&
            static_cast<index>(elements.size()) > options.max_elements_per_tensor) {
            for (index i = static_cast<index>(elements.size()) - 1; i > 0; --i)  // Fisher-Yates
                std::swap(elements[i], elements[rng.below(static_cast<std::uint64_t>(i + 1))]);
            elements.resize(static_cast<std::size_t>(options.max_elements_per_tensor));
            std::sort(elements.begin(), elements.end());
        }

        gradcheck_result result{t.name};
        double worst_ratio = -1;
        for (index k : elements) {
            double& v = t.values[static_cast<std::size_t>(k)];
            const double original = v;
            v = original + options.step;
            const double plus = loss();
            v = original - options.step;
            const double minus = loss();
            v = original;
            const double numeric = (plus - minus) / (2 * options.step);
            const double a = analytic[static_cast<std::size_t>(k)];
            const double error = std::abs(a - numeric);
            const double size = std::max(std::abs(a), std::abs(numeric));
            const double tolerance = options.absolute_tolerance + options.relative_tolerance * size;
            result.checked += 1;
            result.max_absolute_error = std::max(result.max_absolute_error, error);
            if (size > 0) result.max_relative_error = std::max(result.max_relative_error, error / size);
            const double ratio = error / tolerance;
            if (!(ratio <= 1)) result.passed = false;  // NaN fails too
            if (ratio > worst_ratio || std::isnan(ratio)) {
                worst_ratio = std::isnan(ratio) ? INFINITY : ratio;
                result.worst_element = k;
                result.worst_analytic = a;
                result.worst_numeric = numeric;
            }
        }
        report.tensors.push_back(std::move(result));
    }
    return report;
}

inline std::ostream& operator<<(std::ostream& out, const gradcheck_report& report) {
    return out << report.table();
}

}  // namespace loramoe::check
