#pragma once
// --device cpu|cuda: where a command computes. A command writes its work once, as a function template
// on the backend tag, and on_device calls it with loramoe::cpu{} or loramoe::cuda{} as the option says;
// the results are on the host before anything is written, so the files are the same on both.
//
// The CUDA backend is there when CMake built loramoe::cuda (it then defines LORAMOE_CLI_CUDA for this
// program). Without it, --device cuda is refused with the command line (status 2); with it, a machine
// without a usable device fails the command before its work starts, having written nothing (status 1).

#include <string>

#include <CLI/CLI.hpp>

#include <loramoe/core/backend.hpp>
#include <loramoe/core/error.hpp>
#ifdef LORAMOE_CLI_CUDA
#include <loramoe/cuda.hpp>
#endif

namespace loramoe::cli {

enum class device { cpu, cuda };

#ifdef LORAMOE_CLI_CUDA
inline constexpr bool built_with_cuda = true;
#else
inline constexpr bool built_with_cuda = false;
#endif
inline constexpr const char* without_cuda =
    "this loramoe was built without the CUDA backend (configure with -DLORAMOE_CUDA=ON)";

// Registers --device on a command; the choice lands in `target` once the command line is valid.
inline CLI::Option* add_device_option(CLI::App* command, device& target) {
    return command
        ->add_option_function<std::string>(
            "--device",
            [&target](const std::string& name) { target = name == "cuda" ? device::cuda : device::cpu; },
            "where to compute: cpu or cuda (the results come back to the host to be written)")
        ->check(CLI::IsMember({"cpu", "cuda"}))
        ->check(
            [](const std::string& name) -> std::string {
                return name == "cuda" && !built_with_cuda ? without_cuda : "";
            },
            "", "built backends")
        ->default_str("cpu");
}

// Calls work(loramoe::cpu{}) or work(loramoe::cuda{}), as `where` says.
template <class Work>
void on_device(device where, Work&& work) {
    if (where == device::cpu) {
        work(cpu{});
        return;
    }
#ifdef LORAMOE_CLI_CUDA
    if (const std::string problem = cuda_device_problem(); !problem.empty())
        fail<cuda_error>("no CUDA device can be used here ({}); run with --device cpu", problem);
    work(cuda{});
#else
    // add_device_option refused --device cuda already.
    fail<value_error>("{}", without_cuda);
#endif
}

}  // namespace loramoe::cli
