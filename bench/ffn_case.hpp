#pragma once
// The FFN block of the FFN benchmarks (ffn_bench.cpp, and bf16_bench.cpp's with bfloat16 frozen
// weights): LLaMA's MLP with a LoRAMoE linear as each of its three linears, its inputs, activations
// and scratch, made before the timing loop. Its forward and backward take the linear as a callable, so
// that one block runs the frozen products alone, the whole LoRAMoE linears, or the adapters beside
// frozen products of another kind.

#include <benchmark/benchmark.h>

#include <loramoe/core/gradient_mode.hpp>
#include <loramoe/core/tensor.hpp>
#include <loramoe/cpu/swiglu.hpp>

#include "bench_support.hpp"

namespace loramoe::bench {

// One benchmark case: the shape from the benchmark's arguments, seeded inputs, the block's three
// LoRAMoE linears beside their frozen bases, and every activation and scratch tensor, all made before
// the timing loop.
struct ffn_case {
    index tokens, hidden, ffn, experts, rank;      // T, d, F, N, r
    const tensor<float> x, dout;                   // (T, d), (T, d)
    tensor<float> out, dx;                         // (T, d), (T, d)
    tensor<float> gate, up, act;                   // (T, F): the forward's, kept for backward
    tensor<float> dgate, dup, dact;                // (T, F): the backward's scratch
    adapted_linear gate_proj, up_proj, down_proj;  // Wg, Wu (F, d), Wd (d, F) frozen; each with N experts

    explicit ffn_case(const benchmark::State& state)
        : tokens(state.range(0)),
          hidden(state.range(1)),
          ffn(state.range(2)),
          experts(state.range(3)),
          rank(state.range(4)),
          x(random_normal({tokens, hidden}, 1, 1.0)),
          dout(random_normal({tokens, hidden}, 2, 1.0)),
          out({tokens, hidden}),
          dx({tokens, hidden}),
          gate({tokens, ffn}),
          up({tokens, ffn}),
          act({tokens, ffn}),
          dgate({tokens, ffn}),
          dup({tokens, ffn}),
          dact({tokens, ffn}),
          gate_proj(hidden, ffn, experts, rank, moe::execution_path::fused, 3),
          up_proj(hidden, ffn, experts, rank, moe::execution_path::fused, 13),
          down_proj(ffn, hidden, experts, rank, moe::execution_path::fused, 23) {}

    // The block's forward, as llama_block's MLP, with linear(l, in, y) computing y = l(in):
    //   gate = x Wg^T,  up = x Wu^T,  a = silu(gate) o up,  out = a Wd^T     (each linear + its adapter)
    template <class Linear>
    void forward(Linear&& linear) {
        linear(gate_proj, x.matrix(), gate.matrix());
        linear(up_proj, x.matrix(), up.matrix());
        swiglu_forward(cpu{}, as_const(gate.matrix()), as_const(up.matrix()), act.matrix());
        linear(down_proj, as_const(act.matrix()), out.matrix());
    }

    // Its backward, as llama_block's, with linear(l, in, dy, dx, mode) writing (or adding) dx = d l / d in:
    //   da = dout Wd,  dgate = da o up o silu'(gate),  dup = da o silu(gate),  dx = dgate Wg + dup Wu
    template <class Linear>
    void backward(Linear&& linear) {
        linear(down_proj, as_const(act.matrix()), dout.matrix(), dact.matrix(), gradient_mode::overwrite);
        swiglu_backward(cpu{}, as_const(gate.matrix()), as_const(up.matrix()), as_const(dact.matrix()),
                        dgate.matrix(), dup.matrix());
        linear(gate_proj, x.matrix(), as_const(dgate.matrix()), dx.matrix(), gradient_mode::overwrite);
        linear(up_proj, x.matrix(), as_const(dup.matrix()), dx.matrix(), gradient_mode::accumulate);
    }

    double base_flops() const {
        return 2 * bench::base_flops(tokens, hidden, ffn) + bench::base_flops(tokens, ffn, hidden);
    }
    double adapter_flops() const {
        return 2 * bench::adapter_flops(tokens, hidden, ffn, experts, rank) +
               bench::adapter_flops(tokens, ffn, hidden, experts, rank);
    }
};

}  // namespace loramoe::bench
