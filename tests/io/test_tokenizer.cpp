// Tokenizers: the byte-level one (exact on any UTF-8), SentencePiece models trained here on synthetic
// text, and load_tokenizer's choice of tokenizer and special ids from a model folder and its config.

#include "test_support.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/io/llama_config_json.hpp>
#include <loramoe/io/tokenizer.hpp>

namespace test_tokenizer {

constexpr auto bpe = loramoe::io::sentencepiece_model_type::bpe;

// Texts every tokenizer must give back exactly: ASCII, repeated and leading spaces, newlines and tabs,
// digits, accents, CJK, an emoji, and the empty text.
const std::vector<std::string> round_trip_texts = {
    "the cat sat on the mat",    "  two  spaces\nand a newline\tand a tab ",
    "in 2023, 42 dogs ran 7 km", "café über naïve",
    "数据 and ☃ and 😀",          "",
};

// A config with only what load_tokenizer reads set.
loramoe::llama::llama_config config_with_vocab(loramoe::index vocab_size) {
    loramoe::llama::llama_config c;
    c.vocab_size = vocab_size;
    return c;
}

// A few hundred sentences over a small vocabulary, seeded.
std::vector<std::string> synthetic_sentences(std::size_t count) {
    const std::vector<std::string> words = {
        "the",   "cat",  "sat",  "on",    "mat",     "a",      "dog",    "ran",   "in",
        "park",  "über", "café", "数据",  "quickly", "42",     "jumps",  "over",  "lazy",
        "brown", "fox",  "and",  "model", "token",   "expert", "router", "world", "knowledge"};
    loramoe::random_generator rng(7);
    std::vector<std::string> sentences;
    for (std::size_t s = 0; s < count; ++s) {
        std::string sentence;
        const std::uint64_t length = 4 + rng.below(8);
        for (std::uint64_t w = 0; w < length; ++w) {
            if (w > 0) sentence += ' ';
            sentence += words[rng.below(words.size())];
        }
        sentences.push_back(sentence + (rng.below(2) == 0 ? "." : ","));
    }
    return sentences;
}

// A model folder with a freshly trained tokenizer.model; returns its number of pieces.
std::int64_t train_into(const std::filesystem::path& folder, loramoe::io::sentencepiece_model_type type) {
    loramoe::io::train_sentencepiece(synthetic_sentences(300), folder / "tokenizer.model",
                                     {.vocab_size = 400, .type = type});
    return loramoe::io::sentencepiece_tokenizer(folder / "tokenizer.model").vocab_size();
}

}  // namespace test_tokenizer

TEST_SUITE("io") {
    TEST_CASE("byte tokenizer: ids are the UTF-8 bytes, specials 256..258, exact round trip") {
        const auto tok = loramoe::io::make_byte_tokenizer();
        CHECK(tok->vocab_size() == 259);
        CHECK(tok->bos_id() == 256);
        CHECK(tok->eos_id() == 257);
        CHECK(tok->pad_id() == 258);
        CHECK(tok->name() == "byte-level tokenizer");
        CHECK(tok->encode("Hi\n") == std::vector<std::int64_t>{72, 105, 10});
        // "é" is two bytes, "☃" three.
        CHECK(tok->encode("é☃") == std::vector<std::int64_t>{0xC3, 0xA9, 0xE2, 0x98, 0x83});
        CHECK(tok->encode("").empty());
        for (const std::string& text : test_tokenizer::round_trip_texts)
            CHECK(tok->decode(tok->encode(text)) == text);
    }

    TEST_CASE("byte tokenizer: decode skips BOS, EOS and PAD and rejects ids past the vocabulary") {
        const auto tok = loramoe::io::make_byte_tokenizer();
        CHECK(tok->decode(std::vector<std::int64_t>{256, 72, 105, 257, 258, 258}) == "Hi");
        CHECK_THROWS_NAMING(loramoe::value_error, tok->decode(std::vector<std::int64_t>{72, 259}), "259",
                            "[0, 259)");
        CHECK_THROWS_NAMING(loramoe::value_error, tok->decode(std::vector<std::int64_t>{-1}), "-1");
    }

    TEST_CASE(
        "byte tokenizer: a saved folder loads back, with the special ids of the config where it has them") {
        loramoe::test::temporary_directory dir;
        loramoe::io::save_byte_tokenizer(dir / "model");
        CHECK(nlohmann::json::parse(loramoe::test::read_file(dir / "model/tokenizer_config.json")) ==
              nlohmann::json{{"tokenizer_class", "LoramoeByteTokenizer"}});

        // No ids in the config: the tokenizer's own.
        const auto own = loramoe::io::load_tokenizer(dir / "model", test_tokenizer::config_with_vocab(259));
        CHECK(own->name() == "byte-level tokenizer");
        CHECK(own->bos_id() == 256);
        CHECK(own->eos_id() == 257);
        CHECK(own->pad_id() == 258);
        CHECK(own->decode(own->encode("naïve")) == "naïve");

        // The config's ids win; the first of several EOS ids is the one; a larger model vocabulary is fine.
        auto config = test_tokenizer::config_with_vocab(300);
        config.bos_token_id = 299;
        config.eos_token_ids = {298, 297};
        config.pad_token_id = 0;
        const auto configured = loramoe::io::load_tokenizer(dir / "model", config);
        CHECK(configured->vocab_size() == 259);
        CHECK(configured->bos_id() == 299);
        CHECK(configured->eos_id() == 298);
        CHECK(configured->pad_id() == 0);
        // The configured specials decode to nothing although they lie past the tokenizer's 259 ids; byte 0
        // is the pad id now, so it is skipped too.
        CHECK(configured->decode(std::vector<std::int64_t>{299, 72, 0, 105, 298}) == "Hi");
        CHECK_THROWS_NAMING(loramoe::value_error, configured->decode(std::vector<std::int64_t>{297}), "297",
                            "[0, 259)");
    }

    TEST_CASE("load_tokenizer: the tokenizer must fit the model's vocabulary, and so must the special ids") {
        loramoe::test::temporary_directory dir;
        loramoe::io::save_byte_tokenizer(dir.path());
        CHECK_THROWS_NAMING(loramoe::value_error,
                            loramoe::io::load_tokenizer(dir.path(), test_tokenizer::config_with_vocab(258)),
                            dir.path().string(), "byte-level tokenizer has 259 ids", "vocab_size = 258");

        auto config = test_tokenizer::config_with_vocab(259);
        config.bos_token_id = 259;
        CHECK_THROWS_NAMING(
            loramoe::value_error, loramoe::io::load_tokenizer(dir.path(), config),
            "BOS id 259 (config.json's bos_token_id) is outside the model's vocabulary [0, 259)");
        config.bos_token_id.reset();
        config.pad_token_id = -1;
        CHECK_THROWS_NAMING(loramoe::value_error, loramoe::io::load_tokenizer(dir.path(), config),
                            "PAD id -1", "pad_token_id");
    }

    TEST_CASE("load_tokenizer: no tokenizer loramoe reads is an io_error saying what it looked for") {
        loramoe::test::temporary_directory dir;
        const auto config = test_tokenizer::config_with_vocab(259);
        CHECK_THROWS_NAMING(loramoe::io_error, loramoe::io::load_tokenizer(dir.path(), config),
                            dir.path().string(), "tokenizer.model", "tokenizer.json", "tokenizer_config.json",
                            "LoramoeByteTokenizer");

        loramoe::test::write_file(dir / "tokenizer_config.json", R"({"tokenizer_class": "LlamaTokenizer"})");
        CHECK_THROWS_NAMING(loramoe::io_error, loramoe::io::load_tokenizer(dir.path(), config),
                            "\"LlamaTokenizer\"", "neither tokenizer.model nor tokenizer.json");
        loramoe::test::write_file(dir / "tokenizer_config.json", R"({"tokenizer_class": 3})");
        CHECK_THROWS_NAMING(loramoe::format_error, loramoe::io::load_tokenizer(dir.path(), config),
                            (dir / "tokenizer_config.json").string(),
                            "'tokenizer_class' is 3, expected a string");
        loramoe::test::write_file(dir / "tokenizer_config.json", "{\"tokenizer_class\": ");
        CHECK_THROWS_NAMING(loramoe::format_error, loramoe::io::load_tokenizer(dir.path(), config),
                            (dir / "tokenizer_config.json").string(), "not valid JSON");
    }

    TEST_CASE(
        "sentencepiece: a model trained here loads from its folder with config.json's ids, round-trips") {
        loramoe::test::temporary_directory dir;
        const std::int64_t pieces = test_tokenizer::train_into(dir.path(), test_tokenizer::bpe);
        // 3 specials, 256 byte pieces, the corpus's characters and some merges; at most the 400 asked for.
        CHECK(pieces > 259);
        CHECK(pieces <= 400);
        // config.json as a LLaMA checkpoint has it: BOS 1, EOS 2, no pad_token_id.
        auto config = test_tokenizer::config_with_vocab(pieces);
        config.hidden_size = config.intermediate_size = config.num_hidden_layers =
            config.num_attention_heads = 4;
        config.num_key_value_heads = 4;
        config.head_dim = 2;
        config.bos_token_id = 1;
        config.eos_token_ids = {2};
        loramoe::test::write_file(dir / "config.json", loramoe::io::to_json(config).dump());
        const auto read_back = loramoe::io::parse_llama_config(
            nlohmann::json::parse(loramoe::test::read_file(dir / "config.json")), "config.json");

        const auto tok = loramoe::io::load_tokenizer(dir.path(), read_back);
        CHECK(tok->name() == "SentencePiece " + (dir / "tokenizer.model").string());
        CHECK(tok->vocab_size() == pieces);
        CHECK(tok->bos_id() == 1);
        CHECK(tok->eos_id() == 2);
        CHECK(tok->pad_id() == 2);  // neither the config nor the model has one: EOS
        for (const std::string& text : test_tokenizer::round_trip_texts) {
            const auto ids = tok->encode(text);
            for (const std::int64_t id : ids) {
                CHECK(id >= 0);
                CHECK(id < pieces);
            }
            CHECK(tok->decode(ids) == text);
        }
        // Known words merge into fewer pieces than they have bytes.
        CHECK(tok->encode("the cat sat on the mat").size() < std::string("the cat sat on the mat").size());
        CHECK(tok->encode("").empty());

        // BOS and EOS decode to nothing; each encode() adds its own leading "▁", as HF's LLaMA tokenizer
        // does, so two texts encoded apart decode with a space between them.
        auto joined = tok->encode("the cat");
        const auto second = tok->encode("sat");
        joined.insert(joined.begin(), tok->bos_id());
        joined.insert(joined.end(), second.begin(), second.end());
        joined.push_back(tok->eos_id());
        CHECK(tok->decode(joined) == "the cat sat");
        CHECK_THROWS_NAMING(loramoe::value_error, tok->decode(std::vector<std::int64_t>{pieces}),
                            (dir / "tokenizer.model").string(), std::to_string(pieces));
    }

    TEST_CASE("sentencepiece: unigram round-trips; a word model round-trips the words it knows") {
        loramoe::test::temporary_directory dir;
        using loramoe::io::sentencepiece_model_type;
        const std::int64_t pieces = test_tokenizer::train_into(dir.path(), sentencepiece_model_type::unigram);
        const auto unigram =
            loramoe::io::load_tokenizer(dir.path(), test_tokenizer::config_with_vocab(pieces));
        for (const std::string& text : test_tokenizer::round_trip_texts)
            CHECK(unigram->decode(unigram->encode(text)) == text);

        const std::int64_t words = test_tokenizer::train_into(dir.path(), sentencepiece_model_type::word);
        const auto word = loramoe::io::load_tokenizer(dir.path(), test_tokenizer::config_with_vocab(words));
        CHECK(word->encode("the lazy fox").size() == 3);
        CHECK(word->decode(word->encode("the lazy fox")) == "the lazy fox");
    }

    TEST_CASE("sentencepiece: the model's vocabulary must hold the tokenizer's; a pad row past it is fine") {
        loramoe::test::temporary_directory dir;
        const std::int64_t pieces = test_tokenizer::train_into(dir.path(), test_tokenizer::bpe);
        const auto smaller = test_tokenizer::config_with_vocab(pieces - 1);
        CHECK_THROWS_NAMING(
            loramoe::value_error, loramoe::io::load_tokenizer(dir.path(), smaller),
            fmt::format("has {} ids, more than the model's vocab_size = {}", pieces, pieces - 1));
        // A model with one added row for padding (as fine-tuned LLaMAs often have).
        auto config = test_tokenizer::config_with_vocab(pieces + 1);
        config.pad_token_id = pieces;
        const auto tok = loramoe::io::load_tokenizer(dir.path(), config);
        CHECK(tok->pad_id() == pieces);
        auto ids = tok->encode("the dog");
        ids.push_back(pieces);
        CHECK(tok->decode(ids) == "the dog");
    }

    TEST_CASE(
        "sentencepiece: a file that is not a model is a format_error naming it, a missing one io_error") {
        loramoe::test::temporary_directory dir;
        loramoe::test::write_file(dir / "tokenizer.model", "not a model");
        const auto config = test_tokenizer::config_with_vocab(10);
        CHECK_THROWS_NAMING(loramoe::format_error, loramoe::io::load_tokenizer(dir.path(), config),
                            (dir / "tokenizer.model").string(), "not a SentencePiece model");
        CHECK_THROWS_NAMING(loramoe::io_error, loramoe::io::sentencepiece_tokenizer(dir / "absent.model"),
                            "cannot open", (dir / "absent.model").string());
    }

    TEST_CASE("sentencepiece: training errors name the file") {
        loramoe::test::temporary_directory dir;
        CHECK_THROWS_NAMING(loramoe::value_error,
                            loramoe::io::train_sentencepiece({}, dir / "m.model", {.vocab_size = 400}),
                            (dir / "m.model").string(), "no sentences");
        // Too small for the byte pieces and the characters.
        const auto sentences = test_tokenizer::synthetic_sentences(50);
        CHECK_THROWS_NAMING(loramoe::value_error,
                            loramoe::io::train_sentencepiece(sentences, dir / "m.model", {.vocab_size = 100}),
                            (dir / "m.model").string(), "Vocabulary size");
        CHECK(dir.files().empty());
    }

}  // TEST_SUITE("io")
