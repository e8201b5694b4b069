#pragma once
// Text to token ids and back, behind one interface whatever the model's tokenizer is. load_tokenizer
// picks it from the model folder: a tokenizer.model is SentencePiece, as LLaMA-2 checkpoints ship it;
// otherwise a tokenizer.json is byte-level BPE (Llama 3, Qwen2, Mistral's newer ones; io/bpe_tokenizer.hpp);
// otherwise a tokenizer_config.json whose "tokenizer_class" is "LoramoeByteTokenizer" means bytes, for
// small models made here that have no vocabulary. encode() never adds BOS or EOS: the caller places them
// (io/instruction_data.hpp does); encode_with_special_tokens() adds what transformers' tokenizer adds
// with add_special_tokens=True (tokenizer.json's post-processor template; else BOS, and EOS, as
// tokenizer_config.json's add_bos_token (default true) and add_eos_token (default false) say).
//
// The special ids come from the model's config.json where it names them (bos_token_id, the first
// eos_token_id, pad_token_id), else from the tokenizer: SentencePiece's own, or for tokenizer.json the
// tokens that tokenizer_config.json (else special_tokens_map.json) names as bos_token, eos_token and
// pad_token. PAD falls back to EOS when neither defines one (LLaMA's tokenizer has no padding piece):
// padded positions are masked out of attention and loss, so the id only has to be a row of the embedding.

#include <concepts>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/core/error.hpp>
#include <loramoe/io/bpe_tokenizer.hpp>
#include <loramoe/io/byte_tokenizer.hpp>
#include <loramoe/io/json_fields.hpp>
#include <loramoe/io/json_file.hpp>
#include <loramoe/io/sentencepiece_tokenizer.hpp>
#include <loramoe/llama/config.hpp>

namespace loramoe::io {

class tokenizer {
public:
    virtual ~tokenizer() = default;

    // The ids of `text`, without BOS or EOS.
    virtual std::vector<std::int64_t> encode(std::string_view text) const = 0;
    // The ids of `text` with the special ids transformers adds around one text (see the top).
    virtual std::vector<std::int64_t> encode_with_special_tokens(std::string_view text) const = 0;
    // The text of `ids` with BOS, EOS and PAD skipped; any other id outside [0, vocab_size()) is a
    // value_error.
    virtual std::string decode(std::span<const std::int64_t> ids) const = 0;
    // The ids the tokenizer produces; the model's vocabulary may be larger, never smaller.
    virtual std::int64_t vocab_size() const = 0;
    virtual std::int64_t bos_id() const = 0;
    virtual std::int64_t eos_id() const = 0;
    virtual std::int64_t pad_id() const = 0;
    virtual std::string name() const = 0;
};

// What a concrete tokenizer (byte_tokenizer, sentencepiece_tokenizer) provides; a special id it does not
// define is std::nullopt.
template <class T>
concept tokenizer_model = requires(const T& t, std::string_view text, std::span<const std::int64_t> ids) {
    { t.encode(text) } -> std::same_as<std::vector<std::int64_t>>;
    { t.decode(ids) } -> std::same_as<std::string>;
    { t.vocab_size() } -> std::same_as<std::int64_t>;
    { t.bos_id() } -> std::same_as<std::optional<std::int64_t>>;
    { t.eos_id() } -> std::same_as<std::optional<std::int64_t>>;
    { t.pad_id() } -> std::same_as<std::optional<std::int64_t>>;
    { t.name() } -> std::same_as<std::string>;
};

struct special_token_ids {
    std::int64_t bos = 0;
    std::int64_t eos = 0;
    std::int64_t pad = 0;
    std::vector<std::int64_t> before_text, after_text;  // add_special_tokens=True's
};

// A concrete tokenizer behind the interface, with the special ids the model uses.
template <tokenizer_model Model>
class tokenizer_adapter final : public tokenizer {
public:
    tokenizer_adapter(Model model, special_token_ids special) : model_(std::move(model)), special_(special) {}

    std::vector<std::int64_t> encode(std::string_view text) const override { return model_.encode(text); }
    std::vector<std::int64_t> encode_with_special_tokens(std::string_view text) const override {
        std::vector<std::int64_t> ids = special_.before_text;
        const auto body = model_.encode(text);
        ids.insert(ids.end(), body.begin(), body.end());
        ids.insert(ids.end(), special_.after_text.begin(), special_.after_text.end());
        return ids;
    }
    // The special ids are dropped here, since the model's may lie past the tokenizer's vocabulary.
    std::string decode(std::span<const std::int64_t> ids) const override {
        std::vector<std::int64_t> text_ids;
        text_ids.reserve(ids.size());
        for (const std::int64_t id : ids)
            if (id != special_.bos && id != special_.eos && id != special_.pad) text_ids.push_back(id);
        return model_.decode(text_ids);
    }
    std::int64_t vocab_size() const override { return model_.vocab_size(); }
    std::int64_t bos_id() const override { return special_.bos; }
    std::int64_t eos_id() const override { return special_.eos; }
    std::int64_t pad_id() const override { return special_.pad; }
    std::string name() const override { return model_.name(); }

private:
    Model model_;
    special_token_ids special_;
};

// The byte tokenizer with its own special ids (256, 257, 258), for a model created here.
inline std::unique_ptr<tokenizer> make_byte_tokenizer() {
    return std::make_unique<tokenizer_adapter<byte_tokenizer>>(
        byte_tokenizer{},
        special_token_ids{
            byte_tokenizer::bos, byte_tokenizer::eos, byte_tokenizer::pad, {byte_tokenizer::bos}, {}});
}

namespace detail {
// Checks the tokenizer against the model's vocabulary and settles the special ids (see the top).
template <tokenizer_model Model>
std::unique_ptr<tokenizer> configured_tokenizer(Model model, const llama::llama_config& config,
                                                const std::filesystem::path& model_dir) {
    const std::string folder = model_dir.string();
    if (model.vocab_size() > config.vocab_size)
        fail<value_error>("{}: the {} has {} ids, more than the model's vocab_size = {}", folder,
                          model.name(), model.vocab_size(), config.vocab_size);
    // `key` names the config.json entry, `role` the id in messages.
    auto settle = [&](std::optional<std::int64_t> from_config, std::optional<std::int64_t> from_tokenizer,
                      const char* key, const char* role) {
        if (!from_config && !from_tokenizer)
            fail<value_error>("{}: no {} id: config.json has no {} and the {} defines none", folder, role,
                              key, model.name());
        const std::int64_t id = from_config ? *from_config : *from_tokenizer;
        if (id < 0 || id >= config.vocab_size) {
            const std::string origin =
                from_config ? fmt::format("config.json's {}", key) : "from the " + model.name();
            fail<value_error>("{}: the {} id {} ({}) is outside the model's vocabulary [0, {})", folder, role,
                              id, origin, config.vocab_size);
        }
        return id;
    };
    special_token_ids special;
    special.bos = settle(config.bos_token_id, model.bos_id(), "bos_token_id", "BOS");
    special.eos =
        settle(config.eos_token_ids.empty() ? std::nullopt : std::optional(config.eos_token_ids.front()),
               model.eos_id(), "eos_token_id", "EOS");
    special.pad = settle(config.pad_token_id, model.pad_id().value_or(special.eos), "pad_token_id", "PAD");
    if constexpr (std::is_same_v<Model, bpe_tokenizer>) {
        special.before_text = model.template_prefix();
        special.after_text = model.template_suffix();
    } else {
        const auto settings = model_dir / "tokenizer_config.json";
        const nlohmann::json j =
            std::filesystem::exists(settings) ? read_json_file(settings) : nlohmann::json::object();
        const json_fields fields(j, settings.string());
        if (fields.optional<bool>("add_bos_token", true)) special.before_text = {special.bos};
        if (fields.optional<bool>("add_eos_token", false)) special.after_text = {special.eos};
    }
    return std::make_unique<tokenizer_adapter<Model>>(std::move(model), special);
}

// The tokens tokenizer_config.json (else special_tokens_map.json) names as bos_token, eos_token and
// pad_token: a string or {"content": ...}; nullopt where neither names one. Each file is read once.
struct special_token_names {
    std::optional<std::string> bos, eos, pad;
};

inline special_token_names read_special_token_names(const std::filesystem::path& model_dir) {
    special_token_names names;
    for (const char* file : {"tokenizer_config.json", "special_tokens_map.json"}) {
        const auto path = model_dir / file;
        if (!std::filesystem::exists(path)) continue;
        const nlohmann::json j = read_json_file(path);
        const json_fields fields(j, path.string());
        auto take = [&](const char* key, std::optional<std::string>& name) {
            if (name || !fields.is_set(key)) return;  // the earlier file wins
            name = fields.holds<std::string>(key) ? fields.required<std::string>(key)
                                                  : fields.object(key).required<std::string>("content");
        };
        take("bos_token", names.bos);
        take("eos_token", names.eos);
        take("pad_token", names.pad);
    }
    return names;
}

// A tokenizer.json with the special ids its folder's tokenizer_config.json names.
inline bpe_tokenizer load_bpe_tokenizer(const std::filesystem::path& model_dir) {
    bpe_tokenizer model(model_dir / "tokenizer.json");
    const special_token_names names = read_special_token_names(model_dir);
    auto id_of = [&](const char* key,
                     const std::optional<std::string>& token) -> std::optional<std::int64_t> {
        if (!token) return std::nullopt;
        const auto id = model.token_id(*token);
        if (!id)
            fail<value_error>(
                "{}: the {} \"{}\" named in tokenizer_config.json is not a token of tokenizer.json",
                model_dir.string(), key, *token);
        return id;
    };
    model.set_special_ids(id_of("bos_token", names.bos), id_of("eos_token", names.eos),
                          id_of("pad_token", names.pad));
    return model;
}

// The "tokenizer_class" of a tokenizer_config.json; empty when it names none.
inline std::string tokenizer_class(const std::filesystem::path& path) {
    const nlohmann::json j = read_json_file(path);
    return json_fields(j, path.string()).optional<std::string>("tokenizer_class", "");
}
}  // namespace detail

// The tokenizer of the model in `model_dir`, checked against its config (see the top). Throws io_error
// when the folder has no tokenizer loramoe reads, value_error when it does not fit the model.
inline std::unique_ptr<tokenizer> load_tokenizer(const std::filesystem::path& model_dir,
                                                 const llama::llama_config& config) {
    if (const auto model_file = model_dir / "tokenizer.model"; std::filesystem::exists(model_file))
        return detail::configured_tokenizer(sentencepiece_tokenizer(model_file), config, model_dir);
    if (std::filesystem::exists(model_dir / "tokenizer.json"))
        return detail::configured_tokenizer(detail::load_bpe_tokenizer(model_dir), config, model_dir);
    const auto tokenizer_config = model_dir / "tokenizer_config.json";
    if (!std::filesystem::exists(tokenizer_config))
        fail<io_error>(
            "{}: no tokenizer: looked for tokenizer.model (SentencePiece), tokenizer.json (byte-level BPE) "
            "and "
            "tokenizer_config.json with \"tokenizer_class\": \"{}\"",
            model_dir.string(), byte_tokenizer::class_name);
    const std::string name = detail::tokenizer_class(tokenizer_config);
    if (name != byte_tokenizer::class_name)
        fail<io_error>(
            "{}: tokenizer_config.json names tokenizer_class \"{}\" but the folder has neither "
            "tokenizer.model "
            "nor tokenizer.json; loramoe reads SentencePiece tokenizer.model files, byte-level BPE "
            "tokenizer.json "
            "files and \"{}\"",
            model_dir.string(), name, byte_tokenizer::class_name);
    return detail::configured_tokenizer(byte_tokenizer{}, config, model_dir);
}

}  // namespace loramoe::io
