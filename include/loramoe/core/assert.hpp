#pragma once
// LORAMOE_ASSERT: invariants inside hot loops, checked where LORAMOE_ENABLE_ASSERTS is defined (the
// debug preset) and compiled out otherwise. A program may define LORAMOE_ASSERT itself before
// including any loramoe header (the test suite makes it throw). This header depends on nothing, so
// that kernels compiled by nvcc can include the views.

#include <cstdio>
#include <cstdlib>

namespace loramoe::detail {
[[noreturn]] inline void assertion_failed(const char* condition, const char* file, int line) {
    std::fprintf(stderr, "loramoe: assertion failed: %s (%s:%d)\n", condition, file, line);
    std::abort();
}
}  // namespace loramoe::detail

#ifndef LORAMOE_ASSERT
#ifdef LORAMOE_ENABLE_ASSERTS
#define LORAMOE_ASSERT(condition) \
    ((condition) ? void(0) : ::loramoe::detail::assertion_failed(#condition, __FILE__, __LINE__))
#else
#define LORAMOE_ASSERT(condition) void(0)
#endif
#endif
