#pragma once
// loramoe: LoRAMoE (Dou et al. 2023) on a frozen LLaMA, header-only, on the CPU backend.
// <loramoe/cuda.hpp> adds the CUDA backend.

#include <loramoe/core/backend.hpp>
#include <loramoe/core/bfloat16.hpp>
#include <loramoe/core/error.hpp>
#include <loramoe/core/extent.hpp>
#include <loramoe/core/gemm.hpp>
#include <loramoe/core/gradient_mode.hpp>
#include <loramoe/core/parameters.hpp>
#include <loramoe/core/random.hpp>
#include <loramoe/core/tensor.hpp>
#include <loramoe/core/tensor_layout.hpp>
#include <loramoe/core/view.hpp>

#include <loramoe/core/host_memory.hpp>
#include <loramoe/cpu/attention.hpp>
#include <loramoe/cpu/bf16_gemm.hpp>
#include <loramoe/cpu/bfloat16.hpp>
#include <loramoe/cpu/cross_entropy.hpp>
#include <loramoe/cpu/dropout.hpp>
#include <loramoe/cpu/elementwise.hpp>
#include <loramoe/cpu/embedding.hpp>
#include <loramoe/cpu/gating.hpp>
#include <loramoe/cpu/gemm.hpp>
#include <loramoe/cpu/optimizer.hpp>
#include <loramoe/cpu/rmsnorm.hpp>
#include <loramoe/cpu/rope.hpp>
#include <loramoe/cpu/routing.hpp>
#include <loramoe/cpu/softmax.hpp>
#include <loramoe/cpu/swiglu.hpp>

#include <loramoe/llama/block.hpp>
#include <loramoe/llama/config.hpp>
#include <loramoe/llama/model.hpp>
#include <loramoe/llama/projection.hpp>
#include <loramoe/llama/token_batch.hpp>
#include <loramoe/llama/weights.hpp>
#include <loramoe/nn/attention.hpp>
#include <loramoe/nn/kv_cache.hpp>
#include <loramoe/nn/linear.hpp>
#include <loramoe/nn/rmsnorm.hpp>
#include <loramoe/nn/rope_frequencies.hpp>
#include <loramoe/nn/rotary.hpp>

#include <loramoe/moe/adapter_config.hpp>
#include <loramoe/moe/balance/balance.hpp>
#include <loramoe/moe/lora_expert.hpp>
#include <loramoe/moe/loramoe_linear.hpp>
#include <loramoe/moe/router.hpp>
#include <loramoe/moe/routing_batch.hpp>

#include <loramoe/io/adapter.hpp>
#include <loramoe/io/atomic_file.hpp>
#include <loramoe/io/generation_config.hpp>
#include <loramoe/io/hf_checkpoint.hpp>
#include <loramoe/io/instruction_data.hpp>
#include <loramoe/io/json_file.hpp>
#include <loramoe/io/mapped_file.hpp>
#include <loramoe/io/metadata.hpp>
#include <loramoe/io/pretrained.hpp>
#include <loramoe/io/safetensors.hpp>
#include <loramoe/io/tokenizer.hpp>

#include <loramoe/train/adamw.hpp>
#include <loramoe/train/batching.hpp>
#include <loramoe/train/checkpoint.hpp>
#include <loramoe/train/evaluation.hpp>
#include <loramoe/train/progress.hpp>
#include <loramoe/train/schedule.hpp>
#include <loramoe/train/trainer.hpp>

#include <loramoe/check/gradcheck.hpp>
#include <loramoe/check/layer_case.hpp>
#include <loramoe/check/model_case.hpp>
