// loramoe demo [--quick] [--out DIR] [--seed S]
//
// The project's main job: world-knowledge forgetting in miniature (docs/demo.md). Pretrains a small
// LLaMA on a synthetic world, fine-tunes it five ways on growing data, and writes report.md,
// results.json, knowledge_vs_data.svg and expert_utilisation.svg into DIR.

#include <filesystem>
#include <memory>

#include <loramoe/demo/experiment.hpp>
#include <loramoe/demo/report.hpp>

#include "commands.hpp"

namespace loramoe::cli {

void add_demo_command(CLI::App& app) {
    struct options {
        bool quick = false;
        std::filesystem::path out = "demo-out";
        std::uint64_t seed = 7;
    };
    auto o = std::make_shared<options>();
    CLI::App* c = app.add_subcommand("demo", "World-knowledge forgetting in miniature: the LoRAMoE paper's claim, tested");
    c->add_flag("--quick", o->quick, "a small version in under a minute");
    c->add_option("--out", o->out, "where the report, results and figures go")->capture_default_str();
    c->add_option("--seed", o->seed, "of the world, the data and the models")->capture_default_str();
    c->callback([o] {
        demo::demo_config config = o->quick ? demo::quick_demo() : demo::default_demo();
        config.seed = o->seed;
        const auto results = demo::run_demo(config, o->out, [](const std::string& line) { fmt::print(stderr, "{}\n", line); });
        const std::string command = fmt::format("loramoe demo{}{}", o->quick ? " --quick" : "",
                                                o->seed == 7 ? std::string() : fmt::format(" --seed {}", o->seed));
        demo::write_artefacts(results, o->out, command);
        fmt::print("{}\nwrote {} (report.md, results.json, knowledge_vs_data.svg, expert_utilisation.svg) in {:.1f} minutes\n",
                   demo::summary(results), o->out.string(), results.total_seconds / 60);
    });
}

}  // namespace loramoe::cli
