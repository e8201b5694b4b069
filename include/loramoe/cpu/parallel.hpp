#pragma once
// Parallel loops over rows, by OpenMP. Small loops stay serial: starting a team costs microseconds.

#include <loramoe/core/backend.hpp>

namespace loramoe {

// Calls body(i) for i in [0, count), in parallel when count * work_per_item is worth a team.
template <class Body>
void parallel_for(cpu, index count, index work_per_item, Body&& body) {
    [[maybe_unused]] const bool worth_it = count > 1 && count * work_per_item >= (index{1} << 15);
#pragma omp parallel for schedule(static) if (worth_it)
    for (index i = 0; i < count; ++i) body(i);
}

}  // namespace loramoe
