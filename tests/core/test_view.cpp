// matrix_view: element addressing with a row stride, row and column blocks, const conversion, and the
// shape check every public function uses.

#include "test_support.hpp"

#include <numeric>
#include <type_traits>
#include <vector>

TEST_SUITE("core") {
    TEST_CASE_TEMPLATE("matrix_view: element (i, j) is data[i * stride + j]", T, float, double) {
        std::vector<T> storage(4 * 7);
        std::iota(storage.begin(), storage.end(), T(0));
        const loramoe::matrix_view<T> v(storage.data(), 4, 5, 7);
        CHECK(v(0, 0) == T(0));
        CHECK(v(2, 3) == T(17));
        CHECK(v.row(3) == storage.data() + 21);
        CHECK(v.size() == 20);
        CHECK_FALSE(v.contiguous());
        CHECK(loramoe::matrix_view<T>(storage.data(), 4, 7).contiguous());
        CHECK(loramoe::matrix_view<T>(storage.data(), 1, 5, 7).contiguous());  // one row is contiguous
        CHECK(loramoe::matrix_view<T>(storage.data(), 0, 5).empty());
        CHECK(loramoe::matrix_view<T>(storage.data(), 3, 0).empty());
        CHECK_FALSE(v.empty());
    }

    TEST_CASE_TEMPLATE("matrix_view: row_block and col_block keep the stride and nest", T, float, double) {
        std::vector<T> storage(6 * 9);
        std::iota(storage.begin(), storage.end(), T(0));
        const loramoe::matrix_view<T> v(storage.data(), 6, 8, 9);

        const auto rows = v.row_block(2, 3);
        CHECK(rows.rows == 3);
        CHECK(rows.cols == 8);
        CHECK(rows.stride == 9);
        CHECK(rows(0, 0) == v(2, 0));
        CHECK(rows(2, 7) == v(4, 7));

        const auto cols = v.col_block(3, 4);
        CHECK(cols.rows == 6);
        CHECK(cols.cols == 4);
        CHECK(cols.stride == 9);
        CHECK(cols(5, 0) == v(5, 3));
        CHECK(cols(1, 3) == v(1, 6));

        const auto block = v.row_block(1, 4).col_block(2, 5).row_block(1, 2).col_block(1, 3);
        CHECK(block.rows == 2);
        CHECK(block.cols == 3);
        for (loramoe::index i = 0; i < 2; ++i)
            for (loramoe::index j = 0; j < 3; ++j) CHECK(block(i, j) == v(2 + i, 3 + j));

        // Writing through a block writes the parent.
        cols(4, 2) = T(-1);
        CHECK(v(4, 5) == T(-1));
        // Empty blocks at the end are allowed.
        CHECK(v.row_block(6, 0).empty());
        CHECK(v.col_block(8, 0).empty());
    }

    TEST_CASE("matrix_view: a view of T converts to a view of const T") {
        std::vector<double> storage(6, 1.0);
        const loramoe::matrix_view<double> v(storage.data(), 2, 3);
        const loramoe::matrix_view<const double> c = v;
        const auto d = loramoe::as_const(v);
        static_assert(std::is_same_v<decltype(d), const loramoe::matrix_view<const double>>);
        static_assert(
            !std::is_convertible_v<loramoe::matrix_view<const double>, loramoe::matrix_view<double>>);
        CHECK(c.data == storage.data());
        CHECK(c.rows == 2);
        CHECK(c.cols == 3);
        CHECK(c.stride == 3);
    }

    TEST_CASE("matrix_view: require_shape throws a shape_error naming the tensor and both shapes") {
        std::vector<float> storage(12);
        const loramoe::matrix_view<float> v(storage.data(), 3, 4);
        loramoe::require_shape(v, 3, 4, "w");  // no throw
        CHECK_THROWS_NAMING(loramoe::shape_error, loramoe::require_shape(v, 4, 3, "router W_r"), "router W_r",
                            "[3, 4]", "[4, 3]");
    }

    TEST_CASE(
        "matrix_view: out-of-range blocks and elements trip LORAMOE_ASSERT (overridden to throw in the "
        "tests)") {
        std::vector<float> storage(12);
        const loramoe::matrix_view<float> v(storage.data(), 3, 4);
        CHECK_THROWS_AS(v.row_block(2, 2), loramoe::test::assertion_error);
        CHECK_THROWS_AS(v.col_block(-1, 2), loramoe::test::assertion_error);
        CHECK_THROWS_AS(v(3, 0), loramoe::test::assertion_error);
        CHECK_THROWS_AS(loramoe::matrix_view<float>(storage.data(), 3, 4, 2), loramoe::test::assertion_error);
        CHECK_NOTHROW(v(2, 3));
    }

}  // TEST_SUITE
