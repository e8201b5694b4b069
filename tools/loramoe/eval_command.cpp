// loramoe eval --model DIR [--adapter DIR] --data eval.jsonl [--out results.json] [--router-stats stats.json]
//              [--device cpu|cuda] [--base-dtype float32|bfloat16]
//
// Scores a model (with an adapter, or alone) on JSONL data: the loss over the targets, the exact-match
// accuracy of greedy generation per task type, and, with adapters, the router statistics. Under
// `mpirun -np K` each rank scores a share of the examples, and rank 0 prints and writes the sums.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <loramoe/io/atomic_file.hpp>
#include <loramoe/io/generation_config.hpp>
#include <loramoe/io/instruction_data.hpp>
#include <loramoe/io/pretrained.hpp>
#include <loramoe/io/tokenizer.hpp>
#include <loramoe/train/evaluation.hpp>

#include "base_dtype.hpp"
#include "commands.hpp"
#include "device.hpp"
#include "output_paths.hpp"
#include "ranks.hpp"
#include "recompute_option.hpp"
#include "template_option.hpp"

namespace loramoe::cli {

namespace {

struct eval_options {
    std::filesystem::path model, data, out, router_stats, predictions;
    std::optional<std::filesystem::path> adapter;
    train::evaluation_options evaluation;
    index max_length = 1024;
    template_choice prompt_format;
    bool no_generate = false;
    bool double_precision = false;
    device where = device::cpu;
    base_dtype base = base_dtype::automatic;
    recompute_choice recompute;
};

template <class T, class Backend>
void run(eval_options& o) {
    refuse_outputs_over_inputs(
        {{"--out", o.out}, {"--router-stats", o.router_stats}, {"--predictions", o.predictions}},
        {{"--model", o.model}, {"--adapter", o.adapter.value_or("")}, {"--data", o.data}});
    const communicator_ref ranks = launched_ranks();
    const auto config = io::read_llama_config(o.model);
    const auto tokenizer = io::load_tokenizer(o.model, config);
    const auto data = io::read_instruction_jsonl(o.data);
    if (data.empty()) fail<value_error>("{}: no examples to evaluate", o.data.string());
    std::vector<io::tokenized_example> examples;
    o.prompt_format.prepare(o.model);
    for (const auto& e : data) examples.push_back(o.prompt_format.tokenize(e, *tokenizer, o.max_length));
    llama::model_options options{.base_in_bf16 = base_in_bf16<T, Backend>(o.base, o.model, true)};
    o.recompute.apply(options);
    const auto model = io::load_pretrained<T, Backend>(o.model, o.adapter, options);
    if (!o.router_stats.empty() && !(model->adapter_config() && model->adapter_config()->router))
        fail<value_error>("--router-stats: the model has no routed adapter");
    o.evaluation.exact_match = !o.no_generate;
    const auto stop = io::generation_stop_ids(o.model, config, *tokenizer);
    const auto result = train::evaluate(*model, std::span<const io::tokenized_example>(examples),
                                        tokenizer->pad_id(), stop, o.evaluation, ranks);
    if (ranks.rank() != 0) return;

    // Every output made before any is written: a failure leaves the previous ones as they were.
    std::vector<std::pair<std::filesystem::path, std::string>> outputs;
    if (!o.out.empty()) outputs.emplace_back(o.out, result.to_json().dump(2) + "\n");
    if (!o.router_stats.empty()) outputs.emplace_back(o.router_stats, result.router_json().dump(2) + "\n");
    if (!o.predictions.empty()) {
        std::string lines;
        for (std::size_t i = 0; i < data.size(); ++i)
            lines += nlohmann::json({{"instruction", data[i].instruction},
                                     {"input", data[i].input},
                                     {"output", data[i].output},
                                     {"prediction", tokenizer->decode(result.predictions[i])}})
                         .dump() +
                     "\n";
        outputs.emplace_back(o.predictions, std::move(lines));
    }

    fmt::print("loss {:.4f} over {} target tokens\n", result.loss, result.counted_tokens);
    if (!o.no_generate) {
        fmt::print("exact match {:.4f} ({}/{})\n", result.exact_match.accuracy(), result.exact_match.correct,
                   result.exact_match.total);
        for (const auto& [task, a] : result.exact_match_by_task)
            fmt::print("  task_type {}: {:.4f} ({}/{})\n", task, a.accuracy(), a.correct, a.total);
    }
    for (const auto& [path, text] : outputs) io::write_text_atomically(path, text);
}

}  // namespace

void add_eval_command(CLI::App& app) {
    auto o = std::make_shared<eval_options>();
    CLI::App* c =
        app.add_subcommand("eval", "Loss, exact-match accuracy and router statistics on JSONL data");
    c->add_option("--model", o->model, "HF checkpoint folder")->required()->check(CLI::ExistingDirectory);
    c->add_option("--adapter", o->adapter, "adapter folder")->check(CLI::ExistingDirectory);
    c->add_option("--data", o->data, "JSONL: instruction, input, output, task_type per line")
        ->required()
        ->check(CLI::ExistingFile);
    c->add_option("--out", o->out, "write the results as JSON");
    c->add_option("--router-stats", o->router_stats,
                  "write the mean gate per expert and task type, per adapted linear");
    c->add_option("--predictions", o->predictions, "write each example's generated output as JSONL");
    c->add_option("--batch-size", o->evaluation.batch_size)->capture_default_str();
    c->add_option("--max-new-tokens", o->evaluation.max_new_tokens,
                  "generation budget (at least the target + 1)")
        ->capture_default_str();
    c->add_option("--max-length", o->max_length, "tokens per example (longer ones are cut)")
        ->capture_default_str();
    add_template_option(c, o->prompt_format);
    c->add_flag("--no-generate", o->no_generate, "loss and router statistics only");
    c->add_flag("--double", o->double_precision, "compute in double precision (default float)");
    add_device_option(c, o->where);
    add_base_dtype_option(c, o->base);
    add_recompute_options(c, o->recompute,
                          "keep one block's activations at a time (for a model near the memory's size): the "
                          "router statistics then run each block a second time");
    c->callback([o] {
        on_device(o->where, [&]<class Backend>(Backend) {
            o->double_precision ? run<double, Backend>(*o) : run<float, Backend>(*o);
        });
    });
}

}  // namespace loramoe::cli
