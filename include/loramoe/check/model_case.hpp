#pragma once
// The `loramoe model` cross-check contract: a HF LLaMA checkpoint with a LoRAMoE adapter, forward and
// backward on one batch, so that anyone can check their own implementation against this one.
//
// MODEL is a HF folder (config.json + model.safetensors or shards), ADAPTER an adapter folder
// (adapter_config.json + adapter_model.safetensors, official names), BATCH.safetensors holds
// input_ids, attention_mask, labels [B,S] and task_types [B] (integers). The program computes in the
// precision of the stored weights (F64 in double, anything else in float) and writes loss, ce_loss,
// lbc_loss (the unweighted sum over the adapted linears), logits [B,S,V] and grad.<name> = d loss /
// d <name> for every adapter tensor.

#include <filesystem>

#include <loramoe/core/host_memory.hpp>
#include <loramoe/io/adapter.hpp>
#include <loramoe/io/hf_checkpoint.hpp>
#include <loramoe/io/pretrained.hpp>
#include <loramoe/io/safetensors.hpp>
#include <loramoe/llama/model.hpp>

namespace loramoe::check {

// Reads BATCH.safetensors into a token_batch (shapes checked; values are checked by the model).
inline llama::token_batch read_token_batch(const std::filesystem::path& path) {
    const io::safetensors_reader in(path);
    const auto& shape = in.entry("input_ids").shape;
    if (shape.size() != 2)
        fail<shape_error>("{}: input_ids has shape {}, expected [B, S]", path.string(), shape);
    llama::token_batch batch;
    batch.samples = shape[0];
    batch.tokens = shape[1];
    auto read = [&](const char* name, const shape_type& expected) {
        const auto t = in.read<std::int64_t>(name, expected);
        return std::vector<std::int64_t>(t.span().begin(), t.span().end());
    };
    batch.input_ids = read("input_ids", shape);
    batch.attention_mask = read("attention_mask", shape);
    batch.labels = read("labels", shape);
    batch.task_types = read("task_types", {batch.samples});
    return batch;
}

namespace detail {

// The case on Backend: the weights are loaded into the backend's memory, the logits and gradients
// copied back to the host to be written.
template <class T, class Backend>
void run_model_case_as(const std::filesystem::path& model_dir, const std::filesystem::path& adapter_dir,
                       const llama::token_batch& batch, const std::filesystem::path& out_path) {
    using model_type = llama::llama_model<T, Backend>;
    // The batch file is small, but the logits and the saved activations multiply its B * S by the
    // model's sizes (and the attention probabilities by S again).
    const auto config = io::read_llama_config(model_dir);
    auto n = [](index v) { return static_cast<long double>(v); };
    const long double rows = n(batch.samples) * n(batch.tokens);
    require_host_memory((rows * 2 * n(config.vocab_size) +
                         n(config.num_hidden_layers) *
                             (rows * (16 * n(config.hidden_size) + 4 * n(config.intermediate_size)) +
                              rows * n(batch.tokens) * n(config.num_attention_heads))) *
                            sizeof(T),
                        "the batch's activations need",
                        fmt::format("check input_ids [{}, {}] against the model's vocab_size {}",
                                    batch.samples, batch.tokens, config.vocab_size));
    const auto loaded = io::load_pretrained<T, Backend>(model_dir, adapter_dir);
    model_type& model = *loaded;
    typename model_type::saved saved;
    typename model_type::workspace workspace;
    const llama::model_losses losses = model.forward(batch, saved, workspace);
    model.backward(saved, workspace);

    io::safetensors_writer out;
    auto scalar = [&](const char* name, double value) {
        const T v = static_cast<T>(value);
        out.add(name, &v, {});
    };
    scalar("loss", losses.loss);
    scalar("ce_loss", losses.ce);
    scalar("lbc_loss", losses.lbc);
    const tensor<T, cpu> logits = to_host(saved.logits);  // (B*S, V)
    out.add("logits", logits.data(), {batch.samples, batch.tokens, model.config().vocab_size});
    io::for_each_adapter_tensor(model, [&](const std::string& name, matrix_view<T>, matrix_view<T> grad) {
        tensor<T, cpu> host({grad.rows, grad.cols});
        download(Backend{}, as_const(grad), host.matrix());
        out.add("grad." + name, host);
    });
    out.write(out_path);
}

}  // namespace detail

// Runs the case in the precision of the stored weights on Backend (the CUDA backend needs
// <loramoe/cuda.hpp>) and writes the results atomically (nothing is written when anything fails).
template <backend Backend = cpu>
void run_model_case(const std::filesystem::path& model_dir, const std::filesystem::path& adapter_dir,
                    const std::filesystem::path& batch_path, const std::filesystem::path& out_path) {
    const llama::token_batch batch = read_token_batch(batch_path);
    if (io::checkpoint_dtype(model_dir) == io::dtype::f64)
        detail::run_model_case_as<double, Backend>(model_dir, adapter_dir, batch, out_path);
    else
        detail::run_model_case_as<float, Backend>(model_dir, adapter_dir, batch, out_path);
}

}  // namespace loramoe::check
