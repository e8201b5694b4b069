#!/usr/bin/python3
"""The PyTorch peer of bench/layer_bench.cpp: one LoRAMoE linear in float on the CPU.

    /usr/bin/python3 bench/peers/layer_peer.py --shape 512 1024 1024 6 4 [--shape ...]
                                               [--threads 2] [--clock real|cpu] [--repeats 7]
                                               [--device cpu|cuda]

For each shape (T tokens, d_in, d_out, N experts of rank r), three implementations:
  base      the frozen product alone: y = F.linear(x, W0)
  official  the official LoRAMoE forward: the base, the router's softmax, then one expert at a time,
            y = y + g[:, i:i+1] * B_i(A_i(x)) * s
  fused     one product for every A_i and the router, the gates repeated r times over the low-rank
            activations, one product with the concatenated B
each timed forward (autograd recording, as a training step does) and forward + backward (the
gradients of x and of the adapter's parameters; W0 is frozen). Debian's PyTorch 1.13 runs its
products on the system BLAS, OpenBLAS when libopenblas0 is installed.

Times are wall-clock (--clock real), or with --threads 1 the CPU time of the one thread that does
all the work (--clock cpu), which other processes on a busy machine do not inflate.

--device cuda runs the same on the GPU (PyTorch with CUDA, e.g. PyTorch 2 on a GPU machine, not
Debian's): every tensor is made there, and each timed call waits for the GPU (torch.cuda.synchronize)
before the clock is read; the setup line names the GPU and times the product there.

Prints one JSON object per line: first the setup (versions, threads, the BLAS library loaded and a
matrix product's GFLOP/s, to catch a reference BLAS), then one per case with the median time in ms
and the GFLOP/s counted as layer_bench.cpp counts them.

ffn_peer.py, the peer of the FFN block, builds its three linears from this file's LoRAMoELinear and
runs through its main().
"""
import argparse
import ctypes
import functools
import json
import math
import re
import statistics
import time

import torch
import torch.nn.functional as F


def official_forward(x, w0, a, b, router, scaling):
    y = F.linear(x, w0)
    gates = torch.softmax(F.linear(x, router), dim=-1)  # (T, N)
    for i in range(len(a)):
        y = y + gates[:, i : i + 1] * F.linear(F.linear(x, a[i]), b[i]) * scaling
    return y


def fused_forward(x, w0, a_router, b_cat, experts, rank, scaling):
    projected = F.linear(x, a_router)  # (T, N r + N): every A_i x, then the router's logits
    low_rank, logits = projected[:, : experts * rank], projected[:, experts * rank :]
    gates = torch.softmax(logits, dim=-1).repeat_interleave(rank, dim=1)  # (T, N r)
    return torch.addmm(F.linear(x, w0), low_rank * gates * scaling, b_cat.t())


def wait():
    """Waits for the GPU's queued work (nothing to wait for on the CPU)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def median_ms(step, repeats, clock, min_repeat_s=0.05):
    """Warm-up, then the median over `repeats` of the mean time of a call, in ms."""
    for _ in range(2):
        step()
    wait()
    start = clock()
    step()
    wait()
    calls = max(1, math.ceil(min_repeat_s / max(clock() - start, 1e-6)))
    times = []
    for _ in range(repeats):
        start = clock()
        for _ in range(calls):
            step()
        wait()
        times.append((clock() - start) / calls)
    return 1e3 * statistics.median(times)


def blas_libraries():
    """The BLAS libraries this process has loaded (torch loads the system BLAS with itself)."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if re.search(r"/lib(open)?blas[^/]*$", line.strip())}
    return sorted(paths)


def set_threads(threads):
    """torch.set_num_threads does not reach OpenBLAS, which starts as many threads as cores: set both."""
    torch.set_num_threads(threads)
    for path in blas_libraries():
        if "libopenblas" in path:
            ctypes.CDLL(path).openblas_set_num_threads(threads)


def use_device(device):
    """Makes `device` where every new tensor goes."""
    if device == "cpu":
        return
    if not torch.cuda.is_available():
        raise SystemExit(f"layer_peer.py: --device cuda, but this PyTorch ({torch.__version__}) sees no CUDA device")
    if hasattr(torch, "set_default_device"):  # PyTorch 2
        torch.set_default_device(device)
    else:
        torch.set_default_tensor_type(torch.cuda.FloatTensor)


def setup(clock, device):
    a, b = torch.randn(512, 4096), torch.randn(4096, 4096)
    ms = median_ms(lambda: torch.mm(a, b), 5, clock)
    return {
        "setup": "peer",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "blas": "cuBLAS" if device == "cuda" else ", ".join(blas_libraries()) or "none found",
        "matmul_512x4096x4096_gflops": round(2 * 512 * 4096 * 4096 / ms * 1e-6, 1),
    }


def kaiming_uniform(rows, cols):
    """The initialisation of torch.nn.Linear's weight, as the official code's A_i, router and W0 have."""
    return torch.empty(rows, cols).uniform_(-(cols**-0.5), cols**-0.5)


IMPLEMENTATIONS = ("base", "official", "fused")


class LoRAMoELinear:
    """A frozen W0 (d_out, d_in) with N experts of rank r and a router beside it, held both as the
    official code holds them (A_i, B_i, the router) and fused (A_cat with the router, B_cat): the
    implementation named `impl` is linear(impl, x), its trainable tensors parameters(impl)."""

    def __init__(self, d_in, d_out, experts, rank):
        self.experts, self.rank, self.scaling = experts, rank, 32 / rank  # lora_alpha = 32
        self.w0 = kaiming_uniform(d_out, d_in)  # frozen
        self.a = [kaiming_uniform(rank, d_in).requires_grad_() for _ in range(experts)]
        # small B_i: the official B = 0 would make the experts add nothing
        self.b = [(0.01 * torch.randn(d_out, rank)).requires_grad_() for _ in range(experts)]
        self.router = kaiming_uniform(experts, d_in).requires_grad_()
        self.a_router = torch.cat(self.a + [self.router]).detach().requires_grad_()  # (N r + N, d_in)
        self.b_cat = torch.cat(self.b, dim=1).detach().requires_grad_()  # (d_out, N r)

    def __call__(self, impl, x):
        if impl == "base":
            return F.linear(x, self.w0)
        if impl == "official":
            return official_forward(x, self.w0, self.a, self.b, self.router, self.scaling)
        return fused_forward(x, self.w0, self.a_router, self.b_cat, self.experts, self.rank, self.scaling)

    def parameters(self, impl):
        if impl == "base":
            return []
        if impl == "official":
            return [*self.a, *self.b, self.router]
        return [self.a_router, self.b_cat]


def base_flops(tokens, d_in, d_out):
    """One frozen product, x W0^T or dy W0, as bench/bench_support.hpp counts it."""
    return 2.0 * tokens * d_in * d_out


def adapter_flops(tokens, d_in, d_out, experts, rank):
    """The adapter's forward products, as bench/bench_support.hpp counts them; its backward is twice that."""
    return 2.0 * tokens * d_in * (experts * rank + experts) + 2.0 * tokens * experts * rank * d_out


def passes(impl, forward, inputs, dy, base, adapter):
    """(implementation, pass, step, FLOPs) of the forward and the forward + backward of one implementation;
    the base implementation is credited with the base's FLOPs only, the others with the adapter's too."""
    adapter = 0.0 if impl == "base" else adapter
    yield impl, "fwd", forward, base + adapter
    yield impl, "fwdbwd", lambda: torch.autograd.grad(forward(), inputs, dy), 2 * base + 3 * adapter


def cases(tokens, d_in, d_out, experts, rank):
    """(implementation, pass, step, FLOPs) for one shape; FLOPs as in layer_bench.cpp."""
    x = torch.randn(tokens, d_in, requires_grad=True)
    dy = torch.randn(tokens, d_out)
    linear = LoRAMoELinear(d_in, d_out, experts, rank)
    base, adapter = base_flops(tokens, d_in, d_out), adapter_flops(tokens, d_in, d_out, experts, rank)
    for impl in IMPLEMENTATIONS:
        inputs = [x, *linear.parameters(impl)]
        yield from passes(impl, functools.partial(linear, impl, x), inputs, dy, base, adapter)


def main(doc=__doc__, cases=cases, dims=("T", "D_IN", "D_OUT", "N", "R")):
    """Times every case of every --shape; `cases(*shape)` gives (implementation, pass, step, FLOPs)."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--shape", nargs=5, type=int, action="append", required=True,
                        metavar=dims, help="a shape to time; repeat for more")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=("real", "cpu"), default="real")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    if args.clock == "cpu" and (args.threads != 1 or args.device != "cpu"):
        parser.error("--clock cpu measures one CPU thread: it needs --threads 1 and --device cpu")

    set_threads(args.threads)
    use_device(args.device)
    clock = time.perf_counter if args.clock == "real" else time.thread_time
    torch.manual_seed(0)
    print(json.dumps(setup(clock, args.device)), flush=True)
    for shape in args.shape:
        for impl, pass_, step, flops in cases(*shape):
            ms = median_ms(step, args.repeats, clock)
            print(json.dumps({"impl": impl, "pass": pass_, "shape": shape, "ms": round(ms, 4),
                              "gflops": round(flops / ms * 1e-6, 1)}), flush=True)


if __name__ == "__main__":
    main()
