#pragma once
// --base-dtype auto|float32|bfloat16: the type the frozen base's matrices are held and multiplied in.
// float32 is HF's float32 model exactly. bfloat16 holds them once in bfloat16 (model_options::
// base_in_bf16): half the memory, products about twice as fast with AVX512-BF16, activations rounded
// to bfloat16 as they enter them. auto, the default, is bfloat16 where that loses nothing of the
// weights and gains speed: a BF16 checkpoint, a CPU build with AVX512-BF16, a frozen base in float;
// not an F16 one (bfloat16 has 7 bits of mantissa to F16's 10: the weights would be rounded), and not
// on the GPU, whose bfloat16 path (cuda/bf16_gemm.hpp) has not yet run on one (docs/cuda.md): there
// it is asked for.

#include <filesystem>
#include <map>
#include <string>
#include <type_traits>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <loramoe/core/error.hpp>
#include <loramoe/io/hf_checkpoint.hpp>

namespace loramoe::cli {

enum class base_dtype { automatic, float32, bfloat16 };

inline CLI::Option* add_base_dtype_option(CLI::App* command, base_dtype& target) {
    return command
        ->add_option("--base-dtype", target,
                     "the frozen base's matrices: float32 (HF's float32 model exactly), bfloat16 (held once "
                     "in bfloat16: half the memory, about 2x faster with AVX512-BF16, bfloat16 accuracy; "
                     "float, frozen base only), or auto: bfloat16 for a BF16 checkpoint on a CPU where it "
                     "runs natively, float32 otherwise")
        ->transform(
            CLI::CheckedTransformer(std::map<std::string, base_dtype>{{"auto", base_dtype::automatic},
                                                                      {"float32", base_dtype::float32},
                                                                      {"bfloat16", base_dtype::bfloat16}}))
        ->default_str("auto");
}

// Whether a model of T on Backend, its base frozen or not, holds the base of `model_dir` in bfloat16.
template <class T, class Backend>
bool base_in_bf16(base_dtype dtype, const std::filesystem::path& model_dir, bool frozen) {
    constexpr bool in_float = std::is_same_v<T, float>, on_cpu = std::is_same_v<Backend, cpu>;
    switch (dtype) {
        case base_dtype::float32:
            return false;
        case base_dtype::automatic:
            return in_float && on_cpu && frozen && LORAMOE_NATIVE_BF16 &&
                   io::checkpoint_dtype(model_dir) == io::dtype::bf16;
        case base_dtype::bfloat16:
            if (!in_float) fail<value_error>("--base-dtype bfloat16 computes in float: not with --double");
            if (!frozen) fail<value_error>("--base-dtype bfloat16 needs a frozen base: not with --mode full");
            if (on_cpu && !LORAMOE_NATIVE_BF16)
                fmt::print(stderr,
                           "note: this loramoe was built without AVX512-BF16 (-march for such a CPU): the "
                           "bfloat16 products run in float, with bfloat16's rounding and no speed-up\n");
            return true;
    }
    return false;
}

}  // namespace loramoe::cli
