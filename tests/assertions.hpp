#pragma once
// Force-included into every test translation unit (tests/CMakeLists.txt, `-include`) before any
// loramoe header: LORAMOE_ASSERT, the library's overridable hot-loop check, throws here instead of
// aborting, in every preset. The invariants are then checked by the release tests too, a violated one
// fails only the test case that hit it, with the condition and its place in the message.
//
// Being force-included, the definition is the same in every translation unit of the executable, as
// the one-definition rule requires of the inline functions that use it.

#include <stdexcept>
#include <string>

namespace loramoe::test {

// Not a loramoe::error: a test that expects the library to throw one is never satisfied by a failed
// internal assertion.
class assertion_error : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

[[noreturn]] inline void assertion_failed(const char* condition, const char* file, int line) {
    throw assertion_error(std::string("LORAMOE_ASSERT failed: ") + condition + " (" + file + ":" +
                          std::to_string(line) + ")");
}

}  // namespace loramoe::test

#define LORAMOE_TEST_ASSERTIONS_THROW 1
#define LORAMOE_ASSERT(condition) \
    ((condition) ? void(0) : ::loramoe::test::assertion_failed(#condition, __FILE__, __LINE__))
