// parameter_buffer: all trainable values in one buffer and their gradients in another of the same
// layout; tensor_layout: named tensors packed one after another.

#include "test_support.hpp"

#include <loramoe/core/parameters.hpp>
#include <loramoe/core/tensor_layout.hpp>

TEST_SUITE("core") {
    TEST_CASE_TEMPLATE("parameter_buffer: values and gradients start at zero; slices share the buffer", T,
                       float, double) {
        loramoe::parameter_buffer<T> p(10);
        CHECK(p.size() == 10);
        CHECK(p.has_grads());
        for (T v : p.values().span()) CHECK(v == T(0));
        for (T g : p.grads().span()) CHECK(g == T(0));
        const auto all = p.all();
        CHECK(all.values == p.values().data());
        CHECK(all.grads == p.grads().data());
        CHECK(all.size == 10);
        CHECK(all.bound());
        const auto s = p.slice(3, 4);
        CHECK(s.values == p.values().data() + 3);
        CHECK(s.grads == p.grads().data() + 3);
        CHECK(s.size == 4);
        const auto inner = s.slice(1, 2);
        CHECK(inner.values == p.values().data() + 4);
        s.grads[0] = T(5);
        p.zero_grad();
        CHECK(p.grads()[3] == T(0));
        CHECK_THROWS_AS(p.slice(8, 4), loramoe::test::assertion_error);
    }

    TEST_CASE("parameter_buffer: without gradients, slices have no gradient pointer") {
        loramoe::parameter_buffer<float> frozen(6, false);
        CHECK_FALSE(frozen.has_grads());
        CHECK(frozen.grads().size() == 0);
        CHECK(frozen.all().grads == nullptr);
        CHECK(frozen.slice(2, 2).grads == nullptr);
        CHECK(frozen.slice(2, 2).values == frozen.values().data() + 2);
        CHECK(loramoe::parameter_slice<float>{}.bound());  // nothing to bind
        CHECK_FALSE((loramoe::parameter_slice<float>{nullptr, nullptr, 3}.bound()));
    }

    TEST_CASE("tensor_layout: tensors are packed in order; names are unique") {
        loramoe::tensor_layout layout;
        layout.add("a", {2, 3});
        layout.add("b", {4});
        layout.add("c", {});
        CHECK(layout.total() == 11);
        CHECK(layout.at("b").offset == 6);
        CHECK(layout.at("c").offset == 10);
        CHECK(layout.at("c").size() == 1);
        CHECK(layout.find("d") == nullptr);
        CHECK_THROWS_NAMING(loramoe::value_error, layout.add("b", {1}), "'b'", "twice");
        CHECK_THROWS_NAMING(loramoe::value_error, layout.at("zz"), "'zz'");
    }

}  // TEST_SUITE
