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
    index window = 0;    // a query sees its `window` latest keys, itself included (Mistral); 0: all

    // The first key query i may see, padding aside.
    index first_key(index i) const { return window > 0 && i - window + 1 > 0 ? i - window + 1 : 0; }

    index group() const { return heads / kv_heads; }
};

}  // namespace loramoe
