// tensor<T, cpu>: shapes, the matrix it is seen as, memory that is kept across resizes, copies.

#include "test_support.hpp"

#include <cstdint>
#include <utility>

TEST_SUITE("core") {
    TEST_CASE_TEMPLATE("tensor: shape, size, rank, dim and the matrix of a 3-D tensor", T, float, double) {
        loramoe::tensor<T> t({2, 3, 5});
        CHECK(t.size() == 30);
        CHECK(t.rank() == 3);
        CHECK(t.shape() == loramoe::shape_type{2, 3, 5});
        CHECK(t.dim(0) == 2);
        CHECK(t.dim(2) == 5);
        CHECK(t.dim(-1) == 5);
        CHECK(t.dim(-3) == 2);
        // Leading dimensions flatten into rows, the last one is the columns.
        const auto m = t.matrix();
        CHECK(m.rows == 6);
        CHECK(m.cols == 5);
        CHECK(m.stride == 5);
        CHECK(m.data == t.data());
        for (loramoe::index i = 0; i < t.size(); ++i) t[i] = static_cast<T>(i);
        CHECK(m(4, 3) == T(23));
    }

    TEST_CASE_TEMPLATE("tensor: a scalar has rank 0 and one element", T, float, double) {
        loramoe::tensor<T> t(loramoe::shape_type{});
        CHECK(t.rank() == 0);
        CHECK(t.size() == 1);
        t[0] = T(7);
        CHECK(t.matrix().rows == 1);
        CHECK(t.matrix().cols == 1);
        CHECK(t.matrix()(0, 0) == T(7));
    }

    TEST_CASE_TEMPLATE("tensor: memory is 64-byte aligned and zeroed when allocated", T, float, double) {
        for (loramoe::index n : loramoe::test::edge_sizes<T>()) {
            CAPTURE(n);
            loramoe::tensor<T> t({n});
            CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
            for (T v : t.span()) CHECK(v == T(0));
        }
    }

    TEST_CASE_TEMPLATE("tensor: resize to the same or a smaller shape keeps the memory", T, float, double) {
        loramoe::tensor<T> t({4, 8});
        T* const memory = t.data();
        t.fill_with(T(3));
        t.resize({4, 8});
        CHECK(t.data() == memory);
        CHECK(t[31] == T(3));  // same shape: the contents survive too
        t.resize({2, 3});
        CHECK(t.data() == memory);
        CHECK(t.size() == 6);
        CHECK(t.shape() == loramoe::shape_type{2, 3});
        t.resize({32});  // back to the capacity: still no allocation
        CHECK(t.data() == memory);
        t.resize({33});  // larger: new memory, of the new size
        CHECK(t.size() == 33);
        CHECK(t.data() != nullptr);
    }

    TEST_CASE_TEMPLATE("tensor: zero, fill_with and clone, a deep copy", T, float, double) {
        auto a = loramoe::test::random_tensor<T>({3, 7}, 11);
        auto b = a.clone();
        CHECK(b.shape() == a.shape());
        CHECK(b.data() != a.data());
        loramoe::test::expect_close(b, a, 0, 0);
        a.fill_with(T(2));
        CHECK(b[0] != T(2));
        for (T v : a.span()) CHECK(v == T(2));
        a.zero();
        for (T v : a.span()) CHECK(v == T(0));
    }

    TEST_CASE_TEMPLATE("tensor: a moved-from tensor stays usable", T, float, double) {
        loramoe::tensor<T> a({4});
        a.fill_with(T(1));
        loramoe::tensor<T> b = std::move(a);
        CHECK(b.size() == 4);
        CHECK(b[3] == T(1));
        // Valid but unspecified: whatever size it reports, a tensor with elements has memory, and it can be
        // resized and written again.
        CHECK_MESSAGE((a.size() == 0 || a.data() != nullptr), "moved-from tensor reports ", a.size(),
                      " elements at a null pointer");
        a.resize({4});
        REQUIRE(a.data() != nullptr);
        a.fill_with(T(5));
        CHECK(a[3] == T(5));

        loramoe::tensor<T> c({2});
        c = std::move(b);  // move assignment: the same
        CHECK(c.size() == 4);
        CHECK((b.size() == 0 || b.data() != nullptr));
        b.resize({2});
        REQUIRE(b.data() != nullptr);
    }

    TEST_CASE("tensor: make_tensor checks the number of values") {
        const auto t = loramoe::make_tensor<double>({2, 2}, {1, 2, 3, 4});
        CHECK(t.matrix()(1, 0) == 3);
        CHECK_THROWS_NAMING(loramoe::shape_error, loramoe::make_tensor<double>({2, 2}, {1, 2, 3}), "3 values",
                            "4 elements");
    }

    TEST_CASE("tensor: a negative dimension is a shape_error naming the shape") {
        CHECK_THROWS_NAMING(loramoe::shape_error, loramoe::tensor<float>({2, -3}), "negative dimension -3",
                            "[2, -3]");
        CHECK(loramoe::element_count({}) == 1);
        CHECK(loramoe::element_count({4, 0, 2}) == 0);
    }

    TEST_CASE_TEMPLATE("tensor: to_host and to_backend copy, on the host too", T, float, double) {
        const auto a = loramoe::test::random_tensor<T>({5, 3}, 3);
        auto b = loramoe::to_backend<loramoe::cpu>(a);
        auto c = loramoe::to_host(b);
        CHECK(b.data() != a.data());
        CHECK(c.data() != b.data());
        CHECK(c.shape() == a.shape());
        loramoe::test::expect_close(c, a, 0, 0);
    }

}  // TEST_SUITE
