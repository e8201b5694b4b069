// The `loramoe train`, `eval` and `generate` programs on a tiny HF folder with a SentencePiece
// tokenizer (training_fixture.hpp):
//  - train writes an adapter folder that eval scores (results and router statistics) and generate uses;
//  - Ctrl-C (SIGINT) stops a run with status 130 after writing OUT/checkpoint, and --resume finishes it
//    with an adapter byte-identical to an uninterrupted run's, also after a resume that could not write
//    its checkpoint (a file size limit) failed and left the checkpoint intact;
//  - SIGKILL at random moments, each time run again (with --resume once a checkpoint exists), ends with
//    that adapter too, and with nothing but the outputs in the folder;
//  - a loss that is not finite stops the run with the step in the message, keeping the last checkpoint,
//    and --skip-nonfinite goes on past such steps (resumed, the same as a whole run with it);
//  - an existing checkpoint is never overwritten without --resume;
//  - --base-dtype bfloat16 trains, scores and generates, at bfloat16's accuracy, and is refused where
//    it cannot apply;
//  - bad data (FILE:LINE), a bad command line (status 2), a folder without a tokenizer.

#include "test_support.hpp"
#include "train/spawned_run.hpp"
#include "train/training_fixture.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <loramoe/io/json_file.hpp>

namespace train_command_test {

namespace fs = std::filesystem;
using loramoe::test::quote;
using loramoe::test::read_file;
using loramoe::test::run_cli;
using training_fixture::task_fixture;
using training_fixture::train_arguments;

// The resume runs: 64 examples in micro-batches of 4, 2 per update, are 8 updates per epoch; 25
// epochs are 200 updates (a fraction of a second), with dropout so that the masks must continue too.
const std::string resume_options =
    "--epochs 25 --batch-size 4 --grad-accum 2 --lr 5e-3 --dropout 0.1 --seed 5 --log-every 1";

// Starts `loramoe ARGUMENTS` and sends it SIGINT once its stderr shows `marker` (spawned_run.hpp).
spawned_run::signalled_run interrupt_after(const std::vector<std::string>& arguments,
                                           std::string_view marker) {
    std::vector<std::string> words = {"loramoe"};
    words.insert(words.end(), arguments.begin(), arguments.end());
    return spawned_run::act_after(LORAMOE_CLI_PATH, words, marker,
                                  [](pid_t pid) { REQUIRE(::kill(pid, SIGINT) == 0); });
}

}  // namespace train_command_test

TEST_SUITE("train") {
    TEST_CASE("loramoe train writes an adapter that eval scores and generate uses") {
        using namespace train_command_test;
        const task_fixture f;
        const fs::path out = f.dir / "adapter";
        const auto trained =
            run_cli(train_arguments(f, out, "--epochs 20 --batch-size 8 --lr 1e-2 --seed 3"));
        REQUIRE_MESSAGE(trained.status == 0, trained.err);
        CHECK(trained.err.find("wrote the adapter to") != std::string::npos);
        std::vector<std::string> files;
        for (const auto& entry : fs::directory_iterator(out)) files.push_back(entry.path().filename());
        std::sort(files.begin(), files.end());
        CHECK(files == std::vector<std::string>{"adapter_config.json",
                                                "adapter_model.safetensors"});  // no checkpoint left

        // The base model alone, then with the adapter.
        const auto base = run_cli("eval --model " + quote(f.model_dir) + " --data " + quote(f.data_file) +
                                  " --no-generate --out " + quote(f.dir / "base.json"));
        REQUIRE_MESSAGE(base.status == 0, base.err);
        const auto scored =
            run_cli("eval --model " + quote(f.model_dir) + " --adapter " + quote(out) + " --data " +
                    quote(f.data_file) + " --max-new-tokens 8 --out " + quote(f.dir / "res.json") +
                    " --router-stats " + quote(f.dir / "stats.json"));
        REQUIRE_MESSAGE(scored.status == 0, scored.err);
        CHECK(scored.out.find("loss ") != std::string::npos);
        CHECK(scored.out.find("exact match ") != std::string::npos);
        CHECK(scored.out.find("task_type 1") != std::string::npos);

        const auto base_result = loramoe::io::read_json_file(f.dir / "base.json");
        const auto result = loramoe::io::read_json_file(f.dir / "res.json");
        const double base_loss = base_result.at("loss").get<double>(), loss = result.at("loss").get<double>();
        MESSAGE("loramoe eval: loss ", base_loss, " (base) -> ", loss, " (adapter), exact match ",
                result.at("exact_match").dump());
        CHECK(loss <= 0.5 * base_loss);
        CHECK(result.at("exact_match").at("total") == 64);
        CHECK(result.at("exact_match_by_task").size() == 2);

        // One entry per adapted linear (2 layers x gate, up, down), mean gates summing to 1 per task type.
        const auto stats = loramoe::io::read_json_file(f.dir / "stats.json");
        const auto& routers = stats.at("routers");
        REQUIRE(routers.size() == 6);
        std::set<std::string> modules;
        for (const auto& r : routers) {
            const std::string module = r.at("module");
            CAPTURE(module);
            modules.insert(module);
            CHECK(r.at("expert_types").size() == 6);
            REQUIRE(r.at("mean_gate").size() == 2);
            for (const char* task : {"0", "1"}) {
                CAPTURE(task);
                const auto gates = r.at("mean_gate").at(task).get<std::vector<double>>();
                CHECK(gates.size() == 6);
                double sum = 0;
                for (double g : gates) {
                    CHECK(g >= 0);
                    sum += g;
                }
                CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
                CHECK(r.at("tokens").at(task).get<long>() > 0);
            }
        }
        CHECK(modules == std::set<std::string>{"model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj",
                                               "model.layers.0.mlp.down_proj", "model.layers.1.mlp.gate_proj",
                                               "model.layers.1.mlp.up_proj", "model.layers.1.mlp.down_proj"});

        const auto generated = run_cli("generate --model " + quote(f.model_dir) + " --adapter " + quote(out) +
                                       " --prompt 'reverse b c a' --max-new-tokens 8");
        REQUIRE_MESSAGE(generated.status == 0, generated.err);
        MESSAGE("loramoe generate: \"", generated.out, "\"");
        CHECK(generated.out.size() > 1);  // some text, then the newline
        CHECK(generated.out.back() == '\n');
    }

    TEST_CASE(
        "loramoe train: Ctrl-C writes a checkpoint, and --resume ends byte-identical to an uninterrupted "
        "run") {
        using namespace train_command_test;
        const task_fixture f;
        const fs::path reference = f.dir / "reference", resumed = f.dir / "resumed";
        const auto whole = run_cli(train_arguments(f, reference, resume_options));
        REQUIRE_MESSAGE(whole.status == 0, whole.err);
        CHECK(whole.err.find("train step 200/200") != std::string::npos);

        const auto stopped =
            interrupt_after(spawned_run::words_of(train_arguments(f, resumed, resume_options)), "step 3/");
        REQUIRE(stopped.signalled);
        INFO("stderr of the interrupted run: ", stopped.err);
        CHECK(stopped.status == 130);
        const auto at = stopped.err.find("interrupted at step ");
        REQUIRE(at != std::string::npos);
        const long step = std::stol(stopped.err.substr(at + 20));
        MESSAGE("SIGINT after \"step 3/\" stopped the run at step ", step, "/200");
        CHECK(step >= 3);
        CHECK(step < 200);
        CHECK(stopped.err.find("checkpoint written to " + (resumed / "checkpoint").string()) !=
              std::string::npos);
        CHECK(stopped.err.find("--resume") != std::string::npos);
        REQUIRE(fs::exists(resumed / "checkpoint" / "trainer_state.json"));
        CHECK(loramoe::io::read_json_file(resumed / "checkpoint" / "trainer_state.json").at("step") == step);
        CHECK_FALSE(fs::exists(resumed / "adapter_model.safetensors"));  // only the checkpoint so far

        // A resume whose files cannot be written (a 32 KiB file size limit: the adapter has 61 KB, as a
        // full disk would stop it) fails at its first checkpoint with a message, and leaves the
        // checkpoint as it was.
        const std::string state_before = read_file(resumed / "checkpoint" / "trainer_state.json");
        const auto limited =
            run_cli(train_arguments(f, resumed, resume_options + " --resume --checkpoint-every 1"),
                    "trap '' XFSZ; ulimit -f 32;");
        CHECK(limited.status == 1);
        CHECK_MESSAGE(limited.err.find("cannot write") != std::string::npos, limited.err);
        CHECK(read_file(resumed / "checkpoint" / "trainer_state.json") == state_before);

        const auto finished = run_cli(train_arguments(f, resumed, resume_options + " --resume"));
        REQUIRE_MESSAGE(finished.status == 0, finished.err);
        CHECK(finished.err.find(fmt::format("resuming at step {}/200", step)) != std::string::npos);
        CHECK_FALSE(fs::exists(resumed / "checkpoint"));
        CHECK(read_file(resumed / "adapter_model.safetensors") ==
              read_file(reference / "adapter_model.safetensors"));
        CHECK(read_file(resumed / "adapter_config.json") == read_file(reference / "adapter_config.json"));
    }

    TEST_CASE(
        "loramoe train: killed with SIGKILL at random moments and run again, ends byte-identical, with "
        "nothing "
        "but its outputs") {
        using namespace train_command_test;
        const task_fixture f;
        // 320 updates, a checkpoint every 2: the kills land in loading, steps, checkpoint writes, the
        // final writes and the checkpoint's removal.
        const std::string options =
            "--epochs 40 --batch-size 4 --grad-accum 2 --lr 5e-3 --dropout 0.1 --seed 5 --checkpoint-every 2";
        const fs::path reference = f.dir / "reference", killed = f.dir / "killed";
        const auto start = std::chrono::steady_clock::now();
        const auto whole = run_cli(train_arguments(f, reference, options));
        const auto duration =
            std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
        REQUIRE_MESSAGE(whole.status == 0, whole.err);

        // 16 launches killed at a random moment within an eighth of a whole run's time (each going on
        // from the last checkpoint, or from scratch before the first), then one to the end.
        loramoe::random_generator rng(2026);
        int kills = 0, resumes = 0;
        for (int launch = 0;; ++launch) {
            const bool resume = fs::exists(killed / "checkpoint");
            resumes += resume;
            const auto words = spawned_run::words_of(
                "loramoe " + train_arguments(f, killed, options + (resume ? " --resume" : "")));
            const auto delay = launch < 16 ? std::chrono::microseconds(static_cast<long>(
                                                 rng.below(static_cast<std::uint64_t>(duration.count() / 8))))
                                           : std::chrono::microseconds(std::chrono::minutes(2));
            const int status = spawned_run::kill_after(LORAMOE_CLI_PATH, words, delay);
            if (status == -1) {
                ++kills;
                continue;
            }
            REQUIRE_MESSAGE(status == 0, "launch ", launch, (resume ? " (--resume)" : ""), " failed");
            break;
        }
        MESSAGE("a whole run took ", duration.count() / 1000, " ms; ", kills, " kills, ", resumes,
                " resumed launches");
        CHECK(kills >= 8);
        CHECK(read_file(killed / "adapter_model.safetensors") ==
              read_file(reference / "adapter_model.safetensors"));
        CHECK(read_file(killed / "adapter_config.json") == read_file(reference / "adapter_config.json"));
        std::vector<std::string> files;
        for (const auto& entry : fs::directory_iterator(killed)) files.push_back(entry.path().filename());
        std::sort(files.begin(), files.end());
        CHECK(files == std::vector<std::string>{"adapter_config.json", "adapter_model.safetensors"});
    }

    TEST_CASE(
        "loramoe train: a loss that is not finite stops the run, keeping the last checkpoint; "
        "--skip-nonfinite skips such steps") {
        using namespace train_command_test;
        const task_fixture f;
        // At lr 1e30 the first update is finite and the second step's loss overflows.
        const std::string options = "--epochs 1 --batch-size 8 --lr 1e30 --warmup-ratio 0 --seed 5";
        const fs::path out = f.dir / "out";
        const auto stopped = run_cli(train_arguments(f, out, options + " --checkpoint-every 1"));
        CHECK(stopped.status == 1);
        CHECK_MESSAGE(stopped.err.find("at step 2/8 the loss (") != std::string::npos, stopped.err);
        CHECK(stopped.err.find("is not finite; the weights are still those after step 1") !=
              std::string::npos);
        REQUIRE(fs::exists(out / "checkpoint" / "trainer_state.json"));
        CHECK(loramoe::io::read_json_file(out / "checkpoint" / "trainer_state.json").at("step") == 1);

        // Resumed with --skip-nonfinite: the same adapter as a whole run with it (7 steps skipped).
        const auto resumed = run_cli(train_arguments(f, out, options + " --resume --skip-nonfinite"));
        REQUIRE_MESSAGE(resumed.status == 0, resumed.err);
        CHECK(resumed.err.find("skipped 7") != std::string::npos);
        const auto whole = run_cli(train_arguments(f, f.dir / "whole", options + " --skip-nonfinite"));
        REQUIRE_MESSAGE(whole.status == 0, whole.err);
        CHECK(read_file(out / "adapter_model.safetensors") ==
              read_file(f.dir / "whole" / "adapter_model.safetensors"));
    }

    TEST_CASE("loramoe train: an existing checkpoint is refused without --resume and left untouched") {
        using namespace train_command_test;
        const task_fixture f;
        const fs::path out = f.dir / "out";
        fs::create_directories(out / "checkpoint");
        const std::string sentinel = "{\"step\": 5, \"note\": \"an unfinished run, not to be touched\"}\n";
        loramoe::test::write_file(out / "checkpoint" / "trainer_state.json", sentinel);
        const auto r = run_cli(train_arguments(f, out, "--epochs 1"));
        CHECK(r.status == 1);
        CHECK_MESSAGE(r.err.find("--resume") != std::string::npos, r.err);
        CHECK_MESSAGE(r.err.find((out / "checkpoint").string()) != std::string::npos, r.err);
        CHECK(read_file(out / "checkpoint" / "trainer_state.json") == sentinel);
        std::vector<std::string> files;
        for (const auto& entry : fs::recursive_directory_iterator(out))
            files.push_back(fs::relative(entry.path(), out));
        std::sort(files.begin(), files.end());
        CHECK(files == std::vector<std::string>{"checkpoint", "checkpoint/trainer_state.json"});
    }

    TEST_CASE("loramoe train: the LBC's options as --lbc-*, and the official code's --blc-* spelling") {
        using namespace train_command_test;
        const task_fixture f;
        for (const std::string options : {"--lbc-delta 0.2 --lbc-weight 0.3 --lbc-statistic var_over_mean",
                                          "--blc-alpha 0.2 --blc-weight 0.3 --blc-statistic var_over_mean"}) {
            CAPTURE(options);
            const fs::path out = f.dir / ("adapter-" + options.substr(2, 3));  // adapter-lbc, adapter-blc
            const auto trained = run_cli(train_arguments(f, out, "--epochs 1 " + options));
            REQUIRE_MESSAGE(trained.status == 0, trained.err);
            const auto written = loramoe::io::read_json_file(out / "adapter_config.json");
            CHECK(written["blc_alpha"] == 0.2);
            CHECK(written["blc_weight"] == 0.3);
            CHECK(written["blc_statistic"] == "var_over_mean");
        }
    }

    TEST_CASE("loramoe train, eval and generate with --base-dtype bfloat16, auto, and --recompute") {
        using namespace train_command_test;
        const task_fixture f;
        const fs::path out = f.dir / "adapter";
        const auto trained = run_cli(
            train_arguments(f, out, "--epochs 20 --batch-size 8 --lr 1e-2 --seed 3 --base-dtype bfloat16"));
        REQUIRE_MESSAGE(trained.status == 0, trained.err);

        // The adapter learnt, and scores the same with float and bfloat16 products, to bfloat16 accuracy.
        auto eval_loss = [&](const std::string& options, const char* name) {
            const auto r = run_cli("eval --model " + quote(f.model_dir) + " --data " + quote(f.data_file) +
                                   " --no-generate --out " + quote(f.dir / name) + " " + options);
            REQUIRE_MESSAGE(r.status == 0, r.err);
            return loramoe::io::read_json_file(f.dir / name).at("loss").get<double>();
        };
        const double base = eval_loss("", "base.json");
        const double exact = eval_loss("--adapter " + quote(out), "float.json");
        const double rounded = eval_loss("--adapter " + quote(out) + " --base-dtype bfloat16", "bf16.json");
        MESSAGE("eval loss: base ", base, ", adapter trained in bfloat16: ", exact, " (float products), ",
                rounded, " (bfloat16)");
        CHECK(exact <= 0.5 * base);
        CHECK(rounded != exact);
        CHECK(std::abs(rounded - exact) <= 2e-2 * exact);

        // auto keeps this F32 checkpoint in float32: the float products' loss exactly.
        CHECK(eval_loss("--adapter " + quote(out) + " --base-dtype auto", "auto.json") == exact);

        // --recompute-segment 2 (which implies --recompute) trains the same adapter, byte for byte, and
        // eval --recompute scores it the same.
        const fs::path recomputed = f.dir / "recomputed";
        const auto retrained = run_cli(train_arguments(
            f, recomputed,
            "--epochs 20 --batch-size 8 --lr 1e-2 --seed 3 --base-dtype bfloat16 --recompute-segment 2"));
        REQUIRE_MESSAGE(retrained.status == 0, retrained.err);
        auto bytes = [](const fs::path& path) {
            std::ifstream in(path, std::ios::binary);
            return std::string(std::istreambuf_iterator<char>(in), {});
        };
        CHECK(bytes(recomputed / "adapter_model.safetensors") == bytes(out / "adapter_model.safetensors"));
        CHECK(eval_loss("--adapter " + quote(out) + " --base-dtype bfloat16 --recompute",
                        "recomputed.json") == rounded);

        const auto generated = run_cli("generate --model " + quote(f.model_dir) + " --adapter " + quote(out) +
                                       " --prompt 'reverse b c a' --max-new-tokens 8 --base-dtype bfloat16");
        REQUIRE_MESSAGE(generated.status == 0, generated.err);
        CHECK(generated.out.size() > 1);

        // Refused: a trained base, double precision (status 1, nothing written), an unknown type (2).
        const fs::path refused = f.dir / "refused";
        const auto full =
            run_cli(train_arguments(f, refused, "--epochs 1 --mode full --base-dtype bfloat16"));
        CHECK(full.status == 1);
        CHECK_MESSAGE(full.err.find("--mode full") != std::string::npos, full.err);
        const auto twice = run_cli(train_arguments(f, refused, "--epochs 1 --double --base-dtype bfloat16"));
        CHECK(twice.status == 1);
        CHECK_MESSAGE(twice.err.find("--double") != std::string::npos, twice.err);
        const auto bogus = run_cli(train_arguments(f, refused, "--epochs 1 --base-dtype float16"));
        CHECK(bogus.status == 2);
        CHECK_MESSAGE(bogus.err.find("float16") != std::string::npos, bogus.err);
        const auto no_segment = run_cli(train_arguments(f, refused, "--epochs 1 --recompute-segment 0"));
        CHECK(no_segment.status == 2);
        CHECK_MESSAGE(no_segment.err.find("--recompute-segment") != std::string::npos, no_segment.err);
        CHECK_FALSE(fs::exists(refused));
    }

    TEST_CASE("loramoe train and eval: malformed data, a bad mode, a model folder without a tokenizer") {
        using namespace train_command_test;
        const task_fixture f;
        const fs::path out = f.dir / "out";

        // Line 3 is not JSON: status 1, FILE:LINE on stderr, nothing written.
        const fs::path bad_data = f.dir / "bad.jsonl";
        const std::string lines = read_file(f.data_file);
        const auto third = lines.find('\n', lines.find('\n') + 1) + 1;
        loramoe::test::write_file(
            bad_data,
            lines.substr(0, third) + "{\"instruction\": \"copy a\", \"output\": \n" + lines.substr(third));
        const std::string at_line = bad_data.string() + ":3:";
        const auto train = run_cli("train --model " + quote(f.model_dir) + " --data " + quote(bad_data) +
                                   " --out " + quote(out) + " --epochs 1");
        CHECK(train.status == 1);
        CHECK_MESSAGE(train.err.find(at_line) != std::string::npos, train.err);
        CHECK_FALSE(fs::exists(out));
        const auto eval = run_cli("eval --model " + quote(f.model_dir) + " --data " + quote(bad_data));
        CHECK(eval.status == 1);
        CHECK_MESSAGE(eval.err.find(at_line) != std::string::npos, eval.err);

        // A line with a field of the wrong type.
        loramoe::test::write_file(bad_data,
                                  lines.substr(0, third) + "{\"instruction\": \"copy a\", \"output\": 7}\n");
        const auto typed = run_cli("train --model " + quote(f.model_dir) + " --data " + quote(bad_data) +
                                   " --out " + quote(out) + " --epochs 1");
        CHECK(typed.status == 1);
        CHECK_MESSAGE(typed.err.find(at_line) != std::string::npos, typed.err);
        CHECK_MESSAGE(typed.err.find("'output'") != std::string::npos, typed.err);

        // A bad command line: status 2.
        const auto mode = run_cli(train_arguments(f, out, "--mode bogus"));
        CHECK(mode.status == 2);
        CHECK_MESSAGE(mode.err.find("bogus") != std::string::npos, mode.err);
        CHECK_FALSE(fs::exists(out));

        // The weights without tokenizer.model: status 1, naming what was looked for.
        const fs::path bare = f.dir / "bare";
        fs::create_directories(bare);
        for (const char* name : {"config.json", "model.safetensors"})
            fs::copy_file(f.model_dir / name, bare / name);
        const auto untokenized = run_cli("train --model " + quote(bare) + " --data " + quote(f.data_file) +
                                         " --out " + quote(out) + " --epochs 1");
        CHECK(untokenized.status == 1);
        for (const char* word : {"no tokenizer", "tokenizer.model", "tokenizer_config.json"})
            CHECK_MESSAGE(untokenized.err.find(word) != std::string::npos, "stderr \"", untokenized.err,
                          "\" does not name \"", word, "\"");
        CHECK_FALSE(fs::exists(out));
    }

}  // TEST_SUITE("train")
