#pragma once
// A LLaMA causal language model (HF's LlamaForCausalLM) with LoRAMoE adapters, and its loss:
//
//   h0 = embed(ids);  h_{l+1} = block_l(h_l);  logits = rmsnorm(h_L) W_lm^T      (W_lm = embed when tied)
//   ce    = mean over counted t of -log softmax(logits_t)[labels_{t+1}]          (labels -100 not counted)
//   lbc   = sum over the adapted linears of their LBC over the batch              (0 when lbc_weight = 0)
//   loss  = ce + lbc_weight * lbc
//
// The base weights live in one buffer by their HF names (nn/llama_weights.hpp); they are frozen and
// get no gradient memory unless model_options::train_base (full fine-tuning). Adapter parameters
// live in a second buffer. Backward accumulates d loss into the gradients of whatever is trainable.
// A frozen base in float on the CPU can run its products in bfloat16: hold_frozen_weights_in_bf16.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include <loramoe/core/parameters.hpp>
#include <loramoe/core/tensor_layout.hpp>
#include <loramoe/cpu/bf16_weight.hpp>
#include <loramoe/cpu/cross_entropy.hpp>
#include <loramoe/cpu/embedding.hpp>
#include <loramoe/llama/block.hpp>
#include <loramoe/llama/config.hpp>
#include <loramoe/llama/token_batch.hpp>
#include <loramoe/llama/weights.hpp>
#include <loramoe/moe/adapter_config.hpp>
#include <loramoe/nn/kv_cache.hpp>
#include <loramoe/nn/linear.hpp>
#include <loramoe/nn/rmsnorm.hpp>
#include <loramoe/nn/rotary.hpp>

namespace loramoe::llama {

struct model_options {
    bool train_base = false;  // full fine-tuning: every base weight gets a gradient
    std::uint64_t seed = 0;   // of the adapters' dropout masks
};

struct model_losses {
    double loss = 0;  // ce + lbc_weight * lbc
    double ce = 0;
    double lbc = 0;            // unweighted sum over the adapted linears
    index counted_tokens = 0;  // the denominator of ce
};

template <scalar T, backend Backend = cpu>
class llama_model {
public:
    using block_type = llama_block<T, Backend>;
    using adapter_type = typename block_type::adapter_type;

    // What forward writes and backward reads.
    struct saved {
        tensor<std::int64_t, Backend> ids, positions, targets;  // (M)
        tensor<T, Backend> attention_mask;                      // (M)
        std::vector<tensor<T, Backend>> hidden;  // L + 1 of (M, D): the blocks' inputs, then the last output
        std::vector<typename block_type::saved> blocks;
        typename nn::rms_norm<T, Backend>::saved final_norm;
        tensor<T, Backend> normed;             // (M, D)
        tensor<T, Backend> logits;             // (M, V)
        std::vector<std::int64_t> task_types;  // (B), on the host, for the LBC
        sequence_context<T> context;
        model_losses losses;
    };

    // Scratch of forward and backward, owned by the caller (a trainer keeps one for all its steps).
    struct workspace {
        tensor<T, Backend> dlogits;             // (M, V)
        tensor<T, Backend> dnormed, dh;         // (M, D)
        typename block_type::workspace blocks;  // shared by every block
    };

    llama_model(const llama_config& config, std::optional<moe::adapter_config> adapters = std::nullopt,
                model_options options = {})
        : config_(config),
          adapter_config_(std::move(adapters)),
          options_(options),
          layout_(llama_weight_layout(config)),
          base_(layout_.total(), options.train_base),
          rotary_(config.head_dim, config.rope_theta) {
        config_.validate();
        if (adapter_config_) adapter_config_->validate();
        for (index l = 0; l < config_.num_hidden_layers; ++l)
            blocks_.emplace_back(config_, l, layout_, base_.all(), adapter_config_, &rotary_,
                                 options_.seed + 1000 * static_cast<std::uint64_t>(l));
        index adapter_parameters = 0;
        for_each_adapter(
            [&](const std::string&, adapter_type& a) { adapter_parameters += a.parameter_count(); });
        adapters_ = parameter_buffer<T, Backend>(adapter_parameters);
        index offset = 0;
        for_each_adapter([&](const std::string&, adapter_type& a) {
            a.bind(adapters_.slice(offset, a.parameter_count()));
            offset += a.parameter_count();
        });
    }

    // Blocks point at the model's rotary tables: the model stays where it was built.
    llama_model(const llama_model&) = delete;
    llama_model& operator=(const llama_model&) = delete;

    const llama_config& config() const { return config_; }
    const std::optional<moe::adapter_config>& adapter_config() const { return adapter_config_; }
    const model_options& options() const { return options_; }

    // The base weights (grads allocated only with train_base), by HF name through layout().
    const tensor_layout& layout() const { return layout_; }
    parameter_buffer<T, Backend>& base() { return base_; }
    const parameter_buffer<T, Backend>& base() const { return base_; }
    // The adapters' parameters, all in one buffer.
    parameter_buffer<T, Backend>& adapters() { return adapters_; }
    const parameter_buffer<T, Backend>& adapters() const { return adapters_; }

    // The frozen base's products in bfloat16 (cpu/bf16_weight.hpp, cpu/bf16_gemm.hpp): every linear of
    // every block and the LM head, their W rounded to bfloat16 (to nearest even: a BF16 checkpoint's
    // values exactly) and packed once for AVX512-BF16 products with float sums; activations are rounded
    // to bfloat16 as they enter these products. The float weights stay (files, the embedding). Faster
    // on the products at bfloat16's accuracy (docs/performance.md measures both).
    // `layouts`: forward_and_input_gradient to train adapters, forward alone (half the memory) to
    // evaluate or generate. Call after the base weights are loaded: io::load_base_weights packs again
    // when they are replaced. Not with train_base: trained weights must stay exact floats.
    // (A template, so that explicit instantiations of other models leave it out.)
    template <class Float = T>
    requires(std::is_same_v<Float, float>&& std::is_same_v<Backend, cpu>) void hold_frozen_weights_in_bf16(
        bf16_layouts layouts = bf16_layouts::forward_and_input_gradient) {
        if (options_.train_base)
            fail<value_error>(
                "bfloat16 frozen weights: this model trains its base weights (train_base, full "
                "fine-tuning), which must stay in float");
        release_frozen_bf16();
        std::vector<bf16_weight> packed;
        packed.reserve(blocks_.size() * block_linears.size() + 1);
        for (auto& block : blocks_)
            for (block_linear which : block_linears)
                packed.emplace_back(block.linear(which).weights().weight, layouts);
        packed.emplace_back(lm_head().weight, layouts);
        frozen_bf16_ = std::move(packed);
        frozen_bf16_layouts_ = layouts;
        point_at_frozen_bf16();
    }
    // Back to float products (frees the bfloat16 copies).
    void release_frozen_bf16() {
        frozen_bf16_.clear();
        point_at_frozen_bf16();
    }
    // The layouts of the bfloat16 copies, or nothing when the products are in the base's own type.
    std::optional<bf16_layouts> frozen_bf16_layouts() const {
        return frozen_bf16_.empty() ? std::nullopt : std::optional(frozen_bf16_layouts_);
    }

    // f(module name, adapter) for every adapter, layer by layer, in a fixed order.
    template <class F>
    void for_each_adapter(F&& f) {
        for (auto& block : blocks_) block.for_each_adapter(f);
    }

    // The official initialisation of every adapter (A and router Kaiming-uniform, B zero).
    void reset_adapters(std::uint64_t seed) {
        std::uint64_t i = 0;
        for_each_adapter([&](const std::string&, adapter_type& a) { a.reset_parameters(mix64(seed + i++)); });
    }

    // Computes the losses (and keeps the logits in s.logits) of a batch. Dropout acts when training.
    model_losses forward(const token_batch& batch, saved& s, workspace& scratch, bool training = false) {
        batch.validate(config_.vocab_size);
        prepare(batch, s);
        const index m = batch.rows(), d = config_.hidden_size;
        s.hidden.resize(static_cast<std::size_t>(config_.num_hidden_layers + 1));
        s.blocks.resize(static_cast<std::size_t>(config_.num_hidden_layers));
        for (auto& h : s.hidden) h.resize({m, d});

        embedding_forward(Backend{}, embedding().weight, s.ids.data(), s.hidden[0].matrix());
        for (std::size_t l = 0; l < blocks_.size(); ++l)
            blocks_[l].forward(s.hidden[l].matrix(), s.context, s.hidden[l + 1].matrix(), s.blocks[l],
                               scratch.blocks, training);
        s.normed.resize({m, d});
        final_norm().forward(s.hidden.back().matrix(), s.normed.matrix(), s.final_norm);
        s.logits.resize({m, config_.vocab_size});
        nn::linear_forward(Backend{}, lm_head(), as_const(s.normed.matrix()), s.logits.matrix());

        model_losses& out = s.losses;
        out = {};
        out.counted_tokens = counted_tokens(batch);
        if (out.counted_tokens > 0)
            out.ce = cross_entropy_sum(Backend{}, as_const(s.logits.matrix()), s.targets.data()) /
                     static_cast<double>(out.counted_tokens);
        for (std::size_t l = 0; l < blocks_.size(); ++l)
            out.lbc += static_cast<double>(blocks_[l].balance_loss(s.blocks[l]));
        out.loss = out.ce + lbc_weight() * out.lbc;
        return out;
    }

    // Accumulates d loss / d (every trainable tensor) for the batch of the last forward.
    void backward(const saved& s, workspace& scratch) {
        const index m = s.logits.dim(0), d = config_.hidden_size;
        // dlogits = (softmax - onehot) / counted: in the logits' place it would lose them.
        scratch.dlogits.resize({m, config_.vocab_size});
        const T scale = s.losses.counted_tokens > 0 ? T(1) / static_cast<T>(s.losses.counted_tokens) : T(0);
        cross_entropy_backward(Backend{}, s.logits.matrix(), s.targets.data(), scale,
                               scratch.dlogits.matrix());
        scratch.dnormed.resize({m, d});
        scratch.dh.resize({m, d});
        nn::linear_backward(Backend{}, lm_head(), s.normed.matrix(), as_const(scratch.dlogits.matrix()),
                            scratch.dnormed.matrix());
        final_norm().backward(s.hidden.back().matrix(), scratch.dnormed.matrix(), s.final_norm,
                              scratch.dh.matrix());
        const T weight = static_cast<T>(lbc_weight());
        for (std::size_t l = blocks_.size(); l-- > 0;)
            blocks_[l].backward(s.hidden[l].matrix(), s.context, scratch.dh.matrix(), s.blocks[l],
                                scratch.blocks, weight);
        if (auto e = embedding(); e.weight_grad != nullptr)
            embedding_backward(Backend{}, s.ids.data(), as_const(scratch.dh.matrix()),
                               matrix_view<T>(e.weight_grad, config_.vocab_size, d));
    }

    // f(module name, adapter, its saved state) for every adapter, after forward(batch, s).
    template <class F>
    void for_each_adapter_state(saved& s, F&& f) {
        for (std::size_t l = 0; l < blocks_.size(); ++l) blocks_[l].for_each_adapter_state(s.blocks[l], f);
    }

    // Greedy decoding with a KV cache: up to max_new_tokens tokens after the prompt, stopping after
    // the first of stop_ids. Returns the new tokens.
    std::vector<std::int64_t> generate(std::span<const std::int64_t> prompt, index max_new_tokens,
                                       std::span<const std::int64_t> stop_ids) {
        if (prompt.empty()) fail<value_error>("generate: the prompt is empty");
        for (std::int64_t id : prompt)
            if (id < 0 || id >= config_.vocab_size)
                fail<value_error>("generate: prompt token {} is outside the vocabulary [0, {})", id,
                                  config_.vocab_size);
        auto& g = generation_;
        g.cache.reset(config_.num_hidden_layers, static_cast<index>(prompt.size()) + max_new_tokens,
                      config_.num_key_value_heads * config_.head_dim);
        g.blocks.resize(blocks_.size());
        rotary_.reserve(g.cache.capacity);
        std::vector<std::int64_t> pending(prompt.begin(), prompt.end()), generated;
        while (static_cast<index>(generated.size()) < max_new_tokens) {
            const index n = static_cast<index>(pending.size()), past = g.cache.length;
            tensor<std::int64_t, cpu> ids({n}), positions({n});
            for (index i = 0; i < n; ++i) {
                ids[i] = pending[static_cast<std::size_t>(i)];
                positions[i] = past + i;
            }
            g.ids = to_backend<Backend>(ids);
            g.positions = to_backend<Backend>(positions);
            g.hidden.resize({n, config_.hidden_size});
            g.next.resize({n, config_.hidden_size});
            embedding_forward(Backend{}, embedding().weight, g.ids.data(), g.hidden.matrix());
            for (std::size_t l = 0; l < blocks_.size(); ++l) {
                blocks_[l].forward_cached(g.hidden.matrix(), g.positions.data(), past, g.cache.keys[l],
                                          g.cache.values[l], g.next.matrix(), g.blocks[l], g.workspace);
                std::swap(g.hidden, g.next);
            }
            g.cache.length += n;
            // Only the last token's logits matter.
            const auto last = as_const(g.hidden.matrix().row_block(n - 1, 1));
            g.normed.resize({1, config_.hidden_size});
            g.logits.resize({1, config_.vocab_size});
            final_norm().forward(last, g.normed.matrix(), g.final_norm);
            nn::linear_forward(Backend{}, lm_head(), as_const(g.normed.matrix()), g.logits.matrix());
            const tensor<T, cpu> logits = to_host(g.logits);
            const auto best =
                std::max_element(logits.span().begin(), logits.span().end()) - logits.span().begin();
            generated.push_back(best);
            if (std::find(stop_ids.begin(), stop_ids.end(), best) != stop_ids.end()) break;
            pending.assign(1, best);
        }
        return generated;
    }

    // The weight of the LBC in the loss (the adapter config's lbc_weight), 0 without a router.
    double lbc_weight() const {
        return adapter_config_ && adapter_config_->router ? adapter_config_->lbc_weight : 0.0;
    }

private:
    // generate()'s own state, kept by the model between calls: the KV cache and the scratch of decoding.
    struct generation_state {
        nn::kv_cache<T, Backend> cache;
        tensor<std::int64_t, Backend> ids, positions;
        tensor<T, Backend> hidden, next, normed, logits;
        std::vector<typename block_type::saved> blocks;
        typename block_type::workspace workspace;
        typename nn::rms_norm<T, Backend>::saved final_norm;
    };

    // Every block linear at its bfloat16 copy (the blocks' linears in order, as frozen_bf16_ holds them),
    // or at none when there are none. (The LM head finds its copy in lm_head().)
    void point_at_frozen_bf16() {
        std::size_t i = 0;
        for (auto& block : blocks_)
            for (block_linear which : block_linears) {
                nn::linear_weights<T> w = block.linear(which).weights();
                w.frozen_bf16 = frozen_bf16_.empty() ? nullptr : &frozen_bf16_[i++];
                block.linear(which).set_weights(w);
            }
    }

    nn::linear_weights<T> weights_of(const std::string& name, index rows, index cols) {
        const index offset = layout_.at(name).offset;
        nn::linear_weights<T> w{matrix_view<const T>(base_.values().data() + offset, rows, cols)};
        if (options_.train_base) w.weight_grad = base_.grads().data() + offset;
        return w;
    }
    nn::linear_weights<T> embedding() {
        return weights_of("model.embed_tokens.weight", config_.vocab_size, config_.hidden_size);
    }
    nn::linear_weights<T> lm_head() {
        nn::linear_weights<T> w = config_.tie_word_embeddings
                                      ? embedding()
                                      : weights_of("lm_head.weight", config_.vocab_size, config_.hidden_size);
        if (!frozen_bf16_.empty()) w.frozen_bf16 = &frozen_bf16_.back();
        return w;
    }
    nn::rms_norm<T, Backend> final_norm() {
        const auto w = weights_of("model.norm.weight", 1, config_.hidden_size);
        return {w.weight.data, w.weight_grad, static_cast<T>(config_.rms_norm_eps)};
    }

    static index counted_tokens(const token_batch& batch) {
        index count = 0;
        for (index b = 0; b < batch.samples; ++b)
            for (index t = 1; t < batch.tokens; ++t)
                count += batch.labels[b * batch.tokens + t] != ignore_index;
        return count;
    }

    // The batch's tensors on the backend: ids, positions 0..S-1 per sample, the shifted targets, the mask.
    void prepare(const token_batch& batch, saved& s) {
        const index m = batch.rows(), tokens = batch.tokens;
        tensor<std::int64_t, cpu> positions({m}), targets({m});
        tensor<T, cpu> mask({m});
        for (index i = 0; i < m; ++i) {
            const index t = i % tokens;
            positions[i] = t;
            targets[i] = t + 1 < tokens ? batch.labels[i + 1] : ignore_index;
            mask[i] = static_cast<T>(batch.attention_mask[i]);
        }
        tensor<std::int64_t, cpu> ids({m});
        std::copy(batch.input_ids.begin(), batch.input_ids.end(), ids.data());
        s.ids = to_backend<Backend>(ids);
        s.positions = to_backend<Backend>(positions);
        s.targets = to_backend<Backend>(targets);
        s.attention_mask = to_backend<Backend>(mask);
        s.task_types = batch.task_types;
        rotary_.reserve(tokens);
        const bool counts_padding = adapter_config_ && adapter_config_->lbc_counts_padding;
        s.context = {
            batch.samples,
            tokens,
            s.attention_mask.data(),
            s.positions.data(),
            {batch.samples, tokens, counts_padding ? nullptr : s.attention_mask.data(), s.task_types}};
    }

    llama_config config_;
    std::optional<moe::adapter_config> adapter_config_;
    model_options options_;
    tensor_layout layout_;
    parameter_buffer<T, Backend> base_;
    parameter_buffer<T, Backend> adapters_;
    nn::rotary_embedding<T, Backend> rotary_;
    std::vector<block_type> blocks_;
    std::vector<bf16_weight> frozen_bf16_;  // the blocks' linears in order, then the LM head; empty: none
    bf16_layouts frozen_bf16_layouts_ = bf16_layouts::forward;
    generation_state generation_;
};

}  // namespace loramoe::llama
