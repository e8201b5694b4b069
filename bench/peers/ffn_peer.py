#!/usr/bin/python3
"""The PyTorch peer of bench/ffn_bench.cpp: LLaMA's FFN block, LoRAMoE on gate, up and down, in float, CPU.

    /usr/bin/python3 bench/peers/ffn_peer.py --shape 512 1024 2816 6 4 [--shape ...]
                                             [--threads 2] [--clock real|cpu] [--repeats 7]

For each shape (T tokens, d model, F ffn, N experts of rank r on each linear), the block
    out = down(silu(gate(x)) * up(x))        gate, up: d -> F; down: F -> d
with each of its three linears one of layer_peer.py's implementations:
  base      the frozen products alone: F.linear(x, W0)
  official  the official LoRAMoE forward: the base, the router's softmax, then one expert at a time
  fused     one product for every A_i and the router, one with the concatenated B
each timed forward (autograd recording) and forward + backward (the gradients of x and of the three
adapters' parameters; the W0 are frozen). Threads, clocks and the output (one JSON object per line:
the setup, then one per case with the median ms and the GFLOP/s counted as ffn_bench.cpp counts them)
are layer_peer.py's.
"""
import functools

import torch
import torch.nn.functional as F

from layer_peer import IMPLEMENTATIONS, LoRAMoELinear, adapter_flops, base_flops, main, passes


def cases(tokens, hidden, ffn, experts, rank):
    """(implementation, pass, step, FLOPs) for one shape; FLOPs as in ffn_bench.cpp (SwiGLU not counted)."""
    x = torch.randn(tokens, hidden, requires_grad=True)
    dy = torch.randn(tokens, hidden)
    gate, up = LoRAMoELinear(hidden, ffn, experts, rank), LoRAMoELinear(hidden, ffn, experts, rank)
    down = LoRAMoELinear(ffn, hidden, experts, rank)
    base = 2 * base_flops(tokens, hidden, ffn) + base_flops(tokens, ffn, hidden)
    adapter = (2 * adapter_flops(tokens, hidden, ffn, experts, rank)
               + adapter_flops(tokens, ffn, hidden, experts, rank))

    def block(impl):
        return down(impl, F.silu(gate(impl, x)) * up(impl, x))

    for impl in IMPLEMENTATIONS:
        inputs = [x, *gate.parameters(impl), *up.parameters(impl), *down.parameters(impl)]
        yield from passes(impl, functools.partial(block, impl), inputs, dy, base, adapter)


if __name__ == "__main__":
    main(__doc__, cases, ("T", "D", "F", "N", "R"))
