#pragma once
// --recompute and --recompute-segment K: activation checkpointing (llama::model_options::recompute),
// for a model or a sequence length near the memory's size.

#include <string>

#include <CLI/CLI.hpp>

#include <loramoe/llama/model.hpp>

namespace loramoe::cli {

struct recompute_choice {
    bool on = false;
    index segment = 1;  // implies on when above 1

    void apply(llama::model_options& options) const {
        options.recompute = on || segment > 1;
        options.recompute_segment = segment;
    }
};

// `what` says what --recompute costs and saves in this command.
inline void add_recompute_options(CLI::App* command, recompute_choice& target, const std::string& what) {
    command->add_flag("--recompute", target.on, what);
    command
        ->add_option("--recompute-segment", target.segment,
                     "--recompute keeping the input of every K-th block only: each segment of K blocks runs "
                     "forward once more (about sqrt(layers) keeps the fewest inputs; for long sequences)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
}

}  // namespace loramoe::cli
