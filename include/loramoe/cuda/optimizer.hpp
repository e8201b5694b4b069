#pragma once
// AdamW and the gradient's global norm on the device (maths: cpu/optimizer.hpp). Defined in
// cuda/optimizer.cu for float and double.

#include <loramoe/core/adamw_hyperparameters.hpp>
#include <loramoe/core/backend.hpp>

namespace loramoe {

template <class T>
void adamw_update(cuda, T* p, const T* g, T* m, T* v, index n, const adamw_hyperparameters& h, index t);

// sum_i g_i^2, accumulated in double.
template <class T>
double sum_of_squares(cuda, const T* g, index n);

template <class T>
void scale_values(cuda, T* x, index n, T factor);

}  // namespace loramoe
