// The counter-based random numbers: a pure function of (seed, stream, counter), so dropout masks are
// regenerated in backward and a resumed run continues the same sequence.

#include "test_support.hpp"

#include <cmath>
#include <set>
#include <vector>

TEST_SUITE("core") {
    TEST_CASE("random: mix64 is splitmix64's finaliser (pinned values)") {
        // splitmix64 seeded with 0 returns mix64(0), mix64(gamma), ...: its published first outputs.
        static_assert(loramoe::mix64(0) == 0xE220A8397B1DCDAFull);
        static_assert(loramoe::mix64(0x9E3779B97F4A7C15ull) == 0x6E789E6AA1B965F4ull);
        static_assert(loramoe::random_bits(1, 2, 3) == loramoe::random_bits(1, 2, 3));
        std::set<std::uint64_t> seen;
        for (std::uint64_t z = 0; z < 10000; ++z) seen.insert(loramoe::mix64(z));
        CHECK(seen.size() == 10000);
    }

    TEST_CASE("random: the same seed and stream give the same sequence, others differ") {
        loramoe::random_generator a(42), b(42), c(43), d(42, 1);
        std::vector<std::uint64_t> sa, sb, sc, sd;
        for (int i = 0; i < 64; ++i) {
            sa.push_back(a.next_bits());
            sb.push_back(b.next_bits());
            sc.push_back(c.next_bits());
            sd.push_back(d.next_bits());
        }
        CHECK(sa == sb);
        CHECK(sa != sc);
        CHECK(sa != sd);
        CHECK(a.counter() == 64);
        CHECK(a.seed() == 42);
        CHECK(d.stream() == 1);
        // The generator is the pure function at consecutive counters.
        for (std::uint64_t i = 0; i < 64; ++i) CHECK(sd[i] == loramoe::random_bits(42, 1, i));
    }

    TEST_CASE("random: set_counter resumes a sequence") {
        loramoe::random_generator a(7);
        for (int i = 0; i < 10; ++i) a.uniform();
        const double next = a.uniform();
        loramoe::random_generator b(7);
        b.set_counter(10);
        CHECK(b.uniform() == next);
    }

    TEST_CASE("random: uniform, below and normal have the right range and moments") {
        loramoe::random_generator rng(2024);
        const int n = 200000;
        double sum = 0, sum2 = 0, lo = 1, hi = 0;
        for (int i = 0; i < n; ++i) {
            const double u = rng.uniform();
            lo = std::min(lo, u);
            hi = std::max(hi, u);
            sum += u;
            sum2 += u * u;
        }
        CHECK(lo >= 0);
        CHECK(hi < 1);
        CHECK(sum / n == doctest::Approx(0.5).epsilon(0.01));
        CHECK(sum2 / n - (sum / n) * (sum / n) == doctest::Approx(1.0 / 12).epsilon(0.02));

        for (int i = 0; i < 1000; ++i) {
            const double u = rng.uniform(-3, 5);
            CHECK((u >= -3 && u < 5));
            CHECK(rng.below(7) < 7);
        }
        std::vector<int> counts(5, 0);
        for (int i = 0; i < 50000; ++i) counts[rng.below(5)] += 1;
        for (int c : counts) CHECK(c == doctest::Approx(10000).epsilon(0.05));

        double nsum = 0, nsum2 = 0;
        for (int i = 0; i < n; ++i) {
            const double z = rng.normal();
            REQUIRE(std::isfinite(z));
            nsum += z;
            nsum2 += z * z;
        }
        CHECK(std::abs(nsum / n) < 0.01);
        CHECK(nsum2 / n == doctest::Approx(1.0).epsilon(0.02));
    }

}  // TEST_SUITE
