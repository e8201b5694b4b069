#pragma once
// A model as a user has it on disk: a HF checkpoint folder, optionally with an adapter folder.

#include <filesystem>
#include <memory>
#include <optional>

#include <loramoe/io/adapter.hpp>
#include <loramoe/io/hf_checkpoint.hpp>
#include <loramoe/llama/model.hpp>

namespace loramoe::io {

// Loads the base weights of `model_dir` and, when `adapter_dir` is given, its adapter. The model is
// built on the heap: it owns large buffers and its blocks point into it, so it never moves.
template <scalar T, backend Backend = cpu>
std::unique_ptr<llama::llama_model<T, Backend>> load_pretrained(
    const std::filesystem::path& model_dir, const std::optional<std::filesystem::path>& adapter_dir = {},
    llama::model_options options = {}) {
    std::optional<moe::adapter_config> adapter;
    if (adapter_dir) adapter = read_adapter_config(*adapter_dir);
    auto model =
        std::make_unique<llama::llama_model<T, Backend>>(read_llama_config(model_dir), adapter, options);
    load_base_weights(model_dir, *model);
    if (adapter_dir) load_adapter_weights(*adapter_dir, *model);
    return model;
}

}  // namespace loramoe::io
