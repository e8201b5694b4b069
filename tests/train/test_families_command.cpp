// `loramoe train`, `eval` and `generate` on a tiny checkpoint of each family loramoe reads: Llama 3
// (rope_scaling llama3, tied head, a tokenizer.json shaped as Llama 3's), Qwen2 (q/k/v biases, NFC
// tokenizer.json with ChatML's tokens, special ids from tokenizer_config.json) and Mistral (a sliding
// window shorter than the examples, a GPT-2-shaped tokenizer.json): each trains an adapter that lowers
// the loss, scores it and generates; --template chat renders Llama 3's and Qwen2.5's chat templates and
// refuses a folder without one. A Qwen2 window that some layer has refuses longer sequences.

#include "test_support.hpp"
#include "train/training_fixture.hpp"

#include <string>
#include <tuple>

#include <loramoe/io/json_file.hpp>

namespace families_command_test {

namespace fs = std::filesystem;
using loramoe::test::quote;
using loramoe::test::run_cli;

// A checkpoint of `family` in `folder`, with the golden tokenizer `tokenizer` (tests/golden/tokenizer_*).
void write_family_folder(const fs::path& folder, loramoe::llama::model_family family,
                         const std::string& tokenizer, loramoe::index qwen2_window = 0) {
    const fs::path golden = loramoe::test::golden_dir() / tokenizer;
    fs::create_directories(folder);
    for (const char* file : {"tokenizer.json", "tokenizer_config.json"})
        fs::copy_file(golden / file, folder / file);
    const auto tokens = loramoe::io::read_llama_config(golden);
    auto c = training_fixture::tiny_config(tokens.vocab_size);
    c.family = family;
    c.bos_token_id = tokens.bos_token_id;
    c.eos_token_ids = tokens.eos_token_ids;
    if (family == loramoe::llama::model_family::llama) {
        c.tie_word_embeddings = true;
        c.rope_scaling = {.type = loramoe::nn::rope_scaling::kind::llama3,
                          .factor = 8,
                          .original_max_position_embeddings = 16};
    }
    if (family == loramoe::llama::model_family::mistral) c.sliding_window = 6;
    c.longest_sequence = qwen2_window;
    loramoe::llama::llama_model<float> model(c);
    training_fixture::randomise_base(model, 9);
    loramoe::io::save_hf_checkpoint(folder, model);
}
}  // namespace families_command_test

TEST_SUITE("cli") {
    TEST_CASE(
        "loramoe train, eval and generate on Llama 3, Qwen2 and Mistral checkpoints with tokenizer.json") {
        using namespace families_command_test;
        using loramoe::llama::model_family;
        loramoe::test::temporary_directory dir;
        const fs::path data = dir / "train.jsonl";
        loramoe::test::write_file(data, training_fixture::to_jsonl(training_fixture::task_examples(32)));
        for (const auto& variant : {std::tuple{model_family::llama, "tokenizer_llama3", "llama"},
                                    {model_family::qwen2, "tokenizer_qwen2", "qwen2"},
                                    {model_family::mistral, "tokenizer_gpt2", "mistral"}}) {
            const auto [family, tokenizer, type_name] = variant;
            const std::string type = type_name;
            CAPTURE(type);
            const fs::path model = dir / type, out = dir / (type + "-adapter");
            write_family_folder(model, family, tokenizer);
            CHECK(loramoe::io::read_json_file(model / "config.json").at("model_type") == type);
            const auto trained =
                run_cli("train --model " + quote(model) + " --data " + quote(data) + " --out " + quote(out) +
                        " --epochs 8 --batch-size 8 --lr 1e-2 --seed 3 --target-modules "
                        "q_proj,v_proj,down_proj");
            REQUIRE_MESSAGE(trained.status == 0, trained.err);
            auto eval = [&](const std::string& adapter, const std::string& name) {
                const auto r = run_cli("eval --model " + quote(model) + adapter + " --data " + quote(data) +
                                       " --no-generate --out " + quote(dir / name));
                REQUIRE_MESSAGE(r.status == 0, r.err);
                return loramoe::io::read_json_file(dir / name).at("loss").get<double>();
            };
            const double base = eval("", type + "-base.json");
            const double adapted = eval(" --adapter " + quote(out), type + "-adapted.json");
            MESSAGE(type, ": loss ", base, " (base) -> ", adapted, " (adapter)");
            CHECK(adapted < 0.8 * base);
            const auto generated = run_cli("generate --model " + quote(model) + " --adapter " + quote(out) +
                                           " --prompt 'reverse b c a' --max-new-tokens 12");
            REQUIRE_MESSAGE(generated.status == 0, generated.err);
            CHECK(generated.out.back() == '\n');

            // The checkpoint's chat template: Llama 3's and Qwen2.5's are rendered, the GPT-2-shaped
            // tokenizer has none.
            const auto chat = run_cli("train --model " + quote(model) + " --data " + quote(data) + " --out " +
                                      quote(dir / (type + "-chat")) + " --epochs 1 --template chat");
            // Qwen2's ChatML prompt (its default system message) is longer than the tiny model's 64
            // positions: generate keeps its start only when asked.
            const auto chat_generated =
                run_cli("generate --model " + quote(model) +
                        " --prompt hello --max-new-tokens 3 --template chat --truncate-prompt");
            if (family == model_family::mistral) {
                CHECK(chat.status == 1);
                CHECK(chat.err.find("chat_template") != std::string::npos);
                CHECK(chat_generated.status == 1);
            } else {
                CHECK_MESSAGE(chat.status == 0, chat.err);
                CHECK_MESSAGE(chat_generated.status == 0, chat_generated.err);
            }
        }

        const fs::path windowed = dir / "qwen2-window";
        write_family_folder(windowed, model_family::qwen2, "tokenizer_qwen2", 4);
        const auto refused = run_cli("train --model " + quote(windowed) + " --data " + quote(data) +
                                     " --out " + quote(dir / "never") + " --epochs 1");
        CHECK(refused.status == 1);
        CHECK(refused.err.find("sliding window (4 tokens") != std::string::npos);
        CHECK_FALSE(fs::exists(dir / "never" / "adapter_model.safetensors"));
    }
}  // TEST_SUITE
