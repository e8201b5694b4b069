// Bad input to moe::loramoe_linear throws the exact exception type, with a message that names the
// problem: what, which tensor, expected against found.

#include "moe/layer_fixture.hpp"

namespace layer_errors_test {

namespace moe = loramoe::moe;
using layer_type = moe::loramoe_linear<double>;  // N, r dynamic; balance::lbc

moe::loramoe_config valid_config() {
    return {.in_features = 6, .out_features = 4, .experts = 3, .rank = 2};
}

// A bound layer with a base, and its inputs.
struct bound_layer {
    layer_type layer{valid_config()};
    loramoe::parameter_buffer<double> parameters{layer.parameter_count()};
    loramoe::test::layer_inputs<double> in{2, 3, 6, 4, 1};
    layer_type::saved saved;
    layer_type::workspace workspace;
    loramoe::tensor<double> y{in.rows(), 4};
    loramoe::tensor<double> dx{in.rows(), 6};

    bound_layer() {
        layer.bind(parameters.all());
        layer.set_base({in.w0.matrix(), in.b0.data()});
    }
};

}  // namespace layer_errors_test

TEST_SUITE("moe") {
    TEST_CASE("loramoe_linear: invalid configurations are value_errors naming the setting") {
        using namespace layer_errors_test;
        using loramoe::index;
        auto config = valid_config();
        config.rank = 0;
        CHECK_THROWS_NAMING(loramoe::value_error, layer_type(config), "LoRA rank", "positive", "0");
        config = valid_config();
        config.experts = 0;
        CHECK_THROWS_NAMING(loramoe::value_error, layer_type(config), "number of experts", "positive");
        config = valid_config();
        config.top_k = 4;
        CHECK_THROWS_NAMING(loramoe::value_error, layer_type(config), "top_k = 4", "[0, 3]");
        config.top_k = -1;
        CHECK_THROWS_NAMING(loramoe::value_error, layer_type(config), "top_k = -1");
        config = valid_config();
        config.dropout = 1.0;
        CHECK_THROWS_NAMING(loramoe::value_error, layer_type(config), "dropout = 1", "[0, 1)");
        config.dropout = -0.1;
        CHECK_THROWS_NAMING(loramoe::value_error, layer_type(config), "dropout = -0.1");
        config.dropout = std::nan("");
        CHECK_THROWS_NAMING(loramoe::value_error, layer_type(config), "dropout");
        config = valid_config();
        config.in_features = 0;
        CHECK_THROWS_NAMING(loramoe::value_error, layer_type(config), "features must be positive",
                            "d_in = 0");
        config = valid_config();
        config.out_features = -2;
        CHECK_THROWS_NAMING(loramoe::value_error, layer_type(config), "d_out = -2");
        config = valid_config();
        config.alpha = INFINITY;
        CHECK_THROWS_NAMING(loramoe::value_error, layer_type(config), "lora_alpha");
        config = valid_config();
        config.router = false;
        CHECK_THROWS_NAMING(loramoe::value_error, layer_type(config), "without a router", "3");
        config.experts = 1;
        CHECK_NOTHROW((layer_type(config)));
    }

    TEST_CASE("loramoe_linear: LBC expert_types of the wrong length are a shape_error") {
        using namespace layer_errors_test;
        using loramoe::index;
        // The static LBC layer checks at construction.
        CHECK_THROWS_NAMING(
            loramoe::shape_error,
            layer_type(valid_config(), moe::balance::lbc{0.1, moe::lbc_statistic::cv2, {0, 1}}),
            "2 expert types", "3 experts");
        // A loss chosen at run time: at construction, or at the latest when the loss is computed.
        const auto in = loramoe::test::layer_inputs<double>(2, 3, 6, 4, 1);
        CHECK_THROWS_NAMING(
            loramoe::shape_error, ([&] {
                moe::loramoe_linear<double, loramoe::cpu, loramoe::dynamic, loramoe::dynamic,
                                    moe::balance::dynamic>
                    layer(valid_config(), moe::balance::lbc{0.1, moe::lbc_statistic::cv2, {0, 1, 1, 0}});
                const auto values =
                    loramoe::test::random_parameter_values<double>(layer.parameter_count(), 1);
                loramoe::test::run_layer(layer, in, values, {}, false, 1.0);
            }()),
            "4 expert types", "3 experts");
    }

    TEST_CASE("loramoe_linear: unbound parameters and a wrongly sized slice") {
        using namespace layer_errors_test;
        using loramoe::index;
        layer_type layer(valid_config());
        const auto in = loramoe::test::layer_inputs<double>(2, 3, 6, 4, 1);
        layer_type::saved saved;
        layer_type::workspace workspace;
        loramoe::tensor<double> y({in.rows(), 4});
        CHECK_THROWS_NAMING(loramoe::error,
                            layer.forward(in.x.matrix(), in.batch(), y.matrix(), saved, workspace),
                            "parameters are not bound", "bind()");
        CHECK_THROWS_NAMING(loramoe::error, layer.reset_parameters(1), "not bound");
        loramoe::parameter_buffer<double> small(layer.parameter_count() - 1);
        CHECK_THROWS_NAMING(loramoe::shape_error, layer.bind(small.all()), "bound to", "parameters, needs");
    }

    TEST_CASE(
        "loramoe_linear: input, output and base of the wrong shape are shape_errors naming the tensor") {
        using namespace layer_errors_test;
        using loramoe::index;
        bound_layer b;
        loramoe::tensor<double> x_wide({b.in.rows(), 7});
        CHECK_THROWS_NAMING(
            loramoe::shape_error,
            b.layer.forward(x_wide.matrix(), b.in.batch(), b.y.matrix(), b.saved, b.workspace),
            "input x has 7 features", "d_in = 6");
        loramoe::tensor<double> y_wrong({b.in.rows(), 5});
        CHECK_THROWS_NAMING(
            loramoe::shape_error,
            b.layer.forward(b.in.x.matrix(), b.in.batch(), y_wrong.matrix(), b.saved, b.workspace),
            "output y", "[6, 5]", "[6, 4]");
        loramoe::tensor<double> w0_wrong({4, 5});
        CHECK_THROWS_NAMING(loramoe::shape_error, b.layer.set_base({w0_wrong.matrix()}), "base weight W0",
                            "[4, 5]", "[4, 6]");
    }

    TEST_CASE("loramoe_linear: a routing batch that does not match the input is a shape_error") {
        using namespace layer_errors_test;
        using loramoe::index;
        bound_layer b;
        auto batch = b.in.batch();
        batch.tokens = 2;  // 2 x 2 = 4 rows for 6
        CHECK_THROWS_NAMING(loramoe::shape_error,
                            b.layer.forward(b.in.x.matrix(), batch, b.y.matrix(), b.saved, b.workspace),
                            "routing batch", "4 rows", "6 rows");
        batch = b.in.batch();
        const std::vector<std::int64_t> three = {0, 1, 1};
        batch.task_types = three;
        CHECK_THROWS_NAMING(loramoe::shape_error,
                            b.layer.forward(b.in.x.matrix(), batch, b.y.matrix(), b.saved, b.workspace),
                            "3 task types", "2 samples");
        batch.task_types = {};  // the LBC needs them
        CHECK_THROWS_NAMING(loramoe::shape_error,
                            b.layer.forward(b.in.x.matrix(), batch, b.y.matrix(), b.saved, b.workspace),
                            "0 task types", "2 samples");
    }

    TEST_CASE("loramoe_linear: backward checks dy, dx and that forward saved this batch") {
        using namespace layer_errors_test;
        using loramoe::index;
        bound_layer b;
        b.layer.forward(b.in.x.matrix(), b.in.batch(), b.y.matrix(), b.saved, b.workspace);
        loramoe::tensor<double> dy_wrong({b.in.rows(), 3});
        CHECK_THROWS_NAMING(loramoe::shape_error,
                            b.layer.backward(b.in.x.matrix(), dy_wrong.matrix(), b.in.batch(), 1.0, b.saved,
                                             b.workspace, b.dx.matrix()),
                            "output gradient dy", "[6, 3]");
        loramoe::tensor<double> dx_wrong({b.in.rows(), 5});
        CHECK_THROWS_NAMING(loramoe::shape_error,
                            b.layer.backward(b.in.x.matrix(), b.in.dy.matrix(), b.in.batch(), 1.0, b.saved,
                                             b.workspace, dx_wrong.matrix()),
                            "input gradient dx", "[6, 5]");
        // Forward saved 6 rows; backward on 4 rows.
        const auto small = loramoe::test::layer_inputs<double>(2, 2, 6, 4, 3);
        loramoe::tensor<double> dx_small({4, 6});
        CHECK_THROWS_NAMING(loramoe::shape_error,
                            b.layer.backward(small.x.matrix(), small.dy.matrix(), small.batch(), 1.0, b.saved,
                                             b.workspace, dx_small.matrix()),
                            "backward called with 4 rows", "forward saved");
    }

}  // TEST_SUITE
