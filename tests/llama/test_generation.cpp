// Greedy generation with a KV cache against the full forward: each generated token must be the argmax
// of the full model's logits at the last position of the sequence so far.

#include <algorithm>
#include <utility>

#include <doctest/doctest.h>

#include <loramoe/loramoe.hpp>

namespace {

using namespace loramoe;

template <class T>
void randomise_model(llama::llama_model<T>& model, std::uint64_t seed) {
    random_generator rng(seed);
    for (const auto& t : model.layout().tensors()) {
        const bool norm = t.name.find("norm") != std::string::npos;
        for (loramoe::index i = 0; i < t.size(); ++i)
            model.base().values()[t.offset + i] =
                static_cast<T>(norm ? 1 + 0.1 * rng.normal() : rng.normal() * 0.5);
    }
    for (T& v : model.adapters().values().span()) v = static_cast<T>(0.3 * rng.normal());
}

// The argmax of the full forward's logits at the last token of `ids`.
template <class T>
std::int64_t full_forward_argmax(llama::llama_model<T>& model, const std::vector<std::int64_t>& ids) {
    llama::token_batch batch;
    batch.samples = 1;
    batch.tokens = static_cast<loramoe::index>(ids.size());
    batch.input_ids = ids;
    batch.attention_mask.assign(ids.size(), 1);
    batch.labels.assign(ids.size(), -100);
    batch.task_types = {0};
    typename llama::llama_model<T>::saved saved;
    typename llama::llama_model<T>::workspace workspace;
    model.forward(batch, saved, workspace);
    const T* last = saved.logits.data() + (batch.tokens - 1) * model.config().vocab_size;
    return std::max_element(last, last + model.config().vocab_size) - last;
}

}  // namespace

TEST_SUITE("llama") {
    TEST_CASE_TEMPLATE("generate with a KV cache matches the full forward, token by token", T, float,
                       double) {
        llama::llama_config c;
        c.vocab_size = 23;
        c.hidden_size = 12;
        c.intermediate_size = 20;
        c.num_hidden_layers = 3;
        c.num_attention_heads = 3;
        c.num_key_value_heads = 1;
        c.head_dim = 4;
        moe::adapter_config adapter;
        adapter.experts = 3;
        adapter.rank = 2;
        adapter.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "down_proj"};
        // A sliding window of 4 keys (Mistral), shorter than the 14 tokens, and scaled RoPE (Llama 3).
        for (const auto& variant : {std::pair{moe::adapter_placement::linears, 0},
                                    {moe::adapter_placement::ffn, 0},
                                    {moe::adapter_placement::linears, 4}}) {
            const auto [placement, window] = variant;
            CAPTURE(variant.second);
            adapter.placement = placement;
            c.family = window ? llama::model_family::mistral : llama::model_family::llama;
            c.sliding_window = window;
            if (window) c.rope_scaling = {.type = nn::rope_scaling::kind::linear, .factor = 3};
            llama::llama_model<T> model(c, adapter);
            randomise_model(model, 5);
            const std::vector<std::int64_t> prompt = {3, 14, 7, 7, 22};
            const auto generated = model.generate(prompt, 9, {});
            REQUIRE(generated.size() == 9);
            std::vector<std::int64_t> sequence = prompt;
            for (std::int64_t token : generated) {
                CHECK(token == full_forward_argmax(model, sequence));
                sequence.push_back(token);
            }
            // Stopping at a stop token.
            const std::vector<std::int64_t> stop = {generated[2]};
            const auto stopped = model.generate(prompt, 9, stop);
            CHECK(stopped.size() ==
                  static_cast<std::size_t>(std::find(generated.begin(), generated.end(), generated[2]) -
                                           generated.begin() + 1));
        }
    }

    TEST_CASE("generate rejects an empty prompt and tokens outside the vocabulary") {
        llama::llama_config c;
        c.vocab_size = 5;
        c.hidden_size = 4;
        c.intermediate_size = 4;
        c.num_hidden_layers = 1;
        c.num_attention_heads = 1;
        c.num_key_value_heads = 1;
        c.head_dim = 4;
        llama::llama_model<float> model(c);
        CHECK_THROWS_WITH_AS(model.generate({}, 3, {}), "generate: the prompt is empty", value_error);
        const std::vector<std::int64_t> bad = {1, 5};
        CHECK_THROWS_WITH_AS(model.generate(bad, 3, {}),
                             "generate: prompt token 5 is outside the vocabulary [0, 5)", value_error);
    }

}  // TEST_SUITE
