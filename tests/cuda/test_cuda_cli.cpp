// The `loramoe` program with --device cuda against the same command with --device cpu:
//  - layer, on every golden case (tests/golden/layer_*.safetensors), both execution paths;
//  - model, on the golden HF folders with adapters (F64 and F32);
//  - train (a checkpoint written on the way) and eval (loss and router statistics) on the tiny task of
//    train/training_fixture.hpp.
// The files must be the same in format (the same tensors, dtypes, shapes and metadata; the same JSON
// keys) and agree in value to the backend tolerance of docs/cuda.md: 1e-4 (F32) or 1e-10 (F64) of each
// tensor's largest magnitude. Without a CUDA device each test exits with status 77 (skipped).

#include "cuda/cuda_support.hpp"
#include "train/training_fixture.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/io/json_file.hpp>
#include <loramoe/io/safetensors.hpp>

namespace cuda_cli_test {

namespace fs = std::filesystem;
using loramoe::test::quote;
using loramoe::test::run_cli;

double tolerance_of(loramoe::io::dtype type) {
    return type == loramoe::io::dtype::f64 ? loramoe::test::backend_tolerance<double>()
                                           : loramoe::test::backend_tolerance<float>();
}

// The same tensors in both files, with the same metadata, dtypes and shapes, and values within the
// tolerance of their dtype.
void check_same_tensors(const fs::path& got_path, const fs::path& want_path) {
    const loramoe::io::safetensors_reader got(got_path), want(want_path);
    CHECK(got.metadata() == want.metadata());
    REQUIRE(got.entries().size() == want.entries().size());
    for (const auto& e : want.entries()) {
        INFO("tensor ", e.name);
        REQUIRE(got.contains(e.name));
        CHECK(got.entry(e.name).type == e.type);
        REQUIRE(got.entry(e.name).shape == e.shape);
        loramoe::test::expect_same_values(got.read<double>(e.name), want.read<double>(e.name),
                                          tolerance_of(e.type));
    }
}

// The same JSON structure, keys and strings and integers equal, floating numbers within `tolerance` of
// max(1, |want|) (losses of order one, gates in [0, 1]).
void check_same_json(const nlohmann::json& got, const nlohmann::json& want, double tolerance,
                     const std::string& where = "") {
    INFO("JSON at ", where.empty() ? std::string("the top") : where);
    if (want.is_number_float() || got.is_number_float()) {
        REQUIRE(got.is_number());
        const double g = got.get<double>(), w = want.get<double>();
        CHECK_MESSAGE(std::abs(g - w) <= tolerance * std::max(1.0, std::abs(w)), "got ", g, ", want ", w);
        return;
    }
    REQUIRE(got.type() == want.type());
    if (want.is_object()) {
        REQUIRE(got.size() == want.size());
        for (auto it = want.begin(); it != want.end(); ++it) {
            REQUIRE(got.contains(it.key()));
            check_same_json(got.at(it.key()), it.value(), tolerance, where + "/" + it.key());
        }
    } else if (want.is_array()) {
        REQUIRE(got.size() == want.size());
        for (std::size_t i = 0; i < want.size(); ++i)
            check_same_json(got.at(i), want.at(i), tolerance, where + "/" + std::to_string(i));
    } else {
        CHECK(got == want);
    }
}

// Runs `loramoe COMMAND(out) --device cpu` and `... --device cuda`, each with an output of its own, and
// compares the two output files.
void check_devices_agree(const std::function<std::string(const fs::path&)>& command) {
    loramoe::test::temporary_directory dir;
    const fs::path on_cpu = dir / "cpu.safetensors", on_cuda = dir / "cuda.safetensors";
    const auto want = run_cli(command(on_cpu) + " --device cpu");
    REQUIRE_MESSAGE(want.status == 0, want.err);
    const auto got = run_cli(command(on_cuda) + " --device cuda");
    REQUIRE_MESSAGE(got.status == 0, got.err);
    CHECK(got.err == want.err);
    CHECK(dir.files() == std::vector<std::string>{"cpu.safetensors", "cuda.safetensors"});
    check_same_tensors(on_cuda, on_cpu);
}

}  // namespace cuda_cli_test

TEST_SUITE("gpu") {
    TEST_CASE("cuda: loramoe layer --device cuda writes the CPU's results on every golden case") {
        loramoe::test::require_cuda_device();
        using namespace cuda_cli_test;
        for (const char* name : {"layer_odd_f64", "layer_odd_f32", "layer_single_f64", "layer_single_f32",
                                 "layer_var_over_mean_f64", "layer_var_over_mean_f32"})
            for (const char* path : {"fused", "reference"}) {
                INFO(name, " (", path, ")");
                const fs::path case_path = loramoe::test::golden_dir() / (std::string(name) + ".safetensors");
                REQUIRE(fs::exists(case_path));
                check_devices_agree([&](const fs::path& out) {
                    return "layer --case " + quote(case_path) + " --out " + quote(out) + " --path " + path;
                });
            }
    }

    TEST_CASE("cuda: loramoe model --device cuda writes the CPU's losses, logits and gradients") {
        loramoe::test::require_cuda_device();
        using namespace cuda_cli_test;
        for (const char* name : {"model_f64_gqa", "model_f32_tied_left_padded"}) {
            INFO(name);
            const fs::path dir = loramoe::test::golden_dir() / name;
            REQUIRE(fs::exists(dir / "batch.safetensors"));
            check_devices_agree([&](const fs::path& out) {
                return "model --model " + quote(dir / "model") + " --adapter " + quote(dir / "adapter") +
                       " --batch " + quote(dir / "batch.safetensors") + " --out " + quote(out);
            });
        }
    }

    TEST_CASE("cuda: loramoe train and eval --device cuda write the CPU's adapter and scores") {
        loramoe::test::require_cuda_device();
        using namespace cuda_cli_test;
        const training_fixture::task_fixture f;
        // 64 examples in batches of 8: 8 updates, a checkpoint written (and removed at the end) after 4.
        // The tolerance holds after training as in test_cuda_modules.cpp's training test (AdamW carries
        // each gradient element's relative error into its update; measured there with margin to spare).
        const std::string train = "train --model " + quote(f.model_dir) + " --data " + quote(f.data_file) +
                                  " --epochs 1 --batch-size 8 --lr 1e-2 --seed 3 --checkpoint-every 4 --out ";
        for (const char* device : {"cpu", "cuda"}) {
            INFO("train --device ", device);
            const auto trained = run_cli(train + quote(f.dir / device) + " --device " + device);
            REQUIRE_MESSAGE(trained.status == 0, trained.err);
            CHECK(trained.err.find("wrote the adapter to") != std::string::npos);
            std::vector<std::string> files;
            for (const auto& entry : fs::directory_iterator(f.dir / device))
                files.push_back(entry.path().filename());
            std::sort(files.begin(), files.end());
            CHECK(files == std::vector<std::string>{"adapter_config.json", "adapter_model.safetensors"});
        }
        CHECK(loramoe::test::read_file(f.dir / "cuda" / "adapter_config.json") ==
              loramoe::test::read_file(f.dir / "cpu" / "adapter_config.json"));
        check_same_tensors(f.dir / "cuda" / "adapter_model.safetensors",
                           f.dir / "cpu" / "adapter_model.safetensors");

        // Each device scores the CPU's adapter: the loss and the router statistics (no generation: a
        // greedy choice between near-equal logits may differ within the tolerance).
        for (const char* device : {"cpu", "cuda"}) {
            INFO("eval --device ", device);
            const auto scored =
                run_cli("eval --model " + quote(f.model_dir) + " --adapter " + quote(f.dir / "cpu") +
                        " --data " + quote(f.data_file) + " --no-generate --out " +
                        quote(f.dir / (std::string(device) + ".json")) + " --router-stats " +
                        quote(f.dir / (std::string(device) + ".stats.json")) + " --device " + device);
            REQUIRE_MESSAGE(scored.status == 0, scored.err);
            CHECK(scored.out.find("loss ") == 0);
        }
        const double tolerance = loramoe::test::backend_tolerance<float>();
        check_same_json(loramoe::io::read_json_file(f.dir / "cuda.json"),
                        loramoe::io::read_json_file(f.dir / "cpu.json"), tolerance);
        check_same_json(loramoe::io::read_json_file(f.dir / "cuda.stats.json"),
                        loramoe::io::read_json_file(f.dir / "cpu.stats.json"), tolerance);
    }
}  // TEST_SUITE("gpu")
