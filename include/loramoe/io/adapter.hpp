#pragma once
// LoRAMoE adapters as the official code saves them: a folder with adapter_config.json and
// adapter_model.safetensors, tensors named after the modules they adapt:
//   base_model.model.<module>.lora_A{e}.weight    (r, d_in)      e = 0 .. N-1
//   base_model.model.<module>.lora_B{e}.weight    (d_out, r)
//   base_model.model.<module>.lora_route.weight   (N, d_in)
// with <module> e.g. model.layers.3.mlp.gate_proj (or model.layers.3.mlp for the ffn placement). A
// plain LoRA (no lora_nums) uses PEFT's names, <module>.lora_A.weight and <module>.lora_B.weight.

#include <filesystem>
#include <functional>
#include <set>
#include <string>

#include <fmt/format.h>

#include <loramoe/io/adapter_config_json.hpp>
#include <loramoe/io/hf_checkpoint.hpp>
#include <loramoe/io/safetensors.hpp>
#include <loramoe/llama/model.hpp>
#include <loramoe/moe/adapter_config.hpp>
#include <loramoe/moe/lora_expert.hpp>

namespace loramoe::io {

inline moe::adapter_config read_adapter_config(const std::filesystem::path& folder) {
    const auto path = folder / "adapter_config.json";
    return parse_adapter_config(read_json_file(path), path.string());
}

// f(official name, values view, gradients view) for every tensor of every adapter of the model, in a
// fixed order. The views are in the backend's memory; B_i is a strided column block of B_cat.
template <class T, class Backend, class F>
void for_each_adapter_tensor(llama::llama_model<T, Backend>& model, F&& f) {
    using adapter_type = typename llama::llama_model<T, Backend>::adapter_type;
    model.for_each_adapter([&](const std::string& module, adapter_type& a) {
        const std::string prefix = "base_model.model." + module;
        const index r = a.rank();
        if (!a.has_router()) {
            f(prefix + ".lora_A.weight", a.a(), a.a_grad());
            f(prefix + ".lora_B.weight", a.b(), a.b_grad());
            return;
        }
        for (index e = 0; e < a.experts(); ++e) {
            f(fmt::format("{}.lora_A{}.weight", prefix, e), moe::expert_a(a.a(), e, r),
              moe::expert_a(a.a_grad(), e, r));
            f(fmt::format("{}.lora_B{}.weight", prefix, e), moe::expert_b(a.b(), e, r),
              moe::expert_b(a.b_grad(), e, r));
        }
        f(prefix + ".lora_route.weight", a.router(), a.router_grad());
    });
}

// Loads adapter_model.safetensors into the model's adapters (built from the same adapter_config):
// every tensor must be present with its shape, and the file must hold no other.
template <class T, class Backend>
void load_adapter_weights(const std::filesystem::path& folder, llama::llama_model<T, Backend>& model) {
    const safetensors_reader reader(folder / "adapter_model.safetensors");
    std::set<std::string> expected;
    for_each_adapter_tensor(model, [&](const std::string& name, matrix_view<T> values, matrix_view<T>) {
        expected.insert(name);
        const tensor<T, cpu> host = reader.template read<T>(name, {values.rows, values.cols});
        upload(Backend{}, host.matrix(), values);
    });
    for (const auto& e : reader.entries())
        if (!expected.contains(e.name))
            fail<format_error>(
                "{}: tensor '{}' belongs to no adapted module of this model and adapter_config.json",
                reader.path().string(), e.name);
}

// Writes adapter_config.json and adapter_model.safetensors into the folder (created if needed).
template <class T, class Backend>
void save_adapter(const std::filesystem::path& folder, llama::llama_model<T, Backend>& model) {
    if (!model.adapter_config()) fail<value_error>("save_adapter: the model has no adapter");
    std::filesystem::create_directories(folder);
    safetensors_writer writer;
    writer.set_metadata("format", "pt");
    for_each_adapter_tensor(model, [&](const std::string& name, matrix_view<T> values, matrix_view<T>) {
        tensor<T, cpu> host({values.rows, values.cols});
        download(Backend{}, as_const(values), host.matrix());
        writer.add(name, host);
    });
    writer.write(folder / "adapter_model.safetensors");
    write_text_atomically(folder / "adapter_config.json", to_json(*model.adapter_config()).dump(2) + "\n");
}

}  // namespace loramoe::io
