#pragma once
// The label that the language-model loss does not count (prompt tokens, padding), as PyTorch's
// cross_entropy(ignore_index=-100) and HuggingFace's collators use it.

#include <cstdint>

namespace loramoe {

inline constexpr std::int64_t ignore_index = -100;

}  // namespace loramoe
