#pragma once
// The byte-level BPE tokenizers that Llama 3, Qwen2 and GPT-2-style checkpoints ship as tokenizer.json
// (HuggingFace `tokenizers`), encoding as `tokenizers` does:
//
//   1. added tokens ("added_tokens": <|begin_of_text|>, <|im_end|>, ...) are found in the raw text first,
//      leftmost and longest, each one id (lstrip/rstrip take the white space beside them);
//   2. each stretch of text between them is normalized (none, or "NFC": Qwen2), then pre-tokenized:
//      "Split" by a regular expression (behavior "Isolated": the matches and the gaps between them are
//      the pieces), "ByteLevel" (a space prepended with add_prefix_space, GPT-2's split with use_regex,
//      then every byte written as its printable stand-in, GPT-2's bytes_to_unicode), or a "Sequence";
//   3. each piece becomes ids by BPE: start from its bytes' symbols, merge the adjacent pair of the lowest
//      merge rank (leftmost on ties) until no pair merges; with ignore_merges (Llama 3) a piece that is
//      itself in the vocabulary is that one id.
// decode() writes every token's bytes back (added tokens as their text). Other models (WordPiece,
// Unigram), normalizers and pre-tokenizers are refused with a message that names them.

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/core/error.hpp>
#include <loramoe/core/unicode_regex.hpp>
#include <loramoe/io/json_fields.hpp>
#include <loramoe/io/json_file.hpp>
#include <loramoe/io/unicode_normalization.hpp>

namespace loramoe::io {

namespace detail {
// GPT-2's bytes_to_unicode: the printable bytes stand for themselves, the others for 256, 257, ... in
// byte order; as UTF-8 strings.
inline const std::array<std::string, 256>& byte_symbols() {
    static const std::array<std::string, 256> symbols = [] {
        std::array<std::string, 256> s;
        auto printable = [](int b) {
            return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        };
        int next = 256;
        for (int b = 0; b < 256; ++b) {
            const int code = printable(b) ? b : next++;
            s[static_cast<std::size_t>(b)] = code < 0x80
                                                 ? std::string(1, static_cast<char>(code))
                                                 : std::string{static_cast<char>(0xC0 | (code >> 6)),
                                                               static_cast<char>(0x80 | (code & 0x3F))};
        }
        return s;
    }();
    return symbols;
}

// GPT-2's pre-tokenizer pattern, ByteLevel's with use_regex.
inline constexpr std::string_view gpt2_pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
}  // namespace detail

class bpe_tokenizer {
public:
    // Throws io_error when the file cannot be read, format_error when it is not a tokenizer.json,
    // value_error for a tokenizer it does not implement (naming the part).
    explicit bpe_tokenizer(const std::filesystem::path& file) : path_(file.string()) {
        const nlohmann::json j = read_json_file(file);
        const json_fields top(j, path_);
        read_model(top.object("model"));
        read_normalizer(top);
        if (!top.is_set("pre_tokenizer"))
            fail<value_error>("{}: no pre_tokenizer: loramoe reads byte-level BPE tokenizers (ByteLevel)",
                              path_);
        read_pre_tokenizer(top.object("pre_tokenizer"));
        if (!byte_level_)
            fail<value_error>(
                "{}: the pre_tokenizer has no ByteLevel step: loramoe reads byte-level BPE tokenizers",
                path_);
        read_added_tokens(j);
        if (top.is_set("post_processor")) read_post_processor(top.object("post_processor"));
        for (std::size_t b = 0; b < 256; ++b) {
            const auto it = vocab_.find(detail::byte_symbols()[b]);
            if (it == vocab_.end())
                fail<value_error>(
                    "{}: the vocabulary lacks the symbol of byte 0x{:02X}, which byte-level BPE needs", path_,
                    b);
            byte_ids_[b] = it->second;
        }
    }

    std::vector<std::int64_t> encode(std::string_view text) const {
        std::vector<std::int64_t> ids;
        std::size_t done = 0;
        for (const auto& [begin, end, id] : added_tokens_in(text)) {
            encode_stretch(text.substr(done, begin - done), ids);
            ids.push_back(id);
            done = end;
        }
        encode_stretch(text.substr(done), ids);
        return ids;
    }

    std::string decode(std::span<const std::int64_t> ids) const {
        std::string text;
        for (const std::int64_t id : ids) {
            const auto it = token_of_.find(id);
            if (it == token_of_.end())
                fail<value_error>("{}: id {} is not a token of the tokenizer", path_, id);
            if (added_ids_.contains(id)) {
                text += it->second;
                continue;
            }
            for (std::size_t at = 0; at < it->second.size();) {  // byte stand-ins back to bytes
                const std::size_t length = unicode_regex::character_length(it->second, at);
                const auto b = byte_of_.find(it->second.substr(at, length));
                text += b != byte_of_.end() ? std::string(1, b->second) : it->second.substr(at, length);
                at += length;
            }
        }
        return text;
    }

    std::int64_t vocab_size() const { return token_of_.empty() ? 0 : token_of_.rbegin()->first + 1; }
    // The id of a token by its text (a vocabulary entry or an added token), if it has one.
    std::optional<std::int64_t> token_id(std::string_view token) const {
        if (const auto it = added_.find(std::string(token)); it != added_.end()) return it->second.id;
        if (const auto it = vocab_.find(std::string(token)); it != vocab_.end()) return it->second;
        return std::nullopt;
    }
    // tokenizer.json names no special roles; io/tokenizer.hpp sets them from tokenizer_config.json.
    void set_special_ids(std::optional<std::int64_t> bos, std::optional<std::int64_t> eos,
                         std::optional<std::int64_t> pad) {
        bos_ = bos;
        eos_ = eos;
        pad_ = pad;
    }
    // The ids transformers' add_special_tokens=True puts before and after one text: the post-processor's
    // "single" template (Llama 3: <|begin_of_text|> before), nothing without one (Qwen2).
    const std::vector<std::int64_t>& template_prefix() const { return prefix_; }
    const std::vector<std::int64_t>& template_suffix() const { return suffix_; }
    std::optional<std::int64_t> bos_id() const { return bos_; }
    std::optional<std::int64_t> eos_id() const { return eos_; }
    std::optional<std::int64_t> pad_id() const { return pad_; }
    std::string name() const { return "byte-level BPE tokenizer " + path_; }

private:
    struct added_token {
        std::int64_t id;
        bool lstrip, rstrip;
    };
    struct merge {
        std::int64_t rank, result;
    };
    struct split_step {
        std::shared_ptr<const unicode_regex> pattern;  // Split, or ByteLevel's use_regex
        bool add_prefix_space = false;                 // ByteLevel
    };

    static std::uint64_t pair_key(std::int64_t a, std::int64_t b) {
        return static_cast<std::uint64_t>(a) << 32 | static_cast<std::uint64_t>(b);
    }

    void read_model(const json_fields& model) {
        model.one_of("type", {"BPE"}, "BPE");
        if (model.optional<bool>("byte_fallback", false))
            fail<value_error>(
                "{}: BPE with byte_fallback (SentencePiece-style) is not supported; use tokenizer.model",
                model.source());
        if (model.is_set("continuing_subword_prefix") || model.is_set("end_of_word_suffix"))
            fail<value_error>("{}: BPE with a subword prefix or suffix is not supported", model.source());
        if (model.is_set("dropout"))
            fail<value_error>("{}: BPE dropout makes encoding random; loramoe needs a dropout of null",
                              model.source());
        ignore_merges_ = model.optional<bool>("ignore_merges", false);
        const json_fields vocab = model.object("vocab");
        for (const auto& [token, id] : vocab.json().items()) {
            const auto value = vocab.required<std::int64_t>(token);
            if (value < 0 || value > std::numeric_limits<std::int32_t>::max())
                vocab.fail_field<value_error>(token, "an id in [0, 2^31)");
            vocab_[token] = value;
            token_of_[value] = token;
        }
        if (!model.contains("merges") || !model.json()["merges"].is_array())
            model.fail_field("merges", "a list of merges");
        std::int64_t rank = 0;
        for (const auto& entry : model.json()["merges"]) {
            std::string a, b;
            if (entry.is_string()) {  // "a b"
                const std::string text = entry.get<std::string>();
                const auto space = text.find(' ');
                if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos)
                    fail<format_error>("{}: merge {} is not two tokens separated by one space",
                                       model.source(), rank);
                a = text.substr(0, space);
                b = text.substr(space + 1);
            } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() &&
                       entry[1].is_string()) {
                a = entry[0].get<std::string>();
                b = entry[1].get<std::string>();
            } else {
                fail<format_error>("{}: merge {} is neither \"a b\" nor [\"a\", \"b\"]", model.source(),
                                   rank);
            }
            const auto id = [&](const std::string& token) {
                const auto it = vocab_.find(token);
                if (it == vocab_.end())
                    fail<value_error>("{}: merge {} ({} + {}) names \"{}\", which is not in the vocabulary",
                                      model.source(), rank, a, b, token);
                return it->second;
            };
            merges_.insert_or_assign(pair_key(id(a), id(b)),
                                     merge{rank, id(a + b)});  // a repeat wins, as in HF
            ++rank;
        }
        for (int b = 0; b < 256; ++b)
            byte_of_[detail::byte_symbols()[static_cast<std::size_t>(b)]] = static_cast<char>(b);
    }

    void read_normalizer(const json_fields& top) {
        if (!top.is_set("normalizer")) return;
        const json_fields normalizer = top.object("normalizer");
        const std::string type = normalizer.required<std::string>("type");
        if (type != "NFC")
            fail<value_error>("{}: normalizer \"{}\" is not supported (none or \"NFC\")", normalizer.source(),
                              type);
        nfc_ = true;
    }

    // read(each step of a "Sequence"'s list `key`), its errors naming "'key'[i]".
    template <class Read>
    static void for_each_step(const json_fields& sequence, const char* key, Read read) {
        if (!sequence.contains(key) || !sequence.json()[key].is_array())
            sequence.fail_field(key, "a list of steps");
        const auto& list = sequence.json()[key];
        for (std::size_t i = 0; i < list.size(); ++i)
            read(json_fields(list[i], fmt::format("{}: '{}'[{}]", sequence.source(), key, i)));
    }

    void read_pre_tokenizer(const json_fields& step) {
        const std::string type = step.required<std::string>("type");
        if (type == "Sequence") {
            for_each_step(step, "pretokenizers", [&](const json_fields& s) { read_pre_tokenizer(s); });
        } else if (type == "Split") {
            step.one_of("behavior", {"Isolated"}, "Isolated");
            if (step.optional<bool>("invert", false)) step.fail_field<value_error>("invert", "false");
            const json_fields pattern = step.object("pattern");
            std::string regex;
            if (pattern.is_set("Regex"))
                regex = pattern.required<std::string>("Regex");
            else
                regex = escaped(pattern.required<std::string>("String"));
            splits_.push_back({std::make_shared<unicode_regex>(regex, step.source()), false});
        } else if (type == "ByteLevel") {
            if (byte_level_) fail<value_error>("{}: two ByteLevel steps", step.source());
            byte_level_ = true;
            split_step s;
            s.add_prefix_space = step.optional<bool>("add_prefix_space", true);
            if (step.optional<bool>("use_regex", true))
                s.pattern = std::make_shared<unicode_regex>(detail::gpt2_pattern, step.source());
            splits_.push_back(std::move(s));
        } else {
            fail<value_error>(
                "{}: pre-tokenizer \"{}\" is not supported (\"ByteLevel\", \"Split\" with behavior "
                "\"Isolated\", "
                "\"Sequence\")",
                step.source(), type);
        }
    }

    void read_post_processor(const json_fields& step) {
        const std::string type = step.required<std::string>("type");
        if (type == "Sequence") {
            for_each_step(step, "processors", [&](const json_fields& s) { read_post_processor(s); });
        } else if (type == "TemplateProcessing") {
            if (!step.contains("single") || !step.json()["single"].is_array())
                step.fail_field("single", "a list of template pieces");
            bool after = false;
            for (const auto& piece : step.json()["single"]) {
                const json_fields item(piece, step.source() + ": 'single'");
                if (item.contains("Sequence")) {
                    after = true;
                    continue;
                }
                const std::string token = item.object("SpecialToken").required<std::string>("id");
                const json_fields special = step.object("special_tokens").object(token);
                if (!special.contains("ids") || !special.json()["ids"].is_array())
                    special.fail_field("ids", "a list of ids");
                for (const auto& id : special.json()["ids"]) {
                    if (!id.is_number_integer()) special.fail_field("ids", "a list of integer ids");
                    (after ? suffix_ : prefix_).push_back(id.get<std::int64_t>());
                }
            }
        } else if (type != "ByteLevel") {
            fail<value_error>(
                "{}: post-processor \"{}\" is not supported (\"TemplateProcessing\", \"ByteLevel\", "
                "\"Sequence\")",
                step.source(), type);
        }
    }

    static std::string escaped(const std::string& literal) {
        std::string out;
        for (const char c : literal) {
            if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
            out += c;
        }
        return out;
    }

    void read_added_tokens(const nlohmann::json& j) {
        if (!j.contains("added_tokens") || j["added_tokens"].is_null()) return;
        if (!j["added_tokens"].is_array())
            json_fields(j, path_).fail_field("added_tokens", "a list of tokens");
        std::size_t i = 0;
        for (const auto& entry : j["added_tokens"]) {
            const json_fields token(entry, fmt::format("{}: 'added_tokens'[{}]", path_, i++));
            const auto id = token.required<std::int64_t>("id");
            const auto content = token.required<std::string>("content");
            if (id < 0 || content.empty())
                token.fail_field<value_error>("id", "a non-negative id with a non-empty content");
            if (token.optional<bool>("single_word", false))
                token.fail_field<value_error>("single_word",
                                              "false (single-word added tokens are not supported)");
            added_[content] = {id, token.optional<bool>("lstrip", false),
                               token.optional<bool>("rstrip", false)};
            added_ids_.insert(id);
            token_of_[id] = content;
        }
    }

    static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    }

    // The added tokens in `text`, leftmost-longest, as (begin, end, id), begin and end widened by lstrip
    // and rstrip.
    std::vector<std::tuple<std::size_t, std::size_t, std::int64_t>> added_tokens_in(
        std::string_view text) const {
        std::vector<std::tuple<std::size_t, std::size_t, std::int64_t>> found;
        if (added_.empty()) return found;
        std::size_t done = 0;
        for (std::size_t at = 0; at < text.size();) {
            const added_token* best = nullptr;
            std::size_t best_length = 0;
            // added_ is ordered: the tokens that start with text[at] are a contiguous range.
            for (auto it = added_.lower_bound(std::string(1, text[at]));
                 it != added_.end() && it->first[0] == text[at]; ++it)
                if (it->first.size() > best_length && text.substr(at, it->first.size()) == it->first) {
                    best = &it->second;
                    best_length = it->first.size();
                }
            if (!best) {
                ++at;
                continue;
            }
            std::size_t begin = at, end = at + best_length;
            if (best->lstrip)
                while (begin > done && is_space(text[begin - 1])) --begin;
            if (best->rstrip)
                while (end < text.size() && is_space(text[end])) ++end;
            found.emplace_back(begin, end, best->id);
            done = at = end;
        }
        return found;
    }

    void encode_stretch(std::string_view text, std::vector<std::int64_t>& ids) const {
        if (text.empty()) return;
        const std::string normalized = nfc_ ? nfc(text) : std::string(text);
        std::vector<std::string> pieces{normalized};
        for (const split_step& step : splits_) {
            std::vector<std::string> next;
            for (std::string& piece : pieces) {
                if (step.add_prefix_space && !piece.starts_with(' ')) piece.insert(0, 1, ' ');
                if (!step.pattern) {
                    next.push_back(std::move(piece));
                    continue;
                }
                std::size_t done = 0;
                for (const auto& [begin, end] : step.pattern->matches(piece)) {
                    if (begin > done) next.push_back(piece.substr(done, begin - done));
                    next.push_back(piece.substr(begin, end - begin));
                    done = end;
                }
                if (done < piece.size()) next.push_back(piece.substr(done));
            }
            pieces = std::move(next);
        }
        for (const std::string& piece : pieces) encode_piece(piece, ids);
    }

    void encode_piece(const std::string& piece, std::vector<std::int64_t>& ids) const {
        if (ignore_merges_) {
            std::string symbols;
            for (const char c : piece) symbols += detail::byte_symbols()[static_cast<unsigned char>(c)];
            if (const auto it = vocab_.find(symbols); it != vocab_.end()) {
                ids.push_back(it->second);
                return;
            }
        }
        std::vector<std::int64_t> word;
        for (const char c : piece) word.push_back(byte_ids_[static_cast<unsigned char>(c)]);
        while (word.size() > 1) {
            std::size_t best = word.size();
            merge best_merge{std::numeric_limits<std::int64_t>::max(), 0};
            for (std::size_t i = 0; i + 1 < word.size(); ++i)
                if (const auto it = merges_.find(pair_key(word[i], word[i + 1]));
                    it != merges_.end() && it->second.rank < best_merge.rank) {
                    best = i;
                    best_merge = it->second;
                }
            if (best == word.size()) break;
            word[best] = best_merge.result;
            word.erase(word.begin() + static_cast<std::ptrdiff_t>(best) + 1);
        }
        ids.insert(ids.end(), word.begin(), word.end());
    }

    std::string path_;
    std::unordered_map<std::string, std::int64_t> vocab_;
    std::map<std::int64_t, std::string> token_of_;  // vocabulary and added tokens
    std::unordered_map<std::uint64_t, merge> merges_;
    std::unordered_map<std::string, char> byte_of_;
    std::array<std::int64_t, 256> byte_ids_{};  // each byte's symbol's id: where BPE starts
    std::map<std::string, added_token> added_;
    std::unordered_set<std::int64_t> added_ids_;
    std::vector<split_step> splits_;
    bool nfc_ = false, byte_level_ = false, ignore_merges_ = false;
    std::vector<std::int64_t> prefix_, suffix_;
    std::optional<std::int64_t> bos_, eos_, pad_;
};

}  // namespace loramoe::io
