// The `loramoe tokenize` program on the Llama 3-shaped golden tokenizer (tests/golden/tokenizer_llama3):
// lines on stdin give HF tokenizers' ids, with and without --add-special-tokens; --decode gives the text
// back; a line that is not a JSON array of ids, or an id outside the vocabulary, exits 1 naming the line.

#include "test_support.hpp"

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tokenize_command_test {
namespace fs = std::filesystem;
using nlohmann::json;

fs::path model() {
    return loramoe::test::golden_dir() / "tokenizer_llama3";
}

// Runs `loramoe tokenize ARGUMENTS` with `input` on stdin.
loramoe::test::cli_result tokenize(const std::string& arguments, const std::string& input) {
    loramoe::test::temporary_directory dir;
    std::ofstream(dir / "stdin", std::ios::binary) << input;
    return loramoe::test::run_cli("tokenize --model " + loramoe::test::quote(model()) + " " + arguments +
                                  " <" + loramoe::test::quote(dir / "stdin"));
}
}  // namespace tokenize_command_test

TEST_SUITE("cli") {
    TEST_CASE("loramoe tokenize: HF tokenizers' ids for every line, with and without special tokens") {
        using namespace tokenize_command_test;
        std::string input, plain, special, decodable, decodable_ids;
        std::vector<std::string> texts;
        std::ifstream in(model() / "expected.json");
        for (const auto& c : json::parse(in)) {
            const auto text = c["text"].get<std::string>();
            if (text.find_first_of("\r\n") != std::string::npos) continue;  // one line each
            texts.push_back(text);
            input += text + "\n";
            plain += c["ids"].dump() + "\n";
            special += c["ids_with_special_tokens"].dump() + "\n";
            if (text.find("<|") == std::string::npos) {  // --decode drops BOS and EOS
                decodable += text + "\n";
                decodable_ids += c["ids"].dump() + "\n";
            }
        }
        REQUIRE(texts.size() > 10);
        auto r = tokenize("", input);
        CHECK(r.status == 0);
        CHECK(r.out == plain);
        r = tokenize("--add-special-tokens", input);
        CHECK(r.status == 0);
        CHECK(r.out == special);
        r = tokenize("--decode", decodable_ids);
        CHECK(r.status == 0);
        CHECK(r.out == decodable);
    }

    TEST_CASE("loramoe tokenize --decode: a bad line exits 1 naming it") {
        using namespace tokenize_command_test;
        auto r = tokenize("--decode", "[1, 2]\n[1, \"x\"]\n");
        CHECK(r.status == 1);
        CHECK(r.err.find("stdin:2") != std::string::npos);
        r = tokenize("--decode", "not json\n");
        CHECK(r.status == 1);
        CHECK(r.err.find("stdin:1: not JSON") != std::string::npos);
        r = tokenize("--decode", "[99999999]\n");
        CHECK(r.status == 1);
        CHECK(r.err.find("not a token") != std::string::npos);
    }
}  // TEST_SUITE
