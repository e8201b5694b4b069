#pragma once
// A LLaMA causal language model (HF's LlamaForCausalLM) with LoRAMoE adapters, and its loss:
//
//   h0 = embed(ids);  h_{l+1} = block_l(h_l);  logits = rmsnorm(h_L) W_lm^T      (W_lm = embed when tied)
//   ce    = mean over counted t of -log softmax(logits_t)[labels_{t+1}]          (labels -100 not counted)
//   lbc   = sum over the adapted linears of their LBC over the batch              (0 when lbc_weight = 0)
//   loss  = ce + lbc_weight * lbc
//
// A batch that is one rank's part of a whole batch (token_batch::share, data parallelism) counts the
// whole batch's tokens for ce's denominator and its LBC over the whole batch (moe/balance/lbc.hpp):
// its ce is its part of the whole batch's (the ranks' parts add up to it), its lbc the whole batch's,
// and the ranks' gradients add up to the whole batch's.
//
// The base weights live in one buffer by their HF names (llama/weights.hpp); they are frozen and
// get no gradient memory unless model_options::train_base (full fine-tuning). Adapter parameters
// live in a second buffer. Backward accumulates d loss into the gradients of whatever is trainable.
// A frozen base in float may hold its matrices in bfloat16 instead (base_in_bf16), and a
// model may keep only some blocks' inputs for backward and run the blocks again there (recompute).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include <loramoe/core/bfloat16.hpp>
#include <loramoe/core/parameters.hpp>
#include <loramoe/core/tensor_layout.hpp>
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
    // The frozen matrices (the embedding, every linear, the LM head) held once, in bfloat16, in the
    // checkpoint's own layout: half of float's memory, products in bfloat16 with float sums
    // (cpu/bf16_gemm.hpp: about twice as fast with AVX512-BF16; cuda/bf16_gemm.hpp: cuBLAS), at
    // bfloat16's accuracy; a BF16 checkpoint's values exactly. Norms and biases stay in float. Float,
    // frozen base only.
    bool base_in_bf16 = false;
    // Activation checkpointing: forward keeps each block's input only, and backward runs each block's
    // forward again, with the same dropout masks, before its backward: the same gradients, with one
    // block's activations in memory instead of all of them, for one more forward of the blocks (half
    // again a step's work when the base is frozen: its backward costs as much as its forward). The
    // attention keeps no probabilities (CPU) and the logits are not kept: the LM head and the loss run
    // logit_block_rows rows at a time, in forward and again in backward.
    bool recompute = false;
    // With recompute, the blocks' inputs kept: those of every k-th block only. Backward runs each
    // segment of k blocks forward again from its first input before it runs them one by one: about
    // (k - 1) / k of one more forward, for L / k + k - 1 block inputs in memory instead of L.
    index recompute_segment = 1;
};

// The rows of logits computed at a time with model_options::recompute (the last block takes the rest).
inline constexpr index logit_block_rows = 256;

struct model_losses {
    double loss = 0;  // ce + lbc_weight * lbc
    double ce = 0;
    double lbc = 0;            // unweighted sum over the adapted linears
    index counted_tokens = 0;  // the denominator of ce (the whole batch's, when the batch is shared)
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
        // L + 1 of (M, D): the blocks' inputs, then the last output; with recompute_segment k, only those
        // of blocks 0, k, 2k, ... and the last output (the others are empty).
        std::vector<tensor<T, Backend>> hidden;
        std::vector<typename block_type::saved> blocks;  // L, or none with model_options::recompute
        bool training = false;                           // the forward's mode, for a recompute
        typename nn::rms_norm<T, Backend>::saved final_norm;
        tensor<T, Backend> normed;                 // (M, D)
        tensor<T, Backend> logits;                 // (M, V), empty with recompute
        std::vector<std::int64_t> task_types;      // (B), on the host, for the LBC
        std::vector<std::uint64_t> dropout_calls;  // with recompute: the adapters' draws before forward
        sequence_context<T> context;
        model_losses losses;
    };

    // Scratch of forward and backward, owned by the caller (a trainer keeps one for all its steps).
    struct workspace {
        tensor<T, Backend> dlogits;             // (M, V), or (rows, V) of a block of logits with recompute
        tensor<T, Backend> dnormed, dh;         // (M, D)
        typename block_type::workspace blocks;  // shared by every block
        // With model_options::recompute: one block's saved state at a time, and its output.
        typename block_type::saved block;
        tensor<T, Backend> block_output;  // (M, D)
        // With recompute_segment k: the inputs of the blocks of a segment after its first, (M, D) each.
        std::vector<tensor<T, Backend>> segment;
    };

    llama_model(const llama_config& config, std::optional<moe::adapter_config> adapters = std::nullopt,
                model_options options = {})
        : config_(fitting_config(config, adapters, options)),
          adapter_config_(std::move(adapters)),
          options_(options),
          layout_(
              llama_weight_layout(config, options.base_in_bf16 ? weight_kind::vectors : weight_kind::all)),
          bf16_layout_(options.base_in_bf16 ? llama_weight_layout(config, weight_kind::matrices)
                                            : tensor_layout{}),
          base_(layout_.total(), options.train_base),
          rotary_(config.head_dim, config.rope_theta, config.rope_scaling) {
        if (options_.recompute_segment < 1 || (options_.recompute_segment > 1 && !options_.recompute))
            fail<value_error>("recompute_segment is {}: it is 1, or more with recompute",
                              options_.recompute_segment);
        if (options_.base_in_bf16) {
            if (!std::is_same_v<T, float>)
                fail<value_error>("a base held in bfloat16 computes in float, not in double");
            if (options_.train_base)
                fail<value_error>(
                    "a base held in bfloat16 is frozen: this model trains its base weights (train_base, full "
                    "fine-tuning), which must stay in float");
            bf16_base_.resize({bf16_layout_.total()});
        }
        for (index l = 0; l < config_.num_hidden_layers; ++l) {
            blocks_.emplace_back(config_, l, weight_map(), adapter_config_, &rotary_,
                                 options_.seed + 1000 * static_cast<std::uint64_t>(l));
            blocks_.back().keep_attention_probabilities(!options_.recompute);
        }
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

    // The frozen matrices held in bfloat16 (model_options::base_in_bf16), by HF name through
    // bf16_layout(); both empty otherwise.
    const tensor_layout& bf16_layout() const { return bf16_layout_; }
    tensor<bfloat16, Backend>& bf16_base() { return bf16_base_; }
    const tensor<bfloat16, Backend>& bf16_base() const { return bf16_base_; }

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

    // Computes the losses (and, without recompute, keeps the logits in s.logits) of a batch. Dropout
    // acts when training.
    model_losses forward(const token_batch& batch, saved& s, workspace& scratch, bool training = false) {
        batch.validate(config_.vocab_size);
        config_.check_sequence_length(batch.tokens);
        prepare(batch, s);
        const index m = batch.rows(), d = config_.hidden_size;
        s.training = training;
        s.hidden.resize(blocks_.size() + 1);
        s.blocks.resize(options_.recompute ? 0 : blocks_.size());
        for (std::size_t l = 0; l < s.hidden.size(); ++l)
            if (kept_input(l))
                s.hidden[l].resize({m, d});
            else
                s.hidden[l] = {};
        // A segment longer than the model holds its blocks' inputs but for the first.
        scratch.segment.resize(static_cast<std::size_t>(
            std::max<index>(std::min(options_.recompute_segment, config_.num_hidden_layers) - 1, 0)));
        for (auto& h : scratch.segment) h.resize({m, d});
        if (options_.recompute) s.dropout_calls = dropout_calls();

        embed(s.ids, block_input(0, s, scratch).matrix());
        double lbc = 0;
        for (std::size_t l = 0; l < blocks_.size(); ++l) {
            auto& kept = options_.recompute ? scratch.block : s.blocks[l];
            blocks_[l].forward(as_const(block_input(l, s, scratch).matrix()), s.context,
                               block_input(l + 1, s, scratch).matrix(), kept, scratch.blocks, training);
            lbc += static_cast<double>(blocks_[l].balance_loss(kept));
        }
        s.normed.resize({m, d});
        final_norm().forward(s.hidden.back().matrix(), s.normed.matrix(), s.final_norm);

        model_losses& out = s.losses;
        out = {};
        out.counted_tokens = counted_tokens(batch);
        if (batch.share) {
            std::int64_t whole = out.counted_tokens;
            batch.share->ranks.all_reduce_sum(std::span(&whole, 1));
            out.counted_tokens = whole;
        }
        if (options_.recompute) s.logits = {};
        double ce = 0;
        for_each_logit_block(m, [&](index first, index rows) {
            tensor<T, Backend>& logits = options_.recompute ? scratch.dlogits : s.logits;
            logits.resize({rows, config_.vocab_size});
            nn::linear_forward(Backend{}, lm_head(), as_const(s.normed.matrix().row_block(first, rows)),
                               logits.matrix());
            if (out.counted_tokens > 0)
                ce += cross_entropy_sum(Backend{}, as_const(logits.matrix()), s.targets.data() + first);
        });
        if (out.counted_tokens > 0) out.ce = ce / static_cast<double>(out.counted_tokens);
        out.lbc = lbc;
        out.loss = out.ce + lbc_weight() * out.lbc;
        return out;
    }

    // Accumulates d loss / d (every trainable tensor) for the batch of the last forward.
    void backward(const saved& s, workspace& scratch) {
        const index m = s.normed.dim(0), d = config_.hidden_size;
        scratch.dnormed.resize({m, d});
        scratch.dh.resize({m, d});
        // dlogits = (softmax - onehot) / counted: in the logits' place it would lose them.
        const T scale = s.losses.counted_tokens > 0 ? T(1) / static_cast<T>(s.losses.counted_tokens) : T(0);
        for_each_logit_block(m, [&](index first, index rows) {
            const auto normed = s.normed.matrix().row_block(first, rows);
            scratch.dlogits.resize({rows, config_.vocab_size});
            if (options_.recompute)
                nn::linear_forward(Backend{}, lm_head(), normed, scratch.dlogits.matrix());
            cross_entropy_backward(
                Backend{}, options_.recompute ? as_const(scratch.dlogits.matrix()) : s.logits.matrix(),
                s.targets.data() + first, scale, scratch.dlogits.matrix());
            nn::linear_backward(Backend{}, lm_head(), normed, as_const(scratch.dlogits.matrix()),
                                scratch.dnormed.matrix().row_block(first, rows));
        });
        final_norm().backward(s.hidden.back().matrix(), scratch.dnormed.matrix(), s.final_norm,
                              scratch.dh.matrix());
        const T weight = static_cast<T>(lbc_weight());
        const auto k = static_cast<std::size_t>(options_.recompute_segment);
        for (std::size_t l = blocks_.size(); l-- > 0;) {
            if (options_.recompute) {
                // The last block of a segment runs the segment's others first, for their inputs.
                if ((l + 1) % k == 0 || l + 1 == blocks_.size())
                    for (std::size_t j = l - l % k; j < l; ++j) recompute_block(j, s, scratch);
                recompute_block(l, s, scratch);
            }
            blocks_[l].backward(as_const(block_input(l, s, scratch).matrix()), s.context, scratch.dh.matrix(),
                                options_.recompute ? scratch.block : s.blocks[l], scratch.blocks, weight);
        }
        if (auto e = embedding(); e.weight_grad != nullptr)
            embedding_backward(Backend{}, s.ids.data(), as_const(scratch.dh.matrix()),
                               matrix_view<T>(e.weight_grad, config_.vocab_size, d));
    }

    // f(module name, adapter, its saved state) for every adapter, after forward(batch, s, scratch). With
    // model_options::recompute each block runs again first, into scratch.
    template <class F>
    void for_each_adapter_state(saved& s, workspace& scratch, F&& f) {
        for (std::size_t l = 0; l < blocks_.size(); ++l) {
            if (options_.recompute) recompute_block(l, s, scratch);
            blocks_[l].for_each_adapter_state(options_.recompute ? scratch.block : s.blocks[l], f);
        }
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
            config_.check_sequence_length(past + n);
            tensor<std::int64_t, cpu> ids({n}), positions({n});
            for (index i = 0; i < n; ++i) {
                ids[i] = pending[static_cast<std::size_t>(i)];
                positions[i] = past + i;
            }
            g.ids = to_backend<Backend>(ids);
            g.positions = to_backend<Backend>(positions);
            g.hidden.resize({n, config_.hidden_size});
            g.next.resize({n, config_.hidden_size});
            embed(g.ids, g.hidden.matrix());
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

    base_weight_map<T> weight_map() { return {layout_, base_.all(), bf16_layout_, bf16_base_.data()}; }
    nn::linear_weights<T> embedding() {
        return weight_map().matrix("model.embed_tokens.weight", config_.vocab_size, config_.hidden_size);
    }
    nn::linear_weights<T> lm_head() {
        return config_.tie_word_embeddings
                   ? embedding()
                   : weight_map().matrix("lm_head.weight", config_.vocab_size, config_.hidden_size);
    }
    nn::rms_norm<T, Backend> final_norm() {
        const auto map = weight_map();
        return {map.values("model.norm.weight"), map.grads("model.norm.weight"),
                static_cast<T>(config_.rms_norm_eps)};
    }

    // out (n, D) = the rows of the embedding at ids (n).
    void embed(const tensor<std::int64_t, Backend>& ids, matrix_view<T> out) {
        const nn::linear_weights<T> table = embedding();
        if constexpr (std::is_same_v<T, float>)
            if (table.frozen_bf16.data != nullptr)
                return embedding_forward(Backend{}, table.frozen_bf16, ids.data(), out);
        embedding_forward(Backend{}, table.weight, ids.data(), out);
    }

    // Every adapter's dropout draws so far, in for_each_adapter's order.
    std::vector<std::uint64_t> dropout_calls() {
        std::vector<std::uint64_t> calls;
        for_each_adapter([&](const std::string&, adapter_type& a) { calls.push_back(a.dropout_calls()); });
        return calls;
    }

    // `config` (and the adapter's), validated, and refused before anything is allocated when the base
    // weights and the adapters, with their gradients where they train, would not fit in this machine's
    // memory (on the CPU), or in any (sizes past 2^62 bytes).
    static const llama_config& fitting_config(const llama_config& config,
                                              const std::optional<moe::adapter_config>& adapters,
                                              const model_options& options) {
        config.validate();
        if (adapters) adapters->validate();
        const weight_count n = count_weights(config);
        const long double element = sizeof(T), matrix_element = options.base_in_bf16 ? 2 : element;
        const long double base =
            (n.matrices * matrix_element + n.vectors * element) * (options.train_base ? 2 : 1);
        const long double adapter =
            adapters ? count_adapter_parameters(config, *adapters) * element * 2 : 0.0L;  // and gradients
        // On the host, the memory here; elsewhere only sizes that cannot be counted (2^62 bytes).
        const long double limit =
            std::is_same_v<Backend, cpu> ? std::min(host_memory_limit(), 0x1p62L) : 0x1p62L;
        const std::string_view where =
            std::is_same_v<Backend, cpu> ? "of memory here" : "that sizes may reach";
        require_memory(base, limit, where,
                       fmt::format("config.json: the model's base weights{} need",
                                   options.train_base ? " and their gradients" : ""),
                       fmt::format("check vocab_size ({}), hidden_size ({}), intermediate_size ({}) and "
                                   "num_hidden_layers ({})",
                                   config.vocab_size, config.hidden_size, config.intermediate_size,
                                   config.num_hidden_layers));
        require_memory(adapter, limit - base,
                       fmt::format("{} beside the base weights' {:.1f} GiB", where, base / 0x1p30L),
                       "adapter_config.json: the adapters and their gradients need",
                       fmt::format("check r ({}) and lora_nums ({})", adapters ? adapters->rank : 0,
                                   adapters ? adapters->experts : 0));
        return config;
    }

    // Whether forward keeps block l's input in s.hidden (l = L: the last block's output).
    bool kept_input(std::size_t l) const {
        return l % static_cast<std::size_t>(options_.recompute_segment) == 0 || l == blocks_.size();
    }
    // Block l's input (l = L: the last output): in s.hidden, or in the workspace's segment.
    template <class Saved>
    auto& block_input(std::size_t l, Saved& s, workspace& scratch) const {
        return kept_input(l) ? s.hidden[l] : segment_input(l, scratch);
    }
    // Where the workspace holds block l's input when forward does not keep it.
    tensor<T, Backend>& segment_input(std::size_t l, workspace& scratch) const {
        return scratch.segment[l % static_cast<std::size_t>(options_.recompute_segment) - 1];
    }

    // Block l's forward again, as forward ran it, into scratch.block: its adapters draw the dropout
    // masks of that forward again (their counts set back to s.dropout_calls, then restored). Its output
    // goes to the next block's input when that is not kept (a segment's), else to scratch.block_output.
    void recompute_block(std::size_t l, const saved& s, workspace& scratch) {
        std::size_t first = 0;
        for (std::size_t b = 0; b < l; ++b)
            blocks_[b].for_each_adapter([&](const std::string&, adapter_type&) { ++first; });
        std::vector<std::uint64_t> now;
        blocks_[l].for_each_adapter([&](const std::string&, adapter_type& a) {
            now.push_back(a.dropout_calls());
            a.set_dropout_calls(s.dropout_calls[first + now.size() - 1]);
        });
        scratch.block_output.resize({s.normed.dim(0), config_.hidden_size});
        tensor<T, Backend>& output = kept_input(l + 1) ? scratch.block_output : segment_input(l + 1, scratch);
        blocks_[l].forward(as_const(block_input(l, s, scratch).matrix()), s.context, output.matrix(),
                           scratch.block, scratch.blocks, s.training);
        std::size_t i = 0;
        blocks_[l].for_each_adapter(
            [&](const std::string&, adapter_type& a) { a.set_dropout_calls(now[i++]); });
    }

    // f(first row, rows) over the LM head's row blocks: all M rows at once, or logit_block_rows at a
    // time with recompute (none shorter: the last takes the rest).
    template <class F>
    void for_each_logit_block(index m, F&& f) const {
        const index rows = options_.recompute ? std::min(m, logit_block_rows) : m;
        const index blocks = rows > 0 ? m / rows : 0;
        for (index b = 0; b < blocks; ++b) f(b * rows, b + 1 == blocks ? m - b * rows : rows);
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
        s.context = {batch.samples,
                     tokens,
                     s.attention_mask.data(),
                     s.positions.data(),
                     {batch.samples, tokens, counts_padding ? nullptr : s.attention_mask.data(), s.task_types,
                      true, batch.share}};
    }

    llama_config config_;
    std::optional<moe::adapter_config> adapter_config_;
    model_options options_;
    tensor_layout layout_;       // the base's weights in T: all, or the vectors with base_in_bf16
    tensor_layout bf16_layout_;  // the matrices with base_in_bf16
    parameter_buffer<T, Backend> base_;
    tensor<bfloat16, Backend> bf16_base_;
    parameter_buffer<T, Backend> adapters_;
    nn::rotary_embedding<T, Backend> rotary_;
    std::vector<block_type> blocks_;
    generation_state generation_;
};

}  // namespace loramoe::llama
