#pragma once
// Errors in three tiers:
//  1. misuse the compiler can see: concepts and static_assert;
//  2. invariants inside hot loops: LORAMOE_ASSERT (core/assert.hpp);
//  3. data that enters from outside (files, the command line, the public API): exceptions whose
//     message says what is wrong, which tensor, expected against found.

#include <string>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <loramoe/core/assert.hpp>
#include <loramoe/core/exceptions.hpp>

namespace loramoe {

template <class Error, class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> message, Args&&... args) {
    throw Error(fmt::format(message, std::forward<Args>(args)...));
}

}  // namespace loramoe
