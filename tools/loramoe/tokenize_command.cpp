// loramoe tokenize --model DIR [--decode] [--add-special-tokens]
//
// Reads UTF-8 lines on stdin and writes, for each, a JSON array of its ids: the model's tokenizer
// (io/tokenizer.hpp), with nothing added, or with --add-special-tokens what transformers'
// add_special_tokens=True adds (BOS for LLaMA and Llama 3, nothing for Qwen2). With --decode each line
// is a JSON array of ids and the output its text (BOS, EOS and PAD dropped, other added tokens written
// as their text). A bad line stops the run naming its number.

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include <loramoe/io/hf_checkpoint.hpp>
#include <loramoe/io/tokenizer.hpp>

#include "commands.hpp"

namespace loramoe::cli {

namespace {

struct tokenize_options {
    std::filesystem::path model;
    bool decode = false;
    bool add_special_tokens = false;
};

std::vector<std::int64_t> ids_of_line(const std::string& line, index number) {
    const std::string where = fmt::format("stdin:{}", number);
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
        fail<format_error>("{}: not JSON ({})", where, e.what());
    }
    if (!j.is_array()) fail<format_error>("{}: expected a JSON array of ids", where);
    std::vector<std::int64_t> ids;
    for (const auto& id : j) {
        if (!id.is_number_integer()) fail<format_error>("{}: {} is not an integer id", where, id.dump());
        ids.push_back(id.get<std::int64_t>());
    }
    return ids;
}

void run(const tokenize_options& o) {
    const auto tokenizer = io::load_tokenizer(o.model, io::read_llama_config(o.model));
    std::string line;
    for (index number = 1; std::getline(std::cin, line); ++number) {
        if (o.decode) {
            std::cout << tokenizer->decode(ids_of_line(line, number)) << '\n';
        } else {
            const auto ids =
                o.add_special_tokens ? tokenizer->encode_with_special_tokens(line) : tokenizer->encode(line);
            std::cout << nlohmann::json(ids).dump() << '\n';
        }
    }
    if (!std::cout.flush()) fail<io_error>("cannot write to stdout");
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
    auto o = std::make_shared<tokenize_options>();
    CLI::App* c =
        app.add_subcommand("tokenize", "Encode lines of text to JSON arrays of ids, or decode them");
    c->add_option("--model", o->model, "HF checkpoint folder (config.json and its tokenizer)")
        ->required()
        ->check(CLI::ExistingDirectory);
    c->add_flag("--decode", o->decode, "read JSON arrays of ids, write text");
    c->add_flag("--add-special-tokens", o->add_special_tokens,
                "add what transformers' add_special_tokens=True adds (BOS for LLaMA)");
    c->callback([o] { run(*o); });
}

}  // namespace loramoe::cli
