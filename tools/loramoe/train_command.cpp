// loramoe train --model DIR --data train.jsonl --out DIR [--mode loramoe|lora|full] [adapter options]
//               [training options] [--checkpoint-every K] [--resume] [--device cpu|cuda]
//               [--base-dtype float32|bfloat16]
//
// Trains LoRAMoE adapters (the paper's defaults), a plain LoRA per target, or every weight, on JSONL
// instruction data. Checkpoints go to OUT/checkpoint (every K steps and on Ctrl-C); --resume continues
// from there exactly. The result: an adapter folder, or a HF checkpoint folder in full mode. On
// --device cuda the model and the trainer's state live on the GPU and are copied to the host for every
// file written (checkpoints included), so the files are the same as on the CPU's.
//
// Under `mpirun -np K` (a build with MPI) the K ranks share each batch and hold the same weights
// (train/trainer.hpp); they first check that they hold the same data, options and model, then rank 0
// alone shows the progress and writes checkpoints and the result. OUT must be a folder every rank sees
// for --resume, which works under any K.

#include <array>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <memory>
#include <vector>

#include <loramoe/io/instruction_data.hpp>
#include <loramoe/io/tokenizer.hpp>
#include <loramoe/train/checkpoint.hpp>
#include <loramoe/train/progress.hpp>
#include <loramoe/train/trainer.hpp>

#include "base_dtype.hpp"
#include "commands.hpp"
#include "device.hpp"
#include "output_paths.hpp"
#include "ranks.hpp"
#include "recompute_option.hpp"
#include "template_option.hpp"

namespace loramoe::cli {

namespace {

std::atomic<bool> interrupted{false};

enum class training_mode { loramoe, lora, full };

struct train_options {
    std::filesystem::path model, data, out;
    training_mode mode = training_mode::loramoe;
    moe::adapter_config adapter;
    train::training_options training;
    index max_length = 1024;
    template_choice prompt_format;
    index checkpoint_every = 0;
    index log_every = 10;
    bool resume = false;
    bool double_precision = false;
    device where = device::cpu;
    base_dtype base = base_dtype::automatic;
    recompute_choice recompute;
    std::string statistic = "cv2", placement = "linears";
};

// The files besides the weights that make a HF folder usable: the tokenizer's.
constexpr std::array<const char*, 5> tokenizer_files = {"tokenizer.model", "tokenizer_config.json",
                                                        "special_tokens_map.json", "tokenizer.json",
                                                        "generation_config.json"};

void copy_tokenizer_files(const std::filesystem::path& from, const std::filesystem::path& to) {
    for (const char* name : tokenizer_files)
        if (std::filesystem::is_regular_file(from / name))
            std::filesystem::copy_file(from / name, to / name,
                                       std::filesystem::copy_options::overwrite_existing);
}

// Whether any rank has `flag` set: the ranks stop together.
bool on_any_rank(const communicator_ref& ranks, bool flag) {
    std::int64_t count = flag ? 1 : 0;
    ranks.all_reduce_sum(std::span(&count, 1));
    return count > 0;
}

// The files and folders a run writes into OUT, which must not be ones it reads.
void refuse_overwriting_inputs(const train_options& o) {
    std::vector<named_path> outputs = {{"--out", o.out / "checkpoint"}};
    const bool full = o.mode == training_mode::full;
    for (const char* name : {"adapter_config.json", "adapter_model.safetensors"})
        if (!full) outputs.push_back({"--out", o.out / name});
    for (const char* name : {"config.json", "model.safetensors"})
        if (full) outputs.push_back({"--out", o.out / name});
    for (const char* name : tokenizer_files)
        if (full) outputs.push_back({"--out", o.out / name});
    refuse_outputs_over_inputs(outputs, {{"--model", o.model}, {"--data", o.data}});
}

template <class T, class Backend>
void run(train_options& o) {
    refuse_overwriting_inputs(o);
    const communicator_ref ranks = launched_ranks();
    const bool lead = ranks.rank() == 0;  // the rank that reports and writes
    const auto config = io::read_llama_config(o.model);
    const auto tokenizer = io::load_tokenizer(o.model, config);
    std::vector<io::tokenized_example> examples;
    o.prompt_format.prepare(o.model);
    for (const auto& e : io::read_instruction_jsonl(o.data))
        examples.push_back(o.prompt_format.tokenize(e, *tokenizer, o.max_length));

    std::optional<moe::adapter_config> adapter;
    if (o.mode != training_mode::full) {
        adapter = o.adapter;
        adapter->statistic = moe::parse_lbc_statistic(o.statistic);
        adapter->placement =
            o.placement == "ffn" ? moe::adapter_placement::ffn : moe::adapter_placement::linears;
        adapter->router = o.mode == training_mode::loramoe;
        if (!adapter->router) adapter->experts = 1;
    }
    const bool frozen = o.mode != training_mode::full;
    llama::model_options options{.train_base = !frozen,
                                 .seed = o.training.seed,
                                 .base_in_bf16 = base_in_bf16<T, Backend>(o.base, o.model, frozen)};
    o.recompute.apply(options);
    const auto model = std::make_unique<llama::llama_model<T, Backend>>(config, adapter, options);
    io::load_base_weights(o.model, *model);
    model->reset_adapters(o.training.seed);
    train::trainer<T, Backend> trainer(*model, std::move(examples), tokenizer->pad_id(), o.training, ranks);

    // What a killed run left behind: a half-written checkpoint or output file (rank 0 clears it while
    // the others wait).
    const auto checkpoint = o.out / "checkpoint";
    if (lead && std::filesystem::exists(o.out)) {
        train::recover_checkpoint(checkpoint);
        io::remove_stray_temporaries(o.out);
    }
    if (ranks.size() > 1) on_any_rank(ranks, false);
    if (o.resume) {
        train::read_checkpoint(checkpoint, *model, trainer);
        if (lead)
            fmt::print(stderr, "resuming at step {}/{} from {}\n", trainer.step(), trainer.total_steps(),
                       checkpoint.string());
    } else if (std::filesystem::exists(checkpoint)) {
        fail<value_error>(
            "{} holds the checkpoint of an unfinished run: pass --resume, or choose another --out",
            checkpoint.string());
    }
    trainer.require_ranks_agree(true, "the data, the options, the model and the starting weights");
    if (lead) {
        std::filesystem::create_directories(o.out);
        if (ranks.size() > 1)
            fmt::print(stderr, "data parallel over {} ranks: {} examples per batch in all\n", ranks.size(),
                       o.training.batch_size);
    }

    interrupted = false;
    auto previous = std::signal(SIGINT, [](int) { interrupted = true; });
    train::progress_display progress("train", o.log_every);
    // A checkpoint of the weights every rank holds (they are compared first).
    auto save = [&] {
        trainer.require_ranks_agree(false, fmt::format("the weights after step {}", trainer.step()));
        if (lead) train::write_checkpoint(checkpoint, *model, trainer);
    };
    while (!trainer.finished()) {
        const train::step_report report = trainer.train_step();
        if (lead) progress.update(report);
        const bool due =
            o.checkpoint_every > 0 && trainer.step() % o.checkpoint_every == 0 && !trainer.finished();
        const bool stop = ranks.size() > 1 ? on_any_rank(ranks, interrupted) : interrupted.load();
        if (due || stop) save();
        if (stop) {
            if (lead) progress.interrupt();
            std::signal(SIGINT, previous);
            throw interruption(
                fmt::format("interrupted at step {}/{}: checkpoint written to {}; continue with --resume",
                            trainer.step(), trainer.total_steps(), checkpoint.string()));
        }
    }
    std::signal(SIGINT, previous);
    trainer.require_ranks_agree(false, "the trained weights");
    if (!lead) return;
    train::save_trained(o.out, *model);
    if (o.mode == training_mode::full) copy_tokenizer_files(o.model, o.out);
    train::remove_checkpoint(checkpoint);
    fmt::print(stderr, "wrote {} to {}\n",
               o.mode == training_mode::full ? "the fine-tuned model" : "the adapter", o.out.string());
}

}  // namespace

void add_train_command(CLI::App& app) {
    auto o = std::make_shared<train_options>();
    CLI::App* c =
        app.add_subcommand("train", "Fine-tune LoRAMoE adapters (or a LoRA, or every weight) on JSONL data");
    c->add_option("--model", o->model, "HF checkpoint folder (config.json, model.safetensors, tokenizer)")
        ->required()
        ->check(CLI::ExistingDirectory);
    c->add_option("--data", o->data, "JSONL: instruction, input, output, task_type per line")
        ->required()
        ->check(CLI::ExistingFile);
    c->add_option("--out", o->out,
                  "output folder (adapter, or model in full mode; checkpoints in OUT/checkpoint)")
        ->required();
    c->add_option("--mode", o->mode,
                  "loramoe (default), lora (one plain LoRA per target), full (every weight)")
        ->transform(
            CLI::CheckedTransformer(std::map<std::string, training_mode>{{"loramoe", training_mode::loramoe},
                                                                         {"lora", training_mode::lora},
                                                                         {"full", training_mode::full}}));

    auto* adapter = c->add_option_group("adapter", "the adapter (paper defaults)");
    adapter->add_option("--experts", o->adapter.experts, "LoRA experts per adapted linear, N (lora_nums)")
        ->capture_default_str();
    adapter->add_option("--rank", o->adapter.rank, "LoRA rank r")->capture_default_str();
    adapter->add_option("--alpha", o->adapter.alpha, "lora_alpha; experts are scaled by alpha / r")
        ->capture_default_str();
    // The LBC's options are one family, --lbc-*; the official code's blc_* spelling is accepted too.
    adapter
        ->add_option("--lbc-delta,--blc-alpha", o->adapter.lbc_delta,
                     "LBC delta (blc_alpha in adapter_config.json)")
        ->capture_default_str();
    adapter
        ->add_option("--lbc-weight,--blc-weight", o->adapter.lbc_weight,
                     "LBC weight beta in the loss (blc_weight in adapter_config.json); 0 disables it")
        ->capture_default_str();
    adapter
        ->add_option("--lbc-statistic,--blc-statistic", o->statistic,
                     "cv2 (the official code) or var_over_mean (the paper)")
        ->check(CLI::IsMember({"cv2", "var_over_mean"}))
        ->capture_default_str();
    adapter
        ->add_option("--target-modules", o->adapter.target_modules, "linears to adapt (module name suffixes)")
        ->delimiter(',')
        ->capture_default_str();
    adapter->add_option("--dropout", o->adapter.dropout, "lora_dropout on each expert's input")
        ->capture_default_str();
    adapter->add_option("--top-k", o->adapter.top_k, "keep the k largest gates (0: dense, as LoRAMoE)")
        ->capture_default_str();
    adapter
        ->add_option("--placement", o->placement,
                     "linears (official) or ffn (one set of experts beside each FFN)")
        ->check(CLI::IsMember({"linears", "ffn"}))
        ->capture_default_str();
    adapter->add_flag("--lbc-counts-padding", o->adapter.lbc_counts_padding,
                      "count padding in the LBC (the official code)");

    auto* training = c->add_option_group("training", "optimisation");
    training->add_option("--epochs", o->training.epochs)->capture_default_str();
    training->add_option("--lr", o->training.learning_rate, "peak learning rate")->capture_default_str();
    training->add_option("--batch-size", o->training.batch_size)->capture_default_str();
    training->add_option("--grad-accum", o->training.gradient_accumulation, "micro-batches per update")
        ->capture_default_str();
    training
        ->add_option("--warmup-ratio", o->training.warmup_ratio, "linear warm-up, as a fraction of the steps")
        ->capture_default_str();
    training->add_option("--weight-decay", o->training.weight_decay)->capture_default_str();
    training->add_option("--max-grad-norm", o->training.max_grad_norm, "global-norm clipping (0: none)")
        ->capture_default_str();
    training->add_option("--seed", o->training.seed, "shuffling, initialisation and dropout")
        ->capture_default_str();
    training->add_option("--max-length", o->max_length, "tokens per example (longer ones are cut)")
        ->capture_default_str();
    add_template_option(training, o->prompt_format);
    training->add_flag("--double", o->double_precision, "compute in double precision (default float)");
    training->add_flag("--skip-nonfinite", o->training.skip_nonfinite,
                       "skip a step whose loss or gradient is NaN or Inf (counted in the progress display) "
                       "instead of stopping there");

    c->add_option("--checkpoint-every", o->checkpoint_every,
                  "write OUT/checkpoint every K steps (0: only on Ctrl-C)")
        ->capture_default_str();
    c->add_option("--log-every", o->log_every, "without a terminal, log a line every K steps")
        ->capture_default_str();
    c->add_flag("--resume", o->resume, "continue the run saved in OUT/checkpoint");
    add_device_option(c, o->where);
    add_base_dtype_option(c, o->base);
    add_recompute_options(
        c, o->recompute,
        "activation checkpointing: keep each block's input only and run the block again in "
        "backward (the same gradients, one block's activations in memory, about a third more "
        "work)");
    c->callback([o] {
        on_device(o->where, [&]<class Backend>(Backend) {
            o->double_precision ? run<double, Backend>(*o) : run<float, Backend>(*o);
        });
    });
}

}  // namespace loramoe::cli
