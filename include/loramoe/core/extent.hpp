#pragma once
// Sizes fixed at compile time where it pays, read at run time where models need it.
//
// `extent<6>` is the number 6, known to the compiler; `extent<dynamic>` holds a number read at run
// time, as Eigen's `Matrix<float, Dynamic, 4>`. Both have the same interface, so a kernel written
// once unrolls its loops when the size is static. (No fmt here: CUDA kernels include this header.)

#include <string>

#include <loramoe/core/backend.hpp>
#include <loramoe/core/exceptions.hpp>

namespace loramoe {

inline constexpr int dynamic = -1;

template <int Static>
class extent {
    static_assert(Static > 0, "a static extent is positive; use loramoe::dynamic for a run-time size");

public:
    constexpr extent() = default;
    // Checks that a run-time value (from a config or a checkpoint) agrees with the static one.
    explicit extent(index value, const char* what = "size") {
        if (value != Static)
            throw shape_error(std::string(what) + " is " + std::to_string(value) +
                              " but this instantiation fixes it at " + std::to_string(Static) +
                              " at compile time");
    }
    static constexpr index value() { return Static; }
    static constexpr bool is_static = true;
};

template <>
class extent<dynamic> {
public:
    extent() = default;
    explicit extent(index value, const char* what = "size") : value_(value) {
        if (value <= 0)
            throw value_error(std::string(what) + " must be positive, got " + std::to_string(value));
    }
    constexpr index value() const { return value_; }
    static constexpr bool is_static = false;

private:
    index value_ = 0;
};

}  // namespace loramoe
