#pragma once
// JSON as loramoe reads it from files (config.json, adapter_config.json, indexes, tokenizer files,
// trainer_state.json, safetensors headers, JSONL lines): parsed with errors naming the source, and
// with limits that keep a hostile file's cost in proportion to its size. nlohmann's parser alone
// keeps the last of two equal keys and builds any nesting (tens of bytes of memory per byte of
// "[[[[..."); here a key twice in one object and nesting deeper than max_json_depth are refused as
// the parse meets them, and a whole file larger than max_json_file_bytes is not read.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/core/error.hpp>
#include <loramoe/io/mapped_file.hpp>

namespace loramoe::io {

// Far above any real file (tokenizer.json nests 5 deep, a config 3), far below what costs memory.
inline constexpr std::size_t max_json_depth = 64;
// The largest tokenizer.json files (large vocabularies) have tens of MiB.
inline constexpr std::uint64_t max_json_file_bytes = std::uint64_t{256} << 20;

// `text` parsed; format_error "SOURCE: not valid JSON at POSITION_WORD N: reason" for a syntax error
// (N counts bytes from 1), "SOURCE: ..." for a duplicate key or too deep a nesting.
inline nlohmann::json parse_json(std::string_view text, const std::string& source,
                                 std::string_view position_word = "byte") {
    std::vector<std::unordered_set<std::string>> open_objects;  // the keys seen, per enclosing object
    std::size_t depth = 0;
    using event = nlohmann::json::parse_event_t;
    const nlohmann::json::parser_callback_t limits = [&](int, event e, nlohmann::json& parsed) {
        switch (e) {
            case event::object_start:
            case event::array_start:
                if (++depth > max_json_depth)
                    fail<format_error>("{}: JSON nested more than {} deep", source, max_json_depth);
                if (e == event::object_start) open_objects.emplace_back();
                break;
            case event::object_end:
                open_objects.pop_back();
                [[fallthrough]];
            case event::array_end:
                --depth;
                break;
            case event::key:
                if (!open_objects.back().insert(parsed.get<std::string>()).second)
                    fail<format_error>("{}: the key '{}' appears twice in one object", source,
                                       parsed.get<std::string>());
                break;
            case event::value:
                break;
        }
        return true;
    };
    try {
        return nlohmann::json::parse(text.begin(), text.end(), limits);
    } catch (const nlohmann::json::parse_error& e) {
        // nlohmann says "... at line L, column C: reason"; the position is ours, the reason is its.
        const std::string what = e.what();
        const auto colon = what.find(": ", what.find("parse error"));
        fail<format_error>("{}: not valid JSON at {} {}: {}", source, position_word, e.byte,
                           colon == std::string::npos ? what : what.substr(colon + 2));
    } catch (const nlohmann::json::exception& e) {
        fail<format_error>("{}: not valid JSON ({})", source, e.what());
    }
}

// A whole JSON file: a regular file of at most max_json_file_bytes (io_error otherwise).
inline nlohmann::json read_json_file(const std::filesystem::path& path) {
    const mapped_file file(path);
    if (file.size() > max_json_file_bytes)
        fail<format_error>("{}: {} bytes, more than the {} MiB a JSON file may have", path.string(),
                           file.size(), max_json_file_bytes >> 20);
    return parse_json(file.text(), path.string());
}

}  // namespace loramoe::io
