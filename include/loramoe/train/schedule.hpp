#pragma once
// The learning rate of update `step` (0-based): linear warm-up, then cosine decay to zero, as
// HuggingFace's get_cosine_schedule_with_warmup (what the official LoRAMoE script uses):
//   step < warmup:  peak * step / warmup
//   otherwise:      peak * max(0, 0.5 (1 + cos(pi * (step - warmup) / (total - warmup))))

#include <algorithm>
#include <cmath>

#include <loramoe/core/backend.hpp>

namespace loramoe::train {

struct warmup_cosine {
    double peak = 1e-3;
    index warmup_steps = 0;
    index total_steps = 1;

    double operator()(index step) const {
        if (step < warmup_steps)
            return peak * static_cast<double>(step) / static_cast<double>(std::max<index>(1, warmup_steps));
        const double progress = static_cast<double>(step - warmup_steps) /
                                static_cast<double>(std::max<index>(1, total_steps - warmup_steps));
        return peak * std::max(0.0, 0.5 * (1.0 + std::cos(3.141592653589793 * progress)));
    }
};

}  // namespace loramoe::train
