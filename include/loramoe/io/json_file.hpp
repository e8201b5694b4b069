#pragma once
// A whole JSON file (config.json, adapter_config.json, indexes), parsed, with errors naming the file.

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include <loramoe/core/error.hpp>

namespace loramoe::io {

inline nlohmann::json read_json_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) fail<io_error>("cannot open {}", path.string());
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        fail<format_error>("{}: not valid JSON ({})", path.string(), e.what());
    }
}

}  // namespace loramoe::io
