// --device on the `loramoe` program, where --device cuda cannot run. Built without the CUDA backend,
// every command refuses it as a bad command line (status 2); built with it, on a machine without a
// device, the command fails before its work starts (status 1). Either way stderr says why and nothing
// is written. (tests/cuda/test_cuda_cli.cpp runs --device cuda where a GPU is.) Also: --device cpu
// writes the default's output byte for byte, and an unknown device is a usage error.
//
// This test program and the `loramoe` program are configured together: the program has the CUDA
// backend exactly when this one links loramoe::cuda, which defines LORAMOE_CUDA.

#include "test_support.hpp"

#include <string>
#include <vector>

#ifdef LORAMOE_CUDA
#include <loramoe/cuda/context.hpp>
#endif

namespace device_option_test {

namespace fs = std::filesystem;
using loramoe::test::quote;
using loramoe::test::run_cli;

// Every command that takes --device, with arguments that pass the command line's own checks (existing
// files and folders) and outputs under `out`. The work is never started, so train and eval are given
// a model folder without a tokenizer and a data file that is not JSONL.
std::vector<std::string> device_commands(const fs::path& out) {
    const fs::path golden = loramoe::test::golden_dir();
    const fs::path model = golden / "model_f64_gqa" / "model", adapter = golden / "model_f64_gqa" / "adapter",
                   batch = golden / "model_f64_gqa" / "batch.safetensors";
    return {
        "layer --case " + quote(golden / "layer_odd_f32.safetensors") + " --out " +
            quote(out / "layer.safetensors"),
        "model --model " + quote(model) + " --adapter " + quote(adapter) + " --batch " + quote(batch) +
            " --out " + quote(out / "model.safetensors"),
        "train --model " + quote(model) + " --data " + quote(batch) + " --out " + quote(out / "trained") +
            " --epochs 1",
        "eval --model " + quote(model) + " --adapter " + quote(adapter) + " --data " + quote(batch) +
            " --out " + quote(out / "results.json") + " --router-stats " + quote(out / "stats.json"),
        "generate --model " + quote(model) + " --adapter " + quote(adapter) + " --prompt 'copy a b'",
    };
}

}  // namespace device_option_test

TEST_SUITE("cli") {
    TEST_CASE(
        "loramoe --device cuda without the CUDA backend or without a device: refused, nothing written") {
        using namespace device_option_test;
#ifdef LORAMOE_CUDA
        if (loramoe::cuda_device_available()) {
            MESSAGE("a CUDA device is here: --device cuda runs (the gpu tests check its results)");
            return;
        }
        const int status = 1;
        const std::vector<std::string> words = {"no CUDA device", "--device cpu"};
#else
        const int status = 2;
        const std::vector<std::string> words = {"--device", "built without the CUDA backend",
                                                "-DLORAMOE_CUDA=ON"};
#endif
        loramoe::test::temporary_directory out;
        for (const auto& command : device_commands(out.path())) {
            const std::string name = command.substr(0, command.find(' '));
            CAPTURE(name);
            const auto r = run_cli(command + " --device cuda");
            CHECK(r.status == status);
            CHECK(r.out.empty());
            if (status == 1) CHECK(r.err.find("loramoe " + name + ": ") == 0);
            for (const auto& word : words)
                CHECK_MESSAGE(r.err.find(word) != std::string::npos, "stderr \"", r.err,
                              "\" does not name \"", word, "\"");
            CHECK(out.files().empty());
        }
    }

    TEST_CASE("loramoe --device cpu writes the default's output; an unknown device is a usage error") {
        using namespace device_option_test;
        loramoe::test::temporary_directory out;
        const std::string layer =
            "layer --case " + quote(loramoe::test::golden_dir() / "layer_odd_f64.safetensors");
        const auto implicit = run_cli(layer + " --out " + quote(out / "default.safetensors"));
        const auto explicit_cpu =
            run_cli(layer + " --out " + quote(out / "cpu.safetensors") + " --device cpu");
        REQUIRE_MESSAGE(implicit.status == 0, implicit.err);
        REQUIRE_MESSAGE(explicit_cpu.status == 0, explicit_cpu.err);
        CHECK(loramoe::test::read_file(out / "cpu.safetensors") ==
              loramoe::test::read_file(out / "default.safetensors"));

        const auto unknown = run_cli(layer + " --out " + quote(out / "tpu.safetensors") + " --device tpu");
        CHECK(unknown.status == 2);
        CHECK_MESSAGE(unknown.err.find("tpu") != std::string::npos, unknown.err);
        CHECK_FALSE(fs::exists(out / "tpu.safetensors"));
        const auto help = run_cli("model --help");
        CHECK(help.status == 0);
        CHECK(help.out.find("--device") != std::string::npos);
    }
}  // TEST_SUITE
