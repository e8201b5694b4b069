#pragma once
// What a training run writes: the trained weights (an adapter folder, or a whole HF checkpoint in full
// fine-tuning), and checkpoints that also hold the trainer's state. A checkpoint folder is replaced
// as a whole and survives a kill at any moment: the new one is written beside it (CHECKPOINT.new.PID),
// synced to the disk, then swapped with it in one atomic rename (renameat2's RENAME_EXCHANGE), and
// the old one removed. recover_checkpoint clears what a killed write left behind.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include <loramoe/io/adapter.hpp>
#include <loramoe/io/atomic_file.hpp>
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

// Makes `folder` a complete checkpoint again after a killed write_checkpoint or remove_checkpoint, or
// leaves it absent when none was ever complete: a half-written CHECKPOINT.new.PID and a half-removed
// CHECKPOINT.done.PID are removed; a CHECKPOINT.old.PID (the two-rename fallback, killed between its
// renames) becomes the checkpoint again.
inline void recover_checkpoint(const std::filesystem::path& folder) {
    // "new", "old" or "done" when `name` is FOLDER.KIND.PID, else "".
    const std::string base = folder.filename().string();
    auto leftover = [&](const std::string& name) -> std::string {
        for (const char* kind : {"new", "old", "done"}) {
            const std::string prefix = base + "." + kind + ".";
            if (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
                name.find_first_not_of("0123456789", prefix.size()) == std::string::npos)
                return kind;
        }
        return "";
    };
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(io::folder_of(folder), ec)) {
        const std::string kind = leftover(entry.path().filename().string());
        if (kind == "old" && !std::filesystem::exists(folder))
            std::filesystem::rename(entry.path(), folder);
        else if (!kind.empty())
            std::filesystem::remove_all(entry.path());
    }
    if (!ec) io::sync_to_disk(io::folder_of(folder));
}

// Writes the weights and the trainer state into `folder`, replacing an older checkpoint there only
// once the new one is complete and on the disk.
template <class T, class Backend>
void write_checkpoint(const std::filesystem::path& folder, llama::llama_model<T, Backend>& model,
                      const trainer<T, Backend>& run) {
    const std::string tag = fmt::format(".{}", static_cast<long>(::getpid()));
    const std::filesystem::path fresh = folder.string() + ".new" + tag, old = folder.string() + ".old" + tag;
    std::filesystem::remove_all(fresh);
    save_trained(fresh, model);
    run.save_state(fresh);
    io::sync_to_disk(fresh);
    if (!std::filesystem::exists(folder)) {
        std::filesystem::rename(fresh, folder);
    } else if (::renameat2(AT_FDCWD, fresh.c_str(), AT_FDCWD, folder.c_str(), RENAME_EXCHANGE) == 0) {
        // fresh now holds the old checkpoint.
        io::sync_to_disk(io::folder_of(folder));
        std::filesystem::remove_all(fresh);
    } else if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) {
        // A filesystem without the exchange: two renames (recover_checkpoint mends a kill between them).
        std::filesystem::rename(folder, old);
        std::filesystem::rename(fresh, folder);
        io::sync_to_disk(io::folder_of(folder));
        std::filesystem::remove_all(old);
    } else {
        fail<io_error>("cannot replace {} with {}: {}", folder.string(), fresh.string(),
                       std::strerror(errno));
    }
    io::sync_to_disk(io::folder_of(folder));
}

// Removes the checkpoint of a finished run: renamed away first, so that a kill during the removal
// never leaves a partial checkpoint under its name.
inline void remove_checkpoint(const std::filesystem::path& folder) {
    if (!std::filesystem::exists(folder)) return;
    const std::filesystem::path done =
        folder.string() + fmt::format(".done.{}", static_cast<long>(::getpid()));
    std::filesystem::rename(folder, done);
    io::sync_to_disk(io::folder_of(folder));
    std::filesystem::remove_all(done);
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
