#pragma once
// SentencePiece, the tokenizer of LLaMA checkpoints (their tokenizer.model), through Debian's
// libsentencepiece (CMake target loramoe::sentencepiece).
//
// encode() is SentencePiece's own encoding, which is what HuggingFace's LlamaTokenizer returns for
// LLaMA's model (add_dummy_prefix, identity normalisation, whitespace kept): the text gets a leading
// "▁" (a space), so "Hello" is ["▁Hello"], and decode() drops that one space again. Each encode() adds
// its own prefix: encode("a") + encode("b") decodes as "a b", as tokenizer("a") + tokenizer("b") does in
// HF. Unlike HF, a literal "</s>" in the text is text, not EOS: callers insert special ids themselves.
//
// train_sentencepiece() makes a tokenizer.model from sentences in memory with LLaMA's settings, for
// tests and demos that need a real SentencePiece model.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <loramoe/core/error.hpp>
#include <loramoe/io/atomic_file.hpp>
#include <loramoe/io/mapped_file.hpp>
#include <loramoe/io/sentencepiece_model_check.hpp>

namespace loramoe::io {

class sentencepiece_tokenizer {
public:
    // Throws io_error when the file cannot be opened (or is not a regular file), format_error when it
    // is not a SentencePiece model or one whose tables would make SentencePiece read out of bounds
    // (io/sentencepiece_model_check.hpp).
    explicit sentencepiece_tokenizer(const std::filesystem::path& model_file)
        : path_(model_file), processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
        const mapped_file file(model_file);
        check_sentencepiece_model(file.text(), path_.string());
        if (const auto status = processor_->LoadFromSerializedProto(file.text()); !status.ok())
            fail<format_error>("{}: not a SentencePiece model ({})", path_.string(), status.message());
    }

    std::vector<std::int64_t> encode(std::string_view text) const {
        std::vector<int> ids;
        if (const auto status = processor_->Encode(text, &ids); !status.ok())
            fail<value_error>("{}: cannot encode the text ({})", path_.string(), status.message());
        return {ids.begin(), ids.end()};
    }

    // Control pieces (BOS, EOS) decode to nothing, the unknown piece to " ⁇ ".
    std::string decode(std::span<const std::int64_t> ids) const {
        std::vector<int> pieces;
        pieces.reserve(ids.size());
        for (const std::int64_t id : ids) {
            if (id < 0 || id >= vocab_size())
                fail<value_error>("{}: id {} is outside the tokenizer's vocabulary [0, {})", path_.string(),
                                  id, vocab_size());
            pieces.push_back(static_cast<int>(id));
        }
        std::string text;
        if (const auto status = processor_->Decode(pieces, &text); !status.ok())
            fail<value_error>("{}: cannot decode ({})", path_.string(), status.message());
        return text;
    }

    std::int64_t vocab_size() const { return processor_->GetPieceSize(); }
    // SentencePiece says -1 for an id the model does not define (LLaMA's has no PAD).
    std::optional<std::int64_t> bos_id() const { return defined(processor_->bos_id()); }
    std::optional<std::int64_t> eos_id() const { return defined(processor_->eos_id()); }
    std::optional<std::int64_t> pad_id() const { return defined(processor_->pad_id()); }
    std::string name() const { return "SentencePiece " + path_.string(); }

private:
    static std::optional<std::int64_t> defined(int id) {
        return id >= 0 ? std::optional<std::int64_t>(id) : std::nullopt;
    }

    std::filesystem::path path_;
    // Behind a pointer: SentencePieceProcessor cannot be moved.
    std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

enum class sentencepiece_model_type { bpe, unigram, word };

namespace detail {
// The trainer reads its sentences through this interface.
class sentence_list final : public sentencepiece::SentenceIterator {
public:
    explicit sentence_list(const std::vector<std::string>& sentences) : sentences_(sentences) {}
    bool done() const override { return next_ >= sentences_.size(); }
    void Next() override { ++next_; }
    const std::string& value() const override { return sentences_[next_]; }
    sentencepiece::util::Status status() const override { return {}; }

private:
    const std::vector<std::string>& sentences_;
    std::size_t next_ = 0;
};

inline const char* model_type_name(sentencepiece_model_type type) {
    switch (type) {
        case sentencepiece_model_type::bpe:
            return "bpe";
        case sentencepiece_model_type::unigram:
            return "unigram";
        case sentencepiece_model_type::word:
            return "word";
    }
    fail<value_error>("train_sentencepiece: unknown model type {}", static_cast<int>(type));
}
}  // namespace detail

// How to train a tokenizer.model. The defaults are LLaMA's settings: digits split, and byte
// fallback, so that any text round-trips through encode and decode (bpe and unigram; a word model
// spells an unknown word's "▁" as bytes, which decode does not turn back into a space). `vocab_size`
// is an upper bound: a small corpus gives fewer pieces; with byte fallback it must leave room for the
// 256 byte pieces, the 3 specials and the corpus's characters.
struct sentencepiece_training {
    int vocab_size = 32000;
    sentencepiece_model_type type = sentencepiece_model_type::bpe;
    bool byte_fallback = true;
    bool split_digits = true;
    std::string normalization = "identity";  // SentencePiece's normalization_rule_name ("nmt_nfkc", ...)
    // A TSV of code-point rules (SentencePiece's normalization_rule_tsv) in place of the named rule.
    std::filesystem::path normalization_rules;
};

// Trains a SentencePiece model on `sentences` and writes it to `model_file` (atomically), with unk 0,
// bos 1, eos 2, no pad, whitespace kept, the settings' normalisation (LLaMA's: identity). Training sets
// SentencePiece's process-wide log level to errors only.
inline void train_sentencepiece(const std::vector<std::string>& sentences,
                                const std::filesystem::path& model_file,
                                const sentencepiece_training& settings) {
    if (sentences.empty()) fail<value_error>("train_sentencepiece for {}: no sentences", model_file.string());
    std::unordered_map<std::string, std::string> options = {
        {"model_type", detail::model_type_name(settings.type)},
        {"vocab_size", std::to_string(settings.vocab_size)},
        {"hard_vocab_limit", "false"},
        {"unk_id", "0"},
        {"bos_id", "1"},
        {"eos_id", "2"},
        {"pad_id", "-1"},
        {"byte_fallback", settings.byte_fallback ? "true" : "false"},
        {"split_digits", settings.split_digits ? "true" : "false"},
        {"allow_whitespace_only_pieces", "true"},
        {"normalization_rule_name", settings.normalization},
        {"remove_extra_whitespaces", "false"},
        {"character_coverage", "1.0"},
        {"minloglevel", "2"},
    };
    if (!settings.normalization_rules.empty())
        options["normalization_rule_tsv"] = settings.normalization_rules.string();
    detail::sentence_list list(sentences);
    std::string model;
    if (const auto status = sentencepiece::SentencePieceTrainer::Train(options, &list, &model); !status.ok())
        fail<value_error>("train_sentencepiece for {}: {}", model_file.string(), status.message());
    write_file_atomically(model_file, [&](std::ostream& out) {
        out.write(model.data(), static_cast<std::streamsize>(model.size()));
    });
}

}  // namespace loramoe::io
