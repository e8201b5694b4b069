#pragma once
// The matrix product every backend provides, in BLAS's terms:
//
//   gemm(backend, alpha, a, op_a, b, op_b, beta, c):   c = alpha * op_a(a) @ op_b(b) + beta * c
//
// with op = transpose::no or transpose::yes, all matrices row-major views. beta = 0 overwrites c
// (whatever it held, NaN included); beta = 1 accumulates.

namespace loramoe {

enum class transpose : bool { no = false, yes = true };

}  // namespace loramoe
