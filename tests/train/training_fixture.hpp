#pragma once
// A tiny HuggingFace-format LLaMA folder as a user has one (config.json, model.safetensors and a
// SentencePiece tokenizer.model), and a JSONL file of a small learnable instruction task, written into
// a temporary folder. Shared by the library-level and the command-level training tests.
//
// The task, 64 examples over the letters a..h, two task types:
//   {"instruction": "reverse c a f", "output": "f a c", "task_type": 0}
//   {"instruction": "copy c a f",    "output": "c a f", "task_type": 1}
// The tokenizer is a BPE SentencePiece model trained on those texts (no byte fallback, so the
// vocabulary stays small: a few dozen pieces). The model: V = the tokenizer's pieces, D = 32, 2 layers,
// 4 heads over 2 kv heads (Dh = 8), F = 64, BOS 1, EOS 2, seeded random weights: norms 1, embedding
// N(0, 1), every projection N(0, 1 / fan_in), so that the random network passes signals of order one
// and its logits can move (with HF's N(0, 0.02) at D = 32 the logits of a normalised hidden state
// could not differ by more than about 0.6, and no adapter could lower the loss much).

#include "test_support.hpp"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/io/hf_checkpoint.hpp>
#include <loramoe/io/instruction_data.hpp>
#include <loramoe/io/sentencepiece_tokenizer.hpp>
#include <loramoe/io/tokenizer.hpp>
#include <loramoe/llama/model.hpp>

namespace training_fixture {

namespace fs = std::filesystem;
using loramoe::index;

// `count` examples of the task, alternating reverse (task type 0) and copy (task type 1), 3 or 4
// letters each, seeded.
inline std::vector<loramoe::io::instruction_example> task_examples(std::size_t count,
                                                                   std::uint64_t seed = 11) {
    const std::string letters = "abcdefgh";
    loramoe::random_generator rng(seed);
    std::vector<loramoe::io::instruction_example> examples;
    for (std::size_t i = 0; i < count; ++i) {
        const std::uint64_t length = 3 + rng.below(2);
        std::vector<std::string> word;
        for (std::uint64_t k = 0; k < length; ++k) word.emplace_back(1, letters[rng.below(letters.size())]);
        const bool reverse = i % 2 == 0;
        auto join = [](auto begin, auto end) {
            std::string text;
            for (auto it = begin; it != end; ++it) text += (text.empty() ? "" : " ") + *it;
            return text;
        };
        loramoe::io::instruction_example e;
        e.instruction = (reverse ? "reverse " : "copy ") + join(word.begin(), word.end());
        e.output = reverse ? join(word.rbegin(), word.rend()) : join(word.begin(), word.end());
        e.task_type = reverse ? 0 : 1;
        examples.push_back(std::move(e));
    }
    return examples;
}

inline std::string to_jsonl(const std::vector<loramoe::io::instruction_example>& examples) {
    std::string text;
    for (const auto& e : examples)
        text +=
            nlohmann::json({{"instruction", e.instruction}, {"output", e.output}, {"task_type", e.task_type}})
                .dump() +
            "\n";
    return text;
}

inline loramoe::llama::llama_config tiny_config(index vocab_size) {
    loramoe::llama::llama_config c;
    c.vocab_size = vocab_size;
    c.hidden_size = 32;
    c.intermediate_size = 64;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 8;
    c.rms_norm_eps = 1e-6;
    c.max_position_embeddings = 64;
    c.bos_token_id = 1;
    c.eos_token_ids = {2};
    return c;
}

// Norms 1, the embedding N(0, 1), every other matrix N(0, 1 / fan_in) (see the top).
inline void randomise_base(loramoe::llama::llama_model<float>& model, std::uint64_t seed) {
    loramoe::random_generator rng(seed);
    float* values = model.base().values().data();
    for (const auto& t : model.layout().tensors()) {
        const bool norm = t.name.find("norm") != std::string::npos;
        const bool embedding = t.name == "model.embed_tokens.weight";
        const double scale = embedding ? 1.0 : 1.0 / std::sqrt(static_cast<double>(t.shape.back()));
        for (index i = 0; i < t.size(); ++i)
            values[t.offset + i] = norm ? 1.0f : static_cast<float>(scale * rng.normal());
    }
}

// Writes the HF folder for `examples` into `folder`: tokenizer.model, config.json, model.safetensors.
inline void write_model_folder(const fs::path& folder,
                               const std::vector<loramoe::io::instruction_example>& examples,
                               std::uint64_t seed = 5) {
    fs::create_directories(folder);
    std::vector<std::string> sentences;
    for (const auto& e : examples) {
        sentences.push_back(e.instruction);
        sentences.push_back(e.output);
    }
    loramoe::io::train_sentencepiece(
        sentences, folder / "tokenizer.model",
        {.vocab_size = 48, .type = loramoe::io::sentencepiece_model_type::bpe, .byte_fallback = false});
    const loramoe::io::sentencepiece_tokenizer tokenizer(folder / "tokenizer.model");
    loramoe::llama::llama_model<float> model(tiny_config(tokenizer.vocab_size()));
    randomise_base(model, seed);
    loramoe::io::save_hf_checkpoint(folder, model);
}

// The folder pair every training test starts from, with the data already tokenized as the trainer
// takes it (plain template).
struct task_fixture {
    loramoe::test::temporary_directory dir;
    fs::path model_dir = dir / "model";
    fs::path data_file = dir / "train.jsonl";
    std::vector<loramoe::io::instruction_example> data = task_examples(64);
    loramoe::llama::llama_config config;
    std::unique_ptr<loramoe::io::tokenizer> tokenizer;
    std::vector<loramoe::io::tokenized_example> examples;

    task_fixture() {
        write_model_folder(model_dir, data);
        loramoe::test::write_file(data_file, to_jsonl(data));
        config = loramoe::io::read_llama_config(model_dir);
        tokenizer = loramoe::io::load_tokenizer(model_dir, config);
        for (const auto& e : loramoe::io::read_instruction_jsonl(data_file))
            examples.push_back(
                loramoe::io::tokenize_example(e, *tokenizer, loramoe::io::prompt_template::plain, 64));
    }

    std::int64_t pad_id() const { return tokenizer->pad_id(); }
};

#ifdef LORAMOE_CLI_PATH
// `loramoe train` on the fixture: the model, the data, OUT, and `options`.
inline std::string train_arguments(const task_fixture& f, const fs::path& out, const std::string& options) {
    using loramoe::test::quote;
    return "train --model " + quote(f.model_dir) + " --data " + quote(f.data_file) + " --out " + quote(out) +
           " " + options;
}
#endif

}  // namespace training_fixture
