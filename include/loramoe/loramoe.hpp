#pragma once
// loramoe: LoRAMoE (Dou et al. 2023) on a frozen LLaMA, header-only, on the CPU backend.
// <loramoe/cuda.hpp> adds the CUDA backend.

#include <loramoe/core/backend.hpp>
#include <loramoe/core/error.hpp>
#include <loramoe/core/extent.hpp>
#include <loramoe/core/gemm.hpp>
#include <loramoe/core/parameters.hpp>
#include <loramoe/core/random.hpp>
#include <loramoe/core/tensor.hpp>
#include <loramoe/core/view.hpp>

#include <loramoe/cpu/dropout.hpp>
#include <loramoe/cpu/elementwise.hpp>
#include <loramoe/cpu/gating.hpp>
#include <loramoe/cpu/gemm.hpp>
#include <loramoe/cpu/memory.hpp>
#include <loramoe/cpu/routing.hpp>
#include <loramoe/cpu/softmax.hpp>

#include <loramoe/moe/balance/balance.hpp>
#include <loramoe/moe/lora_expert.hpp>
#include <loramoe/moe/loramoe_linear.hpp>
#include <loramoe/moe/router.hpp>
#include <loramoe/moe/routing_batch.hpp>

#include <loramoe/io/atomic_file.hpp>
#include <loramoe/io/safetensors.hpp>

#include <loramoe/check/gradcheck.hpp>
#include <loramoe/check/layer_case.hpp>
