// gradcheck, in double, of each step of the LLaMA with its hand-written backward: RMSNorm, rotary
// embeddings, attention (GQA, causal and padding masks, a left-padded query that sees no key), SwiGLU,
// cross-entropy, the embedding, and one whole block with adapters.

#include "test_support.hpp"

#include <loramoe/loramoe.hpp>

namespace layer_gradcheck_test {

namespace lm = loramoe;

// L = <out, w> for a fixed random w: dL/d out = w.
double project(const lm::tensor<double>& out, const lm::tensor<double>& w) {
    double sum = 0;
    for (lm::index i = 0; i < out.size(); ++i) sum += out[i] * w[i];
    return sum;
}

std::span<double> all(lm::tensor<double>& t) {
    return t.span();
}

lm::check::gradcheck_options options() {
    lm::check::gradcheck_options o;
    o.step = 1e-6;
    o.absolute_tolerance = 1e-8;
    o.relative_tolerance = 1e-6;
    return o;
}

void expect_passed(const lm::check::gradcheck_report& report) {
    INFO(report.table());
    CHECK(report.passed());
    for (const auto& t : report.tensors) CHECK(t.checked > 0);
}

}  // namespace layer_gradcheck_test

TEST_SUITE("gradcheck") {
    namespace lm = loramoe;
    using layer_gradcheck_test::all;
    using layer_gradcheck_test::expect_passed;
    using layer_gradcheck_test::options;
    using layer_gradcheck_test::project;

    TEST_CASE("gradcheck: RMSNorm, input and weight") {
        const lm::index m = 5, d = 7;
        auto x = lm::test::random_tensor<double>({m, d}, 1),
             w = lm::test::random_tensor<double>({d}, 2, 0.5, 1.5);
        const auto dy = lm::test::random_tensor<double>({m, d}, 3);
        lm::tensor<double> y({m, d}), dx({m, d}), dw({d});
        lm::nn::rms_norm<double> norm{w.data(), dw.data(), 1e-5};
        typename lm::nn::rms_norm<double>::saved s;
        auto loss = [&] {
            norm.forward(x.matrix(), y.matrix(), s);
            return project(y, dy);
        };
        auto gradients = [&] {
            dw.zero();
            norm.forward(x.matrix(), y.matrix(), s);
            norm.backward(x.matrix(), dy.matrix(), s, dx.matrix());
        };
        expect_passed(lm::check::gradcheck(
            loss, gradients, {{"x", all(x), dx.span()}, {"weight", all(w), dw.span()}}, options()));
    }

    TEST_CASE("gradcheck: rotary embeddings (the backward is the inverse rotation)") {
        const lm::index m = 6, heads = 3, head_dim = 8;
        auto x = lm::test::random_tensor<double>({m, heads * head_dim}, 4);
        const auto dy = lm::test::random_tensor<double>({m, heads * head_dim}, 5);
        lm::nn::rotary_embedding<double> rope(head_dim, 10000.0);
        rope.reserve(m);
        lm::tensor<std::int64_t> positions({m});
        for (lm::index i = 0; i < m; ++i) positions[i] = (i * 7) % m;  // any positions, not only 0..S-1
        lm::tensor<double> y({m, heads * head_dim}), dx({m, heads * head_dim});
        auto loss = [&] {
            lm::copy(lm::cpu{}, x.data(), y.data(), x.size());
            rope.forward(y.matrix(), positions.data());
            return project(y, dy);
        };
        auto gradients = [&] {
            lm::copy(lm::cpu{}, dy.data(), dx.data(), dy.size());
            rope.backward(dx.matrix(), positions.data());
        };
        expect_passed(lm::check::gradcheck(loss, gradients, {{"x", all(x), dx.span()}}, options()));
    }

    TEST_CASE(
        "gradcheck: attention with GQA, causal and padding masks, a sliding window, and queries that see "
        "no key; its probabilities kept or computed again in backward") {
        const lm::index samples = 2, tokens = 5, heads = 4, kv_heads = 2, head_dim = 3;
        const lm::index m = samples * tokens;
        auto q = lm::test::random_tensor<double>({m, heads * head_dim}, 6, -2, 2);
        auto k = lm::test::random_tensor<double>({m, kv_heads * head_dim}, 7, -2, 2);
        auto v = lm::test::random_tensor<double>({m, kv_heads * head_dim}, 8);
        const auto dout = lm::test::random_tensor<double>({m, heads * head_dim}, 9);
        // Sample 0 left-padded (its first query sees no key), sample 1 right-padded.
        const auto mask = lm::make_tensor<double>({m}, {0, 1, 1, 1, 1, 1, 1, 1, 0, 0});
        // A window of 2 keys: sample 1's last query sees only padding.
        for (const lm::index window : {0, 2}) {
            CAPTURE(window);
            std::vector<double> gradients_of[2];
            for (bool keep : {true, false}) {
                CAPTURE(keep);
                lm::nn::causal_attention<double> attention{heads, kv_heads, head_dim, window, keep};
                typename lm::nn::causal_attention<double>::saved s;
                lm::tensor<double> out({m, heads * head_dim}), dq(q.shape()), dk(k.shape()), dv(v.shape());
                auto loss = [&] {
                    attention.forward(samples, tokens, q.matrix(), k.matrix(), v.matrix(), mask.data(),
                                      out.matrix(), s);
                    return project(out, dout);
                };
                auto gradients = [&] {
                    attention.forward(samples, tokens, q.matrix(), k.matrix(), v.matrix(), mask.data(),
                                      out.matrix(), s);
                    attention.backward(samples, tokens, q.matrix(), k.matrix(), v.matrix(), mask.data(), s,
                                       dout.matrix(), dq.matrix(), dk.matrix(), dv.matrix());
                };
                expect_passed(lm::check::gradcheck(
                    loss, gradients,
                    {{"q", all(q), dq.span()}, {"k", all(k), dk.span()}, {"v", all(v), dv.span()}},
                    options()));
                gradients();
                for (const auto* t : {&dq, &dk, &dv})
                    gradients_of[keep].insert(gradients_of[keep].end(), t->span().begin(), t->span().end());
                if (keep) {
                    // The no-key queries attend uniformly to all keys: sample 0's first, and with the window
                    // sample 1's last; a window of 2 leaves 2 keys to the others.
                    const auto probability = [&](lm::index b, lm::index h, lm::index i, lm::index j) {
                        return s.probs[((b * heads + h) * tokens + i) * tokens + j];
                    };
                    for (lm::index j = 0; j < tokens; ++j) {
                        CHECK(probability(0, 0, 0, j) == doctest::Approx(1.0 / tokens));
                        if (window) CHECK(probability(1, 1, 4, j) == doctest::Approx(1.0 / tokens));
                    }
                    if (window) {
                        CHECK(probability(0, 2, 4, 2) == 0.0);
                        CHECK(probability(0, 2, 4, 3) + probability(0, 2, 4, 4) == doctest::Approx(1.0));
                    }
                } else {
                    CHECK(s.probs.size() == 0);
                }
            }
            CHECK(gradients_of[0] == gradients_of[1]);  // computed again, bit for bit
        }
    }

    TEST_CASE("gradcheck: SwiGLU") {
        const lm::index m = 4, f = 9;
        auto gate = lm::test::random_tensor<double>({m, f}, 10, -3, 3),
             up = lm::test::random_tensor<double>({m, f}, 11);
        const auto dout = lm::test::random_tensor<double>({m, f}, 12);
        lm::tensor<double> out({m, f}), dgate({m, f}), dup({m, f});
        auto loss = [&] {
            lm::swiglu_forward(lm::cpu{}, lm::as_const(gate.matrix()), lm::as_const(up.matrix()),
                               out.matrix());
            return project(out, dout);
        };
        auto gradients = [&] {
            lm::swiglu_backward(lm::cpu{}, lm::as_const(gate.matrix()), lm::as_const(up.matrix()),
                                lm::as_const(dout.matrix()), dgate.matrix(), dup.matrix());
        };
        expect_passed(lm::check::gradcheck(
            loss, gradients, {{"gate", all(gate), dgate.span()}, {"up", all(up), dup.span()}}, options()));
        // d up may be written in d out's place (the block's backward does): the same values.
        gradients();
        lm::tensor<double> in_place({m, f});
        std::copy_n(dout.data(), dout.size(), in_place.data());
        lm::swiglu_backward(lm::cpu{}, lm::as_const(gate.matrix()), lm::as_const(up.matrix()),
                            lm::as_const(in_place.matrix()), dgate.matrix(), in_place.matrix());
        CHECK(std::equal(dup.span().begin(), dup.span().end(), in_place.span().begin()));
    }

    TEST_CASE("gradcheck: cross-entropy with ignored targets, as a mean over the counted rows") {
        const lm::index m = 6, vocab = 11;
        auto logits = lm::test::random_tensor<double>({m, vocab}, 13, -4, 4);
        const std::vector<std::int64_t> targets = {3, lm::ignore_index, 0, 10, lm::ignore_index, 7};
        const double counted = 4;
        lm::tensor<double> dlogits({m, vocab});
        auto loss = [&] {
            return lm::cross_entropy_sum(lm::cpu{}, lm::as_const(logits.matrix()), targets.data()) / counted;
        };
        auto gradients = [&] {
            lm::cross_entropy_backward(lm::cpu{}, lm::as_const(logits.matrix()), targets.data(),
                                       1.0 / counted, dlogits.matrix());
        };
        expect_passed(
            lm::check::gradcheck(loss, gradients, {{"logits", all(logits), dlogits.span()}}, options()));
    }

    TEST_CASE("gradcheck: the embedding's scatter-add, with repeated ids") {
        const lm::index vocab = 5, d = 3;
        auto table = lm::test::random_tensor<double>({vocab, d}, 14);
        const std::vector<std::int64_t> ids = {4, 1, 4, 0, 4, 2};
        const lm::index m = static_cast<lm::index>(ids.size());
        const auto dout = lm::test::random_tensor<double>({m, d}, 15);
        lm::tensor<double> out({m, d}), dtable({vocab, d});
        auto loss = [&] {
            lm::embedding_forward(lm::cpu{}, lm::as_const(table.matrix()), ids.data(), out.matrix());
            return project(out, dout);
        };
        auto gradients = [&] {
            dtable.zero();
            lm::embedding_backward(lm::cpu{}, ids.data(), lm::as_const(dout.matrix()), dtable.matrix());
        };
        expect_passed(
            lm::check::gradcheck(loss, gradients, {{"table", all(table), dtable.span()}}, options()));
    }

    TEST_CASE("gradcheck: one LLaMA block with adapters on q and down, its input and adapters") {
        lm::llama::llama_config c;
        c.vocab_size = 7;
        c.hidden_size = 6;
        c.intermediate_size = 10;
        c.num_hidden_layers = 1;
        c.num_attention_heads = 3;
        c.num_key_value_heads = 1;
        c.head_dim = 2;
        c.attention_bias = true;
        lm::moe::adapter_config adapter;
        adapter.experts = 3;
        adapter.rank = 2;
        adapter.target_modules = {"q_proj", "down_proj"};
        adapter.lbc_weight = 0.3;
        lm::llama::llama_model<double> model(c, adapter, {.train_base = true});
        for (double& w : model.base().values().span()) w = 0;
        lm::random_generator rng(16);
        for (const auto& t : model.layout().tensors())
            for (lm::index i = 0; i < t.size(); ++i)
                model.base().values()[t.offset + i] =
                    t.name.find("norm") != std::string::npos ? 1 + 0.1 * rng.normal() : 0.5 * rng.normal();
        for (double& w : model.adapters().values().span()) w = 0.4 * rng.normal();

        const auto layout = model.layout();
        lm::nn::rotary_embedding<double> rope(c.head_dim, c.rope_theta);
        rope.reserve(4);
        const lm::tensor_layout none;
        lm::llama::llama_block<double> block(c, 0, {layout, model.base().all(), none}, adapter, &rope, 0);
        lm::parameter_buffer<double> adapters(model.adapters().size());
        lm::index offset = 0;
        block.for_each_adapter([&](const std::string&, auto& a) {
            a.bind(adapters.slice(offset, a.parameter_count()));
            offset += a.parameter_count();
        });
        lm::copy(lm::cpu{}, model.adapters().values().data(), adapters.values().data(), adapters.size());

        const lm::index samples = 2, tokens = 4, m = samples * tokens;
        auto h = lm::test::random_tensor<double>({m, c.hidden_size}, 17);
        const auto dout = lm::test::random_tensor<double>({m, c.hidden_size}, 18);
        const auto mask = lm::make_tensor<double>({m}, {1, 1, 1, 1, 1, 1, 1, 0});
        lm::tensor<std::int64_t> positions({m});
        for (lm::index i = 0; i < m; ++i) positions[i] = i % tokens;
        const std::vector<std::int64_t> task_types = {1, 0};
        const lm::llama::sequence_context<double> context{
            samples, tokens, mask.data(), positions.data(), {samples, tokens, mask.data(), task_types}};
        typename lm::llama::llama_block<double>::saved s;
        typename lm::llama::llama_block<double>::workspace w;
        lm::tensor<double> out({m, c.hidden_size}), dh({m, c.hidden_size});
        auto loss = [&] {
            block.forward(h.matrix(), context, out.matrix(), s, w, false);
            return project(out, dout) + adapter.lbc_weight * block.balance_loss(s);
        };
        auto gradients = [&] {
            adapters.zero_grad();
            model.base().zero_grad();
            block.forward(h.matrix(), context, out.matrix(), s, w, false);
            lm::copy(lm::cpu{}, dout.data(), dh.data(), dout.size());
            block.backward(h.matrix(), context, dh.matrix(), s, w, adapter.lbc_weight);
        };
        const auto n = static_cast<std::size_t>(adapters.size());
        const auto& q = layout.at("model.layers.0.self_attn.q_proj.bias");
        expect_passed(lm::check::gradcheck(
            loss, gradients,
            {{"h", all(h), dh.span()},
             {"adapters", {adapters.values().data(), n}, {adapters.grads().data(), n}},
             {"q_proj.bias",
              {model.base().values().data() + q.offset, static_cast<std::size_t>(q.size())},
              {model.base().grads().data() + q.offset, static_cast<std::size_t>(q.size())}}},
            options()));
    }

}  // TEST_SUITE
