#pragma once
// The sizes of a grouped-query self-attention, as every backend's attention kernels take them.

#include <loramoe/core/backend.hpp>

namespace loramoe {

struct attention_shape {
    index samples = 0;   // B
    index tokens = 0;    // S
    index heads = 0;     // H
    index kv_heads = 0;  // Hkv
    index head_dim = 0;  // Dh

    index group() const { return heads / kv_heads; }
};

}  // namespace loramoe
