// loramoe demo [--quick] [--out DIR] [--seed S] [--full-lr LR] [--adapter-lr LR] [--sizes N...]
//
// The project's main job: world-knowledge forgetting in miniature (docs/demo.md). Pretrains a small
// LLaMA on a synthetic world, fine-tunes it five ways on growing data, and writes report.md,
// results.json, knowledge_vs_data.svg and expert_utilisation.svg into DIR.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/ranges.h>

#include "demo/experiment.hpp"
#include "demo/report.hpp"

#include "commands.hpp"

namespace loramoe::cli {

void add_demo_command(CLI::App& app) {
    struct options {
        bool quick = false;
        std::filesystem::path out = "demo-out";
        std::uint64_t seed = 7;
        std::optional<double> full_lr, adapter_lr;
        std::vector<index> sizes;
    };
    auto o = std::make_shared<options>();
    CLI::App* c = app.add_subcommand(
        "demo", "World-knowledge forgetting in miniature: the LoRAMoE paper's claim, tested");
    c->add_flag("--quick", o->quick, "a small version in under a minute");
    c->add_option("--out", o->out, "where the report, results and figures go")->capture_default_str();
    c->add_option("--seed", o->seed, "of the world, the data and the models")->capture_default_str();
    // The learning rates and sizes, to rerun the variations docs/demo.md reports.
    c->add_option("--full-lr", o->full_lr, "full fine-tuning's learning rate (default 1e-3)")
        ->check(CLI::PositiveNumber);
    c->add_option("--adapter-lr", o->adapter_lr, "the adapters' learning rate (default 2e-3)")
        ->check(CLI::PositiveNumber);
    c->add_option("--sizes", o->sizes, "fine-tuning data sizes, in units of 1000 problems (200 with --quick)")
        ->check(CLI::PositiveNumber);
    c->callback([o] {
        demo::demo_config config = o->quick ? demo::quick_demo() : demo::default_demo();
        config.seed = o->seed;
        std::string command = fmt::format("loramoe demo{}", o->quick ? " --quick" : "");
        if (o->seed != 7) command += fmt::format(" --seed {}", o->seed);
        if (o->full_lr) {
            config.full_lr = *o->full_lr;
            command += fmt::format(" --full-lr {}", *o->full_lr);
        }
        if (o->adapter_lr) {
            config.adapter_lr = *o->adapter_lr;
            command += fmt::format(" --adapter-lr {}", *o->adapter_lr);
        }
        if (!o->sizes.empty()) {
            config.sizes = o->sizes;
            command += fmt::format(" --sizes {}", fmt::join(o->sizes, " "));
        }
        const auto results =
            demo::run_demo(config, o->out, [](const std::string& line) { fmt::print(stderr, "{}\n", line); });
        demo::write_artefacts(results, o->out, command);
        fmt::print(
            "{}\nwrote {} (report.md, results.json, knowledge_vs_data.svg, expert_utilisation.svg) in {:.1f} "
            "minutes\n",
            demo::summary(results), o->out.string(), results.total_seconds / 60);
    });
}

}  // namespace loramoe::cli
