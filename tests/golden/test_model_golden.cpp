// The `loramoe model` contract against HuggingFace transformers' LlamaForCausalLM, MistralForCausalLM
// and Qwen2ForCausalLM (4.44, PyTorch 1.13)
// with LoRAMoE adapters written in PyTorch (tests/golden/generate_model_golden.py): the loss, its ce
// and lbc parts, the logits and every adapter gradient. HF computes RMSNorm and the attention softmax
// in float32 even for a float64 model, so the F64 case agrees to about 1e-6 of each tensor's largest
// magnitude, not 1e-12 (the exact float64 agreement is checked against an independent float64
// reference during development; docs/contracts.md). Also: a sharded BF16 checkpoint loads and
// computes the logits of its bf16-rounded weights.

#include "test_support.hpp"

#include <string>

#include <loramoe/check/model_case.hpp>
#include <loramoe/io/pretrained.hpp>

namespace model_golden_test {

namespace fs = std::filesystem;

void check_model_golden(const std::string& name, double tolerance) {
    const fs::path dir = loramoe::test::golden_dir() / name;
    REQUIRE_MESSAGE(fs::exists(dir / "expected.safetensors"), dir.string());
    loramoe::test::temporary_directory out;
    loramoe::check::run_model_case(dir / "model", dir / "adapter", dir / "batch.safetensors",
                                   out / "out.safetensors");
    const loramoe::io::safetensors_reader got(out / "out.safetensors");
    const loramoe::io::safetensors_reader expected(dir / "expected.safetensors");
    CHECK(got.entries().size() == expected.entries().size());
    for (const auto& e : expected.entries()) {
        INFO(name, ": tensor ", e.name);
        REQUIRE(got.contains(e.name));
        CHECK(got.entry(e.name).shape == e.shape);
        const auto want = expected.read<double>(e.name);
        loramoe::test::expect_close(got.read<double>(e.name), want, tolerance * loramoe::test::max_abs(want),
                                    0);
    }
}

}  // namespace model_golden_test

TEST_SUITE("golden") {
    // GQA (4 heads, 2 kv heads), untied head, adapters on q, v, gate, up, down; right padding; cv2
    TEST_CASE("golden: model_f64_gqa (HF LlamaForCausalLM)") {
        model_golden_test::check_model_golden("model_f64_gqa", 1e-5);
    }
    // tied embeddings, attention and MLP biases, a left-padded sample, var_over_mean, rope_theta 5e5
    TEST_CASE("golden: model_f32_tied_left_padded (HF LlamaForCausalLM)") {
        model_golden_test::check_model_golden("model_f32_tied_left_padded", 5e-5);
    }

    // Llama 3.1/3.2's rope_scaling "llama3" (kept, interpolated and stretched frequencies), tied head,
    // one kv head, 12 positions, adapters on all seven linears
    TEST_CASE("golden: model_llama3_f64 (HF LlamaForCausalLM, rope_scaling llama3)") {
        model_golden_test::check_model_golden("model_llama3_f64", 1e-5);
    }
    TEST_CASE("golden: model_llama_linear_f32 (HF LlamaForCausalLM, rope_scaling linear)") {
        model_golden_test::check_model_golden("model_llama_linear_f32", 5e-5);
    }
    // biases on q, k, v but not o; GQA; tied head; adapters on the biased linears
    TEST_CASE("golden: model_qwen2_f64 (HF Qwen2ForCausalLM)") {
        model_golden_test::check_model_golden("model_qwen2_f64", 1e-5);
    }
    // a sliding window of 3 keys over 8 positions, head_dim 8 != hidden / heads, left and right padding
    TEST_CASE("golden: model_mistral_f32 (HF MistralForCausalLM, sliding window)") {
        model_golden_test::check_model_golden("model_mistral_f32", 5e-5);
    }

    TEST_CASE("golden: a sharded BF16 checkpoint loads and computes HF's logits") {
        const auto dir = loramoe::test::golden_dir() / "model_bf16_sharded";
        const auto model = loramoe::io::load_pretrained<float>(dir / "model");
        const loramoe::io::safetensors_reader expected(dir / "expected.safetensors");
        const auto ids = expected.read<std::int64_t>("input_ids"),
                   mask = expected.read<std::int64_t>("attention_mask");
        loramoe::llama::token_batch batch;
        batch.samples = ids.dim(0);
        batch.tokens = ids.dim(1);
        batch.input_ids.assign(ids.span().begin(), ids.span().end());
        batch.attention_mask.assign(mask.span().begin(), mask.span().end());
        batch.labels.assign(batch.input_ids.size(), -100);
        batch.task_types.assign(static_cast<std::size_t>(batch.samples), 0);
        typename loramoe::llama::llama_model<float>::saved saved;
        typename loramoe::llama::llama_model<float>::workspace workspace;
        model->forward(batch, saved, workspace);
        const auto want = expected.read<double>("logits");
        loramoe::test::expect_close(saved.logits, want, 1e-5 * loramoe::test::max_abs(want), 0);
        CHECK(loramoe::io::checkpoint_files(dir / "model").tensors().size() ==
              model->layout().tensors().size());
        CHECK(loramoe::io::checkpoint_dtype(dir / "model") == loramoe::io::dtype::bf16);
    }
}  // TEST_SUITE
