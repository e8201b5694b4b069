#pragma once
// The tokens that end a generated answer, as transformers' generate() takes them: generation_config.json's
// eos_token_id (an integer or a list: Llama 3.1 Instruct stops at <|end_of_text|>, <|eom_id|> and
// <|eot_id|>), with config.json's eos_token_id and the tokenizer's EOS, each once.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <vector>

#include <loramoe/io/json_fields.hpp>
#include <loramoe/io/json_file.hpp>
#include <loramoe/io/llama_config_json.hpp>
#include <loramoe/io/tokenizer.hpp>
#include <loramoe/llama/config.hpp>

namespace loramoe::io {

inline std::vector<std::int64_t> generation_stop_ids(const std::filesystem::path& model_dir,
                                                     const llama::llama_config& config,
                                                     const tokenizer& tok) {
    std::vector<std::int64_t> stop = {tok.eos_id()};
    auto add = [&](std::int64_t id) {
        if (std::find(stop.begin(), stop.end(), id) == stop.end()) stop.push_back(id);
    };
    for (const std::int64_t id : config.eos_token_ids) add(id);
    const auto path = model_dir / "generation_config.json";
    if (std::filesystem::exists(path)) {
        const nlohmann::json j = read_json_file(path);
        for (const std::int64_t id : token_ids(json_fields(j, path.string()), "eos_token_id")) add(id);
    }
    return stop;
}

}  // namespace loramoe::io
