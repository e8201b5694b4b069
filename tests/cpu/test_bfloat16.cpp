// The rounding of floats to bfloat16 (cpu/bfloat16.hpp): to nearest with ties to even, NaN, infinities,
// overflow and denormals, the scalar and the vector paths bit for bit, and Eigen's conversion on normal
// values.

#include "test_support.hpp"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <loramoe/cpu/bfloat16.hpp>

namespace bfloat16_test {

using loramoe::index;

inline std::uint16_t round_bits(std::uint32_t float_bits) {
    return loramoe::bfloat16_bits(std::bit_cast<float>(float_bits));
}

}  // namespace bfloat16_test

TEST_SUITE("cpu") {
    TEST_CASE("bfloat16: rounding to nearest, ties to even") {
        using bfloat16_test::round_bits;
        CHECK(round_bits(0x3f800000u) == 0x3f80);  // 1 is exact
        CHECK(round_bits(0x3f807fffu) == 0x3f80);  // below the half-way point: down
        CHECK(round_bits(0x3f808000u) == 0x3f80);  // a tie, 0x3f80 is even: down
        CHECK(round_bits(0x3f808001u) == 0x3f81);  // above the half-way point: up
        CHECK(round_bits(0x3f818000u) == 0x3f82);  // a tie, 0x3f81 is odd: up to even
        CHECK(round_bits(0xbf818000u) == 0xbf82);  // the same on negatives
        CHECK(round_bits(0x3f7fffffu) == 0x3f80);  // a carry into the exponent
        CHECK(loramoe::bfloat16_value(loramoe::bfloat16_bits(3.140625f)) == 3.140625f);
        CHECK(loramoe::bfloat16_value(loramoe::bfloat16_bits(0.1f)) == 0.10009765625f);
    }

    TEST_CASE(
        "bfloat16: NaN stays NaN (quiet), infinities stay, overflow rounds to infinity, denormals to zero") {
        using bfloat16_test::round_bits;
        const float inf = std::numeric_limits<float>::infinity();
        CHECK(loramoe::bfloat16_bits(inf) == 0x7f80);
        CHECK(loramoe::bfloat16_bits(-inf) == 0xff80);
        CHECK(round_bits(0x7fc00000u) == 0x7fc0);  // quiet NaN
        CHECK(round_bits(0x7f800001u) == 0x7fc0);  // signalling NaN, payload in the low bits: made quiet
        CHECK(round_bits(0xffffffffu) == 0xffff);  // NaN with its sign and payload
        CHECK(std::isnan(loramoe::bfloat16_value(round_bits(0x7f800001u))));
        CHECK(round_bits(0x7f7f0000u) == 0x7f7f);  // the largest bfloat16 is exact
        CHECK(round_bits(0x7f7fffffu) == 0x7f80);  // the largest float rounds to infinity
        CHECK(round_bits(0xff7fffffu) == 0xff80);
        CHECK(round_bits(0x00800000u) == 0x0080);  // the smallest normal float is exact
        CHECK(round_bits(0x007fffffu) == 0x0000);  // the largest denormal: zero
        CHECK(round_bits(0x80000001u) == 0x8000);  // a negative denormal: negative zero
        CHECK(loramoe::bfloat16_bits(-0.0f) == 0x8000);
    }

    TEST_CASE("bfloat16: the row conversion matches the scalar one bit for bit, tails included") {
        // Random bit patterns: every class of float (normal, denormal, zero, infinity, NaN) appears.
        loramoe::random_generator rng(7);
        for (loramoe::index count : {1, 31, 32, 33, 1000}) {
            CAPTURE(count);
            std::vector<float> source(static_cast<std::size_t>(count));
            for (std::size_t i = 0; i < source.size(); ++i) {
                auto bits = static_cast<std::uint32_t>(rng.next_bits());
                if (i % 7 == 1) bits &= 0x807fffffu;                    // denormal or zero
                if (i % 7 == 2) bits |= 0x7f800000u;                    // infinity or NaN
                if (i % 7 == 3) bits = (bits & 0xffff0000u) | 0x8000u;  // a tie
                source[i] = std::bit_cast<float>(bits);
            }
            std::vector<loramoe::bfloat16> row(source.size());
            loramoe::round_to_bfloat16(loramoe::cpu{}, source.data(), row.data(), count);
            loramoe::index mismatches = 0;
            for (std::size_t i = 0; i < source.size(); ++i)
                if (Eigen::numext::bit_cast<std::uint16_t>(row[i]) != loramoe::bfloat16_bits(source[i]))
                    ++mismatches;
            CHECK(mismatches == 0);
        }
    }

    TEST_CASE("bfloat16: normal values round as Eigen::bfloat16 (and PyTorch) round them") {
        loramoe::random_generator rng(11);
        loramoe::index mismatches = 0;
        for (int i = 0; i < 100000; ++i) {
            const float x = static_cast<float>(rng.normal() * std::exp(rng.uniform(-40, 40)));
            if (std::fpclassify(x) != FP_NORMAL) continue;
            if (loramoe::bfloat16_bits(x) != Eigen::numext::bit_cast<std::uint16_t>(Eigen::bfloat16(x)))
                ++mismatches;
        }
        CHECK(mismatches == 0);
    }

}  // TEST_SUITE
