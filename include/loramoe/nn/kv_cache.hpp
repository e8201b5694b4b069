#pragma once
// The keys and values of the tokens seen so far, per layer, for generation: each new token then costs
// one row of every product instead of the whole sequence.

#include <vector>

#include <loramoe/core/tensor.hpp>

namespace loramoe::nn {

template <scalar T, backend Backend = cpu>
struct kv_cache {
    std::vector<tensor<T, Backend>> keys, values;  // per layer: (capacity, Hkv*Dh), rotary applied to keys
    index length = 0;                              // tokens cached
    index capacity = 0;

    void reset(index layers, index tokens, index width) {
        keys.resize(static_cast<std::size_t>(layers));
        values.resize(static_cast<std::size_t>(layers));
        for (auto* list : {&keys, &values})
            for (auto& t : *list) t.resize({tokens, width});
        length = 0;
        capacity = tokens;
    }
};

}  // namespace loramoe::nn
