// tokenizer.json (io/bpe_tokenizer.hpp) against HuggingFace `tokenizers` 0.19: three byte-level BPE
// tokenizers trained by tests/golden/generate_tokenizer_golden.py in the shapes of Llama 3's, Qwen2's
// (NFC) and GPT-2's, on lines with CJK, emoji, combining marks, Cyrillic, Greek, Arabic, Hindi, runs of
// digits and white space, code, contractions and special tokens inside the text: the same ids, with
// and without add_special_tokens, and the same decoded text. Then what load_tokenizer takes from
// tokenizer_config.json, and the errors for tokenizers it does not read.

#include "test_support.hpp"

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/io/generation_config.hpp>
#include <loramoe/io/hf_checkpoint.hpp>
#include <loramoe/io/instruction_data.hpp>
#include <loramoe/io/tokenizer.hpp>

namespace test_bpe_tokenizer {
namespace fs = std::filesystem;
using nlohmann::json;

json read(const fs::path& path) {
    std::ifstream in(path);
    return json::parse(in);
}

void write(const fs::path& path, const json& j) {
    std::ofstream(path) << j.dump(1);
}

// The llama3 case's tokenizer.json edited by `edit`, in `dir`.
template <class Edit>
fs::path edited_tokenizer(const fs::path& dir, Edit edit) {
    json j = read(loramoe::test::golden_dir() / "tokenizer_llama3" / "tokenizer.json");
    edit(j);
    write(dir / "tokenizer.json", j);
    return dir / "tokenizer.json";
}
}  // namespace test_bpe_tokenizer

TEST_SUITE("io") {
    TEST_CASE("tokenizer.json: the ids and text of HF tokenizers for Llama 3, Qwen2 and GPT-2 shapes") {
        using namespace test_bpe_tokenizer;
        for (const char* name : {"tokenizer_llama3", "tokenizer_qwen2", "tokenizer_gpt2"}) {
            CAPTURE(name);
            const fs::path dir = loramoe::test::golden_dir() / name;
            const loramoe::io::bpe_tokenizer direct(dir / "tokenizer.json");
            const auto tokenizer = loramoe::io::load_tokenizer(dir, loramoe::io::read_llama_config(dir));
            for (const auto& c : read(dir / "expected.json")) {
                const auto text = c["text"].get<std::string>();
                CAPTURE(text);
                const auto ids = c["ids"].get<std::vector<std::int64_t>>();
                CHECK(direct.encode(text) == ids);
                CHECK(tokenizer->encode(text) == ids);
                CHECK(tokenizer->encode_with_special_tokens(text) ==
                      c["ids_with_special_tokens"].get<std::vector<std::int64_t>>());
                CHECK(direct.decode(ids) == c["decoded"].get<std::string>());
            }
        }
    }

    TEST_CASE("tokenizer.json: special ids from config.json, else tokenizer_config.json's tokens") {
        using namespace test_bpe_tokenizer;
        const fs::path golden = loramoe::test::golden_dir() / "tokenizer_qwen2";
        const auto config = loramoe::io::read_llama_config(golden);
        const loramoe::io::bpe_tokenizer direct(golden / "tokenizer.json");
        auto tokenizer = loramoe::io::load_tokenizer(golden, config);
        CHECK(tokenizer->bos_id() == *direct.token_id("<|endoftext|>"));  // config.json's
        CHECK(tokenizer->eos_id() == *direct.token_id("<|im_end|>"));
        CHECK(tokenizer->pad_id() == *direct.token_id("<|endoftext|>"));  // tokenizer_config.json's
        CHECK(tokenizer->encode_with_special_tokens("hi") == tokenizer->encode("hi"));  // Qwen2 adds none

        loramoe::test::temporary_directory dir;
        fs::copy_file(golden / "tokenizer.json", dir / "tokenizer.json");
        auto bare = config;
        bare.bos_token_id.reset();
        bare.eos_token_ids.clear();
        write(dir / "special_tokens_map.json",
              {{"bos_token", "<|im_start|>"}, {"eos_token", {{"content", "<|im_end|>"}}}});
        tokenizer = loramoe::io::load_tokenizer(dir.path(), bare);
        CHECK(tokenizer->bos_id() == *direct.token_id("<|im_start|>"));
        CHECK(tokenizer->eos_id() == *direct.token_id("<|im_end|>"));
        // generate() stops at the tokenizer's EOS, config.json's and generation_config.json's.
        write(dir / "generation_config.json", {{"eos_token_id", {7, *direct.token_id("<|im_end|>"), 9}}});
        bare.eos_token_ids = {11};
        CHECK(loramoe::io::generation_stop_ids(dir.path(), bare, *tokenizer) ==
              std::vector<std::int64_t>{*direct.token_id("<|im_end|>"), 11, 7, 9});
        write(dir / "tokenizer_config.json", {{"eos_token", "<|nope|>"}});
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::io::load_tokenizer(dir.path(), bare), "eos_token",
                            "<|nope|>", "not a token");
    }

    TEST_CASE(
        "--template chat: transformers' apply_chat_template ids for Llama 3's and Qwen2.5's templates") {
        using namespace test_bpe_tokenizer;
        for (const char* name : {"tokenizer_llama3", "tokenizer_qwen2"}) {
            CAPTURE(name);
            const fs::path dir = loramoe::test::golden_dir() / name;
            const auto tokenizer = loramoe::io::load_tokenizer(dir, loramoe::io::read_llama_config(dir));
            const auto chat = loramoe::io::read_chat_template(dir);
            for (const auto& c : read(dir / "expected_chat.json")) {
                loramoe::io::instruction_example e;
                e.instruction = c["instruction"].get<std::string>();
                e.input = c["input"].get<std::string>();
                e.output = c["output"].get<std::string>();
                CAPTURE(e.instruction);
                const auto t = loramoe::io::tokenize_example(e, *tokenizer,
                                                             loramoe::io::prompt_template::chat, 1000, &chat);
                const auto ids = c["ids"].get<std::vector<std::int64_t>>();
                const auto prompt = c["prompt_ids"].get<std::vector<std::int64_t>>();
                CHECK(t.ids == ids);
                REQUIRE(t.labels.size() == ids.size());
                for (std::size_t i = 0; i < ids.size(); ++i)
                    CHECK(t.labels[i] == (i < prompt.size() ? loramoe::ignore_index : ids[i]));
            }
        }
        CHECK_THROWS_NAMING(loramoe::value_error,
                            loramoe::io::tokenize_example({}, *loramoe::io::make_byte_tokenizer(),
                                                          loramoe::io::prompt_template::chat, 10),
                            "chat template");
    }

    TEST_CASE("--template chat: other templates, and none, are refused") {
        using namespace test_bpe_tokenizer;
        loramoe::test::temporary_directory dir;
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::io::read_chat_template(dir.path()),
                            "tokenizer_config.json");
        write(dir / "tokenizer_config.json", {{"bos_token", "<s>"}});
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::io::read_chat_template(dir.path()),
                            "'chat_template'");
        for (const char* t :
             {"{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}",
              "{{- bos_token }}<|start_header_id|>system<|end_header_id|>\n\nCutting "
              "Knowledge Date: December "
              "2023<|eot_id|>",
              // Llama 3's form with a system message of its own
              "{{ bos_token }}<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
              "{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
              "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"}) {
            CAPTURE(t);
            write(dir / "tokenizer_config.json", {{"chat_template", t}});
            CHECK_THROWS_NAMING(loramoe::value_error, loramoe::io::read_chat_template(dir.path()),
                                "not one of the fixed forms");
        }
        // ChatML without a default system prompt; named templates.
        write(dir / "tokenizer_config.json", {{"chat_template",
                                               {{{"name", "default"},
                                                 {"template",
                                                  "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ "
                                                  "m.content }}<|im_end|>\n{% endfor %}{% if "
                                                  "add_generation_prompt %}<|im_start|>assistant\n{% "
                                                  "endif %}"}}}}});
        const auto chat = loramoe::io::read_chat_template(dir.path());
        CHECK(chat.kind == loramoe::io::chat_template::form::chatml);
        CHECK(chat.system_prompt.empty());
        CHECK(chat.prompt("hi") == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    }

    TEST_CASE("tokenizer.json: malformed files and unsupported parts are errors naming them") {
        using namespace test_bpe_tokenizer;
        loramoe::test::temporary_directory dir;
        std::ofstream(dir / "tokenizer.json") << "{\"model\": ";
        CHECK_THROWS_AS(loramoe::io::bpe_tokenizer(dir / "tokenizer.json"), loramoe::format_error);

        auto path = edited_tokenizer(dir.path(), [](json& j) { j["model"]["type"] = "WordPiece"; });
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::io::bpe_tokenizer(path), "'type'", "WordPiece",
                            "BPE");
        path = edited_tokenizer(dir.path(), [](json& j) { j["pre_tokenizer"] = {{"type", "Metaspace"}}; });
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::io::bpe_tokenizer(path), "Metaspace",
                            "not supported");
        path = edited_tokenizer(dir.path(), [](json& j) { j["normalizer"] = {{"type", "NFKC"}}; });
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::io::bpe_tokenizer(path), "NFKC");
        path = edited_tokenizer(dir.path(), [](json& j) { j["model"]["merges"][0] = "Ġ zzzunknown"; });
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::io::bpe_tokenizer(path), "merge 0", "zzzunknown",
                            "not in the vocabulary");
        path = edited_tokenizer(dir.path(), [](json& j) { j["model"]["merges"][1] = "onlyone"; });
        CHECK_THROWS_NAMING(loramoe::format_error, loramoe::io::bpe_tokenizer(path), "merge 1");
        path = edited_tokenizer(dir.path(), [](json& j) { j["model"]["vocab"].erase("Ā"); });
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::io::bpe_tokenizer(path), "byte 0x00");
        path = edited_tokenizer(dir.path(), [](json& j) {
            j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
        });
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::io::bpe_tokenizer(path), "(unclosed",
                            "does not compile");
        path = edited_tokenizer(dir.path(), [](json& j) {
            j["post_processor"] = {{"type", "BertProcessing"}};
        });
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::io::bpe_tokenizer(path), "BertProcessing");
        path = edited_tokenizer(dir.path(), [](json& j) { j["model"]["byte_fallback"] = true; });
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::io::bpe_tokenizer(path), "byte_fallback");
        const loramoe::io::bpe_tokenizer good(loramoe::test::golden_dir() / "tokenizer_llama3" /
                                              "tokenizer.json");
        const std::vector<std::int64_t> outside = {good.vocab_size()};
        CHECK_THROWS_NAMING(loramoe::value_error, good.decode(outside), "not a token");
    }
}  // TEST_SUITE
