// config.json and adapter_config.json (io/llama_config_json.hpp, io/adapter_config_json.hpp): the
// defaults of absent and null keys, the keys that are required, the forms a key may take (eos_token_id
// an integer or a list, target_modules a list or a regular expression), the official key names when
// written, and errors in the one wording of io/json_fields.hpp naming the file and the key.

#include "test_support.hpp"

#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/io/adapter_config_json.hpp>
#include <loramoe/io/llama_config_json.hpp>
#include <loramoe/llama/weights.hpp>
#include <loramoe/nn/rope_frequencies.hpp>

namespace test_config_json {
using nlohmann::json;

json minimal_llama() {
    return json::parse(R"({"vocab_size": 32, "hidden_size": 16, "intermediate_size": 24,
                           "num_hidden_layers": 2, "num_attention_heads": 4})");
}

json official_adapter() {
    return json::parse(R"({"r": 4, "lora_alpha": 32, "lora_nums": 6, "blc_alpha": 0.1, "blc_weight": 0.2,
                           "target_modules": ["gate_proj", "up_proj", "down_proj"], "lora_dropout": 0.05})");
}
}  // namespace test_config_json

TEST_SUITE("io") {
    TEST_CASE("config.json: absent and null optional keys take LlamaConfig's defaults") {
        using namespace test_config_json;
        json j = minimal_llama();
        for (const bool nulls : {false, true}) {
            CAPTURE(nulls);
            if (nulls)
                for (const char* key :
                     {"num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta", "tie_word_embeddings",
                      "attention_bias", "mlp_bias", "max_position_embeddings", "bos_token_id", "pad_token_id",
                      "eos_token_id", "hidden_act", "rope_scaling", "torch_dtype"})
                    j[key] = nullptr;
            const auto c = loramoe::io::parse_llama_config(j, "config.json");
            CHECK(c.num_key_value_heads == 4);
            CHECK(c.head_dim == 4);
            CHECK(c.rms_norm_eps == 1e-6);
            CHECK(c.rope_theta == 10000.0);
            CHECK_FALSE(c.tie_word_embeddings);
            CHECK_FALSE(c.attention_bias);
            CHECK_FALSE(c.mlp_bias);
            CHECK(c.max_position_embeddings == 2048);
            CHECK_FALSE(c.bos_token_id.has_value());
            CHECK_FALSE(c.pad_token_id.has_value());
            CHECK(c.eos_token_ids.empty());
            CHECK(c.torch_dtype == "float32");
        }
    }

    TEST_CASE("config.json: eos_token_id is an integer or a list of integers; round trip") {
        using namespace test_config_json;
        json j = minimal_llama();
        j["eos_token_id"] = 2;
        CHECK(loramoe::io::parse_llama_config(j, "config.json").eos_token_ids ==
              std::vector<std::int64_t>{2});
        j["eos_token_id"] = {2, 7};
        auto c = loramoe::io::parse_llama_config(j, "config.json");
        CHECK(c.eos_token_ids == std::vector<std::int64_t>{2, 7});
        j["eos_token_id"] = "2";
        CHECK_THROWS_WITH_AS(
            loramoe::io::parse_llama_config(j, "m/config.json"),
            "m/config.json: 'eos_token_id' is \"2\", expected a signed 64-bit integer or a list of "
            "signed 64-bit integers",
            loramoe::format_error);

        c.num_key_value_heads = 2;
        c.bos_token_id = 1;
        c.tie_word_embeddings = true;
        c.torch_dtype = "bfloat16";
        const json written = loramoe::io::to_json(c);
        CHECK(written["eos_token_id"] == json({2, 7}));
        CHECK(written["hidden_act"] == "silu");
        CHECK(written["model_type"] == "llama");
        CHECK(loramoe::io::to_json(loramoe::io::parse_llama_config(written, "config.json")) == written);
    }

    TEST_CASE("config.json: required keys, types and unsupported values name the file and the key") {
        using namespace test_config_json;
        json j = minimal_llama();
        j.erase("intermediate_size");
        CHECK_THROWS_WITH_AS(
            loramoe::io::parse_llama_config(j, "m/config.json"),
            "m/config.json: 'intermediate_size' is missing, expected a signed 64-bit integer",
            loramoe::format_error);
        j = minimal_llama();
        j["hidden_size"] = 16.0;
        CHECK_THROWS_WITH_AS(loramoe::io::parse_llama_config(j, "m/config.json"),
                             "m/config.json: 'hidden_size' is 16.0, expected a signed 64-bit integer",
                             loramoe::format_error);
        j = minimal_llama();
        j["tie_word_embeddings"] = 1;
        CHECK_THROWS_WITH_AS(loramoe::io::parse_llama_config(j, "m/config.json"),
                             "m/config.json: 'tie_word_embeddings' is 1, expected true or false",
                             loramoe::format_error);
        j = minimal_llama();
        j["hidden_act"] = "gelu";
        CHECK_THROWS_WITH_AS(loramoe::io::parse_llama_config(j, "m/config.json"),
                             "m/config.json: 'hidden_act' is \"gelu\", expected \"silu\"",
                             loramoe::value_error);
        j = minimal_llama();
        j["model_type"] = "gemma";
        CHECK_THROWS_WITH_AS(loramoe::io::parse_llama_config(j, "m/config.json"),
                             "m/config.json: 'model_type' is \"gemma\", expected one of \"llama\", "
                             "\"mistral\", \"qwen2\"",
                             loramoe::value_error);
        // Values are then checked by llama_config::validate.
        j = minimal_llama();
        j["num_attention_heads"] = 5;
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::io::parse_llama_config(j, "m/config.json"),
                            "m/config.json", "num_attention_heads = 5", "hidden_size = 16");
    }

    TEST_CASE(
        "config.json: rope_scaling llama3 and linear (rope_type or type); other types refused by name") {
        using namespace test_config_json;
        using kind = loramoe::nn::rope_scaling::kind;
        json j = minimal_llama();
        j["rope_scaling"] = {{"rope_type", "llama3"},
                             {"factor", 8.0},
                             {"low_freq_factor", 1.0},
                             {"high_freq_factor", 4.0},
                             {"original_max_position_embeddings", 8192}};
        auto c = loramoe::io::parse_llama_config(j, "config.json");
        CHECK(c.rope_scaling.type == kind::llama3);
        CHECK(c.rope_scaling.factor == 8.0);
        CHECK(c.rope_scaling.original_max_position_embeddings == 8192);
        CHECK(loramoe::io::to_json(c)["rope_scaling"] == j["rope_scaling"]);
        j["rope_scaling"].erase("low_freq_factor");
        CHECK_THROWS_WITH_AS(loramoe::io::parse_llama_config(j, "m/config.json"),
                             "m/config.json: 'rope_scaling': 'low_freq_factor' is missing, expected a number",
                             loramoe::format_error);
        j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
        c = loramoe::io::parse_llama_config(j, "config.json");
        CHECK(c.rope_scaling.type == kind::linear);
        CHECK(c.rope_scaling.factor == 2.0);
        j["rope_scaling"] = {{"rope_type", "default"}};
        CHECK(loramoe::io::parse_llama_config(j, "config.json").rope_scaling.type == kind::none);
        j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
        CHECK_THROWS_WITH_AS(loramoe::io::parse_llama_config(j, "m/config.json"),
                             "m/config.json: 'rope_scaling': RoPE scaling of type \"yarn\" is not supported: "
                             "loramoe computes \"default\", \"linear\" and \"llama3\"",
                             loramoe::value_error);
        j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", -1.0}};
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::io::parse_llama_config(j, "m/config.json"),
                            "m/config.json", "factor");
    }

    TEST_CASE("rope_frequencies: llama3 keeps, interpolates and stretches by wavelength; linear divides") {
        using kind = loramoe::nn::rope_scaling::kind;
        // theta 100, Dh 8: w = 1, 0.1^(1/2)... wavelengths 6.28, 19.9, 62.8, 199 against 64/4 and 64/1.
        const auto w = loramoe::nn::rope_frequencies(8, 100.0);
        REQUIRE(w.size() == 4);
        CHECK(w[1] == doctest::Approx(std::pow(100.0, -0.25)).epsilon(1e-15));
        const auto linear = loramoe::nn::rope_frequencies(8, 100.0, {.type = kind::linear, .factor = 2});
        for (std::size_t i = 0; i < 4; ++i) CHECK(linear[i] == w[i] / 2);
        const auto llama3 = loramoe::nn::rope_frequencies(
            8, 100.0, {.type = kind::llama3, .factor = 8, .original_max_position_embeddings = 64});
        CHECK(llama3[0] == w[0]);         // 6.28 < 16: kept
        CHECK(llama3[3] == w[3] / 8);     // 199 > 64: stretched
        for (std::size_t i : {1u, 2u}) {  // in between: s = (64 / wavelength - 1) / 3
            const double s = (64 / (2 * std::numbers::pi / w[i]) - 1) / 3;
            CHECK(llama3[i] == doctest::Approx((1 - s) * w[i] / 8 + s * w[i]).epsilon(1e-15));
        }
    }

    TEST_CASE("config.json: the mistral and qwen2 model types, their windows and biases; round trip") {
        using namespace test_config_json;
        using loramoe::llama::block_linear;
        using loramoe::llama::model_family;
        json j = minimal_llama();
        j["model_type"] = "mistral";
        j["num_attention_heads"] = 8;
        auto c = loramoe::io::parse_llama_config(j, "config.json");
        CHECK(c.family == model_family::mistral);
        CHECK(c.sliding_window == 4096);    // MistralConfig's default when absent
        CHECK(c.num_key_value_heads == 8);  // and its kv heads
        j["sliding_window"] = nullptr;
        j["num_key_value_heads"] = 2;
        j["attention_bias"] = true;  // not read: Mistral has no biases
        c = loramoe::io::parse_llama_config(j, "config.json");
        CHECK(c.sliding_window == 0);
        CHECK_FALSE(loramoe::llama::has_bias(c, block_linear::q));
        j["sliding_window"] = 3;
        c = loramoe::io::parse_llama_config(j, "config.json");
        CHECK(c.sliding_window == 3);
        auto written = loramoe::io::to_json(c);
        CHECK(written["architectures"] == json({"MistralForCausalLM"}));
        CHECK(loramoe::io::to_json(loramoe::io::parse_llama_config(written, "config.json")) == written);

        j = minimal_llama();
        j["model_type"] = "qwen2";
        j["num_key_value_heads"] = 2;
        j["sliding_window"] = 6;
        c = loramoe::io::parse_llama_config(j, "config.json");
        CHECK(c.family == model_family::qwen2);
        CHECK(c.longest_sequence == 0);  // use_sliding_window is false
        for (auto linear : {block_linear::q, block_linear::k, block_linear::v})
            CHECK(loramoe::llama::has_bias(c, linear));
        for (auto linear : {block_linear::o, block_linear::gate, block_linear::down})
            CHECK_FALSE(loramoe::llama::has_bias(c, linear));
        j["use_sliding_window"] = true;
        CHECK(loramoe::io::parse_llama_config(j, "config.json").longest_sequence == 0);  // layers >= 28 only
        j["max_window_layers"] = 1;
        c = loramoe::io::parse_llama_config(j, "config.json");
        CHECK(c.longest_sequence == 6);
        CHECK_NOTHROW(c.check_sequence_length(6));
        CHECK_THROWS_NAMING(loramoe::value_error, c.check_sequence_length(7), "7 tokens",
                            "sliding window (6");
        written = loramoe::io::to_json(c);
        CHECK(written["model_type"] == "qwen2");
        CHECK(loramoe::io::to_json(loramoe::io::parse_llama_config(written, "config.json")) == written);
    }

    TEST_CASE("adapter_config.json: the official keys, and the plain LoRA without lora_nums") {
        using namespace test_config_json;
        auto c = loramoe::io::parse_adapter_config(official_adapter(), "adapter_config.json");
        CHECK(c.router);
        CHECK(c.experts == 6);
        CHECK(c.rank == 4);
        CHECK(c.alpha == 32);
        CHECK(c.dropout == 0.05);
        CHECK(c.lbc_delta == 0.1);
        CHECK(c.lbc_weight == 0.2);
        CHECK(c.statistic == loramoe::moe::lbc_statistic::cv2);
        CHECK(c.expert_types.empty());
        CHECK(c.top_k == 0);
        CHECK(c.placement == loramoe::moe::adapter_placement::linears);
        CHECK_FALSE(c.lbc_counts_padding);
        CHECK(c.target_modules == std::vector<std::string>{"gate_proj", "up_proj", "down_proj"});

        const json written = loramoe::io::to_json(c);
        CHECK(written["blc_alpha"] == 0.1);
        CHECK(written["blc_weight"] == 0.2);
        CHECK(written["lora_nums"] == 6);
        CHECK_FALSE(written.contains("placement"));
        CHECK(loramoe::io::to_json(loramoe::io::parse_adapter_config(written, "adapter_config.json")) ==
              written);

        for (const bool null : {false, true}) {
            CAPTURE(null);
            json plain = official_adapter();
            for (const char* key : {"lora_nums", "blc_alpha", "blc_weight"})
                if (null)
                    plain[key] = nullptr;
                else
                    plain.erase(key);
            c = loramoe::io::parse_adapter_config(plain, "adapter_config.json");
            CHECK_FALSE(c.router);
            CHECK(c.experts == 1);
            CHECK(c.lbc_delta == 0);
            CHECK(c.lbc_weight == 0);
            CHECK_FALSE(loramoe::io::to_json(c).contains("lora_nums"));
        }
    }

    TEST_CASE("adapter_config.json: target_modules is a list or a regular expression; the extensions") {
        using namespace test_config_json;
        json j = official_adapter();
        j["target_modules"] = ".*\\.(q|v)_proj";
        auto c = loramoe::io::parse_adapter_config(j, "adapter_config.json");
        CHECK(c.target_modules.empty());
        CHECK(c.target_regex == ".*\\.(q|v)_proj");
        CHECK(c.targets("model.layers.0.self_attn.q_proj"));
        CHECK_FALSE(c.targets("model.layers.0.mlp.up_proj"));
        CHECK(loramoe::io::to_json(c)["target_modules"] == ".*\\.(q|v)_proj");

        j = official_adapter();
        j.erase("target_modules");
        j["placement"] = "ffn";
        j["blc_statistic"] = "var_over_mean";
        j["expert_types"] = {1, 1, 1, 0, 0, 0};
        j["top_k"] = 2;
        j["lbc_counts_padding"] = true;
        c = loramoe::io::parse_adapter_config(j, "adapter_config.json");
        CHECK(c.placement == loramoe::moe::adapter_placement::ffn);
        CHECK(c.statistic == loramoe::moe::lbc_statistic::var_over_mean);
        CHECK(c.expert_types == std::vector<std::int64_t>{1, 1, 1, 0, 0, 0});
        CHECK(c.top_k == 2);
        CHECK(c.lbc_counts_padding);
        // The ffn placement needs no target_modules and keeps the default list.
        CHECK(c.target_modules == std::vector<std::string>{"gate_proj", "up_proj", "down_proj"});
        const json written = loramoe::io::to_json(c);
        CHECK(written["placement"] == "ffn");
        CHECK(written["blc_statistic"] == "var_over_mean");
        CHECK(loramoe::io::to_json(loramoe::io::parse_adapter_config(written, "adapter_config.json")) ==
              written);
    }

    TEST_CASE("adapter_config.json: errors name the file and the key") {
        using namespace test_config_json;
        json j = official_adapter();
        j.erase("target_modules");
        CHECK_THROWS_WITH_AS(
            loramoe::io::parse_adapter_config(j, "a/adapter_config.json"),
            "a/adapter_config.json: 'target_modules' is missing, expected a string or a list of "
            "strings",
            loramoe::format_error);
        j = official_adapter();
        j.erase("r");
        CHECK_THROWS_WITH_AS(loramoe::io::parse_adapter_config(j, "a/adapter_config.json"),
                             "a/adapter_config.json: 'r' is missing, expected a signed 64-bit integer",
                             loramoe::format_error);
        j = official_adapter();
        j["lora_alpha"] = "32";
        CHECK_THROWS_WITH_AS(loramoe::io::parse_adapter_config(j, "a/adapter_config.json"),
                             "a/adapter_config.json: 'lora_alpha' is \"32\", expected a number",
                             loramoe::format_error);
        j = official_adapter();
        j["placement"] = "attention";
        CHECK_THROWS_WITH_AS(
            loramoe::io::parse_adapter_config(j, "a/adapter_config.json"),
            "a/adapter_config.json: 'placement' is \"attention\", expected one of \"linears\", \"ffn\"",
            loramoe::value_error);
        j = official_adapter();
        j["blc_statistic"] = "entropy";
        CHECK_THROWS_WITH_AS(
            loramoe::io::parse_adapter_config(j, "a/adapter_config.json"),
            "a/adapter_config.json: 'blc_statistic' is \"entropy\", expected one of \"cv2\", "
            "\"var_over_mean\"",
            loramoe::value_error);
        // Values are then checked by adapter_config::validate.
        j = official_adapter();
        j["r"] = 0;
        CHECK_THROWS_WITH_AS(loramoe::io::parse_adapter_config(j, "a/adapter_config.json"),
                             "a/adapter_config.json: r must be positive, got 0", loramoe::value_error);
    }
}  // TEST_SUITE("io")
