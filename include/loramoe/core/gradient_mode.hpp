#pragma once
// What a backward does with an activation gradient it writes: overwrite it (the default), or add to
// it, where several branches of a graph meet (the q, k and v projections read the same input).

namespace loramoe {

enum class gradient_mode { overwrite, accumulate };

}  // namespace loramoe
