#pragma once
// Owning memory of a backend, and the explicit transfers between backends.
//
// `buffer<T, Backend>` is specialised by each backend folder (cpu/memory.hpp, cuda/memory.hpp). The
// primary template says what is missing instead of falling back silently to host memory.

#include <loramoe/core/backend.hpp>

namespace loramoe {

template <class T, class Backend>
class buffer {
    static_assert(dependent_false<T, Backend>,
                  "no memory for this backend: include <loramoe/cuda.hpp> (and compile with nvcc) to use "
                  "loramoe::cuda");
};

}  // namespace loramoe
