#pragma once
// --base-dtype float32|bfloat16: the type the frozen base's products run in. float32 (the default) is
// HF's float32 model exactly; bfloat16 multiplies by bfloat16 copies of the frozen weights
// (llama_model::hold_frozen_weights_in_bf16): about twice as fast on a CPU with AVX512-BF16, at
// bfloat16's accuracy, and only on the CPU in float, with a frozen base.

#include <map>
#include <string>
#include <type_traits>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <loramoe/core/error.hpp>
#include <loramoe/llama/model.hpp>

namespace loramoe::cli {

enum class base_dtype { float32, bfloat16 };

inline CLI::Option* add_base_dtype_option(CLI::App* command, base_dtype& target) {
    return command
        ->add_option("--base-dtype", target,
                     "the frozen base's products: float32 (exact) or bfloat16 (AVX512-BF16, about 2x faster, "
                     "bfloat16 accuracy; CPU, float, frozen base only)")
        ->transform(CLI::CheckedTransformer(std::map<std::string, base_dtype>{
            {"float32", base_dtype::float32}, {"bfloat16", base_dtype::bfloat16}}))
        ->default_str("float32");
}

// Makes the model's bfloat16 copies when asked (after its weights are loaded); `layouts` as the command
// needs: the input gradient's too to train, the forward's alone to evaluate or generate.
template <class T, class Backend>
void apply_base_dtype(base_dtype dtype, llama::llama_model<T, Backend>& model, bf16_layouts layouts) {
    if (dtype == base_dtype::float32) return;
    if constexpr (std::is_same_v<T, float> && std::is_same_v<Backend, cpu>) {
        if (model.options().train_base)
            fail<value_error>("--base-dtype bfloat16 needs a frozen base: not with --mode full");
        model.hold_frozen_weights_in_bf16(layouts);
        if constexpr (!LORAMOE_NATIVE_BF16)
            fmt::print(stderr,
                       "note: this loramoe was built without AVX512-BF16 (-march for such a CPU): the "
                       "bfloat16 products run in float, with bfloat16's rounding and no speed-up\n");
    } else {
        fail<value_error>(
            "--base-dtype bfloat16 runs on the CPU in float: not with --device cuda or --double");
    }
}

}  // namespace loramoe::cli
