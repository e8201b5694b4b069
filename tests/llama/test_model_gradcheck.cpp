// gradcheck of the whole LLaMA model, in double: every base weight in full fine-tuning mode, every
// adapter tensor in LoRAMoE mode (linears and ffn placements), with GQA, tied and untied embeddings,
// attention biases, and left- and right-padded samples; the Qwen2 and Mistral variants (biases on q, k,
// v; a sliding window) with Llama 3's scaled RoPE.

#include <doctest/doctest.h>

#include <loramoe/loramoe.hpp>

namespace {

using namespace loramoe;
using model_type = llama::llama_model<double>;

llama::llama_config tiny_config(bool tied, bool bias) {
    llama::llama_config c;
    c.vocab_size = 11;
    c.hidden_size = 8;
    c.intermediate_size = 12;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 2;
    c.num_key_value_heads = 1;
    c.head_dim = 4;
    c.rms_norm_eps = 1e-5;
    c.rope_theta = 10000;
    c.tie_word_embeddings = tied;
    c.attention_bias = bias;
    c.mlp_bias = bias;
    return c;
}

// Two samples of 5 tokens: the first left-padded, the second right-padded; prompts not counted.
llama::token_batch tiny_batch() {
    llama::token_batch b;
    b.samples = 2;
    b.tokens = 5;
    b.input_ids = {0, 3, 7, 1, 9, 4, 10, 2, 0, 0};
    b.attention_mask = {0, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    b.labels = {-100, -100, 7, 1, 9, -100, 10, 2, -100, -100};
    b.task_types = {1, 0};
    return b;
}

void randomise(std::span<double> values, std::uint64_t seed, double scale, double offset = 0) {
    random_generator rng(seed);
    for (double& v : values) v = offset + scale * rng.uniform(-1, 1);
}

void randomise_base(model_type& model, std::uint64_t seed) {
    for (const auto& t : model.layout().tensors()) {
        std::span<double> values(model.base().values().data() + t.offset, static_cast<std::size_t>(t.size()));
        const bool norm = t.name.find("norm") != std::string::npos;
        randomise(values, seed + t.offset, norm ? 0.2 : 0.6, norm ? 1.0 : 0.0);
    }
}

check::gradcheck_report check_model(model_type& model, const llama::token_batch& batch,
                                    std::vector<check::gradcheck_tensor> tensors) {
    typename model_type::saved saved;
    typename model_type::workspace workspace;
    auto loss = [&] { return model.forward(batch, saved, workspace).loss; };
    auto gradients = [&] {
        model.base().zero_grad();
        model.adapters().zero_grad();
        model.forward(batch, saved, workspace);
        model.backward(saved, workspace);
    };
    check::gradcheck_options options;
    options.step = 1e-5;
    options.absolute_tolerance = 1e-8;
    options.relative_tolerance = 1e-5;
    return check::gradcheck(loss, gradients, tensors, options);
}

std::vector<check::gradcheck_tensor> base_tensors(model_type& model) {
    std::vector<check::gradcheck_tensor> tensors;
    for (const auto& t : model.layout().tensors()) {
        const auto n = static_cast<std::size_t>(t.size());
        tensors.push_back({t.name,
                           {model.base().values().data() + t.offset, n},
                           {model.base().grads().data() + t.offset, n}});
    }
    return tensors;
}

std::vector<check::gradcheck_tensor> adapter_tensors(model_type& model) {
    const auto n = static_cast<std::size_t>(model.adapters().size());
    return {{"adapters", {model.adapters().values().data(), n}, {model.adapters().grads().data(), n}}};
}

}  // namespace

TEST_SUITE("gradcheck") {
    TEST_CASE("gradcheck: full fine-tuning reaches every base weight") {
        for (bool tied : {false, true}) {
            CAPTURE(tied);
            model_type model(tiny_config(tied, tied), std::nullopt, {.train_base = true});
            randomise_base(model, 1);
            const auto report = check_model(model, tiny_batch(), base_tensors(model));
            INFO(report.table());
            CHECK(report.passed());
        }
    }

    TEST_CASE("gradcheck: LoRAMoE adapters on every linear, LBC with padding masked and counted") {
        for (bool counts_padding : {false, true}) {
            CAPTURE(counts_padding);
            moe::adapter_config adapter;
            adapter.experts = 3;
            adapter.rank = 2;
            adapter.alpha = 4;
            adapter.lbc_delta = 0.1;
            adapter.lbc_weight = 0.5;
            adapter.lbc_counts_padding = counts_padding;
            adapter.target_modules = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                      "gate_proj", "up_proj", "down_proj"};
            model_type model(tiny_config(false, false), adapter);
            randomise_base(model, 2);
            randomise({model.adapters().values().data(), static_cast<std::size_t>(model.adapters().size())},
                      3, 0.5);
            const auto report = check_model(model, tiny_batch(), adapter_tensors(model));
            INFO(report.table());
            CHECK(report.passed());
        }
    }

    TEST_CASE("gradcheck: Qwen2's q/k/v biases, Mistral's sliding window, Llama 3's RoPE scaling") {
        for (auto family : {llama::model_family::qwen2, llama::model_family::mistral}) {
            CAPTURE(static_cast<int>(family));
            auto c = tiny_config(family == llama::model_family::qwen2, false);
            c.family = family;
            if (family == llama::model_family::mistral) c.sliding_window = 2;
            c.rope_scaling = {
                .type = nn::rope_scaling::kind::llama3, .factor = 4, .original_max_position_embeddings = 64};
            c.rope_theta = 100;
            model_type model(c, std::nullopt, {.train_base = true});
            const bool k_bias = model.layout().find("model.layers.0.self_attn.k_proj.bias") != nullptr;
            CHECK(k_bias == (family == llama::model_family::qwen2));
            CHECK(model.layout().find("model.layers.0.self_attn.o_proj.bias") == nullptr);
            randomise_base(model, 6);
            const auto report = check_model(model, tiny_batch(), base_tensors(model));
            INFO(report.table());
            CHECK(report.passed());
        }
    }

    TEST_CASE("gradcheck: one set of experts beside each FFN block (the paper's figure)") {
        moe::adapter_config adapter;
        adapter.experts = 4;
        adapter.rank = 2;
        adapter.placement = moe::adapter_placement::ffn;
        adapter.statistic = moe::lbc_statistic::var_over_mean;
        adapter.lbc_weight = 1.0;
        model_type model(tiny_config(true, false), adapter);
        randomise_base(model, 4);
        randomise({model.adapters().values().data(), static_cast<std::size_t>(model.adapters().size())}, 5,
                  0.5);
        const auto report = check_model(model, tiny_batch(), adapter_tensors(model));
        INFO(report.table());
        CHECK(report.passed());
    }

}  // TEST_SUITE
