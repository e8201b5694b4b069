// Instruction data: JSONL reading with exact FILE:LINE errors, tokenization in both prompt templates
// (exact ids and labels with the byte tokenizer), truncation, right-padded batches and the seeded
// epoch order.

#include "test_support.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/ranges.h>

#include <loramoe/io/instruction_data.hpp>
#include <loramoe/train/batching.hpp>

namespace test_instruction_data {

using ids = std::vector<std::int64_t>;
constexpr std::int64_t bos = 256, eos = 257, pad = 258, masked = -100;

// The message of the format_error that reading `lines` as a file throws, or what went wrong instead.
std::string error_reading(const loramoe::test::temporary_directory& dir, const std::string& lines) {
    const auto path = dir / "data.jsonl";
    loramoe::test::write_file(path, lines);
    try {
        loramoe::io::read_instruction_jsonl(path);
    } catch (const loramoe::format_error& e) {
        return e.what();
    }
    return "no format_error";
}

loramoe::io::instruction_example instruction(std::string instruction, std::string input, std::string output,
                                             std::int64_t task_type = 0) {
    return {std::move(instruction), std::move(input), std::move(output), task_type, {}};
}

}  // namespace test_instruction_data

TEST_SUITE("io") {
    TEST_CASE("instruction data: a good file, with blank lines, CRLF, raw text and defaults") {
        loramoe::test::temporary_directory dir;
        const auto path = dir / "data.jsonl";
        const std::vector<std::string> lines = {
            R"({"instruction": "Translate", "input": "chat", "output": "cat", "task_type": 1})",
            "",
            "   \t",
            R"({"instruction": "Say hi", "output": "hi ☃", "id": 17, "task-type": 1})"
            "\r",  // CRLF; other keys ignored
            R"({"instruction": "Q", "input": null, "output": "A", "task_type": null})",
            R"({"text": "raw text\nline", "task_type": -2})",  // the last line has no newline
        };
        loramoe::test::write_file(path, fmt::format("{}", fmt::join(lines, "\n")));
        const auto examples = loramoe::io::read_instruction_jsonl(path);
        REQUIRE(examples.size() == 4);
        CHECK(examples[0].instruction == "Translate");
        CHECK(examples[0].input == "chat");
        CHECK(examples[0].output == "cat");
        CHECK(examples[0].task_type == 1);
        CHECK_FALSE(examples[0].is_raw_text());
        CHECK(examples[1].instruction == "Say hi");
        CHECK(examples[1].input.empty());
        CHECK(examples[1].output == "hi ☃");
        CHECK(examples[1].task_type == 0);  // missing: 0
        CHECK(examples[2].input.empty());   // null: absent
        CHECK(examples[2].task_type == 0);
        CHECK(examples[3].is_raw_text());
        CHECK(examples[3].text == "raw text\nline");
        CHECK(examples[3].task_type == -2);
        CHECK(examples[3].instruction.empty());

        loramoe::test::write_file(path, "\n\n");
        CHECK(loramoe::io::read_instruction_jsonl(path).empty());
        CHECK_THROWS_NAMING(loramoe::io_error, loramoe::io::read_instruction_jsonl(dir / "absent.jsonl"),
                            "cannot open", (dir / "absent.jsonl").string());
    }

    TEST_CASE("instruction data: every malformed line is a format_error naming the file and the line") {
        loramoe::test::temporary_directory dir;
        const std::string file = (dir / "data.jsonl").string();
        // Lines 1 and 2 are good, the bad one is line 3.
        const std::string good = "{\"instruction\": \"i\", \"output\": \"o\"}\n\n";
        auto error = [&](const std::string& bad) {
            return test_instruction_data::error_reading(dir, good + bad + "\n" + good);
        };
        auto at = [&](const std::string& what) { return file + ":3: " + what; };

        CHECK(
            error("{\"instruction\": \"i\", \"output\": x}") ==
            at("not valid JSON at column 32: syntax error while parsing value - invalid literal; last read: "
               "'\"output\": x'"));
        CHECK(error("{\"instruction\": \"i\"") ==
              at("not valid JSON at column 20: syntax error while parsing object - unexpected end of input; "
                 "expected '}'"));
        CHECK(error("[1, 2]") == at("the top level is [1,2], expected a JSON object"));
        CHECK(error("\"text\"") == at("the top level is \"text\", expected a JSON object"));
        CHECK(error("{}") == at("neither an instruction ('instruction', 'output') nor raw text ('text')"));
        CHECK(error("{\"instruction\": \"i\"}") == at("'output' is missing, expected a string"));
        CHECK(error("{\"output\": \"o\", \"input\": \"x\"}") ==
              at("'instruction' is missing, expected a string"));
        CHECK(error("{\"instruction\": 5, \"output\": \"o\"}") ==
              at("'instruction' is 5, expected a string"));
        CHECK(error("{\"instruction\": \"i\", \"output\": null}") ==
              at("'output' is null, expected a string"));
        CHECK(error("{\"instruction\": \"i\", \"input\": [\"x\"], \"output\": \"o\"}") ==
              at("'input' is [\"x\"], expected a string"));
        CHECK(error("{\"instruction\": \"i\", \"output\": \"o\", \"task_type\": 1.5}") ==
              at("'task_type' is 1.5, expected a signed 64-bit integer"));
        CHECK(error("{\"instruction\": \"i\", \"output\": \"o\", \"task_type\": \"1\"}") ==
              at("'task_type' is \"1\", expected a signed 64-bit integer"));
        CHECK(error("{\"instruction\": \"i\", \"output\": \"o\", \"task_type\": true}") ==
              at("'task_type' is true, expected a signed 64-bit integer"));
        CHECK(error("{\"instruction\": \"i\", \"output\": \"o\", \"task_type\": 18446744073709551615}") ==
              at("'task_type' is 18446744073709551615, expected a signed 64-bit integer"));
        CHECK(error("{\"text\": \"t\", \"instruction\": \"i\"}") ==
              at("both 'text' and 'instruction'; a line is raw text or an instruction"));
        CHECK(error("{\"text\": \"t\", \"output\": \"o\"}") ==
              at("both 'text' and 'output'; a line is raw text or an instruction"));
        CHECK(error("{\"text\": 3}") == at("'text' is 3, expected a string"));
        CHECK(error("{\"text\": \"\"}") == at("'text' is \"\", expected a non-empty string"));
    }

    TEST_CASE("tokenize_example: the plain template, with and without input") {
        using namespace test_instruction_data;
        const auto tok = loramoe::io::make_byte_tokenizer();
        const auto plain = loramoe::io::prompt_template::plain;

        const auto a = loramoe::io::tokenize_example(instruction("Hi", "", "ok", 1), *tok, plain, 100);
        CHECK(a.ids == ids{bos, 'H', 'i', 'o', 'k', eos});
        CHECK(a.labels == ids{masked, masked, masked, 'o', 'k', eos});
        CHECK(a.task_type == 1);

        const auto b = loramoe::io::tokenize_example(instruction("Hi", "x", "ok"), *tok, plain, 100);
        CHECK(b.ids == ids{bos, 'H', 'i', '\n', 'x', 'o', 'k', eos});
        CHECK(b.labels == ids{masked, masked, masked, masked, masked, 'o', 'k', eos});
        CHECK(b.task_type == 0);

        // An empty output still teaches the model to stop.
        const auto c = loramoe::io::tokenize_example(instruction("Hi", "", ""), *tok, plain, 100);
        CHECK(c.ids == ids{bos, 'H', 'i', eos});
        CHECK(c.labels == ids{masked, masked, masked, eos});
    }

    TEST_CASE("tokenize_example: the official template ends the prompt with EOS, masked") {
        using namespace test_instruction_data;
        const auto tok = loramoe::io::make_byte_tokenizer();
        const auto official = loramoe::io::prompt_template::official;

        const auto a = loramoe::io::tokenize_example(instruction("Hi", "", "ok", 1), *tok, official, 100);
        CHECK(a.ids == ids{bos, 'H', 'i', eos, 'o', 'k', eos});
        CHECK(a.labels == ids{masked, masked, masked, masked, 'o', 'k', eos});
        CHECK(a.task_type == 1);

        const auto b = loramoe::io::tokenize_example(instruction("Hi", "x", "ok"), *tok, official, 100);
        CHECK(b.ids == ids{bos, 'H', 'i', '\n', 'x', eos, 'o', 'k', eos});
        CHECK(b.labels == ids{masked, masked, masked, masked, masked, masked, 'o', 'k', eos});
    }

    TEST_CASE("tokenize_example: raw text counts every token but BOS, whatever the template") {
        using namespace test_instruction_data;
        const auto tok = loramoe::io::make_byte_tokenizer();
        loramoe::io::instruction_example raw;
        raw.text = "ab";
        raw.task_type = 1;
        for (const auto form :
             {loramoe::io::prompt_template::plain, loramoe::io::prompt_template::official}) {
            const auto t = loramoe::io::tokenize_example(raw, *tok, form, 100);
            CHECK(t.ids == ids{bos, 'a', 'b', eos});
            CHECK(t.labels == ids{masked, 'a', 'b', eos});
            CHECK(t.task_type == 1);
        }
        raw.output = "o";
        CHECK_THROWS_NAMING(
            loramoe::value_error,
            loramoe::io::tokenize_example(raw, *tok, loramoe::io::prompt_template::plain, 100),
            "both raw text and an instruction");
    }

    TEST_CASE("tokenize_example: truncation keeps the start, prompt first") {
        using namespace test_instruction_data;
        const auto tok = loramoe::io::make_byte_tokenizer();
        const auto plain = loramoe::io::prompt_template::plain;
        const auto example = instruction("Hi", "x", "ok");

        const auto six = loramoe::io::tokenize_example(example, *tok, plain, 6);
        CHECK(six.ids == ids{bos, 'H', 'i', '\n', 'x', 'o'});
        CHECK(six.labels == ids{masked, masked, masked, masked, masked, 'o'});
        // Only prompt left: nothing counted.
        const auto four = loramoe::io::tokenize_example(example, *tok, plain, 4);
        CHECK(four.ids == ids{bos, 'H', 'i', '\n'});
        CHECK(four.labels == ids{masked, masked, masked, masked});
        // Exactly the length: nothing cut.
        CHECK(loramoe::io::tokenize_example(example, *tok, plain, 8).ids.size() == 8);
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::io::tokenize_example(example, *tok, plain, 0),
                            "max_tokens must be positive, got 0");
    }

    TEST_CASE("make_batch: right-padded to the longest, padding masked out of attention and loss") {
        using namespace test_instruction_data;
        const auto tok = loramoe::io::make_byte_tokenizer();
        const auto plain = loramoe::io::prompt_template::plain;
        const auto a =
            loramoe::io::tokenize_example(instruction("A", "", "b", 1), *tok, plain, 100);  // 4 tokens
        const auto b =
            loramoe::io::tokenize_example(instruction("Hi", "", "ok"), *tok, plain, 100);  // 6 tokens
        const std::vector<const loramoe::io::tokenized_example*> members = {&a, &b};

        const auto batch = loramoe::train::make_batch(members, pad);
        CHECK(batch.samples == 2);
        CHECK(batch.tokens == 6);
        CHECK(batch.input_ids == ids{bos, 'A', 'b', eos, pad, pad, bos, 'H', 'i', 'o', 'k', eos});
        CHECK(batch.attention_mask == ids{1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1});
        CHECK(batch.labels == ids{masked, masked, 'b', eos, masked, masked,  //
                                  masked, masked, masked, 'o', 'k', eos});
        CHECK(batch.task_types == ids{1, 0});
        CHECK_NOTHROW(batch.validate(259));

        // Padding with EOS keeps the real EOS attended: the mask is not ids != pad.
        const auto with_eos = loramoe::train::make_batch(members, eos);
        CHECK(with_eos.attention_mask == batch.attention_mask);
        CHECK(with_eos.input_ids[4] == eos);

        const std::vector<const loramoe::io::tokenized_example*> none;
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::train::make_batch(none, pad), "no examples");
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::train::make_batch(members, -1), "pad id -1");
        auto broken = b;
        broken.labels.pop_back();
        const std::vector<const loramoe::io::tokenized_example*> bad = {&a, &broken};
        CHECK_THROWS_NAMING(loramoe::shape_error, loramoe::train::make_batch(bad, pad),
                            "example 1 has 6 ids and 5 labels");
    }

    TEST_CASE("epoch_order: a permutation that depends on (seed, epoch) only") {
        const auto order = loramoe::train::epoch_order(100, 42, 0);
        auto sorted = order;
        std::sort(sorted.begin(), sorted.end());
        for (std::size_t i = 0; i < sorted.size(); ++i) CHECK(sorted[i] == i);
        CHECK(order == loramoe::train::epoch_order(100, 42, 0));
        CHECK(order != loramoe::train::epoch_order(100, 42, 1));
        CHECK(order != loramoe::train::epoch_order(100, 43, 0));
        CHECK(loramoe::train::epoch_order(0, 42, 0).empty());
        CHECK(loramoe::train::epoch_order(1, 42, 0) == std::vector<std::size_t>{0});
        // Pinned: the counter-based generator makes the order the same on every platform.
        CHECK(loramoe::train::epoch_order(8, 42, 3) == std::vector<std::size_t>{7, 2, 0, 5, 3, 4, 1, 6});

        // Each element lands first about equally often over many epochs (1000 epochs, 4 elements).
        std::vector<int> first(4, 0);
        for (std::uint64_t epoch = 0; epoch < 1000; ++epoch)
            ++first[loramoe::train::epoch_order(4, 7, epoch)[0]];
        for (const int count : first) CHECK(std::abs(count - 250) < 60);
    }

}  // TEST_SUITE("io")
