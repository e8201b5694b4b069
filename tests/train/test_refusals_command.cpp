// The `loramoe` commands on hostile or mistaken inputs (issue 19's classes): each stops with exit 1 and
// a message naming the file and the key or tensor, and leaves what existed before untouched.
//  - an output that is an input (train --mode full --out MODEL, eval --out DATA) is refused first;
//  - eval writes none of its outputs when a later step fails, and refuses empty data;
//  - generate refuses a prompt longer than the model's context, or with --truncate-prompt keeps its
//    start, with a warning;
//  - a NaN in the base weights, a FIFO named config.json, and a resume checkpoint whose optimizer holds
//    a negative second moment or a NaN are refused.

#include "test_support.hpp"
#include "train/training_fixture.hpp"

#include <cmath>
#include <cstring>
#include <map>
#include <string>

#include <sys/stat.h>

#include <loramoe/io/pretrained.hpp>
#include <loramoe/io/safetensors.hpp>

namespace refusals_command_test {

namespace fs = std::filesystem;
using loramoe::test::quote;
using loramoe::test::read_file;
using loramoe::test::run_cli;
using training_fixture::task_fixture;
using training_fixture::train_arguments;

// The bytes of every file in `folder`, by name: what "untouched" compares.
std::map<std::string, std::string> contents(const fs::path& folder) {
    std::map<std::string, std::string> files;
    for (const auto& entry : fs::directory_iterator(folder))
        if (entry.is_regular_file()) files[entry.path().filename().string()] = read_file(entry.path());
    return files;
}

// Exit 1 with every word on stderr.
void check_refused(const loramoe::test::cli_result& r, std::initializer_list<std::string_view> words) {
    CHECK(r.status == 1);
    for (const std::string_view word : words) CHECK_MESSAGE(r.err.find(word) != std::string::npos, r.err);
}

}  // namespace refusals_command_test

TEST_SUITE("cli") {
    TEST_CASE("loramoe train and eval: an output that would overwrite an input is refused before anything") {
        using namespace refusals_command_test;
        task_fixture f;
        const auto model = contents(f.model_dir);
        const auto full = run_cli(train_arguments(f, f.model_dir, "--mode full --epochs 1"));
        check_refused(full, {"--out", "would overwrite", "config.json", "read through --model"});
        CHECK(contents(f.model_dir) == model);
        const std::string data = read_file(f.data_file);
        const auto eval = run_cli("eval --model " + quote(f.model_dir) + " --data " + quote(f.data_file) +
                                  " --no-generate --out " + quote(f.data_file));
        check_refused(eval, {"--out", "would overwrite", "read through --data"});
        CHECK(read_file(f.data_file) == data);
        const auto inside = run_cli("eval --model " + quote(f.model_dir) + " --data " + quote(f.data_file) +
                                    " --no-generate --predictions " + quote(f.model_dir / "tokenizer.model"));
        check_refused(inside, {"--predictions", "tokenizer.model", "read through --model"});
        CHECK(contents(f.model_dir) == model);
        // Beside the inputs, outside them, is fine: a plain LoRA written into the model's folder.
        const auto beside =
            run_cli(train_arguments(f, f.model_dir, "--mode lora --epochs 1 --batch-size 16"));
        CHECK_MESSAGE(beside.status == 0, beside.err);
        CHECK(fs::exists(f.model_dir / "adapter_model.safetensors"));
    }

    TEST_CASE("loramoe eval: empty data is refused; no output is written when a later step fails") {
        using namespace refusals_command_test;
        task_fixture f;
        loramoe::test::write_file(f.dir / "empty.jsonl", "\n  \n");
        loramoe::test::write_file(f.dir / "results.json", "previous results\n");
        const auto empty = run_cli("eval --model " + quote(f.model_dir) + " --data " +
                                   quote(f.dir / "empty.jsonl") + " --out " + quote(f.dir / "results.json"));
        check_refused(empty, {"empty.jsonl", "no examples"});
        // --router-stats on a model without a routed adapter fails: --out, given first, is not written.
        const auto stats = run_cli("eval --model " + quote(f.model_dir) + " --data " + quote(f.data_file) +
                                   " --no-generate --out " + quote(f.dir / "results.json") +
                                   " --router-stats " + quote(f.dir / "stats.json"));
        check_refused(stats, {"--router-stats", "no routed adapter"});
        CHECK(read_file(f.dir / "results.json") == "previous results\n");
        CHECK_FALSE(fs::exists(f.dir / "stats.json"));
    }

    TEST_CASE("loramoe generate: a prompt past the context is refused, or cut with --truncate-prompt") {
        using namespace refusals_command_test;
        task_fixture f;  // max_position_embeddings 64
        std::string prompt;
        for (int i = 0; i < 40; ++i) prompt += "reverse c a f ";
        const std::string command =
            "generate --model " + quote(f.model_dir) + " --max-new-tokens 3 --prompt '" + prompt + "'";
        const auto refused = run_cli(command);
        check_refused(refused,
                      {"the prompt has", "more than the model's context of 64", "--truncate-prompt"});
        const auto cut = run_cli(command + " --truncate-prompt");
        CHECK_MESSAGE(cut.status == 0, cut.err);
        CHECK(cut.err.find("warning: the prompt has") != std::string::npos);
        CHECK(cut.err.find("after a prompt of 64") != std::string::npos);
    }

    TEST_CASE(
        "loramoe train: NaN base weights, a FIFO for config.json, a corrupt optimizer state are refused") {
        using namespace refusals_command_test;
        task_fixture f;
        // A NaN in a base weight: refused at load, naming the tensor (not trained into a NaN adapter).
        fs::copy(f.model_dir, f.dir / "nan_model");
        {
            auto model = loramoe::io::load_pretrained<float>(f.model_dir);
            model->base().values().span()[model->layout().at("model.norm.weight").offset + 3] = NAN;
            loramoe::io::save_hf_checkpoint(f.dir / "nan_model", *model);
        }
        const auto nan = run_cli("train --model " + quote(f.dir / "nan_model") + " --data " +
                                 quote(f.data_file) + " --out " + quote(f.dir / "nan_out") + " --epochs 1");
        check_refused(nan, {"model.safetensors", "'model.norm.weight' holds nan at element 3"});
        CHECK_FALSE(fs::exists(f.dir / "nan_out" / "adapter_model.safetensors"));
        // A FIFO where config.json should be: refused at once, not waited on.
        fs::create_directory(f.dir / "fifo_model");
        REQUIRE(::mkfifo((f.dir / "fifo_model" / "config.json").c_str(), 0600) == 0);
        const auto fifo = run_cli("train --model " + quote(f.dir / "fifo_model") + " --data " +
                                  quote(f.data_file) + " --out " + quote(f.dir / "fifo_out"));
        check_refused(fifo, {"config.json", "not a regular file"});
        // A checkpoint whose second moments went negative (or NaN): the resume is refused, naming them.
        const fs::path out = f.dir / "out";
        const std::string options = " --epochs 4 --batch-size 8 --checkpoint-every 1 --log-every 1";
        {
            // At lr 1e30 the second step's loss overflows: the run stops, keeping step 1's checkpoint.
            const auto first = run_cli(train_arguments(f, out, options + " --lr 1e30"));
            REQUIRE_MESSAGE(first.status == 1, first.err);
            REQUIRE(fs::exists(out / "checkpoint" / "optimizer.safetensors"));
        }
        const fs::path optimizer = out / "checkpoint" / "optimizer.safetensors";
        const loramoe::io::safetensors_reader reader(optimizer);
        const auto& moment = reader.entry("0.exp_avg_sq");
        std::string bytes = read_file(optimizer);
        std::uint64_t header = 0;
        std::memcpy(&header, bytes.data(), 8);
        const std::size_t at = 8 + header + moment.begin;
        const float negative = -1.0F;
        std::memcpy(bytes.data() + at + 2 * sizeof(float), &negative, sizeof(float));
        loramoe::test::write_file(optimizer, bytes);
        const auto resumed = run_cli(train_arguments(f, out, options + " --lr 1e30 --resume"));
        check_refused(resumed, {"optimizer.safetensors", "'0.exp_avg_sq' holds -1 at element 2",
                                "a second moment is never negative"});
        const float not_a_number = NAN;
        std::memcpy(bytes.data() + at + 2 * sizeof(float), &not_a_number, sizeof(float));
        loramoe::test::write_file(optimizer, bytes);
        const auto nan_resumed = run_cli(train_arguments(f, out, options + " --lr 1e30 --resume"));
        check_refused(nan_resumed, {"'0.exp_avg_sq' holds nan at element 2"});
    }
}
