// Example 03: train LoRAMoE adapters on your own HuggingFace checkpoint and JSONL data.
//
// What it teaches, in the order a user takes the steps (see train_adapters below):
//   1. read the model's config.json and load its tokenizer (tokenizer.model, as LLaMA ships it);
//   2. read the JSONL data ({"instruction", "input", "output", "task_type"} a line) and tokenize it;
//   3. build the model with an adapter_config (the paper's defaults: N = 6 experts of rank r = 4,
//      lora_alpha = 32, the LBC with delta = 0.1 and weight beta = 0.1, on gate/up/down_proj), load
//      the frozen base weights, and give the adapters the official initialisation (B = 0);
//   4. train with train::trainer, one train_step() at a time, shown by a progress_display;
//   5. save the adapter folder (adapter_config.json + adapter_model.safetensors, the official names);
//   6. load it back as a user would, io::load_pretrained(model_dir, adapter_dir), and evaluate the
//      held-out examples: the loss over their targets and the exact match of greedy generation.
//
// Run:  03_train_adapters MODEL_DIR DATA.jsonl OUT_DIR     your checkpoint, your data, the adapter's folder
//       03_train_adapters                                  a tiny stand-in, made in a temporary folder
// The stand-in is a random LLaMA saved as a HF folder, with a SentencePiece tokenizer.model trained on
// its data: two task types, "capital of france" -> "paris" (task type 1, world knowledge) and
// "parity of 347" -> "odd" (task type 0, a downstream task). It then takes the same path as your data.
// Exit status 0 on success. With the stand-in, 1 unless the held-out loss fell below half of the base
// model's (it falls from about 6.6 to about 0.4, in well under a second).

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <loramoe/loramoe.hpp>

namespace example {
namespace lm = loramoe;  // not `using namespace loramoe;`: loramoe::index would clash with POSIX's ::index
namespace fs = std::filesystem;

struct outcome {
    double loss_before = 0, loss_after = 0;  // held-out cross-entropy per target token
};

// Steps 1 to 6. Every 5th example is held out for the evaluation, the others are trained on.
outcome train_adapters(const fs::path& model_dir, const fs::path& data, const fs::path& out_dir,
                       const lm::train::training_options& options) {
    // 1. The model's architecture and tokenizer.
    const lm::llama::llama_config config = lm::io::read_llama_config(model_dir);
    const auto tokenizer = lm::io::load_tokenizer(model_dir, config);

    // 2. The data, tokenized: BOS + prompt (masked out of the loss), then output + EOS.
    std::vector<lm::io::tokenized_example> train_set, held_out;
    const auto examples = lm::io::read_instruction_jsonl(data);
    for (std::size_t i = 0; i < examples.size(); ++i)
        (i % 5 == 4 ? held_out : train_set)
            .push_back(lm::io::tokenize_example(examples[i], *tokenizer, lm::io::prompt_template::plain,
                                                /*max_tokens=*/1024));
    fmt::print("{}: {} examples to train on, {} held out; tokenizer: {}\n", data.string(), train_set.size(),
               held_out.size(), tokenizer->name());

    // 3. The model: the frozen base from the checkpoint, LoRAMoE adapters beside it.
    lm::moe::adapter_config adapter;  // its defaults are the paper's; written out here to show them
    adapter.experts = 6, adapter.rank = 4, adapter.alpha = 32;
    adapter.lbc_delta = 0.1, adapter.lbc_weight = 0.1;  // the LBC's delta and its weight beta
    adapter.target_modules = {"gate_proj", "up_proj", "down_proj"};
    lm::llama::llama_model<float> model(config, adapter,
                                        {.seed = options.seed});  // float: 28 GB for a 7B LLaMA
    lm::io::load_base_weights(model_dir, model);
    model.reset_adapters(options.seed);  // A and router Kaiming-uniform, B = 0: the base model, unchanged
    fmt::print("model: {} base parameters (frozen), {} adapter parameters (trained)\n",
               model.layout().total(), model.adapters().size());

    const std::vector<std::int64_t> stop = {tokenizer->eos_id()};
    const lm::train::evaluation_options loss_only{.batch_size = 32, .exact_match = false};
    const double loss_before =
        lm::train::evaluate(model, std::span<const lm::io::tokenized_example>(held_out), tokenizer->pad_id(),
                            stop, loss_only)
            .loss;

    // 4. Training: AdamW on the adapters only, warm-up then cosine decay, clipping at norm 1.
    lm::train::trainer<float> trainer(model, std::move(train_set), tokenizer->pad_id(), options);
    lm::train::progress_display progress("train", /*log_every=*/25);  // on stderr
    while (!trainer.finished()) progress.update(trainer.train_step());

    // 5. The adapter folder; the base checkpoint is not copied.
    lm::train::save_trained(out_dir, model);  // = io::save_adapter when only adapters were trained
    fmt::print("wrote {}\n", (out_dir / "adapter_model.safetensors").string());

    // 6. Back from disk, as `loramoe eval --model MODEL_DIR --adapter OUT_DIR` would load it.
    const auto trained = lm::io::load_pretrained<float>(model_dir, out_dir);
    const lm::train::evaluation_result result =
        lm::train::evaluate(*trained, std::span<const lm::io::tokenized_example>(held_out),
                            tokenizer->pad_id(), stop, {.batch_size = 32, .max_new_tokens = 32});
    fmt::print("held-out loss: {:.4f} with the base model, {:.4f} with the trained adapters\n", loss_before,
               result.loss);
    fmt::print("held-out exact match: {}/{}", result.exact_match.correct, result.exact_match.total);
    for (const auto& [task, count] : result.exact_match_by_task)
        fmt::print("; task type {}: {}/{}", task, count.correct, count.total);
    fmt::print("\n");
    return {loss_before, result.loss};
}

// The stand-in: a HF folder (config.json, model.safetensors, tokenizer.model) and a JSONL file in `dir`.
void make_stand_in(const fs::path& dir) {
    const std::vector<std::pair<std::string, std::string>> capitals = {
        {"france", "paris"}, {"italy", "rome"}, {"spain", "madrid"},  {"japan", "tokyo"},
        {"egypt", "cairo"},  {"peru", "lima"},  {"kenya", "nairobi"}, {"chile", "santiago"}};
    lm::random_generator rng(7);
    std::vector<std::string> sentences;
    std::string jsonl;
    for (int i = 0; i < 400; ++i) {
        nlohmann::json line;
        if (i % 2 == 0) {
            const auto& [country, city] = capitals[rng.below(capitals.size())];
            line = {{"instruction", "capital of " + country}, {"output", city}, {"task_type", 1}};
        } else {
            const auto n = rng.below(1000);
            line = {{"instruction", fmt::format("parity of {}", n)},
                    {"output", n % 2 ? "odd" : "even"},
                    {"task_type", 0}};
        }
        sentences.push_back(line["instruction"].get<std::string>() + " " + line["output"].get<std::string>());
        jsonl += line.dump() + "\n";
    }
    lm::io::write_text_atomically(dir / "data.jsonl", jsonl);
    // LLaMA's tokenizer settings (BPE, byte fallback, digits split), a vocabulary learnt from the data.
    const fs::path model_dir = dir / "model";
    fs::create_directories(model_dir);
    lm::io::train_sentencepiece(sentences, model_dir / "tokenizer.model", {.vocab_size = 400});

    lm::llama::llama_config config;
    config.vocab_size = lm::io::sentencepiece_tokenizer(model_dir / "tokenizer.model").vocab_size();
    config.hidden_size = 64, config.intermediate_size = 128, config.num_hidden_layers = 2;
    config.num_attention_heads = config.num_key_value_heads = 4, config.head_dim = 16;
    config.bos_token_id = 1, config.eos_token_ids = {2};
    lm::llama::llama_model<float> model(config);
    for (const lm::named_tensor& t : model.layout().tensors()) {  // norms 1, matrices N(0, 1 / fan-in)
        const bool norm = t.shape.size() == 1;
        const double scale = 1 / std::sqrt(double(t.shape.back()));
        for (lm::index i = 0; i < t.size(); ++i)
            model.base().values()[t.offset + i] = norm ? 1.0f : float(scale * rng.normal());
    }
    lm::io::save_hf_checkpoint(model_dir, model);
}

}  // namespace example

int main(int argc, char** argv) try {
    namespace fs = std::filesystem;
    if (argc == 4) {  // your checkpoint and data: batch 8, learning rate 2e-4 with 3% warm-up, 3 epochs
        example::train_adapters(argv[1], argv[2], argv[3],
                                {.epochs = 3, .batch_size = 8, .learning_rate = 2e-4});
        return 0;
    }
    if (argc != 1) {
        fmt::print(stderr, "usage: {} [MODEL_DIR DATA.jsonl OUT_DIR]\n", argv[0]);
        return 2;
    }
    const fs::path dir = fs::temp_directory_path() / fmt::format("loramoe-example-03-{}", ::getpid());
    fs::create_directories(dir);
    example::make_stand_in(dir);
    fmt::print("stand-in model and data in {}\n", dir.string());
    // A random base knows nothing yet, so the stand-in trains harder than for a real model.
    const auto run = example::train_adapters(dir / "model", dir / "data.jsonl", dir / "adapter",
                                             {.epochs = 4, .batch_size = 16, .learning_rate = 3e-3});
    fs::remove_all(dir);
    const bool fell = run.loss_after < 0.5 * run.loss_before;
    fmt::print("the held-out loss went from {:.4f} to {:.4f}: {} half of the base model's ({:.4f})\n",
               run.loss_before, run.loss_after, fell ? "below" : "NOT below", 0.5 * run.loss_before);
    return fell ? 0 : 1;
} catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
}
