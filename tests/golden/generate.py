"""Golden values for the `loramoe layer` contract (include/loramoe/check/layer_case.hpp), by PyTorch.

Run with Debian's Python (torch 1.13, NumPy), from anywhere:
    /usr/bin/python3 tests/golden/generate.py
It rewrites tests/golden/layer_*.safetensors: for every case NAME, NAME.safetensors is the case in the
exact format `loramoe layer --case` reads, and NAME.expected.safetensors what PyTorch computes for it
(y, gates, lbc, grad_x, grad_lora_A, grad_lora_B, grad_router), in the case's precision. Every case
is computed in float64 from its stored inputs (an F32 case from its inputs rounded to float32), so the
only difference left in an F32 comparison is loramoe's float arithmetic.

The reference below is written from the semantics the headers document, one expert at a time:
    y      = x W0^T + b0 + sum_i g_i * (alpha / r) * B_i A_i x,      g = softmax(x W_r^T)
    Q[b,n] = sum over the real tokens t of sample b of g_n(x_t)       (padding masked out)
    I[b,n] = 1 + delta if expert_type[n] == task_type[b] else 1 - delta
    Z      = I o Q flattened (K = B*N values), lbc = var(Z) / (mean(Z)^2 + 1e-10)   (cv2)
                                                   = var(Z) / mean(Z)                 (var_over_mean)
                                                   = 0                                 (K = 1)
    L      = sum(y * grad_y) + blc_weight * lbc,   and the gradients are dL/d(input).
The safetensors files are written by hand (no safetensors package needed): an 8-byte little-endian
header length, the JSON header padded with spaces to a multiple of 8, then the tensors' bytes.
"""
import json
import os
import struct

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))

DTYPES = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, numpy array); metadata: dict of str -> str."""
    header = {"__metadata__": metadata} if metadata else {}
    offset = 0
    blobs = []
    for name, array in tensors:
        array = np.array(array, order="C")   # (np.ascontiguousarray would make a scalar 1-D)
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": DTYPES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for data in blobs:
            out.write(data)


def reference(case):
    """The LoRAMoE linear + LBC of a case (a dict of float64 tensors and settings), in float64."""
    leaves = {k: case[k].clone().requires_grad_(True) for k in ("x", "w0", "lora_A", "lora_B", "router")}
    x, w0, lora_a, lora_b, router = (leaves[k] for k in ("x", "w0", "lora_A", "lora_B", "router"))
    experts, rank = lora_a.shape[0], lora_a.shape[1]
    scaling = case["alpha"] / rank

    y = x @ w0.T
    if case["b0"] is not None:
        y = y + case["b0"]
    gates = torch.softmax(x @ router.T, dim=-1)                      # (B, S, N)
    for i in range(experts):
        y = y + gates[..., i:i + 1] * scaling * ((x @ lora_a[i].T) @ lora_b[i].T)

    mask = case["mask"].to(torch.float64)                             # (B, S)
    importance = (gates * mask[..., None]).sum(dim=1)                 # Q (B, N)
    same = case["expert_type"][None, :] == case["task_type"][:, None]
    localisation = torch.where(same, torch.tensor(1 + case["blc_alpha"], dtype=torch.float64),
                               torch.tensor(1 - case["blc_alpha"], dtype=torch.float64))
    z = (localisation * importance).flatten()
    if z.numel() == 1:
        lbc = z.sum() * 0
    elif case["blc_statistic"] == "cv2":
        lbc = z.var(unbiased=True) / (z.mean() ** 2 + 1e-10)
    else:
        lbc = z.var(unbiased=True) / z.mean()

    loss = (y * case["grad_y"]).sum() + case["blc_weight"] * lbc
    loss.backward()
    return {
        "y": y.detach(), "gates": gates.detach(), "lbc": lbc.detach(), "grad_x": x.grad,
        "grad_lora_A": lora_a.grad, "grad_lora_B": lora_b.grad, "grad_router": router.grad,
    }


def make_case(seed, samples, tokens, d_in, d_out, experts, rank, *, bias, mask, task_type, expert_type,
              alpha, blc_alpha, blc_weight, blc_statistic, precision):
    gen = torch.Generator().manual_seed(seed)

    def uniform(*shape, scale):
        values = (torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1) * scale
        # An F32 case computes from exactly what it stores.
        return values.to(precision).to(torch.float64)

    return {
        "x": uniform(samples, tokens, d_in, scale=1.0),
        "w0": uniform(d_out, d_in, scale=0.5),
        "b0": uniform(d_out, scale=0.5) if bias else None,
        "lora_A": uniform(experts, rank, d_in, scale=0.5),
        "lora_B": uniform(experts, d_out, rank, scale=0.5),
        "router": uniform(experts, d_in, scale=1.0),
        "grad_y": uniform(samples, tokens, d_out, scale=1.0),
        "mask": torch.tensor(mask, dtype=torch.int64).reshape(samples, tokens),
        "task_type": torch.tensor(task_type, dtype=torch.int64),
        "expert_type": torch.tensor(expert_type, dtype=torch.int64),
        "alpha": alpha, "r": rank, "blc_alpha": blc_alpha, "blc_weight": blc_weight,
        "blc_statistic": blc_statistic, "precision": precision,
    }


def number(value):
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def write_case(name, case):
    np_float = np.float64 if case["precision"] == torch.float64 else np.float32
    floating = lambda t: t.detach().numpy().astype(np_float)
    tensors = [("x", floating(case["x"])), ("w0", floating(case["w0"]))]
    if case["b0"] is not None:
        tensors.append(("b0", floating(case["b0"])))
    tensors += [("lora_A", floating(case["lora_A"])), ("lora_B", floating(case["lora_B"])),
                ("router", floating(case["router"])), ("grad_y", floating(case["grad_y"])),
                ("mask", case["mask"].numpy()), ("task_type", case["task_type"].numpy()),
                ("expert_type", case["expert_type"].numpy())]
    metadata = {"alpha": number(case["alpha"]), "r": str(case["r"]), "blc_alpha": number(case["blc_alpha"]),
                "blc_weight": number(case["blc_weight"]), "blc_statistic": case["blc_statistic"]}
    write_safetensors(os.path.join(HERE, name + ".safetensors"), tensors, metadata)

    expected = reference(case)
    write_safetensors(os.path.join(HERE, name + ".expected.safetensors"),
                      [(k, floating(v)) for k, v in expected.items()], {"generator": "tests/golden/generate.py"})
    return expected


CASES = {
    # Odd sizes everywhere, a bias, padded samples, custom expert types, cv2 (the official statistic).
    "layer_odd": dict(samples=2, tokens=3, d_in=13, d_out=7, experts=3, rank=5, bias=True,
                      mask=[1, 1, 0, 1, 0, 0], task_type=[1, 0], expert_type=[0, 1, 1],
                      alpha=16, blc_alpha=0.1, blc_weight=0.5, blc_statistic="cv2"),
    # One expert and one token per sample: the gates are all 1, the LBC (K = 2) has no gradient.
    "layer_single": dict(samples=2, tokens=1, d_in=4, d_out=5, experts=1, rank=3, bias=False,
                         mask=[1, 1], task_type=[0, 1], expert_type=[0],
                         alpha=6, blc_alpha=0.1, blc_weight=0.25, blc_statistic="cv2"),
    # The paper's statistic, no padding, the official expert types (first N/2 experts are type 1).
    "layer_var_over_mean": dict(samples=3, tokens=4, d_in=8, d_out=6, experts=4, rank=2, bias=False,
                                mask=[1] * 12, task_type=[0, 1, 1], expert_type=[1, 1, 0, 0],
                                alpha=8, blc_alpha=0.2, blc_weight=2.0, blc_statistic="var_over_mean"),
}


def main():
    torch.set_num_threads(1)
    for seed, (name, settings) in enumerate(sorted(CASES.items()), start=1):
        for precision, suffix in ((torch.float64, "f64"), (torch.float32, "f32")):
            case = make_case(100 * seed + (1 if precision == torch.float32 else 0), precision=precision,
                             **settings)
            expected = write_case(f"{name}_{suffix}", case)
            print(f"{name}_{suffix}: lbc = {expected['lbc'].item():.6g}, "
                  f"max|y| = {expected['y'].abs().max().item():.4g}")


if __name__ == "__main__":
    main()
