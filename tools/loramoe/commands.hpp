#pragma once
// The subcommands of the `loramoe` program. Each registers its options on the app and runs through the
// library; the program stays thin: parse, call, print.

#include <stdexcept>

#include <CLI/CLI.hpp>

namespace loramoe::cli {

// A run stopped by Ctrl-C after saving its state: exit status 130, as a shell reports SIGINT.
struct interruption : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void add_layer_command(CLI::App& app);
void add_model_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_demo_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);

}  // namespace loramoe::cli
