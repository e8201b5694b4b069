// A LLaMA whose frozen matrices are held in bfloat16 (model_options::base_in_bf16): its loss and
// adapter gradients against the float model's, at bfloat16's accuracy and not equal to them (the
// bfloat16 products are the ones used), tied or not; F32 checkpoints rounded to nearest even as they
// load, BF16 ones taken as stored, and a save and load bit for bit; the memory it holds, measured (the
// process's resident bytes): the matrices once, in bfloat16, no float copy; and the refusals.

#include "test_support.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include <unistd.h>

#include <loramoe/loramoe.hpp>

namespace bf16_base_test {

using namespace loramoe;
using loramoe::index;
using model_type = llama::llama_model<float>;

constexpr llama::model_options in_bf16{.base_in_bf16 = true};

llama::llama_config config(bool tied = false) {
    return {.vocab_size = 53,
            .hidden_size = 64,
            .intermediate_size = 96,
            .num_hidden_layers = 2,
            .num_attention_heads = 4,
            .num_key_value_heads = 2,
            .head_dim = 16,
            .tie_word_embeddings = tied};
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

// A float model's base and adapters random (B nonzero, so that every adapter tensor has a gradient).
void randomise(model_type& model, std::uint64_t seed) {
    random_generator rng(seed);
    for (const auto& t : model.layout().tensors()) {
        const bool norm = t.name.find("norm") != std::string::npos;
        for (index i = 0; i < t.size(); ++i)
            model.base().values()[t.offset + i] =
                static_cast<float>(norm ? 1 + 0.1 * rng.uniform(-1, 1) : 0.2 * rng.uniform(-1, 1));
    }
    for (float& v : model.adapters().values().span()) v = static_cast<float>(0.2 * rng.uniform(-1, 1));
}

void copy_adapters(const model_type& from, model_type& to) {
    std::copy_n(from.adapters().values().data(), from.adapters().size(), to.adapters().values().data());
}

struct result {
    double loss;
    std::vector<float> gradients;  // of every adapter tensor
};

result loss_and_gradients(model_type& model) {
    model_type::saved saved;
    model_type::workspace workspace;
    model.adapters().zero_grad();
    const double loss = model.forward(batch(), saved, workspace, false).loss;
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

std::uint16_t bits(bfloat16 x) {
    return Eigen::numext::bit_cast<std::uint16_t>(x);
}

// The process's resident memory in bytes (/proc/self/statm).
double resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    double size = 0, resident = 0;
    statm >> size >> resident;
    return resident * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

TEST_CASE("a base held in bfloat16: the float model's loss and adapter gradients to bfloat16 accuracy") {
    for (bool tied : {false, true}) {
        CAPTURE(tied);
        test::temporary_directory folder;
        model_type exact_model(config(tied), adapters());
        randomise(exact_model, 5);
        io::save_hf_checkpoint(folder.path(), exact_model);
        const result exact = loss_and_gradients(exact_model);

        model_type model(config(tied), adapters(), in_bf16);
        io::load_base_weights(folder.path(), model);
        copy_adapters(exact_model, model);
        const result rounded = loss_and_gradients(model);
        const double loss_error = std::abs(rounded.loss - exact.loss) / std::abs(exact.loss);
        CAPTURE(exact.loss);
        CAPTURE(rounded.loss);
        CHECK(rounded.loss != exact.loss);  // the bfloat16 products are the ones used
        const double gradient_error = relative_difference(rounded.gradients, exact.gradients);
        MESSAGE("base in bfloat16 against float", std::string(tied ? " (tied)" : ""), ": loss ", loss_error,
                ", adapter gradients ", gradient_error, " relative");
        CHECK(gradient_error > 0);
        // Measured 1.2e-3 and 2.1e-2 untied, 8.7e-5 and 2.3e-2 tied: every product rounds its operands
        // to 8 bits, forward and back through both layers, and the embedding is rounded too; the
        // gradients of this random model are differences of nearly uniform probabilities.
        CHECK(loss_error <= 2e-3);
        CHECK(gradient_error <= 4e-2);
    }
}

TEST_CASE("a base held in bfloat16 loads F32 rounded to nearest even, and saves and loads BF16 as stored") {
    test::temporary_directory f32, bf16;
    model_type source(config(), adapters());
    randomise(source, 11);
    io::save_hf_checkpoint(f32.path(), source);

    model_type model(config(), adapters(), in_bf16);
    io::load_base_weights(f32.path(), model);
    CHECK(model.layout().total() == 2 * 2 * 64 + 64);  // the norms alone stay in float
    CHECK(model.bf16_layout().total() + model.layout().total() == source.layout().total());
    index mismatches = 0;
    for (const named_tensor& t : source.layout().tensors()) {
        const float* want = source.base().values().data() + t.offset;
        if (const named_tensor* held = model.bf16_layout().find(t.name)) {
            for (index i = 0; i < t.size(); ++i)
                mismatches += bits(model.bf16_base()[held->offset + i]) != bfloat16_bits(want[i]);
        } else {
            const float* got = model.base().values().data() + model.layout().at(t.name).offset;
            mismatches += !std::equal(got, got + t.size(), want);
        }
    }
    CHECK(mismatches == 0);

    io::save_hf_checkpoint(bf16.path(), model);
    const io::safetensors_reader file(bf16.path() / "model.safetensors");
    CHECK(file.entry("model.layers.0.mlp.up_proj.weight").type == io::dtype::bf16);
    CHECK(file.entry("model.norm.weight").type == io::dtype::f32);
    CHECK(io::read_llama_config(bf16.path()).torch_dtype == "bfloat16");
    model_type again(config(), adapters(), in_bf16);
    io::load_base_weights(bf16.path(), again);
    CHECK(std::memcmp(again.bf16_base().data(), model.bf16_base().data(), 2 * model.bf16_base().size()) == 0);
    CHECK(std::equal(again.base().values().span().begin(), again.base().values().span().end(),
                     model.base().values().span().begin()));
    copy_adapters(source, model);
    copy_adapters(source, again);
    CHECK(loss_and_gradients(again).loss == loss_and_gradients(model).loss);
}

TEST_CASE("a base held in bfloat16 holds its matrices once, in bfloat16: the resident bytes, measured") {
    // 17.7 million matrix elements (71 MB in float): large enough to stand out of the process's noise.
    const llama::llama_config c{.vocab_size = 4000,
                                .hidden_size = 512,
                                .intermediate_size = 1536,
                                .num_hidden_layers = 4,
                                .num_attention_heads = 8,
                                .num_key_value_heads = 8,
                                .head_dim = 64};
    const double elements =
        static_cast<double>(llama::llama_weight_layout(c, llama::weight_kind::matrices).total());
    test::temporary_directory folder;
    {
        model_type source(c);
        random_generator rng(3);
        for (float& v : source.base().values().span()) v = static_cast<float>(0.02 * rng.normal());
        io::save_hf_checkpoint(folder.path(), source);
    }
    auto held_after_loading = [&](llama::model_options options) {
        const double before = resident_bytes();
        model_type model(c, adapters(), options);
        io::load_base_weights(folder.path(), model);  // the F32 file mapped, tensor by tensor, released
        return resident_bytes() - before;
    };
    const double in_float = held_after_loading({}), in_bfloat16 = held_after_loading(in_bf16);
    MESSAGE("resident bytes per matrix element after loading: float ", in_float / elements, ", bfloat16 ",
            in_bfloat16 / elements);
    CHECK(in_float >= 3.9 * elements);     // the measurement sees a model
    CHECK(in_bfloat16 >= 1.9 * elements);  // the matrices, once
    CHECK(in_bfloat16 <= 2.3 * elements);  // and nothing in float beside them
}

TEST_CASE("a base held in bfloat16: a trained base and double are refused") {
    CHECK_THROWS_NAMING(
        value_error,
        model_type(config(), std::nullopt, llama::model_options{.train_base = true, .base_in_bf16 = true}),
        "train_base", "frozen");
    CHECK_THROWS_NAMING(value_error, llama::llama_model<double>(config(), adapters(), in_bf16), "bfloat16",
                        "double");
}

}  // namespace bf16_base_test
