#pragma once
// gradcheck: a module's hand-written backward against central finite differences, in double.
//
//   numeric_k = (L(v + h e_k) - L(v - h e_k)) / (2 h)          (error O(h^2))
//
// An element passes when |analytic - numeric| <= absolute_tolerance + relative_tolerance * max(|a|, |n|).
// The report gives, per tensor, the worst absolute and relative errors, the element that came closest
// to (or went furthest past) its tolerance as a multi-index with both values and its error-to-tolerance
// ratio, the tolerances, and for a failure the usual cause when one fits: two calls of `gradients` that
// disagree (not zeroed), 2x (accumulated twice), 0.5x (a term missing), -1x (a sign).
//
// To check your own module: write L as a scalar of its inputs and parameters (a random projection
// <y, w> of the output is the usual choice), hand the tensors and a function that fills their analytic
// gradients to gradcheck, and print the report (examples/02_gradcheck_your_module.cpp).

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <ostream>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <loramoe/core/error.hpp>
#include <loramoe/core/random.hpp>
#include <loramoe/core/tensor.hpp>

namespace loramoe::check {

struct gradcheck_options {
    double step = 1e-6;  // h
    double absolute_tolerance = 1e-6;
    double relative_tolerance = 1e-5;
    index max_elements_per_tensor = 0;  // 0: every element; n: a seeded random subset of n elements
    std::uint64_t seed = 0;
};

// One tensor to check: its values (perturbed in place, then restored) and where the analytic gradient
// lands when `gradients` runs, both in double or both in float, as spans (a std::vector converts), or
// tensors on the CPU (their shape names the worst element); `shape` gives spans one too. Float values
// are perturbed in float and the slope divided by the step float really took: expect float's
// precision (a step near 1e-3, tolerances near 1e-3; the report marks such tensors "float").
struct gradcheck_tensor {
    std::string name;
    std::variant<std::span<double>, std::span<float>> values;
    std::variant<std::span<const double>, std::span<const float>> gradient;
    shape_type shape;  // empty: the elements are numbered flat

    gradcheck_tensor(std::string name, std::span<double> values, std::span<const double> gradient,
                     shape_type shape = {})
        : name(std::move(name)), values(values), gradient(gradient), shape(std::move(shape)) {}
    gradcheck_tensor(std::string name, std::span<float> values, std::span<const float> gradient,
                     shape_type shape = {})
        : name(std::move(name)), values(values), gradient(gradient), shape(std::move(shape)) {}
    template <class T>
    gradcheck_tensor(std::string name, tensor<T, cpu>& values, const tensor<T, cpu>& gradient)
        : gradcheck_tensor(std::move(name), values.span(), gradient.span(), values.shape()) {}

    // Anything else stops the build here with what to pass instead.
    template <class V, class G>
    requires(!requires(std::remove_reference_t<V> & t) { t.span()[0] = t.span()[0]; }) &&
        ((!std::is_convertible_v<V, std::span<double>> && !std::is_convertible_v<V, std::span<float>>) ||
         (!std::is_convertible_v<G, std::span<const double>> &&
          !std::is_convertible_v<G, std::span<const float>>))
            gradcheck_tensor(std::string, V&&, G&&, shape_type = {}) {
        static_assert(
            sizeof(V) == 0,
            "gradcheck_tensor{name, values, gradient}: values are perturbed in place, so they must be "
            "mutable double or float storage (std::vector<double>&, std::span<double>, "
            "tensor<double, cpu>&, or the same in float), not const; the gradient is read-only storage "
            "of the same type");
    }
};

struct gradcheck_result {
    std::string name;
    bool in_float = false;
    index checked = 0;
    double max_absolute_error = 0;
    double max_relative_error = 0;
    index worst_element = -1;           // the element with the largest error relative to its tolerance
    std::vector<index> worst_position;  // the same as a multi-index of the tensor's shape
    double worst_analytic = 0;
    double worst_numeric = 0;
    double worst_tolerance = 0;       // the tolerance there
    double worst_ratio = 0;           // error / tolerance there: above 1 fails
    bool passed_by_absolute = false;  // some element's relative error passed rtol only through atol
    bool repeatable = true;           // a second call of `gradients` gave the same gradient (within tol)
    std::vector<index> unrepeated_position;  // where the two calls differed most, and their values
    double first_call = 0;
    double second_call = 0;
    bool passed = true;

    // The usual cause of a failure, "at (position): why"; empty when it passed or none fits.
    std::string diagnosis() const {
        if (passed) return {};
        if (!repeatable)
            return fmt::format(
                "at ({}): a second call of `gradients` gave {:.6e} where the first gave {:.6e}: the gradient "
                "accumulates across calls (zero it at the start of `gradients`: parameter gradients add up "
                "by design), or depends on state that changes between calls (a counter, a dropout mask)",
                fmt::join(unrepeated_position, ", "), second_call, first_call);
        const double a = worst_analytic, n = worst_numeric;
        const std::string at = fmt::format("at ({}): ", fmt::join(worst_position, ", "));
        if (n == 0 && a != 0)
            return at +
                   "the numeric slope is 0: the loss does not depend on this tensor (a path not connected)";
        if (a == 0 && n != 0) return at + "the analytic gradient is 0: `gradients` did not write it";
        const double r = a / n;
        if (std::abs(r - 2) < 0.01)
            return at +
                   "analytic is 2x numeric: the gradient accumulated twice, or not zeroed before "
                   "`gradients` ran";
        if (std::abs(r - 0.5) < 0.005)
            return at + "analytic is half the numeric: a term missing (a factor 2, or one of two paths)";
        if (std::abs(r + 1) < 0.01) return at + "analytic is minus the numeric: a sign flipped";
        return {};
    }
};

struct gradcheck_report {
    std::vector<gradcheck_result> tensors;
    gradcheck_options options;

    bool passed() const {
        return std::all_of(tensors.begin(), tensors.end(), [](const auto& t) { return t.passed; });
    }

    // One line per tensor, readable in a terminal, then the tolerances and, for a tensor that failed, the
    // usual cause when one fits. "ok (atol)": some element passed only through the absolute tolerance.
    std::string table() const {
        std::string out =
            fmt::format("{:<24} {:>8} {:>11} {:>11} {:>9} {:>14} {:>14} {:>14}  {}\n", "tensor", "checked",
                        "max abs err", "max rel err", "err/tol", "worst at", "analytic", "numeric", "");
        for (const auto& t : tensors)
            out += fmt::format("{:<24} {:>8} {:>11.3e} {:>11.3e} {:>9.3g} {:>14} {:>14.6e} {:>14.6e}  {}{}\n",
                               t.name, t.checked, t.max_absolute_error, t.max_relative_error, t.worst_ratio,
                               fmt::format("({})", fmt::join(t.worst_position, ", ")), t.worst_analytic,
                               t.worst_numeric,
                               t.passed ? (t.passed_by_absolute ? "ok (atol)" : "ok") : "FAILED",
                               t.in_float ? " float" : "");
        out += fmt::format(
            "an element passes when |analytic - numeric| <= {:g} + {:g} * max(|analytic|, |numeric|) "
            "(err/tol <= 1); step {:g}\n",
            options.absolute_tolerance, options.relative_tolerance, options.step);
        for (const auto& t : tensors)
            if (const std::string why = t.diagnosis(); !why.empty())
                out += fmt::format("{} {}\n", t.name, why);
        return out;
    }
};

namespace detail {
// Element k of a tensor of `shape` as a multi-index (row-major); {k} for a flat one.
inline std::vector<index> position_of(index k, const shape_type& shape) {
    if (shape.empty()) return {k};
    std::vector<index> at(shape.size());
    for (std::size_t d = shape.size(); d-- > 0;) {
        at[d] = k % shape[d];
        k /= shape[d];
    }
    return at;
}
}  // namespace detail

// `loss` computes the scalar L from the current values; `gradients` computes dL/d(values) of every
// tensor into its `gradient` span. `gradients` is called twice before any value is perturbed, and the
// two calls must agree: a gradient that accumulates across calls (not zeroed at the start of
// `gradients`) would otherwise pass on fresh, zeroed buffers. The first call's gradients are checked.
inline gradcheck_report gradcheck(const std::function<double()>& loss, const std::function<void()>& gradients,
                                  const std::vector<gradcheck_tensor>& tensors,
                                  const gradcheck_options& options = {}) {
    auto size_of = [](const auto& variant) { return std::visit([](auto s) { return s.size(); }, variant); };
    for (const auto& t : tensors) {
        if (size_of(t.values) != size_of(t.gradient))
            fail<shape_error>("gradcheck: tensor '{}' has {} values but {} gradient entries", t.name,
                              size_of(t.values), size_of(t.gradient));
        if (!t.shape.empty() && static_cast<std::size_t>(element_count(t.shape)) != size_of(t.values))
            fail<shape_error>("gradcheck: tensor '{}' has {} values but its shape {} holds {}", t.name,
                              size_of(t.values), t.shape, element_count(t.shape));
    }
    auto current_gradient = [](const gradcheck_tensor& t) {
        std::vector<double> values;
        std::visit([&](auto g) { values.assign(g.begin(), g.end()); }, t.gradient);
        return values;
    };
    auto tolerance_of = [&](double a, double b) {
        return options.absolute_tolerance + options.relative_tolerance * std::max(std::abs(a), std::abs(b));
    };
    gradients();
    std::vector<std::vector<double>> first_call;
    for (const auto& t : tensors) first_call.push_back(current_gradient(t));
    gradients();

    gradcheck_report report;
    report.options = options;
    random_generator rng(options.seed);
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const gradcheck_tensor& t = tensors[i];
        const std::vector<double>& analytic = first_call[i];
        gradcheck_result result;
        result.name = t.name;
        result.in_float = std::holds_alternative<std::span<float>>(t.values);

        const std::vector<double> second = current_gradient(t);
        double worst_repeat = 1;
        for (std::size_t k = 0; k < second.size(); ++k) {
            if (std::isnan(second[k]) && std::isnan(analytic[k])) continue;  // the slope's check reports it
            const double ratio = std::abs(second[k] - analytic[k]) / tolerance_of(second[k], analytic[k]);
            if (ratio > worst_repeat || (std::isnan(ratio) && worst_repeat != INFINITY)) {
                worst_repeat = std::isnan(ratio) ? INFINITY : ratio;
                result.repeatable = result.passed = false;
                result.unrepeated_position = detail::position_of(static_cast<index>(k), t.shape);
                result.first_call = analytic[k];
                result.second_call = second[k];
            }
        }

        std::vector<index> elements(analytic.size());
        std::iota(elements.begin(), elements.end(), index{0});
        if (options.max_elements_per_tensor > 0 &&
            static_cast<index>(elements.size()) > options.max_elements_per_tensor) {
            for (index i = static_cast<index>(elements.size()) - 1; i > 0; --i)  // Fisher-Yates
                std::swap(elements[i], elements[rng.below(static_cast<std::uint64_t>(i + 1))]);
            elements.resize(static_cast<std::size_t>(options.max_elements_per_tensor));
            std::sort(elements.begin(), elements.end());
        }

        double worst_ratio = -1;
        for (index k : elements) {
            // The central difference, over the step the value's type really took.
            const double numeric = std::visit(
                [&](auto values) {
                    auto& v = values[static_cast<std::size_t>(k)];
                    using V = std::remove_reference_t<decltype(v)>;
                    const V original = v;
                    v = static_cast<V>(original + options.step);
                    const double up = static_cast<double>(v), plus = loss();
                    v = static_cast<V>(original - options.step);
                    const double down = static_cast<double>(v), minus = loss();
                    v = original;
                    return (plus - minus) / (up - down);
                },
                t.values);
            const double a = analytic[static_cast<std::size_t>(k)];
            const double error = std::abs(a - numeric);
            const double size = std::max(std::abs(a), std::abs(numeric));
            const double tolerance = tolerance_of(a, numeric);
            result.checked += 1;
            result.max_absolute_error = std::max(result.max_absolute_error, error);
            if (size > 0) result.max_relative_error = std::max(result.max_relative_error, error / size);
            const double ratio = error / tolerance;
            if (!(ratio <= 1))
                result.passed = false;  // NaN fails too
            else if (error > options.relative_tolerance * size)
                result.passed_by_absolute = true;
            if (ratio > worst_ratio || std::isnan(ratio)) {
                worst_ratio = std::isnan(ratio) ? INFINITY : ratio;
                result.worst_element = k;
                result.worst_analytic = a;
                result.worst_numeric = numeric;
                result.worst_tolerance = tolerance;
                result.worst_ratio = worst_ratio;
            }
        }
        if (result.worst_element >= 0)
            result.worst_position = detail::position_of(result.worst_element, t.shape);
        report.tensors.push_back(std::move(result));
    }
    return report;
}

inline std::ostream& operator<<(std::ostream& out, const gradcheck_report& report) {
    return out << report.table();
}

}  // namespace loramoe::check
