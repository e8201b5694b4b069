#pragma once
// What the test files share: random tensors, the comparison that reports the worst element, the check
// that an expression throws exactly the expected exception with a message naming the problem,
// temporary folders and files, and the sizes every kernel is tried at.

#include <sys/wait.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include <cxxabi.h>
#include <stdlib.h>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <loramoe/core/random.hpp>
#include <loramoe/core/tensor.hpp>
#include <loramoe/cpu/simd.hpp>

// assertions.hpp is force-included by tests/CMakeLists.txt: every test translation unit sees the same
// LORAMOE_ASSERT, one that throws loramoe::test::assertion_error.
#ifndef LORAMOE_TEST_ASSERTIONS_THROW
#error "tests/assertions.hpp must be force-included (-include) in every test translation unit"
#endif

namespace loramoe::test {

// --- sizes ------------------------------------------------------------------------------------------

// Elements in one SIMD register of the build's architecture: 16 floats / 8 doubles with AVX-512.
template <class T>
inline constexpr index simd_width = simd::width<T>;

// 1, odd, one register less one, exactly one register, one more, and a size with a tail.
template <class T>
std::vector<index> edge_sizes() {
    constexpr index w = simd_width<T>;
    std::vector<index> sizes = {1, 3, w - 1, w, w + 1, 2 * w + 3};
    std::sort(sizes.begin(), sizes.end());
    sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
    sizes.erase(std::remove_if(sizes.begin(), sizes.end(), [](index n) { return n < 1; }), sizes.end());
    return sizes;
}

// --- random values ----------------------------------------------------------------------------------

template <class T>
void fill_uniform(std::span<T> values, random_generator& rng, double low = -1, double high = 1) {
    for (T& v : values) v = static_cast<T>(rng.uniform(low, high));
}

template <class T>
void fill_uniform(matrix_view<T> view, random_generator& rng, double low = -1, double high = 1) {
    for (index i = 0; i < view.rows; ++i)
        for (index j = 0; j < view.cols; ++j) view(i, j) = static_cast<T>(rng.uniform(low, high));
}

template <class T>
tensor<T, cpu> random_tensor(const shape_type& shape, std::uint64_t seed, double low = -1, double high = 1) {
    tensor<T, cpu> t(shape);
    random_generator rng(seed);
    fill_uniform(t.span(), rng, low, high);
    return t;
}

template <class T>
std::vector<T> random_vector(index size, std::uint64_t seed, double low = -1, double high = 1) {
    std::vector<T> v(static_cast<std::size_t>(size));
    random_generator rng(seed);
    fill_uniform(std::span<T>(v), rng, low, high);
    return v;
}

// A matrix inside a larger buffer: `pad` unused columns on the right of every row and a row above and
// below, all holding a sentinel, so that a kernel that writes outside the view is caught.
template <class T>
struct padded_matrix {
    std::vector<T> storage;
    index rows, cols, stride, offset;

    padded_matrix(index rows_, index cols_, index pad, T sentinel)
        : storage(static_cast<std::size_t>((rows_ + 2) * (cols_ + pad + 1)), sentinel),
          rows(rows_),
          cols(cols_),
          stride(cols_ + pad + 1),
          offset(stride + 1) {}
    matrix_view<T> view() { return {storage.data() + offset, rows, cols, stride}; }
    bool outside_untouched(T sentinel) const {
        for (index k = 0; k < static_cast<index>(storage.size()); ++k) {
            const index i = (k - offset) / stride, j = (k - offset) % stride;
            const bool inside = k >= offset && i < rows && j < cols;
            if (!inside && !(storage[static_cast<std::size_t>(k)] == sentinel)) return false;
        }
        return true;
    }
};

// --- comparison -------------------------------------------------------------------------------------

// Values as doubles, and the number of columns (0: a vector) to report an element as (row, column).
struct flat_values {
    std::vector<double> values;
    index cols = 0;
};

template <class T>
flat_values flatten(std::span<T> values) {
    return {std::vector<double>(values.begin(), values.end()), 0};
}
template <class T>
flat_values flatten(const std::vector<T>& values) {
    return {std::vector<double>(values.begin(), values.end()), 0};
}
template <class T>
flat_values flatten(const tensor<T, cpu>& t) {
    return {std::vector<double>(t.data(), t.data() + t.size()), t.rank() >= 2 ? t.dim(-1) : 0};
}
template <class T>
flat_values flatten(matrix_view<T> view) {
    flat_values out{{}, view.cols};
    out.values.reserve(static_cast<std::size_t>(view.size()));
    for (index i = 0; i < view.rows; ++i)
        for (index j = 0; j < view.cols; ++j) out.values.push_back(static_cast<double>(view(i, j)));
    return out;
}

template <class V>
double max_abs(const V& values) {
    double m = 0;
    for (double v : flatten(values).values) m = std::max(m, std::abs(v));
    return m;
}

struct comparison {
    bool passed = true;
    std::string message;  // empty when passed
};

// Element k passes when |got_k - want_k| <= abs + rel * |want_k| (NaN never passes, unless both are NaN).
inline comparison compare_values(const flat_values& got, const flat_values& want, double abs, double rel) {
    if (got.values.size() != want.values.size())
        return {false, fmt::format("got {} elements, want {}", got.values.size(), want.values.size())};
    std::size_t worst = 0, failures = 0;
    double worst_ratio = -1, max_difference = 0;
    for (std::size_t k = 0; k < got.values.size(); ++k) {
        const double g = got.values[k], w = want.values[k];
        const double difference = std::abs(g - w);
        const double tolerance = abs + rel * std::abs(w);
        double ratio = difference / tolerance;
        if (g == w || (std::isnan(g) && std::isnan(w)))
            ratio = 0;  // equal (infinities too), or both NaN
        else if (std::isnan(ratio) || std::isinf(ratio))
            ratio = std::numeric_limits<double>::infinity();
        if (ratio > 1) ++failures;
        if (!std::isnan(difference)) max_difference = std::max(max_difference, difference);
        if (ratio > worst_ratio) {
            worst_ratio = ratio;
            worst = k;
        }
    }
    if (failures == 0) return {};
    const double g = got.values[worst], w = want.values[worst];
    const std::string where =
        want.cols > 0 ? fmt::format("[{}] (row {}, col {})", worst, static_cast<index>(worst) / want.cols,
                                    static_cast<index>(worst) % want.cols)
                      : fmt::format("[{}]", worst);
    return {false, fmt::format("{} of {} elements outside tolerance; worst at {}: got {:.17g}, want {:.17g}, "
                               "|got - want| = {:.3g} > {:.3g} (abs {:.3g} + rel {:.3g} * |want|); "
                               "max |got - want| = {:.3g}",
                               failures, got.values.size(), where, g, w, std::abs(g - w),
                               abs + rel * std::abs(w), abs, rel, max_difference)};
}

// Checks got against want with tolerance abs + rel * |want| per element; a failure names the worst
// element, its two values and the largest difference, at the caller's file and line.
template <class G, class W>
bool expect_close(const G& got, const W& want, double abs, double rel, const char* file = __builtin_FILE(),
                  int line = __builtin_LINE()) {
    const comparison c = compare_values(flatten(got), flatten(want), abs, rel);
    if (!c.passed) ADD_FAIL_CHECK_AT(file, line, c.message);
    return c.passed;
}

// --- exceptions -------------------------------------------------------------------------------------

inline std::string demangle(const char* name) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> text(abi::__cxa_demangle(name, nullptr, nullptr, &status),
                                                std::free);
    return status == 0 && text ? text.get() : name;
}

// Empty when `f` throws an exception of exactly type E whose message contains every word; otherwise
// what happened instead.
template <class E, class F>
std::string throw_problem(F&& f, std::initializer_list<std::string_view> words) {
    try {
        f();
    } catch (const std::exception& e) {
        if (typeid(e) != typeid(E))
            return fmt::format("threw {} (\"{}\"), expected exactly {}", demangle(typeid(e).name()), e.what(),
                               demangle(typeid(E).name()));
        const std::string_view message = e.what();
        for (std::string_view word : words)
            if (message.find(word) == std::string_view::npos)
                return fmt::format("the message \"{}\" does not name \"{}\"", message, word);
        return {};
    } catch (...) {
        return "threw something that is not a std::exception";
    }
    return fmt::format("threw nothing, expected {}", demangle(typeid(E).name()));
}

}  // namespace loramoe::test

// CHECK_THROWS_NAMING(loramoe::shape_error, layer.forward(...), "d_in", "x"): the expression throws an
// exception of exactly that type (not a subclass) whose message contains each of the words.
#define CHECK_THROWS_NAMING(Exception, expression, ...)                                            \
    do {                                                                                           \
        const std::string loramoe_problem_ =                                                       \
            ::loramoe::test::throw_problem<Exception>([&] { (void)(expression); }, {__VA_ARGS__}); \
        CHECK_MESSAGE(loramoe_problem_.empty(), #expression ": " << loramoe_problem_);             \
    } while (false)

namespace loramoe::test {

// --- files ------------------------------------------------------------------------------------------

// A fresh folder under the system's temporary folder, removed with everything in it at the end of scope.
class temporary_directory {
public:
    temporary_directory() {
        std::string pattern = (std::filesystem::temp_directory_path() / "loramoe-test-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
        path_ = pattern;
    }
    temporary_directory(const temporary_directory&) = delete;
    temporary_directory& operator=(const temporary_directory&) = delete;
    ~temporary_directory() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

    // The names of the files in the folder, sorted.
    std::vector<std::string> files() const {
        std::vector<std::string> names;
        for (const auto& entry : std::filesystem::directory_iterator(path_))
            names.push_back(entry.path().filename());
        std::sort(names.begin(), names.end());
        return names;
    }

private:
    std::filesystem::path path_;
};

inline std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_file(const std::filesystem::path& path, std::string_view bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

// The committed PyTorch golden files (tests/golden/).
inline std::filesystem::path golden_dir() {
    return LORAMOE_TEST_GOLDEN_DIR;
}

// The `loramoe` program, for the tests of its commands.
#ifdef LORAMOE_CLI_PATH
inline std::string quote(const std::filesystem::path& path) {
    const std::string text = path.string();
    REQUIRE(text.find('\'') == std::string::npos);
    return "'" + text + "'";
}

struct cli_result {
    int status = -1;  // the exit status, -1 when killed by a signal
    std::string out;
    std::string err;
};

// Runs `PREFIX loramoe ARGUMENTS` (PREFIX: nothing, environment settings, or a launcher such as
// mpirun), with stdout and stderr captured in a folder of their own.
inline cli_result run_cli(const std::string& arguments, const std::string& prefix = "") {
    temporary_directory logs;
    const std::string command = prefix + " " + quote(LORAMOE_CLI_PATH) + " " + arguments + " >" +
                                quote(logs / "stdout") + " 2>" + quote(logs / "stderr");
    const int raw = std::system(command.c_str());
    cli_result r;
    r.status = raw != -1 && WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    r.out = read_file(logs / "stdout");
    r.err = read_file(logs / "stderr");
    return r;
}
#endif

}  // namespace loramoe::test
