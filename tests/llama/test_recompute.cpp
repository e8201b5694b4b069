// Activation checkpointing (model_options::recompute): forward keeps the blocks' inputs only (or those
// of every k-th block), no attention probabilities and no logits, and backward runs the blocks again.
// The losses and every gradient are those of the model that keeps its activations, bit for bit, in
// training mode with dropout (the recomputed forward draws the masks of the forward it replays, and
// the next step draws fresh ones, as without recompute), with a trained base, and with a base held in
// bfloat16; and the adapters' states handed out after a forward.

#include "test_support.hpp"

#include <vector>

#include <loramoe/loramoe.hpp>

namespace recompute_test {

using namespace loramoe;
using loramoe::index;

llama::llama_config config(index vocabulary = 41) {
    return {.vocab_size = vocabulary,
            .hidden_size = 32,
            .intermediate_size = 48,
            .num_hidden_layers = 3,
            .num_attention_heads = 4,
            .num_key_value_heads = 2,
            .head_dim = 8};
}

moe::adapter_config adapters() {
    moe::adapter_config a;
    a.experts = 4;
    a.rank = 2;
    a.dropout = 0.25;
    a.lbc_weight = 0.1;
    a.target_modules = {"q_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    return a;
}

// Two samples, the second right-padded after its first `tokens - 3`.
llama::token_batch batch(index step, index tokens = 9) {
    llama::token_batch b;
    b.samples = 2;
    b.tokens = tokens;
    const index real = 2 * tokens - 3;
    for (index i = 0; i < b.samples * b.tokens; ++i) {
        b.input_ids.push_back((5 * i + 3 * step + 1) % 41);
        b.attention_mask.push_back(i < real ? 1 : 0);
        b.labels.push_back(i % 3 != 0 && i < real ? (5 * i + 2) % 41 : -100);
    }
    b.task_types = {0, 1};
    return b;
}

struct run {
    std::vector<double> losses;
    std::vector<float> adapter_gradients, base_gradients;
};

// Three training steps' forward and backward (gradients accumulated), on a model made from `options`.
template <class T>
run three_steps(llama::model_options options, index tokens) {
    // Over 64 logits, as a real vocabulary: a narrower float product would take cpu/narrow_gemm.hpp for
    // all rows at once and Eigen for a block of them, with other rounding.
    llama::llama_model<T> model(config(tokens > llama::logit_block_rows ? 100 : 41), adapters(), options);
    random_generator rng(17);
    for (T& v : model.base().values().span()) v = static_cast<T>(0.3 * rng.uniform(-1, 1));
    for (T& v : model.adapters().values().span()) v = static_cast<T>(0.3 * rng.uniform(-1, 1));
    if (options.base_in_bf16)
        for (bfloat16& v : model.bf16_base().span())
            v = to_bfloat16(static_cast<float>(0.3 * rng.uniform(-1, 1)));
    typename llama::llama_model<T>::saved saved;
    typename llama::llama_model<T>::workspace workspace;
    run out;
    for (index step = 0; step < 3; ++step) {
        out.losses.push_back(model.forward(batch(step, tokens), saved, workspace, true).loss);
        model.backward(saved, workspace);
    }
    for (T g : model.adapters().grads().span()) out.adapter_gradients.push_back(static_cast<float>(g));
    if (model.base().has_grads())
        for (T g : model.base().grads().span()) out.base_gradients.push_back(static_cast<float>(g));
    return out;
}

// Recompute with blocks of `segment` against kept activations. Over more than 2 * logit_block_rows rows
// the loss is summed over several blocks of logits: the same to rounding, not bit for bit.
template <class T>
void check_same(llama::model_options options, index segment = 1, index tokens = 9) {
    const run kept = three_steps<T>(options, tokens);
    options.recompute = true;
    options.recompute_segment = segment;
    const run recomputed = three_steps<T>(options, tokens);
    if (2 * tokens < 2 * llama::logit_block_rows) {
        CHECK(recomputed.losses == kept.losses);
    } else {
        for (std::size_t i = 0; i < kept.losses.size(); ++i)
            CHECK(recomputed.losses[i] == doctest::Approx(kept.losses[i]).epsilon(1e-12));
    }
    CHECK(recomputed.adapter_gradients == kept.adapter_gradients);
    CHECK(recomputed.base_gradients == kept.base_gradients);
    CHECK(kept.losses[0] != kept.losses[1]);  // the steps differ
}

TEST_CASE("recompute: the losses and gradients of kept activations, bit for bit, with dropout") {
    SUBCASE("float") {
        check_same<float>({.seed = 4});
    }
    SUBCASE("double") {
        check_same<double>({.seed = 4});
    }
    SUBCASE("a trained base") {
        check_same<float>({.train_base = true, .seed = 4});
    }
    SUBCASE("a base held in bfloat16") {
        check_same<float>({.seed = 4, .base_in_bf16 = true});
    }
}

TEST_CASE("recompute: segments of blocks, every input but the segments' first computed again") {
    for (index segment : {2, 3, 4, 10}) {  // 10: one segment, longer than the 3 blocks
        CAPTURE(segment);
        check_same<float>({.seed = 4}, segment);
        check_same<double>({.train_base = true, .seed = 4}, segment);
    }
}

TEST_CASE("recompute: the LM head and the loss over several blocks of rows") {
    // 2 * 300 rows: two blocks of logits, the second longer (it takes the rest).
    check_same<float>({.seed = 4}, 1, 300);
    check_same<float>({.seed = 4, .base_in_bf16 = true}, 2, 300);
    check_same<double>({.train_base = true, .seed = 4}, 1, 300);
}

TEST_CASE("recompute: what forward keeps") {
    llama::llama_model<float> model(config(), adapters(), {.recompute = true, .recompute_segment = 2});
    llama::llama_model<float>::saved s;
    llama::llama_model<float>::workspace w;
    model.forward(batch(0), s, w, true);
    CHECK(s.logits.size() == 0);
    CHECK(s.blocks.empty());
    CHECK(w.block.attention.probs.size() == 0);
    // Blocks 0 and 2 (and the last output), not block 1.
    std::vector<index> kept;
    for (const auto& h : s.hidden) kept.push_back(h.size());
    CHECK(kept == std::vector<index>{18 * 32, 0, 18 * 32, 18 * 32});
    CHECK(w.segment.size() == 1);
}

TEST_CASE("recompute: a segment is one block, or more with recompute") {
    CHECK_THROWS_WITH_AS((llama::llama_model<float>(config(), adapters(), {.recompute_segment = 2})),
                         doctest::Contains("recompute_segment is 2"), value_error);
    CHECK_THROWS_WITH_AS(
        (llama::llama_model<float>(config(), adapters(), {.recompute = true, .recompute_segment = 0})),
        doctest::Contains("recompute_segment is 0"), value_error);
}

TEST_CASE("recompute: dropout masks really differ between steps, so the replay is what keeps them") {
    // The same model without dropout gives other gradients: the masks are in play.
    llama::llama_model<float> with(config(), adapters(), {.seed = 4, .recompute = true});
    auto plain = adapters();
    plain.dropout = 0;
    llama::llama_model<float> without(config(), plain, {.seed = 4, .recompute = true});
    for (auto* model : {&with, &without}) {
        random_generator rng(1);
        for (float& v : model->base().values().span()) v = static_cast<float>(0.3 * rng.uniform(-1, 1));
        for (float& v : model->adapters().values().span()) v = static_cast<float>(0.3 * rng.uniform(-1, 1));
    }
    llama::llama_model<float>::saved s;
    llama::llama_model<float>::workspace w;
    with.forward(batch(0), s, w, true);
    with.backward(s, w);
    without.forward(batch(0), s, w, true);
    without.backward(s, w);
    const auto g1 = with.adapters().grads().span(), g2 = without.adapters().grads().span();
    CHECK_FALSE(std::equal(g1.begin(), g1.end(), g2.begin()));
}

TEST_CASE(
    "recompute: the adapters' states of a forward are those of kept activations, the blocks run again") {
    std::vector<std::vector<float>> gates[2];
    for (bool recompute : {false, true}) {
        llama::llama_model<float> model(config(), adapters(), {.seed = 4, .recompute = recompute});
        random_generator rng(9);
        for (float& v : model.base().values().span()) v = static_cast<float>(0.3 * rng.uniform(-1, 1));
        for (float& v : model.adapters().values().span()) v = static_cast<float>(0.3 * rng.uniform(-1, 1));
        llama::llama_model<float>::saved saved;
        llama::llama_model<float>::workspace workspace;
        model.forward(batch(0), saved, workspace, true);
        model.for_each_adapter_state(saved, workspace, [&](const std::string&, auto&, auto& state) {
            gates[recompute].emplace_back(state.gates.span().begin(), state.gates.span().end());
        });
    }
    CHECK(gates[0].size() == 15);
    CHECK(gates[1] == gates[0]);
}

}  // namespace recompute_test
