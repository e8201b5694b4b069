// extent<N> and extent<dynamic>: a size fixed at compile time, or read at run time, behind one interface.

#include "test_support.hpp"

#include <type_traits>

#include <loramoe/core/extent.hpp>

TEST_SUITE("core") {
    TEST_CASE("extent: a static extent is a compile-time constant and costs no storage") {
        static_assert(loramoe::extent<6>::value() == 6);
        static_assert(loramoe::extent<6>::is_static);
        static_assert(!loramoe::extent<loramoe::dynamic>::is_static);
        static_assert(std::is_empty_v<loramoe::extent<4>>);
        constexpr loramoe::extent<4> four;
        static_assert(four.value() == 4);
        CHECK(loramoe::extent<4>(4, "rank").value() == 4);
    }

    TEST_CASE("extent: a run-time value that disagrees with the static one is a shape_error") {
        CHECK_THROWS_NAMING(loramoe::shape_error, loramoe::extent<6>(5, "the number of experts"),
                            "the number of experts", "5", "6");
        CHECK_THROWS_NAMING(loramoe::shape_error, loramoe::extent<4>(0, "the LoRA rank"), "the LoRA rank",
                            "0", "4");
    }

    TEST_CASE("extent: a dynamic extent holds its value and must be positive") {
        const loramoe::extent<loramoe::dynamic> seven(7, "rank");
        CHECK(seven.value() == 7);
        CHECK(loramoe::extent<loramoe::dynamic>(1).value() == 1);
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::extent<loramoe::dynamic>(0, "the LoRA rank"),
                            "the LoRA rank must be positive", "0");
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::extent<loramoe::dynamic>(-3, "d_in"), "d_in",
                            "-3");
    }

    TEST_CASE("errors: every loramoe exception is a loramoe::error, format_error an io_error") {
        static_assert(std::is_base_of_v<loramoe::error, loramoe::shape_error>);
        static_assert(std::is_base_of_v<loramoe::error, loramoe::value_error>);
        static_assert(std::is_base_of_v<loramoe::error, loramoe::io_error>);
        static_assert(std::is_base_of_v<loramoe::io_error, loramoe::format_error>);
        static_assert(std::is_base_of_v<std::runtime_error, loramoe::error>);
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::fail<loramoe::value_error>("{} is {}", "r", 0),
                            "r is 0");
    }

}  // TEST_SUITE
