#pragma once
// Numbers stored as strings (safetensors metadata, command lines), parsed strictly: the whole text
// must be the number.

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

#include <loramoe/core/error.hpp>

namespace loramoe::io {

// `what` names the value in the message.
inline double parse_number(const std::string& text, const std::string& what) {
    errno = 0;
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    // strtod skips leading blanks; the whole text must be the number.
    if (text.empty() || std::isspace(static_cast<unsigned char>(text.front())) ||
        end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(value))
        fail<format_error>("{} is '{}', not a finite number", what, text);
    return value;
}

inline long long parse_integer(const std::string& text, const std::string& what) {
    const double value = parse_number(text, what);
    if (value != std::floor(value) || std::abs(value) > 9.0e15)
        fail<format_error>("{} is '{}', not an integer", what, text);
    return static_cast<long long>(value);
}

}  // namespace loramoe::io
