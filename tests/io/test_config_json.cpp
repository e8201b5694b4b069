// config.json and adapter_config.json (io/llama_config_json.hpp, io/adapter_config_json.hpp): the
// defaults of absent and null keys, the keys that are required, the forms a key may take (eos_token_id
// an integer or a list, target_modules a list or a regular expression), the official key names when
// written, and errors in the one wording of io/json_fields.hpp naming the file and the key.

#include "test_support.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/io/adapter_config_json.hpp>
#include <loramoe/io/llama_config_json.hpp>

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
        j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
        CHECK_THROWS_WITH_AS(
            loramoe::io::parse_llama_config(j, "m/config.json"),
            "m/config.json: 'rope_scaling' is {\"factor\":2.0,\"type\":\"linear\"}, expected null (not "
            "supported)",
            loramoe::value_error);
        // Values are then checked by llama_config::validate.
        j = minimal_llama();
        j["num_attention_heads"] = 5;
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::io::parse_llama_config(j, "m/config.json"),
                            "m/config.json", "num_attention_heads = 5", "hidden_size = 16");
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
