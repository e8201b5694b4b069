// A LLaMA whose frozen base runs its products in bfloat16 (llama_model::hold_frozen_weights_in_bf16):
// its loss and adapter gradients against the same model's float ones, at bfloat16's accuracy and not
// equal to them (the bfloat16 products are the ones used); float again, exactly, once released; the
// copies made again when load_base_weights replaces the weights; and the refusals (a trained base, an
// input gradient from copies packed for the forward only).

#include "test_support.hpp"

#include <cmath>
#include <vector>

#include <loramoe/loramoe.hpp>

namespace bf16_frozen_weights_test {

using namespace loramoe;
using loramoe::index;
using model_type = llama::llama_model<float>;

llama::llama_config config() {
    llama::llama_config c;
    c.vocab_size = 53;
    c.hidden_size = 64;
    c.intermediate_size = 96;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 16;
    c.tie_word_embeddings = false;
    return c;
}

moe::adapter_config adapters() {
    moe::adapter_config a;
    a.experts = 4;
    a.rank = 4;
    a.target_modules = {"q_proj", "v_proj", "gate_proj", "up_proj", "down_proj"};
    return a;
}

// Two samples of 12 tokens, the second right-padded; every other label counted.
llama::token_batch batch() {
    llama::token_batch b;
    b.samples = 2;
    b.tokens = 12;
    for (index i = 0; i < b.samples * b.tokens; ++i) {
        b.input_ids.push_back((7 * i + 3) % 53);
        b.attention_mask.push_back(i < 20 ? 1 : 0);
        b.labels.push_back(i % 2 == 0 && i < 20 ? (7 * i + 3) % 53 : -100);
    }
    b.task_types = {1, 0};
    return b;
}

// Base and adapters random (B nonzero, so that every adapter tensor has a gradient).
void randomise(model_type& model, std::uint64_t seed) {
    random_generator rng(seed);
    for (const auto& t : model.layout().tensors()) {
        const bool norm = t.name.find("norm") != std::string::npos;
        for (index i = 0; i < t.size(); ++i)
            model.base().values().data()[t.offset + i] =
                static_cast<float>(norm ? 1 + 0.1 * rng.uniform(-1, 1) : 0.2 * rng.uniform(-1, 1));
    }
    for (float& v : model.adapters().values().span()) v = static_cast<float>(0.2 * rng.uniform(-1, 1));
}

struct result {
    double loss;
    std::vector<float> gradients;  // of every adapter tensor
};

result loss_and_gradients(model_type& model) {
    model_type::saved saved;
    model_type::workspace workspace;
    const llama::token_batch b = batch();
    model.adapters().zero_grad();
    const double loss = model.forward(b, saved, workspace, false).loss;
    model.backward(saved, workspace);
    const auto g = model.adapters().grads().span();
    return {loss, std::vector<float>(g.begin(), g.end())};
}

double relative_difference(const std::vector<float>& got, const std::vector<float>& want) {
    double difference = 0, norm = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        difference += std::pow(double(got[i]) - double(want[i]), 2);
        norm += std::pow(double(want[i]), 2);
    }
    return std::sqrt(difference / norm);
}

TEST_CASE("bfloat16 frozen weights: the float model's loss and adapter gradients to bfloat16 accuracy") {
    model_type model(config(), adapters());
    randomise(model, 5);
    const result exact = loss_and_gradients(model);
    CHECK_FALSE(model.frozen_bf16_layouts().has_value());

    model.hold_frozen_weights_in_bf16();
    CHECK(model.frozen_bf16_layouts() == bf16_layouts::forward_and_input_gradient);
    const result rounded = loss_and_gradients(model);
    const double loss_error = std::abs(rounded.loss - exact.loss) / std::abs(exact.loss);
    CAPTURE(exact.loss);
    CAPTURE(rounded.loss);
    CHECK(rounded.loss != exact.loss);  // the bfloat16 products are the ones used
    const double gradient_error = relative_difference(rounded.gradients, exact.gradients);
    MESSAGE("bfloat16 frozen weights against float: loss ", loss_error, ", adapter gradients ",
            gradient_error, " relative");
    CHECK(gradient_error > 0);
    // Measured 7.3e-4 and 2.0e-2: every product rounds its operands to 8 bits, forward and back through
    // both layers; the gradients of this random model are differences of nearly uniform probabilities.
    CHECK(loss_error <= 2e-3);
    CHECK(gradient_error <= 4e-2);

    // Released: the float products, bit for bit.
    model.release_frozen_bf16();
    CHECK_FALSE(model.frozen_bf16_layouts().has_value());
    const result again = loss_and_gradients(model);
    CHECK(again.loss == exact.loss);
    CHECK(again.gradients == exact.gradients);
}

TEST_CASE("bfloat16 frozen weights are made again from the weights load_base_weights reads") {
    test::temporary_directory folder;
    model_type source(config(), adapters());
    randomise(source, 11);
    io::save_hf_checkpoint(folder.path(), source);

    model_type model(config(), adapters());
    randomise(model, 12);  // other base weights, then the same adapters as `source`
    std::copy_n(source.adapters().values().data(), source.adapters().size(),
                model.adapters().values().data());
    model.hold_frozen_weights_in_bf16(bf16_layouts::forward);
    model_type::saved saved;
    model_type::workspace workspace;
    const double before = model.forward(batch(), saved, workspace).loss;

    io::load_base_weights(folder.path(), model);
    CHECK(model.frozen_bf16_layouts() == bf16_layouts::forward);
    source.hold_frozen_weights_in_bf16(bf16_layouts::forward);
    model_type::saved source_saved;
    model_type::workspace source_workspace;
    const double want = source.forward(batch(), source_saved, source_workspace).loss;
    const double got = model.forward(batch(), saved, workspace).loss;
    CHECK(before != want);
    CHECK(got == want);
}

TEST_CASE("bfloat16 frozen weights: a trained base and a forward-only copy's input gradient are refused") {
    model_type full(config(), std::nullopt, llama::model_options{.train_base = true});
    CHECK_THROWS_NAMING(value_error, full.hold_frozen_weights_in_bf16(), "train_base", "float");

    model_type model(config(), adapters());
    randomise(model, 3);
    model.hold_frozen_weights_in_bf16(bf16_layouts::forward);
    model_type::saved saved;
    model_type::workspace workspace;
    model.forward(batch(), saved, workspace);
    CHECK_THROWS_NAMING(value_error, model.backward(saved, workspace), "forward product only",
                        "forward_and_input_gradient");
}

}  // namespace bf16_frozen_weights_test
