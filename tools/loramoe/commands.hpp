#pragma once
// The subcommands of the `loramoe` program. Each registers its options on the app and runs through the
// library; the program stays thin: parse, call, print.

#include <CLI/CLI.hpp>

namespace loramoe::cli {

void add_layer_command(CLI::App& app);
void add_model_command(CLI::App& app);

}  // namespace loramoe::cli
