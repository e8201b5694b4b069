// Files crafted as a hostile user would (the classes of the parser audit, issue 19): each ends in a clear
// error naming the file and the key or tensor, in bounded time and memory. A FIFO named like a checkpoint
// file, nesting a JSON parser would follow for megabytes, a key twice, an index of 100 000 entries, a
// config of 300 000 layers, a NUL in a shard's name, fractional integers, a pattern that backtracks
// without end or nests past the stack, NaNs in tensors, and SentencePiece tables that would make the
// library read out of bounds.

#include "test_support.hpp"

#include <cstdint>
#include <cstring>
#include <string>

#include <sys/stat.h>

#include <loramoe/io/adapter.hpp>
#include <loramoe/io/hf_checkpoint.hpp>
#include <loramoe/io/instruction_data.hpp>
#include <loramoe/io/json_file.hpp>
#include <loramoe/io/pretrained.hpp>
#include <loramoe/io/safetensors.hpp>
#include <loramoe/io/sentencepiece_tokenizer.hpp>
#include <loramoe/llama/model.hpp>

namespace hostile_files_test {

namespace fs = std::filesystem;
using loramoe::test::temporary_directory;
using loramoe::test::write_file;

// A safetensors file with `header` and `data` as they are.
std::string safetensors_bytes(const std::string& header, const std::string& data) {
    const std::uint64_t length = header.size();
    std::string file(8, '\0');
    std::memcpy(file.data(), &length, 8);
    return file + header + data;
}

std::string float_bytes(std::initializer_list<float> values) {
    std::string bytes(values.size() * sizeof(float), '\0');
    std::memcpy(bytes.data(), values.begin(), bytes.size());
    return bytes;
}

loramoe::llama::llama_config tiny() {
    loramoe::llama::llama_config c;
    c.vocab_size = 12;
    c.hidden_size = 8;
    c.intermediate_size = 16;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 2;
    c.num_key_value_heads = 1;
    c.head_dim = 4;
    return c;
}

// A checkpoint folder of tiny() with random weights.
void write_tiny_checkpoint(const fs::path& folder) {
    loramoe::llama::llama_model<float> model(tiny());
    loramoe::random_generator rng(3);
    for (float& w : model.base().values().span()) w = static_cast<float>(rng.normal()) * 0.1F;
    loramoe::io::save_hf_checkpoint(folder, model);
}

}  // namespace hostile_files_test

TEST_SUITE("io") {
    TEST_CASE("a FIFO, a folder or a device named like an input file is refused, never waited on") {
        using namespace hostile_files_test;
        temporary_directory dir;
        REQUIRE(::mkfifo((dir / "config.json").c_str(), 0600) == 0);
        REQUIRE(::mkfifo((dir / "model.safetensors").c_str(), 0600) == 0);
        REQUIRE(::mkfifo((dir / "tokenizer.model").c_str(), 0600) == 0);
        REQUIRE(::mkfifo((dir / "data.jsonl").c_str(), 0600) == 0);
        fs::create_directory(dir / "adapter_config.json");
        CHECK_THROWS_NAMING(loramoe::io_error, loramoe::io::read_json_file(dir / "config.json"),
                            "config.json", "not a regular file");
        CHECK_THROWS_NAMING(loramoe::io_error, loramoe::io::safetensors_reader(dir / "model.safetensors"),
                            "model.safetensors", "not a regular file");
        CHECK_THROWS_NAMING(loramoe::io_error, loramoe::io::sentencepiece_tokenizer(dir / "tokenizer.model"),
                            "tokenizer.model", "not a regular file");
        CHECK_THROWS_NAMING(loramoe::io_error, loramoe::io::read_instruction_jsonl(dir / "data.jsonl"),
                            "data.jsonl", "not a regular file");
        CHECK_THROWS_NAMING(loramoe::io_error, loramoe::io::read_adapter_config(dir.path()),
                            "adapter_config.json", "not a regular file");
        CHECK_THROWS_NAMING(loramoe::io_error, loramoe::io::read_json_file("/dev/zero"), "/dev/zero",
                            "not a regular file");
    }

    TEST_CASE("JSON: a key twice in one object and nesting past 64 are refused as the parser meets them") {
        using namespace hostile_files_test;
        using loramoe::io::parse_json;
        CHECK_THROWS_NAMING(loramoe::format_error, parse_json(R"({"r": 4, "r": 8})", "adapter_config.json"),
                            "adapter_config.json", "the key 'r' appears twice");
        // In a nested object too; the same key in two objects is fine.
        CHECK_THROWS_NAMING(loramoe::format_error, parse_json(R"({"a": {"x": 1, "y": 2, "x": 3}})", "f.json"),
                            "'x' appears twice");
        CHECK_NOTHROW(parse_json(R"({"a": {"x": 1}, "b": {"x": 1}, "x": [{"x": 2}, {"x": 3}]})", "f.json"));
        // 64 levels parse; 65 do not; ten megabytes of "[" stop at the 65th byte.
        CHECK_NOTHROW(parse_json(std::string(64, '[') + std::string(64, ']'), "f.json"));
        CHECK_THROWS_NAMING(loramoe::format_error,
                            parse_json(std::string(65, '[') + std::string(65, ']'), "f.json"), "f.json",
                            "nested more than 64 deep");
        CHECK_THROWS_NAMING(loramoe::format_error, parse_json(std::string(10 << 20, '['), "f.json"),
                            "nested more than 64 deep");
        CHECK_THROWS_NAMING(loramoe::format_error, parse_json(R"({"a": tru})", "f.json"), "f.json",
                            "not valid JSON at byte");
    }

    TEST_CASE("safetensors: a tensor name twice in the header is refused (the last one does not win)") {
        using namespace hostile_files_test;
        temporary_directory dir;
        const std::string entry = R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})";
        write_file(dir / "twice.safetensors",
                   safetensors_bytes(R"({"w":)" + entry + R"(,"w":)" + entry + "}", float_bytes({1})));
        CHECK_THROWS_NAMING(loramoe::format_error, loramoe::io::safetensors_reader(dir / "twice.safetensors"),
                            "twice.safetensors", "the key 'w' appears twice");
    }

    TEST_CASE("safetensors: a NaN or an infinity in a tensor is refused when read, naming the tensor") {
        using namespace hostile_files_test;
        temporary_directory dir;
        const float nan = std::numeric_limits<float>::quiet_NaN(),
                    inf = std::numeric_limits<float>::infinity();
        const std::string header = R"({"good":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                   R"("nan":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
                                   R"("inf":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}})";
        write_file(dir / "w.safetensors", safetensors_bytes(header, float_bytes({1, 2, 3, nan, -inf, 4})));
        const loramoe::io::safetensors_reader reader(dir / "w.safetensors");
        CHECK_NOTHROW(reader.read<float>("good"));
        CHECK_THROWS_NAMING(loramoe::value_error, reader.read<double>("nan"), "w.safetensors", "'nan'",
                            "holds nan at element 1");
        CHECK_THROWS_NAMING(loramoe::value_error, reader.read<float>("inf"), "'inf'",
                            "holds -inf at element 0");
        std::vector<loramoe::bfloat16> rounded(2);
        CHECK_THROWS_NAMING(loramoe::value_error, reader.read_bfloat16("nan", {2}, rounded.data()), "'nan'");
    }

    TEST_CASE("a NaN in the base weights stops the load, naming the tensor") {
        using namespace hostile_files_test;
        temporary_directory dir;
        loramoe::llama::llama_model<float> model(tiny());
        model.base().values().span()[model.layout().at("model.layers.1.mlp.up_proj.weight").offset + 5] =
            std::numeric_limits<float>::quiet_NaN();
        loramoe::io::save_hf_checkpoint(dir.path(), model);
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::io::load_pretrained<float>(dir.path()),
                            "model.layers.1.mlp.up_proj.weight", "holds nan at element 5");
    }

    TEST_CASE("a checkpoint index: 100 000 entries are checked in n log n; a NUL in a file name is refused") {
        using namespace hostile_files_test;
        temporary_directory dir;
        write_tiny_checkpoint(dir / "model");
        fs::rename(dir / "model" / "model.safetensors", dir / "model" / "shard.safetensors");
        nlohmann::json map = nlohmann::json::object();
        for (int i = 0; i < 100'000; ++i) map[fmt::format("model.extra.{}.weight", i)] = "shard.safetensors";
        write_file(dir / "model" / "model.safetensors.index.json",
                   nlohmann::json({{"weight_map", map}}).dump());
        CHECK_THROWS_NAMING(loramoe::format_error, loramoe::io::checkpoint_files(dir / "model"),
                            "model.safetensors.index.json", "shard.safetensors, which does not hold it");
        const std::string nul_name = std::string("shard.safetensors") + '\0' + ".ignored";
        write_file(dir / "model" / "model.safetensors.index.json",
                   nlohmann::json({{"weight_map", {{"model.norm.weight", nul_name}}}}).dump());
        CHECK_THROWS_NAMING(loramoe::format_error, loramoe::io::checkpoint_files(dir / "model"),
                            "'model.norm.weight'", "expected a file name in the folder");
    }

    TEST_CASE("config.json is checked against the checkpoint's tensors before a model is built from it") {
        using namespace hostile_files_test;
        temporary_directory dir;
        write_tiny_checkpoint(dir.path());
        auto rewrite = [&](auto change) {
            auto config = tiny();
            change(config);
            write_file(dir / "config.json", loramoe::io::to_json(config).dump());
        };
        rewrite([](auto& c) { c.num_hidden_layers = 300'000; });
        CHECK_THROWS_NAMING(loramoe::shape_error, loramoe::io::load_pretrained<float>(dir.path()),
                            "config.json",
                            "num_hidden_layers is 300000, but the checkpoint holds the weights of 2 layers");
        rewrite([](auto& c) { c.num_hidden_layers = 1; });
        CHECK_THROWS_NAMING(loramoe::shape_error, loramoe::io::read_llama_config(dir.path()),
                            "num_hidden_layers is 1");
        rewrite([](auto& c) { c.vocab_size = 4'000'000'000; });
        CHECK_THROWS_NAMING(loramoe::shape_error, loramoe::io::read_llama_config(dir.path()),
                            "vocab_size and hidden_size say [4000000000, 8]", "model.embed_tokens.weight");
        rewrite([](auto& c) { c.intermediate_size = 17; });
        CHECK_THROWS_NAMING(loramoe::shape_error, loramoe::io::read_llama_config(dir.path()),
                            "intermediate_size and hidden_size", "model.layers.0.mlp.gate_proj.weight");
        rewrite([](auto&) {});
        CHECK_NOTHROW(loramoe::io::load_pretrained<float>(dir.path()));
    }

    TEST_CASE("adapter_config.json: fractional integers are refused, not truncated") {
        const nlohmann::json base = {
            {"r", 4}, {"lora_alpha", 8}, {"lora_nums", 2}, {"target_modules", {"q_proj"}}};
        CHECK_NOTHROW(loramoe::io::parse_adapter_config(base, "adapter_config.json"));
        for (const char* key : {"r", "lora_nums", "top_k"}) {
            CAPTURE(key);
            nlohmann::json j = base;
            j[key] = 2.5;
            CHECK_THROWS_NAMING(
                loramoe::format_error, loramoe::io::parse_adapter_config(j, "adapter_config.json"),
                "adapter_config.json", fmt::format("'{}' is 2.5, expected a signed 64-bit integer", key));
        }
    }

    TEST_CASE("target_modules patterns: Python's syntax, whole names, and bounded work on hostile ones") {
        using namespace hostile_files_test;
        auto adapter = [](const std::string& pattern) {
            return loramoe::io::parse_adapter_config(
                {{"r", 2}, {"lora_alpha", 4}, {"lora_nums", 2}, {"target_modules", pattern}},
                "adapter_config.json");
        };
        const auto both = adapter(R"(.*\.(?P<which>q|v)_proj)");
        CHECK(both.targets("model.layers.0.self_attn.q_proj"));
        CHECK_FALSE(both.targets("model.layers.0.self_attn.k_proj"));
        CHECK_FALSE(both.targets("model.layers.0.self_attn.q_proj.extra"));  // the whole name
        CHECK(adapter("a|ab").targets("ab"));  // re.fullmatch tries every branch
        // Nesting that would overflow a recursive compiler's stack does not compile.
        CHECK_THROWS_NAMING(loramoe::value_error,
                            adapter(std::string(100'000, '(') + "a" + std::string(100'000, ')')),
                            "adapter_config.json: target_modules", "does not compile");
        CHECK_THROWS_NAMING(loramoe::value_error, adapter("(unclosed"), "adapter_config.json: target_modules",
                            "does not compile");
        // A pattern that backtracks exponentially on the names stops with an error within its bound.
        const auto explosive = adapter("(.*.*.*.*.*.*.*.*.*.*.*)*x");
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::llama::llama_model<float>(tiny(), explosive),
                            "target_modules", "backtracks more than");
    }

    TEST_CASE(
        "tokenizer.model: a real normalisation table passes; inconsistent ones are refused before use") {
        using namespace hostile_files_test;
        temporary_directory dir;
        std::vector<std::string> sentences;
        for (int i = 0; i < 200; ++i)
            sentences.push_back(fmt::format("Ｆｕｌｌ width {} and ｶﾀｶﾅ, ½ and ﬁ ligatures {}", i, i * 7));
        loramoe::io::train_sentencepiece(sentences, dir / "nfkc.model",
                                         {.vocab_size = 400, .normalization = "nmt_nfkc"});
        const loramoe::io::sentencepiece_tokenizer good(dir / "nfkc.model");
        CHECK(good.decode(good.encode("Ｆｕｌｌ ½")) == "Full 1⁄2");  // NFKC applied by the table
        const std::string model = loramoe::test::read_file(dir / "nfkc.model");
        const std::string_view charsmap = loramoe::io::detail::precompiled_charsmap(model, 3, "nfkc.model");
        REQUIRE(charsmap.size() > 1024);
        const std::size_t at = static_cast<std::size_t>(charsmap.data() - model.data());
        std::uint32_t trie_bytes = 0;
        std::memcpy(&trie_bytes, charsmap.data(), 4);
        auto refused = [&](const std::string& name, auto corrupt, std::string_view why) {
            std::string bad = model;
            corrupt(bad);
            write_file(dir / name, bad);
            CHECK_THROWS_NAMING(loramoe::format_error, loramoe::io::sentencepiece_tokenizer(dir / name), name,
                                "normaliser's normalisation table is inconsistent", why);
        };
        // The replacement strings without their NULs: every leaf points at a string without an end.
        refused(
            "unterminated.model",
            [&](std::string& bad) {
                for (std::size_t i = at + 4 + trie_bytes; i < at + charsmap.size(); ++i)
                    if (bad[i] == '\0') bad[i] = 'x';
            },
            "a replacement outside its strings");
        // The root's offset sends the first step far past the array.
        refused(
            "far.model",
            [&](std::string& bad) {
                const std::uint32_t root = 0xFFFFFC00u;
                std::memcpy(bad.data() + at + 4, &root, 4);
            },
            "a step leaves the trie");
    }
}
