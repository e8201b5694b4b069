#pragma once
// Errors in three tiers:
//  1. misuse the compiler can see: concepts and static_assert;
//  2. invariants inside hot loops: LORAMOE_ASSERT, compiled in by LORAMOE_ENABLE_ASSERTS (the debug
//     preset) and overridable by defining LORAMOE_ASSERT before including any loramoe header;
//  3. data that enters from outside (files, the command line, the public API): exceptions whose
//     message says what is wrong, which tensor, expected against found.

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace loramoe {

// The base of every exception the library throws.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Tensors whose shapes disagree with each other or with a configuration.
class shape_error : public error {
public:
    using error::error;
};

// A value out of its domain: rank 0, an unknown statistic name, a token id past the vocabulary.
class value_error : public error {
public:
    using error::error;
};

// A file that cannot be read or written.
class io_error : public error {
public:
    using error::error;
};

// A file that can be read but whose contents are malformed (corrupt, truncated, wrong schema).
class format_error : public io_error {
public:
    using io_error::io_error;
};

template <class Error, class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> message, Args&&... args) {
    throw Error(fmt::format(message, std::forward<Args>(args)...));
}

namespace detail {
[[noreturn]] inline void assertion_failed(const char* condition, const char* file, int line) {
    std::fprintf(stderr, "loramoe: assertion failed: %s (%s:%d)\n", condition, file, line);
    std::abort();
}
}  // namespace detail

}  // namespace loramoe

#ifndef LORAMOE_ASSERT
#ifdef LORAMOE_ENABLE_ASSERTS
#define LORAMOE_ASSERT(condition) \
    ((condition) ? void(0) : ::loramoe::detail::assertion_failed(#condition, __FILE__, __LINE__))
#else
#define LORAMOE_ASSERT(condition) void(0)
#endif
#endif
