#pragma once
// The demo's artefacts: results.json (every number of the run), knowledge_vs_data.svg (the paper's
// motivation figure), expert_utilisation.svg (its router-weight figure) and report.md, which links them
// and says in plain words what this run showed, whatever that was.

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/io/atomic_file.hpp>
#include "demo/experiment.hpp"
#include "demo/svg.hpp"

namespace loramoe::demo {

namespace detail {

inline const run_result* find_run(const demo_results& r, const std::string& method, index size) {
    for (const auto& run : r.runs)
        if (run.method == method && run.size == size) return &run;
    return nullptr;
}

// Held-out knowledge (instruction format) of `method` at `size`; NaN when it did not run.
inline double knowledge_at(const demo_results& r, const std::string& method, index size) {
    const run_result* run = find_run(r, method, size);
    return run ? run->scores.knowledge : std::nan("");
}

// The fine-tuning examples of `size` units, as full fine-tuning counted them.
inline index examples_at(const demo_results& r, index size) {
    const run_result* run = find_run(r, "full", size);
    return run ? run->examples : size * r.config.unit;
}

inline nlohmann::json accuracies_json(const accuracies& a) {
    return {{"knowledge", a.knowledge},
            {"knowledge_probe", a.knowledge_probe},
            {"skills", a.skills},
            {"downstream", a.downstream}};
}

// The share of the routing weight that the experts of `type` receive on the tokens of `task`.
inline double group_share(const train::router_usage& usage, std::int64_t task, std::int64_t type) {
    const auto it = usage.mean_gate.find(task);
    if (it == usage.mean_gate.end()) return std::nan("");
    double share = 0;
    for (std::size_t n = 0; n < it->second.size(); ++n)
        if (usage.expert_types[n] == type) share += it->second[n];
    return share;
}

// The mean over the adapted linears of group_share.
inline double mean_group_share(const run_result& run, std::int64_t task, std::int64_t type) {
    double sum = 0;
    for (const auto& usage : run.routers) sum += group_share(usage, task, type);
    return run.routers.empty() ? std::nan("") : sum / static_cast<double>(run.routers.size());
}

inline std::string percent(double x) {
    return std::isnan(x) ? "n/a" : fmt::format("{:.0f}%", 100 * x);
}
inline std::string fixed(double x) {
    return std::isnan(x) ? "n/a" : fmt::format("{:.2f}", x);
}

}  // namespace detail

inline nlohmann::json results_json(const demo_results& r) {
    const demo_config& c = r.config;
    nlohmann::json runs = nlohmann::json::array();
    for (const auto& run : r.runs) {
        nlohmann::json routers = nlohmann::json::array();
        for (const auto& usage : run.routers) {
            nlohmann::json gates = nlohmann::json::object();
            for (const auto& [task, g] : usage.mean_gate) gates[std::to_string(task)] = g;
            routers.push_back(
                {{"module", usage.module}, {"expert_types", usage.expert_types}, {"mean_gate", gates}});
        }
        runs.push_back({{"method", run.method},
                        {"size", run.size},
                        {"examples", run.examples},
                        {"accuracy", detail::accuracies_json(run.scores)},
                        {"seconds", run.seconds},
                        {"final_loss", run.final_loss},
                        {"expert_utilisation", routers}});
    }
    return {{"config",
             {{"quick", c.quick},
              {"seed", c.seed},
              {"entities", c.world.entities},
              {"facts", 3 * c.world.entities},
              {"finetuning_entities", c.world.finetuning_entities},
              {"hidden", c.hidden},
              {"layers", c.layers},
              {"heads", c.heads},
              {"ffn", c.ffn},
              {"vocabulary", r.vocabulary},
              {"parameters", r.parameters},
              {"pretrain_steps", c.pretrain_steps},
              {"pretrain_batch", c.pretrain_batch},
              {"pretrain_lr", c.pretrain_lr},
              {"unit", c.unit},
              {"sizes", c.sizes},
              {"knowledge_share", c.knowledge_share},
              {"finetune_batch", c.finetune_batch},
              {"full_lr", c.full_lr},
              {"adapter_lr", c.adapter_lr},
              {"experts", c.experts},
              {"rank", c.rank},
              {"alpha", c.alpha},
              {"blc_alpha", c.lbc_delta},
              {"blc_weight", c.lbc_weight}}},
            {"base_model",
             {{"accuracy", detail::accuracies_json(r.base)},
              {"pretrain_seconds", r.pretrain_seconds},
              {"pretrain_final_loss", r.pretrain_final_loss}}},
            {"runs", runs},
            {"total_seconds", r.total_seconds}};
}

inline std::string knowledge_figure(const demo_results& r) {
    line_chart chart{.title = "Held-out world knowledge after fine-tuning",
                     .x_label = "fine-tuning examples",
                     .y_label = "knowledge accuracy (instruction format)",
                     .log_x = true,
                     .y_min = 0,
                     .y_max = 1};
    std::vector<double> sizes;
    for (index s : r.config.sizes) sizes.push_back(static_cast<double>(detail::examples_at(r, s)));
    for (const auto& m : methods) {
        line_series series{m.label, sizes, {}, false};
        for (index s : r.config.sizes) series.y.push_back(detail::knowledge_at(r, m.key, s));
        chart.series.push_back(std::move(series));
    }
    chart.series.push_back({"base model (before fine-tuning)", sizes,
                            std::vector<double>(sizes.size(), r.base.knowledge), true});
    return render_svg(chart);
}

// Rows: the adapted linears; columns: LoRAMoE with and without the LBC, on knowledge and on task
// prompts; cells: the routing share of the type-1 experts (the official layout's "knowledge" experts:
// the first N/2), at the largest data size. The other experts get the rest.
inline std::string utilisation_figure(const demo_results& r) {
    const index size = r.config.sizes.back();
    const run_result* with = detail::find_run(r, "loramoe_lbc", size);
    const run_result* without = detail::find_run(r, "loramoe", size);
    if (!with || !without || with->routers.empty())
        fail<value_error>("demo: no LoRAMoE runs at the largest size");
    heatmap map{.title = fmt::format(
                    "Routing share of the type-1 experts (the first {} of {}), {} fine-tuning examples",
                    r.config.experts / 2, r.config.experts, with->examples),
                .column_labels = {"with LBC\nknowledge prompts", "with LBC\ntask prompts",
                                  "without LBC\nknowledge prompts", "without LBC\ntask prompts"},
                .min = 0,
                .max = 1,
                .colour_label = "share of the routing weight"};
    for (std::size_t i = 0; i < with->routers.size(); ++i) {
        std::string label = with->routers[i].module;
        if (label.starts_with("model.layers.")) label = "layer " + label.substr(13);
        map.row_labels.push_back(label);
        map.values.push_back(
            {detail::group_share(with->routers[i], 1, 1), detail::group_share(with->routers[i], 0, 1),
             detail::group_share(without->routers[i], 1, 1), detail::group_share(without->routers[i], 0, 1)});
    }
    return render_svg(map);
}

namespace detail {

// The markdown of the report, a line at a time.
struct markdown {
    std::string text;
    void line(const std::string& words = {}) { text += words + "\n"; }
};

// How a knowledge accuracy `a` compares with `b`, in words; under 3 points apart is "about as much as".
inline std::string comparison(double a, double b) {
    return std::abs(a - b) < 0.03 ? std::string("about as much as") : a > b ? "more than" : "less than";
}

inline void title_section(markdown& md, const demo_results& r, const std::string& command) {
    md.line("# LoRAMoE demo: world-knowledge forgetting in miniature");
    md.line();
    md.line(fmt::format(
        "Made by `{}` in {:.1f} minutes ({}seed {}). Every number below is in "
        "[results.json](results.json).",
        command, r.total_seconds / 60, r.config.quick ? "the quick version, " : "", r.config.seed));
    md.line();
}

// The five methods, their settings, and why the adapters' are the paper's.
inline void methods_list(markdown& md, const demo_config& c) {
    md.line(fmt::format(
        "- **Methods**, on equal footing (same data, order, epochs, schedule; learning rate {} for full "
        "fine-tuning, {} for the adapters), adapters on every gate, up and down projection:",
        c.full_lr, c.adapter_lr));
    md.line("  - *full fine-tuning*: every weight trained (vanilla SFT);");
    md.line(fmt::format(
        "  - *LoRA*: one LoRA of rank {} (as large as the {} experts together), scaling alpha/r = {};",
        c.experts * c.rank, c.experts, c.alpha / static_cast<double>(c.rank)));
    md.line(fmt::format(
        "  - *LoRA, scaling / N (control)*: the same LoRA at scaling {:.3g}. Each LoRAMoE expert's gate "
        "is about 1/N, so LoRAMoE's update is about N times smaller than a LoRA with the same alpha/r: "
        "this control separates that effect from the router's;",
        c.alpha / static_cast<double>(c.rank) / static_cast<double>(c.experts)));
    md.line(fmt::format(
        "  - *LoRAMoE without LBC*: {} experts of rank {}, alpha {}, a dense softmax router per linear;",
        c.experts, c.rank, c.alpha));
    md.line(fmt::format(
        "  - *LoRAMoE with LBC*: the same with the localized balancing constraint, delta {}, beta {} "
        "(the official code's cv^2 statistic, padding masked; experts 0-{} have type 1, "
        "'world knowledge', the rest type 0).",
        c.lbc_delta, c.lbc_weight, c.experts / 2 - 1));
    md.line(
        "  These are the paper's defaults (N = 6, r = 4, alpha = 32, delta = 0.1, beta = 0.1), not "
        "scaled down: rank 4 is already small next to this model's width. The paper's other settings that "
        "do not fit a model this size (7B parameters, millions of examples) were replaced by the sizes "
        "above.");
}

inline void what_ran_section(markdown& md, const demo_results& r) {
    const demo_config& c = r.config;
    md.line("## What ran");
    md.line();
    md.line(fmt::format(
        "- **World**: {} entities with a capital (one of {} cities), a colour (one of 16) and a number "
        "(0-{}): {} facts. The facts of {} entities may appear in fine-tuning; the {} facts of the other {} "
        "are held out: they measure what the model kept.",
        c.world.entities, c.world.cities, c.world.numbers - 1, 3 * c.world.entities,
        c.world.finetuning_entities, 3 * (c.world.entities - c.world.finetuning_entities),
        c.world.entities - c.world.finetuning_entities));
    md.line(fmt::format(
        "- **Base model**: a LLaMA (d {}, {} layers, {} heads, SwiGLU {}, a word-level SentencePiece "
        "vocabulary of {}; {} parameters), pretrained for {} steps of {} documents (lr {}) on the facts in "
        "three forms (`the capital of E5 is C3 .`, `E5 has capital C3 .`, `question : capital of E5 ? "
        "answer : C3`) and on three skills in a raw format (`reverse 3 1 4 = 4 1 3`, `sort ...`, "
        "`add 23 45 = 68`); saved to `base-model/` as a HuggingFace folder and loaded back from it. "
        "Final pretraining loss {:.3f}, {:.0f} s.",
        c.hidden, c.layers, c.heads, c.ffn, r.vocabulary, r.parameters, c.pretrain_steps, c.pretrain_batch,
        c.pretrain_lr, r.pretrain_final_loss, r.pretrain_seconds));
    md.line(fmt::format(
        "- **Fine-tuning data**: {} x size instructions (`instruction : reverse 3 1 4 answer :` -> `4 1 3`; "
        "task_type 0) plus {:.0f}% as many knowledge questions about the fine-tuning entities "
        "(`instruction : question : capital of E5 ? answer :` -> `C3`; task_type 1), as the paper's SFT "
        "mix; sizes {}; one epoch, batch {}; held-out problems never appear in any training text.",
        c.unit, 100 * c.knowledge_share, fmt::format("{}x", fmt::join(c.sizes, "x, ")), c.finetune_batch));
    methods_list(md, c);
    md.line(
        "- **Evaluation** on held-out data: closed-book exact match on the held-out facts in the "
        "instruction format, the same facts in the pretraining format (a probe that needs no format "
        "learning), and each skill on held-out problems in the instruction format; greedy decoding with a "
        "KV cache.");
    md.line();
}

// Every accuracy of the base model and of each method, at the largest size.
inline void main_table_section(markdown& md, const demo_results& r) {
    const index last = r.config.sizes.back();
    const run_result* full_last = find_run(r, "full", last);
    md.line(fmt::format("## Main table ({} fine-tuning examples)", full_last ? full_last->examples : 0));
    md.line();
    md.line(
        "| method | reverse | sort | add | downstream (mean) | knowledge, instruction format "
        "| knowledge, pretraining format |");
    md.line("|---|---|---|---|---|---|---|");
    auto row = [&](const std::string& label, const accuracies& a) {
        auto skill = [&](const char* name) {
            const auto it = a.skills.find(name);
            return it == a.skills.end() ? std::string("n/a") : fixed(it->second);
        };
        md.line(fmt::format("| {} | {} | {} | {} | {} | {} | {} |", label, skill("reverse"), skill("sort"),
                            skill("add"), fixed(a.downstream), fixed(a.knowledge), fixed(a.knowledge_probe)));
    };
    row("base model, before fine-tuning", r.base);
    for (const auto& m : methods)
        if (const run_result* x = find_run(r, m.key, last)) row(m.label, x->scores);
    md.line();
}

// Held-out knowledge of each method at each size: the figure, and its numbers as a table.
inline void knowledge_section(markdown& md, const demo_results& r) {
    const index last = r.config.sizes.back();
    md.line("## World knowledge against fine-tuning data");
    md.line();
    md.line("![knowledge vs data](knowledge_vs_data.svg)");
    md.line();
    std::string header = "| method |", rule = "|---|";
    for (index s : r.config.sizes) {
        header += fmt::format(" {} examples |", examples_at(r, s));
        rule += "---|";
    }
    md.line(header + " (pretraining format at the largest size) |");
    md.line(rule + "---|");
    for (const auto& m : methods) {
        std::string cells = fmt::format("| {} |", m.label);
        for (index s : r.config.sizes) cells += " " + fixed(knowledge_at(r, m.key, s)) + " |";
        const run_result* x = find_run(r, m.key, last);
        md.line(cells + " " + fixed(x ? x->scores.knowledge_probe : std::nan("")) + " |");
    }
    md.line(fmt::format(
        "\nThe base model answers {} of the held-out questions in the instruction format and {} in the "
        "pretraining format before any fine-tuning.",
        percent(r.base.knowledge), percent(r.base.knowledge_probe)));
    md.line();
}

inline void utilisation_section(markdown& md) {
    md.line("## Expert utilisation");
    md.line();
    md.line("![expert utilisation](expert_utilisation.svg)");
    md.line();
}

// What this run showed about knowledge, in plain words, from its own numbers: forgetting under full
// fine-tuning, and what LoRAMoE kept next to the other methods.
inline void knowledge_findings(markdown& md, const demo_results& r) {
    const index first = r.config.sizes.front(), last = r.config.sizes.back();
    const run_result* full_first = find_run(r, "full", first);
    const run_result* full_last = find_run(r, "full", last);
    const double full_drop = knowledge_at(r, "full", first) - knowledge_at(r, "full", last);
    const double lbc_last = knowledge_at(r, "loramoe_lbc", last), lora_last = knowledge_at(r, "lora", last);
    const double control_last = knowledge_at(r, "lora_scaled", last),
                 nolbc_last = knowledge_at(r, "loramoe", last);
    md.line(fmt::format(
        "- **Forgetting.** Full fine-tuning kept {} of the held-out knowledge after {} examples and {} "
        "after {}: {}.",
        percent(knowledge_at(r, "full", first)), full_first ? full_first->examples : 0,
        percent(knowledge_at(r, "full", last)), full_last ? full_last->examples : 0,
        full_drop > 0.05 ? fmt::format("more fine-tuning data erased more world knowledge ({:.0f} points)",
                                       100 * full_drop)
                         : "in this run more data did not erase much more knowledge"));
    md.line(fmt::format(
        "- **LoRAMoE with LBC** kept {} at the largest size, {} full fine-tuning ({}) and {} the "
        "single LoRA ({}).",
        percent(lbc_last), comparison(lbc_last, knowledge_at(r, "full", last)),
        percent(knowledge_at(r, "full", last)), comparison(lbc_last, lora_last), percent(lora_last)));
    md.line(fmt::format(
        "- **The control.** The LoRA with its scaling divided by N kept {}: LoRAMoE with LBC kept {} it. "
        "{}",
        percent(control_last), comparison(lbc_last, control_last),
        std::abs(lbc_last - control_last) < 0.03
            ? "So in this miniature the knowledge LoRAMoE kept is explained by its smaller effective update, "
              "not by the router or the LBC."
        : lbc_last > control_last
            ? "So the router and the LBC protected knowledge beyond the smaller effective update."
            : "So the smaller update alone protected knowledge better than LoRAMoE did."));
    md.line(std::abs(lbc_last - nolbc_last) < 0.03
                ? fmt::format(
                      "- **The LBC** made no clear difference to the knowledge kept: {} with it, {} without.",
                      percent(lbc_last), percent(nolbc_last))
                : fmt::format("- **The LBC** changed the knowledge kept from {} (without) to {} (with).",
                              percent(nolbc_last), percent(lbc_last)));
}

// Which experts the routers chose on each kind of prompt, and the skills each method reached, at the
// largest size.
inline void routing_and_skill_findings(markdown& md, const demo_results& r) {
    const index last = r.config.sizes.back();
    const run_result* lbc_run = find_run(r, "loramoe_lbc", last);
    const run_result* nolbc_run = find_run(r, "loramoe", last);
    if (lbc_run && nolbc_run && !lbc_run->routers.empty()) {
        const double k_lbc = mean_group_share(*lbc_run, 1, 1), t_lbc = mean_group_share(*lbc_run, 0, 1);
        const double k_no = mean_group_share(*nolbc_run, 1, 1), t_no = mean_group_share(*nolbc_run, 0, 1);
        md.line(fmt::format(
            "- **Division of labour.** With the LBC, the type-1 experts received {} of the routing weight on "
            "knowledge prompts and {} on task prompts (mean over the adapted linears); without it, {} "
            "and {}. The LBC's optimum gives the experts whose type matches the sample a share of "
            "(1 - delta)/2 = {:.2f} of each sample's routing mass: the official constraint pushes the raw "
            "routing mass of task-type-1 samples towards the experts whose coefficient is 1 - delta, so "
            "which group ends up with the knowledge prompts is measured here, not assumed.",
            percent(k_lbc), percent(t_lbc), percent(k_no), percent(t_no), (1 - r.config.lbc_delta) / 2));
    }
    const run_result* full_last = find_run(r, "full", last);
    const run_result* lora_last = find_run(r, "lora", last);
    if (full_last && lbc_run)
        md.line(fmt::format(
            "- **Downstream tasks.** At the largest size, full fine-tuning reached {} on the skills, LoRAMoE "
            "with LBC {}, the single LoRA {}.",
            percent(full_last->scores.downstream), percent(lbc_run->scores.downstream),
            percent(lora_last ? lora_last->scores.downstream : std::nan(""))));
}

inline void findings_section(markdown& md, const demo_results& r) {
    md.line("## What this run showed");
    md.line();
    knowledge_findings(md, r);
    routing_and_skill_findings(md, r);
    md.line();
}

inline void caveats_section(markdown& md) {
    md.line("## Caveats");
    md.line();
    md.line(
        "- One seed, one small model, a synthetic world: differences of a few points are within "
        "run-to-run noise. The default run is deterministic on a given machine and thread count.");
    md.line(
        "- Forgetting depends on the learning rate: at a lower rate full fine-tuning needs several times "
        "more data to forget as much (see docs/demo.md).");
    md.line(
        "- The instruction format must be learned before held-out facts can be asked in it; the "
        "pretraining-format probe separates facts that are still stored from facts the model can no "
        "longer express.");
}

}  // namespace detail

inline std::string report_markdown(const demo_results& r, const std::string& command) {
    detail::markdown md;
    detail::title_section(md, r, command);
    detail::what_ran_section(md, r);
    detail::main_table_section(md, r);
    detail::knowledge_section(md, r);
    detail::utilisation_section(md);
    detail::findings_section(md, r);
    detail::caveats_section(md);
    return md.text;
}

// The terminal's view: held-out knowledge per method and size, and the skills at the largest size.
inline std::string summary(const demo_results& r) {
    std::string out = fmt::format("{:<34}", "held-out knowledge (instruction)");
    for (index s : r.config.sizes) out += fmt::format(" {:>7}", fmt::format("{}x", s));
    out += fmt::format(" {:>9}\n", "skills");
    out += fmt::format("{:<34}", "base model");
    for (std::size_t i = 0; i < r.config.sizes.size(); ++i) out += fmt::format(" {:>7.2f}", r.base.knowledge);
    out += fmt::format(" {:>9.2f}\n", r.base.downstream);
    for (const auto& m : methods) {
        out += fmt::format("{:<34}", m.label);
        const run_result* last = nullptr;
        for (index s : r.config.sizes) {
            last = detail::find_run(r, m.key, s);
            out += last ? fmt::format(" {:>7.2f}", last->scores.knowledge) : fmt::format(" {:>7}", "-");
        }
        out += last ? fmt::format(" {:>9.2f}\n", last->scores.downstream) : "\n";
    }
    return out;
}

// Writes report.md, results.json and the two figures into `out` (each file atomically).
inline void write_artefacts(const demo_results& r, const std::filesystem::path& out,
                            const std::string& command) {
    std::filesystem::create_directories(out);
    io::write_text_atomically(out / "results.json", results_json(r).dump(2) + "\n");
    io::write_text_atomically(out / "knowledge_vs_data.svg", knowledge_figure(r));
    io::write_text_atomically(out / "expert_utilisation.svg", utilisation_figure(r));
    io::write_text_atomically(out / "report.md", report_markdown(r, command));
}

}  // namespace loramoe::demo
