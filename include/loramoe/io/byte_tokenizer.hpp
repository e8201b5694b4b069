#pragma once
// The byte-level tokenizer, for small models that have no trained vocabulary: ids 0..255 are the bytes
// of the UTF-8 text, 256 is BOS, 257 EOS, 258 PAD (259 ids). Every text encodes and decodes exactly,
// whatever its script. A model folder says it uses this tokenizer with a tokenizer_config.json whose
// "tokenizer_class" is "LoramoeByteTokenizer" (save_byte_tokenizer writes it; io/tokenizer.hpp reads it).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/core/error.hpp>
#include <loramoe/io/atomic_file.hpp>

namespace loramoe::io {

class byte_tokenizer {
public:
    static constexpr std::int64_t bos = 256;
    static constexpr std::int64_t eos = 257;
    static constexpr std::int64_t pad = 258;
    static constexpr std::int64_t size = 259;
    static constexpr std::string_view class_name = "LoramoeByteTokenizer";

    std::vector<std::int64_t> encode(std::string_view text) const {
        std::vector<std::int64_t> ids;
        ids.reserve(text.size());
        for (const char c : text) ids.push_back(static_cast<unsigned char>(c));
        return ids;
    }

    // BOS, EOS and PAD decode to nothing.
    std::string decode(std::span<const std::int64_t> ids) const {
        std::string text;
        text.reserve(ids.size());
        for (const std::int64_t id : ids) {
            if (id < 0 || id >= size)
                fail<value_error>("byte tokenizer: id {} is outside its vocabulary [0, {})", id, size);
            if (id < 256) text.push_back(static_cast<char>(static_cast<unsigned char>(id)));
        }
        return text;
    }

    std::int64_t vocab_size() const { return size; }
    std::optional<std::int64_t> bos_id() const { return bos; }
    std::optional<std::int64_t> eos_id() const { return eos; }
    std::optional<std::int64_t> pad_id() const { return pad; }
    std::string name() const { return "byte-level tokenizer"; }
};

// Writes model_dir/tokenizer_config.json naming the byte tokenizer (the folder is created if needed).
inline void save_byte_tokenizer(const std::filesystem::path& model_dir) {
    std::filesystem::create_directories(model_dir);
    const nlohmann::json config = {{"tokenizer_class", byte_tokenizer::class_name}};
    write_text_atomically(model_dir / "tokenizer_config.json", config.dump(2) + "\n");
}

}  // namespace loramoe::io
