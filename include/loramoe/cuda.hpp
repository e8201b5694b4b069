#pragma once
// loramoe with the CUDA backend: every module of <loramoe/loramoe.hpp> also runs with loramoe::cuda.
// The kernels are compiled by nvcc into the loramoe::cuda library (CMake option LORAMOE_CUDA); these
// headers only declare them, so the code that includes them is compiled by the C++ compiler as usual.

#include <loramoe/cuda/attention.hpp>
#include <loramoe/cuda/bf16_gemm.hpp>
#include <loramoe/cuda/context.hpp>
#include <loramoe/cuda/cross_entropy.hpp>
#include <loramoe/cuda/dropout.hpp>
#include <loramoe/cuda/elementwise.hpp>
#include <loramoe/cuda/embedding.hpp>
#include <loramoe/cuda/error.hpp>
#include <loramoe/cuda/gating.hpp>
#include <loramoe/cuda/gemm.hpp>
#include <loramoe/cuda/memory.hpp>
#include <loramoe/cuda/optimizer.hpp>
#include <loramoe/cuda/rmsnorm.hpp>
#include <loramoe/cuda/rope.hpp>
#include <loramoe/cuda/routing.hpp>
#include <loramoe/cuda/softmax.hpp>
#include <loramoe/cuda/swiglu.hpp>

#include <loramoe/loramoe.hpp>
