// loramoe layer --case CASE.safetensors --out OUT.safetensors [--path fused|reference] [--device cpu|cuda]

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include <loramoe/check/layer_case.hpp>

#include "commands.hpp"
#include "device.hpp"

namespace loramoe::cli {

void add_layer_command(CLI::App& app) {
    struct options {
        std::filesystem::path case_path, out_path;
        moe::execution_path path = moe::execution_path::fused;
        device where = device::cpu;
    };
    auto o = std::make_shared<options>();
    CLI::App* command = app.add_subcommand("layer",
                                           "One LoRAMoE layer forward and backward on a case file (the "
                                           "cross-check contract; docs/contracts.md)");
    command->add_option("--case", o->case_path, "input case (.safetensors)")
        ->required()
        ->check(CLI::ExistingFile);
    command->add_option("--out", o->out_path, "output (.safetensors), written atomically")->required();
    command
        ->add_option("--path", o->path, "execution path: fused (default) or reference (the per-expert loop)")
        ->transform(CLI::CheckedTransformer(std::map<std::string, moe::execution_path>{
            {"fused", moe::execution_path::fused}, {"reference", moe::execution_path::reference}}));
    add_device_option(command, o->where);
    command->callback([o] {
        on_device(o->where, [&]<class Backend>(Backend) {
            check::run_layer_case<Backend>(o->case_path, o->out_path, o->path);
        });
    });
}

}  // namespace loramoe::cli
