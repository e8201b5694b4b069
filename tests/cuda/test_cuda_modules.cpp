// The modules on loramoe::cuda against the same modules on loramoe::cpu, with the same seeded inputs and
// parameters:
//  - moe::loramoe_linear: fused and reference paths, forward and backward, the LBC over a padding mask
//    and task types, the other balancing losses, top-k, no base, plain LoRA, dropout in training (the
//    counter-based masks must be the host's), run-time and compile-time sizes;
//  - llama::llama_model with adapters (beside linears or FFN blocks, plain LoRA, full fine-tuning): the
//    losses, the logits and every trainable gradient, over two calls (the saved state reused, the
//    dropout masks advanced, the gradients accumulated);
//  - greedy generation with the KV cache: the host's tokens;
//  - train::trainer (AdamW, warm-up and cosine, accumulation, clipping): every step's report, the
//    trained adapters, train::evaluate, and adapter files written from and read into the device.
// Data crosses between the backends only by the library's explicit transfers (to_backend, to_host,
// copy_from_host into the buffers a model's blocks point into, the adapter files).

#include "cuda/cuda_support.hpp"
#include "moe/layer_fixture.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

// Every member of the modules compiles for the device, called by a test or not.
template class loramoe::moe::loramoe_linear<float, loramoe::cuda>;
template class loramoe::moe::loramoe_linear<double, loramoe::cuda, loramoe::dynamic, loramoe::dynamic,
                                            loramoe::moe::balance::dynamic>;
template class loramoe::llama::llama_model<float, loramoe::cuda>;
template class loramoe::llama::llama_model<double, loramoe::cuda>;
template class loramoe::train::trainer<float, loramoe::cuda>;
template class loramoe::train::trainer<double, loramoe::cuda>;

namespace test_cuda_modules {

namespace moe = loramoe::moe;
namespace llama = loramoe::llama;
namespace train = loramoe::train;
using loramoe::cpu;
using loramoe::index;
template <class T>
using host = loramoe::tensor<T, cpu>;

// The backend compared with the host.
using device_backend = loramoe::cuda;

// --- the LoRAMoE linear ---------------------------------------------------------------------------

struct layer_variant {
    const char* name;
    moe::loramoe_config config;
    moe::balance::dynamic balance;
    loramoe::test::base_options base;
    index samples = 2, tokens = 3;  // layer_inputs pads the last b % S tokens of sample b
    bool training = false;
};

std::vector<layer_variant> layer_variants() {
    const moe::balance::lbc lbc{0.1, moe::lbc_statistic::cv2, {}};
    auto config = [](index d_in, index d_out, index n, index r, double dropout = 0) {
        return moe::loramoe_config{.in_features = d_in,
                                   .out_features = d_out,
                                   .experts = n,
                                   .rank = r,
                                   .alpha = 8,
                                   .dropout = dropout,
                                   .seed = 99};
    };
    const moe::balance::lbc typed{0.2, moe::lbc_statistic::var_over_mean, {0, 1, 1}};
    auto top_k = config(7, 5, 4, 3);
    top_k.top_k = 2;
    auto plain = config(5, 6, 1, 4, 0.1);
    plain.router = false;
    const auto realistic = config(64, 48, 6, 4, 0.05);
    const loramoe::test::base_options frozen{true, false, false}, none{false, false, false};
    return {
        {"LBC over a padding mask and task types, base with bias", config(33, 17, 6, 4), lbc, {}, 3, 7},
        {"the same with dropout 0.3 in training", config(33, 17, 6, 4, 0.3), lbc, {}, 3, 7, true},
        {"LBC var_over_mean, expert types, SIMD width, frozen base", config(16, 16, 3, 8), typed, frozen, 2,
         16},
        {"top-2 of 4, Switch load balancing", top_k, moe::balance::switch_load{}, {}, 2, 5},
        {"router z-loss, no base", config(9, 4, 3, 2), moe::balance::router_z{}, none},
        {"plain LoRA, no router, dropout 0.1 in training", plain, moe::balance::none{}, {}, 2, 4, true},
        {"realistic: d 64 -> 48, N 6, r 4, B 4, S 16, dropout 0.05", realistic, lbc, {}, 4, 16, true},
    };
}

// [dA_cat; dW_r; dB_cat] of a layer's gradient slice, apart: their scales differ.
template <class T, class Layer>
std::array<std::span<const T>, 3> parameter_parts(const std::vector<T>& grads, const Layer& layer) {
    const auto a = static_cast<std::size_t>(layer.experts() * layer.rank() * layer.in_features());
    const auto r = static_cast<std::size_t>(layer.has_router() ? layer.experts() * layer.in_features() : 0);
    const std::span<const T> all(grads);
    return {all.first(a), all.subspan(a, r), all.subspan(a + r)};
}

// The layer on both backends, with the same inputs and parameters; in training twice, the second call
// with the next dropout masks.
template <class T, int Experts, int Rank, class Balance>
void check_layer(const layer_variant& v, moe::execution_path path, const Balance& balance,
                 std::uint64_t seed) {
    auto config = v.config;
    config.path = path;
    moe::loramoe_linear<T, cpu, Experts, Rank, Balance> host_layer(config, balance);
    moe::loramoe_linear<T, device_backend, Experts, Rank, Balance> device_layer(config, balance);
    const loramoe::test::layer_inputs<T> in(v.samples, v.tokens, config.in_features, config.out_features,
                                            seed);
    const auto values = loramoe::test::random_parameter_values<T>(host_layer.parameter_count(), seed + 1);
    const T balance_weight(0.7);
    const double tol = loramoe::test::backend_tolerance<T>();
    for (int call = 0; call < (v.training ? 2 : 1); ++call) {
        CAPTURE(call);
        const auto want =
            loramoe::test::run_layer(host_layer, in, values, v.base, v.training, balance_weight);
        const auto got =
            loramoe::test::run_layer(device_layer, in, values, v.base, v.training, balance_weight);
        CHECK(device_layer.dropout_calls() == host_layer.dropout_calls());
        INFO("y");
        loramoe::test::expect_same(got.y, want.y);
        INFO("gates");
        loramoe::test::expect_same(got.gates, want.gates);
        INFO("balance loss");
        loramoe::test::expect_same_values(std::vector<double>{double(got.balance_loss)},
                                          std::vector<double>{double(want.balance_loss)}, tol);
        INFO("dx");
        loramoe::test::expect_same(got.dx, want.dx);
        const auto got_parts = parameter_parts(got.parameter_grads, host_layer);
        const auto want_parts = parameter_parts(want.parameter_grads, host_layer);
        for (std::size_t part = 0; part < 3; ++part) {
            INFO("parameter gradients, part ", part, " of [dA_cat; dW_r; dB_cat]");
            loramoe::test::expect_same_values(got_parts[part], want_parts[part], tol);
        }
        INFO("dW0, db0");
        loramoe::test::expect_same(got.w0_grad, want.w0_grad);
        loramoe::test::expect_same(got.b0_grad, want.b0_grad);
        // Not vacuous.
        CHECK(loramoe::test::max_abs(want.dx) > 1e-3);
        CHECK(loramoe::test::max_abs(want.parameter_grads) > 1e-3);
    }
}

// --- the model --------------------------------------------------------------------------------------

// V 29, D 16, F 24, 2 layers, 4 heads over 2 kv heads of Dh 4.
llama::llama_config small_config(bool tied, bool bias) {
    llama::llama_config c;
    c.vocab_size = 29;
    c.hidden_size = 16;
    c.intermediate_size = 24;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 4;
    c.rms_norm_eps = 1e-5;
    c.tie_word_embeddings = tied;
    c.attention_bias = bias;
    c.mlp_bias = bias;
    return c;
}

struct model_variant {
    const char* name;
    llama::llama_config config;
    moe::adapter_config adapter;
    llama::model_options options;
    bool training = false;
};

std::vector<model_variant> model_variants() {
    moe::adapter_config linears;
    linears.experts = 3;
    linears.rank = 2;
    linears.alpha = 8;
    linears.dropout = 0.1;
    linears.lbc_weight = 0.5;
    linears.target_modules = {"q_proj", "v_proj", "gate_proj", "down_proj"};
    moe::adapter_config ffn;
    ffn.experts = 4;
    ffn.rank = 2;
    ffn.alpha = 4;
    ffn.top_k = 2;
    ffn.placement = moe::adapter_placement::ffn;
    ffn.statistic = moe::lbc_statistic::var_over_mean;
    ffn.lbc_weight = 1;
    ffn.lbc_counts_padding = true;
    moe::adapter_config lora;
    lora.router = false;
    lora.experts = 1;
    lora.rank = 3;
    lora.alpha = 6;
    lora.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj"};
    return {
        {"LoRAMoE beside q, v, gate, down; LBC; dropout 0.1",
         small_config(false, false),
         linears,
         {.seed = 7},
         true},
        {"top-2 of 4 beside each FFN, LBC counting padding; full fine-tuning, tied, biases",
         small_config(true, true),
         ffn,
         {.train_base = true, .seed = 3}},
        {"plain LoRA beside the attention linears, biases", small_config(false, true), lora, {}},
    };
}

// Two samples of 7 tokens, the first right-padded, the second left-padded; the prompts not counted.
llama::token_batch small_batch() {
    llama::token_batch b;
    b.samples = 2;
    b.tokens = 7;
    b.input_ids = {1, 5, 17, 3, 28, 0, 0, 0, 0, 1, 9, 22, 4, 11};
    b.attention_mask = {1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1};
    b.labels = {-100, -100, 17, 3, 28, -100, -100, -100, -100, -100, -100, 22, 4, 11};
    b.task_types = {1, 0};
    return b;
}

// The variant's model on a backend, with seeded base weights (norms near 1, matrices of scale
// 1 / sqrt(fan_in)) and adapters (B included, so that every adapter tensor gets a gradient): the
// same values on every backend, copied into the buffers the blocks point into.
template <class T, class Backend>
std::unique_ptr<llama::llama_model<T, Backend>> seeded_model(const model_variant& v, std::uint64_t seed) {
    auto model = std::make_unique<llama::llama_model<T, Backend>>(v.config, v.adapter, v.options);
    host<T> base({model->base().size()});
    loramoe::random_generator rng(seed);
    for (const auto& t : model->layout().tensors()) {
        const bool norm = t.name.find("norm") != std::string::npos;
        const double scale = norm ? 0.2 : 1.5 / std::sqrt(static_cast<double>(t.shape.back()));
        for (index i = 0; i < t.size(); ++i)
            base[t.offset + i] = static_cast<T>((norm ? 1.0 : 0.0) + scale * rng.uniform(-1, 1));
    }
    loramoe::copy_from_host(Backend{}, base.data(), model->base().values().data(), base.size());
    if (v.options.base_in_bf16) {  // the matrices, held in bfloat16
        host<loramoe::bfloat16> matrices({model->bf16_base().size()});
        for (const auto& t : model->bf16_layout().tensors()) {
            const double scale = 1.5 / std::sqrt(static_cast<double>(t.shape.back()));
            for (index i = 0; i < t.size(); ++i)
                matrices[t.offset + i] = loramoe::to_bfloat16(static_cast<float>(scale * rng.uniform(-1, 1)));
        }
        loramoe::copy_from_host(Backend{}, matrices.data(), model->bf16_base().data(), matrices.size());
    }
    const auto adapters = loramoe::test::random_tensor<T>({model->adapters().size()}, seed + 1, -0.3, 0.3);
    loramoe::copy_from_host(Backend{}, adapters.data(), model->adapters().values().data(), adapters.size());
    return model;
}

// Every trainable tensor's gradient on the host, by name: the adapters' (their official names, B_i a
// strided block on the device), then the base weights' in full fine-tuning.
template <class T, class Backend>
std::vector<std::pair<std::string, host<T>>> gradients(llama::llama_model<T, Backend>& model) {
    std::vector<std::pair<std::string, host<T>>> out;
    loramoe::io::for_each_adapter_tensor(
        model, [&](const std::string& name, loramoe::matrix_view<T>, loramoe::matrix_view<T> grad) {
            host<T> g({grad.rows, grad.cols});
            loramoe::download(Backend{}, loramoe::as_const(grad), g.matrix());
            out.emplace_back(name, std::move(g));
        });
    if (model.base().has_grads()) {
        const host<T> all = loramoe::to_host(model.base().grads());
        for (const auto& t : model.layout().tensors()) {
            host<T> g(t.shape);
            std::copy_n(all.data() + t.offset, t.size(), g.data());
            out.emplace_back(t.name, std::move(g));
        }
    }
    return out;
}

std::vector<double> values_of(const llama::model_losses& l) {
    return {l.loss, l.ce, l.lbc};
}

template <class T>
void check_model(const model_variant& v) {
    auto host_model = seeded_model<T, cpu>(v, 11);
    auto device_model = seeded_model<T, device_backend>(v, 11);
    const llama::token_batch batch = small_batch();
    typename llama::llama_model<T, cpu>::saved host_saved;
    typename llama::llama_model<T, cpu>::workspace host_workspace;
    typename llama::llama_model<T, device_backend>::saved device_saved;
    typename llama::llama_model<T, device_backend>::workspace device_workspace;
    // A base in bfloat16: an activation a sum-order apart may round to the neighbouring bfloat16.
    const double tol = v.options.base_in_bf16 ? 1e-3 : loramoe::test::backend_tolerance<T>();
    for (int call = 0; call < 2; ++call) {
        CAPTURE(call);
        const auto want = host_model->forward(batch, host_saved, host_workspace, v.training);
        const auto got = device_model->forward(batch, device_saved, device_workspace, v.training);
        CHECK(got.counted_tokens == want.counted_tokens);
        INFO("loss, ce, lbc");
        loramoe::test::expect_same_values(values_of(got), values_of(want), tol);
        INFO("logits");
        loramoe::test::expect_same(device_saved.logits, host_saved.logits, tol);
        host_model->backward(host_saved, host_workspace);
        device_model->backward(device_saved, device_workspace);
    }
    if (v.adapter.router) CHECK(host_saved.losses.lbc > 0);
    const auto want = gradients(*host_model), got = gradients(*device_model);
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        INFO("gradient of ", want[i].first);
        CHECK(got[i].first == want[i].first);
        loramoe::test::expect_same(got[i].second, want[i].second, tol);
        CHECK(loramoe::test::max_abs(want[i].second) > 0);  // not vacuous
    }
}

// The smallest gap between the best and the second-best logit over the host's greedy choices: the
// device must choose the same tokens when it is far above the backends' differences.
template <class T>
double greedy_margin(llama::llama_model<T, cpu>& model, const std::vector<std::int64_t>& prompt,
                     const std::vector<std::int64_t>& generated) {
    std::vector<std::int64_t> ids = prompt;
    ids.insert(ids.end(), generated.begin(), generated.end() - 1);
    llama::token_batch batch;
    batch.samples = 1;
    batch.tokens = static_cast<index>(ids.size());
    batch.input_ids = ids;
    batch.attention_mask.assign(ids.size(), 1);
    batch.labels.assign(ids.size(), loramoe::ignore_index);
    batch.task_types = {0};
    typename llama::llama_model<T, cpu>::saved saved;
    typename llama::llama_model<T, cpu>::workspace workspace;
    model.forward(batch, saved, workspace);
    double margin = std::numeric_limits<double>::infinity();
    for (index row = static_cast<index>(prompt.size()) - 1; row < batch.tokens; ++row) {
        std::vector<double> logits;
        for (index j = 0; j < model.config().vocab_size; ++j) logits.push_back(saved.logits.matrix()(row, j));
        std::partial_sort(logits.begin(), logits.begin() + 2, logits.end(), std::greater<>());
        margin = std::min(margin, logits[0] - logits[1]);
    }
    return margin;
}

template <class T>
void check_generation(const model_variant& v) {
    auto host_model = seeded_model<T, cpu>(v, 13);
    auto device_model = seeded_model<T, device_backend>(v, 13);
    const std::vector<std::int64_t> prompt = {1, 14, 7, 7, 22, 5};
    const auto want = host_model->generate(prompt, 8, {});
    REQUIRE(want.size() == 8);
    // The seeded models' margins are 3e-3 to 2e-2; float and double logits differ by about 1e-6.
    REQUIRE(greedy_margin(*host_model, prompt, want) > 1e-3);
    CHECK(device_model->generate(prompt, 8, {}) == want);
    // Stopping at a stop token, with the cache of the first call reset.
    const std::vector<std::int64_t> stop = {want[3]};
    CHECK(device_model->generate(prompt, 8, stop) == host_model->generate(prompt, 8, stop));
}

// --- training ---------------------------------------------------------------------------------------

// `count` examples of 5 to 9 tokens in [1, V) (0 is the pad id), a prompt of 3 tokens not counted, task
// types alternating.
std::vector<loramoe::io::tokenized_example> synthetic_examples(index count, index vocab, std::uint64_t seed) {
    loramoe::random_generator rng(seed);
    std::vector<loramoe::io::tokenized_example> examples(static_cast<std::size_t>(count));
    for (index i = 0; i < count; ++i) {
        auto& e = examples[static_cast<std::size_t>(i)];
        const auto length = 5 + rng.below(5);
        for (std::uint64_t k = 0; k < length; ++k) {
            const auto id = static_cast<std::int64_t>(1 + rng.below(static_cast<std::uint64_t>(vocab - 1)));
            e.ids.push_back(id);
            e.labels.push_back(k < 3 ? loramoe::ignore_index : id);
        }
        e.task_type = i % 2;
    }
    return examples;
}

template <class T>
void check_training(const model_variant& v) {
    auto host_model = seeded_model<T, cpu>(v, 17);
    auto device_model = seeded_model<T, device_backend>(v, 17);
    const auto examples = synthetic_examples(10, v.config.vocab_size, 23);
    const std::int64_t pad_id = 0;
    // 4 batches of 3 (the last of 1) per epoch, 2 per update: 2 updates per epoch, 4 in all.
    const train::training_options options{.epochs = 2,
                                          .batch_size = 3,
                                          .gradient_accumulation = 2,
                                          .learning_rate = 1e-2,
                                          .warmup_ratio = 0.25,
                                          .weight_decay = 0.01,
                                          .max_grad_norm = 0.5,
                                          .seed = 5};
    train::trainer<T, cpu> host_run(*host_model, examples, pad_id, options);
    train::trainer<T, device_backend> device_run(*device_model, examples, pad_id, options);
    REQUIRE(host_run.total_steps() == 4);
    // The backend tolerance holds after training too, though AdamW divides each gradient element by its
    // own running magnitude and so carries the element's *relative* error into its update: measured on
    // the host alone, float against double differ after these 4 updates by at most 1e-6 of the largest
    // magnitude (reports, adapters, base), and double against double started from parameters perturbed
    // by one part in 1e15 by 5e-15: a margin of about 100 in float and 1e4 in double.
    const double tol = loramoe::test::backend_tolerance<T>();
    while (!host_run.finished()) {
        const auto want = host_run.train_step();
        const auto got = device_run.train_step();
        CAPTURE(want.step);
        CHECK(got.step == want.step);
        CHECK(got.tokens == want.tokens);
        CHECK(got.learning_rate == want.learning_rate);
        INFO("loss, ce, lbc, grad_norm");
        loramoe::test::expect_same_values(std::vector<double>{got.loss, got.ce, got.lbc, got.grad_norm},
                                          std::vector<double>{want.loss, want.ce, want.lbc, want.grad_norm},
                                          tol);
    }
    CHECK(device_run.finished());
    const host<T> trained = loramoe::to_host(device_model->adapters().values());
    INFO("trained adapters");
    loramoe::test::expect_same_values(trained, host_model->adapters().values(), tol);
    if (v.options.train_base) {
        INFO("trained base weights");
        loramoe::test::expect_same(device_model->base().values(), host_model->base().values(), tol);
    }

    // Evaluation: the loss and the router statistics (gates read back from the device).
    const train::evaluation_options evaluation{.batch_size = 4, .exact_match = false};
    const auto evaluated = train::evaluate(*device_model, examples, pad_id, {}, evaluation);
    const auto expected = train::evaluate(*host_model, examples, pad_id, {}, evaluation);
    CHECK(evaluated.counted_tokens == expected.counted_tokens);
    loramoe::test::expect_same_values(std::vector<double>{evaluated.loss}, std::vector<double>{expected.loss},
                                      tol);
    REQUIRE(evaluated.routers.size() == expected.routers.size());
    for (std::size_t r = 0; r < expected.routers.size(); ++r) {
        INFO("router ", expected.routers[r].module);
        CHECK(evaluated.routers[r].module == expected.routers[r].module);
        CHECK(evaluated.routers[r].tokens == expected.routers[r].tokens);
        for (const auto& [task, gates] : expected.routers[r].mean_gate)
            loramoe::test::expect_same_values(evaluated.routers[r].mean_gate.at(task), gates, tol);
    }

    // The trained adapters written from the device and read into fresh models on either backend,
    // bit for bit.
    const loramoe::test::temporary_directory folder;
    loramoe::io::save_adapter(folder.path(), *device_model);
    auto host_reloaded = seeded_model<T, cpu>(v, 29);
    auto device_reloaded = seeded_model<T, device_backend>(v, 29);
    loramoe::io::load_adapter_weights(folder.path(), *host_reloaded);
    loramoe::io::load_adapter_weights(folder.path(), *device_reloaded);
    loramoe::test::expect_close(host_reloaded->adapters().values(), trained, 0, 0);
    loramoe::test::expect_close(loramoe::to_host(device_reloaded->adapters().values()), trained, 0, 0);
}

}  // namespace test_cuda_modules

TEST_SUITE("gpu") {
    TEST_CASE_TEMPLATE(
        "cuda: loramoe_linear matches the host: both paths, forward and backward, LBC, dropout", T, float,
        double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_modules;
        std::uint64_t seed = 100;
        for (const auto& v : layer_variants())
            for (auto path : {moe::execution_path::fused, moe::execution_path::reference}) {
                INFO(v.name, path == moe::execution_path::fused ? " (fused)" : " (reference)");
                check_layer<T, loramoe::dynamic, loramoe::dynamic>(v, path, v.balance, seed);
                const auto* lbc = std::get_if<moe::balance::lbc>(&v.balance);
                if (lbc && v.config.experts == 6 && v.config.rank == 4) {
                    INFO("compile-time sizes: N = 6, r = 4, the LBC");
                    check_layer<T, 6, 4>(v, path, *lbc, seed);
                }
                seed += 10;
            }
    }

    TEST_CASE_TEMPLATE("cuda: llama_model with adapters: losses, logits and every gradient match the host", T,
                       float, double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_modules;
        for (const auto& v : model_variants()) {
            INFO(v.name);
            check_model<T>(v);
        }
    }

    TEST_CASE_TEMPLATE("cuda: greedy generation with the KV cache chooses the host's tokens", T, float,
                       double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_modules;
        for (const auto& v : model_variants()) {
            INFO(v.name);
            check_generation<T>(v);
        }
    }

    TEST_CASE(
        "cuda: a frozen base held in bfloat16: losses, logits, gradients and generation match the host") {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_modules;
        for (auto v : model_variants()) {
            if (v.options.train_base) continue;  // a base in bfloat16 is frozen
            v.options.base_in_bf16 = true;
            INFO(v.name, ", the base in bfloat16");
            check_model<float>(v);
            check_generation<float>(v);
        }
    }

    TEST_CASE_TEMPLATE("cuda: AdamW training follows the host's run; evaluation and adapter files agree", T,
                       float, double) {
        loramoe::test::require_cuda_device();
        using namespace test_cuda_modules;
        for (const auto& v : model_variants()) {
            INFO(v.name);
            check_training<T>(v);
        }
    }
}
