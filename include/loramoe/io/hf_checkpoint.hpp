#pragma once
// HuggingFace checkpoint folders: config.json with model.safetensors, or with the shards that
// model.safetensors.index.json lists. Weights stored as F32, F64, F16 or BF16 are converted to the
// type the model holds them in (its compute type, or bfloat16 for a base held in bfloat16), one
// tensor at a time, each tensor's pages given back once it is in: the model is held once. Writes are
// atomic, file by file.

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/io/atomic_file.hpp>
#include <loramoe/io/json_fields.hpp>
#include <loramoe/io/json_file.hpp>
#include <loramoe/io/llama_config_json.hpp>
#include <loramoe/io/safetensors.hpp>
#include <loramoe/llama/config.hpp>
#include <loramoe/llama/model.hpp>

namespace loramoe::io {

// The safetensors files of a checkpoint folder, and which one holds each tensor.
class checkpoint_files {
public:
    explicit checkpoint_files(const std::filesystem::path& folder) : folder_(folder) {
        const auto index_path = folder / "model.safetensors.index.json";
        if (std::filesystem::exists(index_path)) {
            const auto index = read_json_file(index_path);
            const json_fields map = json_fields(index, index_path.string()).object("weight_map");
            for (const auto& entry : map.json().items()) {
                const std::string& tensor = entry.key();
                const std::string name = map.required<std::string>(tensor);
                if (name.empty() || name.find_first_of(std::string_view("/\0", 2)) != std::string::npos ||
                    name == "." || name == "..")
                    map.fail_field(tensor, "a file name in the folder");
                shard_of_[tensor] = name;
                if (!readers_.contains(name))
                    readers_.emplace(name, std::make_unique<safetensors_reader>(folder / name));
            }
            for (const auto& [tensor, shard] : shard_of_)
                if (!readers_.at(shard)->contains(tensor))
                    fail<format_error>("{}: the index puts tensor '{}' in {}, which does not hold it",
                                       index_path.string(), tensor, shard);
        } else {
            const auto single = folder / "model.safetensors";
            if (!std::filesystem::exists(single))
                fail<io_error>("{}: neither model.safetensors nor model.safetensors.index.json",
                               folder.string());
            auto reader = std::make_unique<safetensors_reader>(single);
            for (const auto& e : reader->entries()) shard_of_[e.name] = "model.safetensors";
            readers_.emplace("model.safetensors", std::move(reader));
        }
    }

    const std::filesystem::path& folder() const { return folder_; }
    bool contains(const std::string& tensor) const { return shard_of_.contains(tensor); }
    const std::map<std::string, std::string>& tensors() const { return shard_of_; }

    const safetensors_reader& file_of(const std::string& tensor) const {
        const auto it = shard_of_.find(tensor);
        if (it == shard_of_.end())
            fail<format_error>("{}: the checkpoint has no tensor '{}'", folder_.string(), tensor);
        return *readers_.at(it->second);
    }
    const tensor_entry& entry(const std::string& tensor) const { return file_of(tensor).entry(tensor); }

private:
    std::filesystem::path folder_;
    std::map<std::string, std::string> shard_of_;
    std::map<std::string, std::unique_ptr<safetensors_reader>> readers_;
};

// config.json of a checkpoint folder, validated, and where the folder holds the weights, checked
// against them before anything is built from it: the embedding's shape (vocab_size, hidden_size), the
// first MLP's (intermediate_size) and the number of layers. A config that says a million layers is
// refused here, not after a million layers' layout has been built.
inline llama::llama_config read_llama_config(const std::filesystem::path& folder) {
    const auto path = folder / "config.json";
    llama::llama_config config = parse_llama_config(read_json_file(path), path.string());
    if (!std::filesystem::exists(folder / "model.safetensors") &&
        !std::filesystem::exists(folder / "model.safetensors.index.json"))
        return config;
    const checkpoint_files files(folder);
    auto check_shape = [&](const std::string& tensor, const shape_type& expected, std::string_view keys) {
        if (!files.contains(tensor)) return;  // reported, with every other missing tensor, when loading
        if (const auto& e = files.entry(tensor); e.shape != expected)
            fail<shape_error>("{}: {} say {}, but the checkpoint's {} has shape {}", path.string(), keys,
                              expected, tensor, e.shape);
    };
    check_shape("model.embed_tokens.weight", {config.vocab_size, config.hidden_size},
                "vocab_size and hidden_size");
    check_shape(llama::layer_prefix(0) + "mlp.gate_proj.weight",
                {config.intermediate_size, config.hidden_size}, "intermediate_size and hidden_size");
    const auto layer_norm = [](index l) { return llama::layer_prefix(l) + "input_layernorm.weight"; };
    const index layers = config.num_hidden_layers;
    if (!files.contains(layer_norm(layers - 1)) || files.contains(layer_norm(layers))) {
        index held = 0;
        for (const auto& [tensor, shard] : files.tensors())
            if (tensor.starts_with("model.layers.") && tensor.ends_with(".input_layernorm.weight")) ++held;
        fail<shape_error>("{}: num_hidden_layers is {}, but the checkpoint holds the weights of {} layers",
                          path.string(), layers, held);
    }
    return config;
}

// The dtype the checkpoint stores its embedding in: F64 checkpoints compute in double, others in float.
inline dtype checkpoint_dtype(const std::filesystem::path& folder) {
    return checkpoint_files(folder).entry("model.embed_tokens.weight").type;
}

namespace detail {
// Tensors a checkpoint may hold that the model does not need.
inline bool ignorable_checkpoint_tensor(const std::string& name, const llama::llama_config& config) {
    return name.ends_with("rotary_emb.inv_freq") || (config.tie_word_embeddings && name == "lm_head.weight");
}
}  // namespace detail

// Loads every base weight of `model` from the folder; every tensor must be there with its shape, and
// the checkpoint must hold nothing the model does not know.
template <class T, class Backend>
void load_base_weights(const std::filesystem::path& folder, llama::llama_model<T, Backend>& model) {
    const checkpoint_files files(folder);
    for (const auto& [name, shard] : files.tensors())
        if (model.layout().find(name) == nullptr && model.bf16_layout().find(name) == nullptr &&
            !detail::ignorable_checkpoint_tensor(name, model.config()))
            fail<format_error>("{}: tensor '{}' in {} is not part of a LLaMA with this config.json",
                               folder.string(), name, shard);
    // Each tensor read by `read(name, shape, host pointer)` into `store` at its offset: straight into the
    // model on the CPU, through a host tensor elsewhere; its file pages given back once it is in.
    auto load = [&]<class E>(const tensor_layout& layout, E* store, auto read) {
        for (const named_tensor& t : layout.tensors()) {
            const auto& reader = files.file_of(t.name);
            if constexpr (std::is_same_v<Backend, cpu>) {
                read(reader, t, store + t.offset);
            } else {
                tensor<E, cpu> host(t.shape);
                read(reader, t, host.data());
                copy_from_host(Backend{}, host.data(), store + t.offset, t.size());
            }
            reader.release(reader.entry(t.name));
        }
    };
    load(model.layout(), model.base().values().data(),
         [](const safetensors_reader& reader, const named_tensor& t, T* out) {
             reader.read(t.name, t.shape, out);
         });
    load(model.bf16_layout(), model.bf16_base().data(),
         [](const safetensors_reader& reader, const named_tensor& t, bfloat16* out) {
             reader.read_bfloat16(t.name, t.shape, out);
         });
}

// Writes config.json and model.safetensors (F32 or F64 as T; BF16 for matrices held in bfloat16) into
// the folder, creating it if needed.
template <class T, class Backend>
void save_hf_checkpoint(const std::filesystem::path& folder, const llama::llama_model<T, Backend>& model) {
    std::filesystem::create_directories(folder);
    safetensors_writer writer;
    writer.set_metadata("format", "pt");
    const tensor<T, cpu> values = to_host(model.base().values());
    for (const named_tensor& t : model.layout().tensors())
        writer.add(t.name, values.data() + t.offset, t.shape);
    // On the CPU the writer reads the model's own bfloat16 buffer: no copy of the largest thing it holds.
    tensor<bfloat16, cpu> device_copy;
    const bfloat16* matrices = model.bf16_base().data();
    if constexpr (!std::is_same_v<Backend, cpu>) {
        device_copy = to_host(model.bf16_base());
        matrices = device_copy.data();
    }
    for (const named_tensor& t : model.bf16_layout().tensors())
        writer.add(t.name, matrices + t.offset, t.shape);
    writer.write(folder / "model.safetensors");
    llama::llama_config config = model.config();
    config.torch_dtype = model.options().base_in_bf16 ? "bfloat16"
                         : std::is_same_v<T, double>  ? "float64"
                                                      : "float32";
    write_text_atomically(folder / "config.json", to_json(config).dump(2) + "\n");
}

}  // namespace loramoe::io
