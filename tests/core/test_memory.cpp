// growing_buffer (core/memory.hpp), the logic every backend's buffer shares, with a memory that counts
// and can be made to fail: one allocation for any number of resizes up to the capacity, the old memory
// returned before the new is taken, an allocation that throws leaving an empty buffer, moves. Then the
// host buffer: 64-byte aligned and zeroed.

#include "test_support.hpp"

#include <cstdint>
#include <new>
#include <vector>

#include <loramoe/core/host_memory.hpp>

namespace memory_test {

using loramoe::index;

struct counting_memory {
    static inline int allocations = 0, live = 0, most_live = 0;
    static inline bool fail_next = false;

    template <class T>
    static T* allocate(index count) {
        if (fail_next) {
            fail_next = false;
            throw std::bad_alloc();
        }
        ++allocations;
        most_live = std::max(most_live, ++live);
        return new T[static_cast<std::size_t>(count)]();
    }
    template <class T>
    static void release(T* memory) {
        --live;
        delete[] memory;
    }
    static void reset() { allocations = live = most_live = 0; }
};

using counted_buffer = loramoe::growing_buffer<int, counting_memory>;

TEST_CASE("growing_buffer: grows, never shrinks, frees before it allocates, and stays empty on failure") {
    counting_memory::reset();
    {
        counted_buffer b;
        CHECK(b.size() == 0);
        CHECK(b.data() == nullptr);
        b.resize(8);
        for (index i = 0; i < 8; ++i) CHECK(b.data()[i] == 0);
        b.data()[3] = 7;
        b.resize(4);  // smaller: the same memory, contents kept
        b.resize(8);
        CHECK(counting_memory::allocations == 1);
        CHECK(b.size() == 8);
        CHECK(b.data()[3] == 7);

        b.resize(16);  // larger: new, zeroed memory; the old freed first
        CHECK(counting_memory::allocations == 2);
        CHECK(counting_memory::most_live == 1);
        CHECK(b.data()[3] == 0);

        counting_memory::fail_next = true;
        CHECK_THROWS_AS(b.resize(32), std::bad_alloc);
        CHECK(b.size() == 0);
        CHECK(b.data() == nullptr);
        CHECK(counting_memory::live == 0);
        b.resize(2);  // usable again
        CHECK(b.size() == 2);

        counted_buffer moved(std::move(b));
        CHECK(moved.size() == 2);
        CHECK(b.size() == 0);
        CHECK(b.data() == nullptr);
        b.resize(3);  // a moved-from buffer is usable
        CHECK(counting_memory::live == 2);
        moved = std::move(b);
        CHECK(moved.size() == 3);
        CHECK(counting_memory::live == 1);
    }
    CHECK(counting_memory::live == 0);
}

TEST_CASE("the host buffer: 64-byte aligned and zeroed") {
    for (index count : {1, 3, 17, 1000}) {
        loramoe::buffer<double, loramoe::cpu> b(count);
        CAPTURE(count);
        CHECK(reinterpret_cast<std::uintptr_t>(b.data()) % 64 == 0);
        for (index i = 0; i < count; ++i) CHECK(b.data()[i] == 0.0);
    }
}

}  // namespace memory_test
