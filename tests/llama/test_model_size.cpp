// A config whose model cannot fit is refused before anything is allocated, with the bytes it needs:
// a vocabulary of 1e12, a million layers, sizes whose products overflow 64 bits; count_weights counts
// exactly the weights of llama_weight_layout; an adapter whose r or lora_nums cannot fit is refused too,
// and count_adapter_parameters counts exactly the adapters a model builds.

#include "test_support.hpp"

#include <loramoe/llama/model.hpp>

namespace model_size_test {

loramoe::llama::llama_config small() {
    loramoe::llama::llama_config c;
    c.vocab_size = 50;
    c.hidden_size = 16;
    c.intermediate_size = 40;
    c.num_hidden_layers = 3;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 4;
    return c;
}

}  // namespace model_size_test

TEST_SUITE("llama") {
    TEST_CASE("count_weights counts the weights of llama_weight_layout, biases and tied heads included") {
        using namespace model_size_test;
        namespace llama = loramoe::llama;
        for (int variant = 0; variant < 4; ++variant) {
            CAPTURE(variant);
            auto c = small();
            c.tie_word_embeddings = variant == 1;
            c.attention_bias = variant == 2;
            c.mlp_bias = variant == 2;
            if (variant == 3) c.family = llama::model_family::qwen2;
            const auto n = llama::count_weights(c);
            CHECK(static_cast<loramoe::index>(n.matrices) ==
                  llama::llama_weight_layout(c, llama::weight_kind::matrices).total());
            CHECK(static_cast<loramoe::index>(n.vectors) ==
                  llama::llama_weight_layout(c, llama::weight_kind::vectors).total());
        }
    }

    TEST_CASE("a config whose model cannot fit is refused before allocating, with the bytes it needs") {
        using namespace model_size_test;
        namespace llama = loramoe::llama;
        auto vocabulary = small();
        vocabulary.vocab_size = 1'000'000'000'000;
        CHECK_THROWS_WITH_AS(llama::llama_model<float>{vocabulary},
                             doctest::Contains("config.json: the model's base weights need 1.28e+14 bytes"),
                             loramoe::value_error);
        auto layers = small();
        layers.num_hidden_layers = 1'000'000'000;
        CHECK_THROWS_WITH_AS(llama::llama_model<float>{layers},
                             doctest::Contains("num_hidden_layers (1000000000)"), loramoe::value_error);
        auto overflowing = small();  // V * D = 2^80: past 64 bits
        overflowing.vocab_size = loramoe::index{1} << 40;
        overflowing.hidden_size = loramoe::index{1} << 40;
        CHECK_THROWS_WITH_AS(llama::llama_model<double>{overflowing}, doctest::Contains("more than the"),
                             loramoe::value_error);
        // With train_base the gradients count too: twice the bytes.
        CHECK_THROWS_WITH_AS((llama::llama_model<float>{vocabulary, std::nullopt, {.train_base = true}}),
                             doctest::Contains("base weights and their gradients need 2.56e+14 bytes"),
                             loramoe::value_error);
        CHECK_NOTHROW(llama::llama_model<float>{small()});
    }

    TEST_CASE(
        "count_adapter_parameters counts the adapters a model builds; a huge r or lora_nums is refused "
        "first") {
        using namespace model_size_test;
        namespace llama = loramoe::llama;
        for (int variant = 0; variant < 4; ++variant) {
            CAPTURE(variant);
            loramoe::moe::adapter_config a;
            a.experts = 3;
            a.rank = 2;
            if (variant == 1) a.target_modules = {"q_proj", "o_proj", "down_proj"};
            if (variant == 2) a.target_regex = R"(model\.layers\.[02]\.(self_attn\.v|mlp\.up)_proj)";
            if (variant == 3) a.placement = loramoe::moe::adapter_placement::ffn;
            const llama::llama_model<float> model(small(), a);
            CHECK(static_cast<loramoe::index>(llama::count_adapter_parameters(small(), a)) ==
                  model.adapters().size());
        }
        loramoe::moe::adapter_config experts;
        experts.experts = 1'000'000'000;
        CHECK_THROWS_WITH_AS((llama::llama_model<float>{small(), experts}),
                             doctest::Contains("check r (4) and lora_nums (1000000000)"),
                             loramoe::value_error);
        loramoe::moe::adapter_config rank;
        rank.rank = loramoe::index{1} << 60;
        CHECK_THROWS_WITH_AS((llama::llama_model<double>{small(), rank}),
                             doctest::Contains("adapter_config.json: the adapters and their gradients need"),
                             loramoe::value_error);
    }
}
