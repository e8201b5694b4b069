#pragma once
// What a training run writes: the trained weights (an adapter folder, or a whole HF checkpoint in full
// fine-tuning), and checkpoints that also hold the trainer's state. A checkpoint folder is replaced
// as a whole: it is written beside the old one, then renamed over it.

#include <filesystem>
#include <string>

#include <unistd.h>

#include <loramoe/io/adapter.hpp>
#include <loramoe/io/hf_checkpoint.hpp>
#include <loramoe/llama/model.hpp>
#include <loramoe/train/trainer.hpp>

namespace loramoe::train {

// The trained weights: adapter_config.json + adapter_model.safetensors when the model has adapters,
// config.json + model.safetensors when its base weights were trained (both when both were).
template <class T, class Backend>
void save_trained(const std::filesystem::path& folder, llama::llama_model<T, Backend>& model) {
    if (model.adapter_config()) io::save_adapter(folder, model);
    if (model.base().has_grads()) io::save_hf_checkpoint(folder, model);
}

// Loads what save_trained wrote into a model built with the same configuration.
template <class T, class Backend>
void load_trained(const std::filesystem::path& folder, llama::llama_model<T, Backend>& model) {
    if (model.adapter_config()) io::load_adapter_weights(folder, model);
    if (model.base().has_grads()) io::load_base_weights(folder, model);
}

// Writes the weights and the trainer state into `folder`, replacing an older checkpoint there only
// once the new one is complete.
template <class T, class Backend>
void write_checkpoint(const std::filesystem::path& folder, llama::llama_model<T, Backend>& model,
                      const trainer<T, Backend>& run) {
    const std::string tag = fmt::format(".{}", static_cast<long>(::getpid()));
    const std::filesystem::path fresh = folder.string() + ".new" + tag, old = folder.string() + ".old" + tag;
    std::filesystem::remove_all(fresh);
    save_trained(fresh, model);
    run.save_state(fresh);
    if (std::filesystem::exists(folder)) std::filesystem::rename(folder, old);
    std::filesystem::rename(fresh, folder);
    std::filesystem::remove_all(old);
}

// Restores a checkpoint written by write_checkpoint into the model and the trainer.
template <class T, class Backend>
void read_checkpoint(const std::filesystem::path& folder, llama::llama_model<T, Backend>& model,
                     trainer<T, Backend>& run) {
    if (!std::filesystem::exists(folder / "trainer_state.json"))
        fail<io_error>("{}: no checkpoint to resume from (trainer_state.json missing)", folder.string());
    run.load_state(folder);
    load_trained(folder, model);
}

}  // namespace loramoe::train
