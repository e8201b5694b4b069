// loramoe model --model DIR --adapter DIR --batch BATCH.safetensors --out OUT.safetensors [--device cpu|cuda]

#include <filesystem>
#include <memory>

#include <loramoe/check/model_case.hpp>

#include "commands.hpp"
#include "device.hpp"

namespace loramoe::cli {

void add_model_command(CLI::App& app) {
    struct options {
        std::filesystem::path model, adapter, batch, out;
        device where = device::cpu;
    };
    auto o = std::make_shared<options>();
    CLI::App* command = app.add_subcommand(
        "model",
        "A HF LLaMA with a LoRAMoE adapter, forward and backward on one batch (the cross-check contract)");
    command->add_option("--model", o->model, "HF checkpoint folder (config.json + model.safetensors)")
        ->required()
        ->check(CLI::ExistingDirectory);
    command
        ->add_option("--adapter", o->adapter,
                     "adapter folder (adapter_config.json + adapter_model.safetensors)")
        ->required()
        ->check(CLI::ExistingDirectory);
    command->add_option("--batch", o->batch, "input_ids, attention_mask, labels [B,S] and task_types [B]")
        ->required()
        ->check(CLI::ExistingFile);
    command->add_option("--out", o->out, "output (.safetensors), written atomically")->required();
    add_device_option(command, o->where);
    command->callback([o] {
        on_device(o->where, [&]<class Backend>(Backend) {
            check::run_model_case<Backend>(o->model, o->adapter, o->batch, o->out);
        });
    });
}

}  // namespace loramoe::cli
