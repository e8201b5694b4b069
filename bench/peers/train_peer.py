#!/usr/bin/python3
"""The PyTorch peer of `loramoe train`: LoRAMoE fine-tuning of a HF LLaMA folder on JSONL data, on the CPU.

    /usr/bin/python3 bench/peers/train_peer.py --model DIR --data FILE --impl official|fused
                     [--steps S] [--warmup 3] [--batch-size 8] [--max-length 256] [--lr 2e-4]
                     [--experts 6] [--rank 4] [--alpha 32] [--blc-alpha 0.1] [--blc-weight 0.1]
                     [--target-modules gate_proj,up_proj,down_proj] [--dtype float32|bfloat16]
                     [--threads 2] [--seed 42]
    /usr/bin/python3 bench/peers/train_peer.py --blas-check [--threads 2]

HF transformers' LlamaForCausalLM (4.35.2 on Debian's PyTorch 1.13) loaded with from_pretrained in --dtype,
every base weight frozen, and each target linear of every layer replaced by a LoRAMoE linear in one of two
forms:
  official  the official LoRAMoE code's forward: the frozen product, the router's softmax, then one
            expert at a time, y = y + g[..., i:i+1] * B_i(A_i(dropout(x))) * scaling (dropout 0: the
            identity, as the official code makes it)
  fused     one product for every A_i and the router, the gates repeated r times over the low-rank
            activations, one product with the concatenated B
--dtype float32 (the default) holds and computes everything in float32. --dtype bfloat16 is the peer of
`loramoe train --base-dtype bfloat16`, whose frozen matrices are bf16 and whose adapters float32: the model
is loaded with torch_dtype=torch.bfloat16, so that the frozen base (embeddings, norms, every matrix,
lm_head) is held in bf16 and its products, attention and norms run in bf16 as PyTorch runs them on the
CPU (HF's RMSNorm and attention softmax go through float32 inside, as they do on any device); the
LoRAMoE adapters' parameters (A, B, the router) stay float32, being the optimizer's master weights (AdamW's
moments are float32 too), and compute on the linear's input cast to float32, gates and LBC included;
their output (the gated sum over the experts) is cast to bf16 once and added to the frozen product's.
The cross-entropy is computed in float32 from the logits cast to float32. The gradient flows back to the
base's bf16 activations through the casts.
The loss is HF's shifted cross-entropy over the target tokens plus blc_weight times the sum over the
adapted linears of the LBC: cv^2 (unbiased variance over mean^2) of each sample's gate mass per expert,
padding masked out, weighted 1 + delta where the sample's task_type is the expert's type (the first N/2
experts are type 1, as in the official code) and 1 - delta elsewhere. AdamW (betas 0.9, 0.999, eps 1e-8,
no weight decay), linear warm-up over 3 % of the steps then cosine decay, gradient clipping at 1.0: what
`loramoe train` does with its defaults.

Data as `loramoe train` reads it, with the byte tokenizer the folder's tokenizer_config.json names
(LoramoeByteTokenizer: bytes, BOS 256, EOS 257, PAD 258) and the special ids as `loramoe train` settles
them (io/tokenizer.hpp): config.json's bos_token_id, first eos_token_id and pad_token_id where it names
them (bench/make_scaled_checkpoint.py writes LLaMA-2's BOS 1 and EOS 2), else the tokenizer's; and the
plain template: BOS + instruction
(+ "\\n" + input), masked out of the loss, then output + EOS; cut to --max-length; batches right-padded.
One epoch is ceil(examples / batch) steps, each in the order `loramoe train` uses with the same --seed;
as every B starts at zero on both sides, step 1's cross-entropy is the base model's on the same batch,
and agrees with ours: a check that both train on the same tokens.

Prints one JSON object per line: the setup (versions, threads, the BLAS library loaded; with --blas-check
only that, plus a matrix product's GFLOP/s, to catch a reference BLAS, and no training, whose peak memory
the check would otherwise inflate), then one per step, then the result: real (non-padding) tokens per
second of wall time over the steps after the first --warmup, and the peak resident memory of the process
(getrusage's ru_maxrss), and of it what the process held before loading the model (the interpreter,
PyTorch and transformers).
"""
import argparse
import itertools
import json
import math
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers
from transformers import LlamaForCausalLM, get_cosine_schedule_with_warmup

from layer_peer import blas_libraries, median_ms, set_threads

BOS, EOS, PAD = 256, 257, 258  # LoramoeByteTokenizer (include/loramoe/io/byte_tokenizer.hpp)


class LoramoeLinear(torch.nn.Module):
    """A frozen linear with N LoRA experts and a softmax router beside it; the gates of the last forward
    go to `gates_sink`, for the LBC."""

    def __init__(self, base, impl, experts, rank, alpha, gates_sink):
        super().__init__()
        self.weight = base.weight  # (d_out, d_in), frozen
        self.impl, self.experts, self.rank, self.scaling = impl, experts, rank, alpha / rank
        self.gates_sink = gates_sink
        d_out, d_in = self.weight.shape
        # The official initialisation: A and the router as torch.nn.Linear, B zero; float32 whatever the
        # base's dtype (the optimizer's master weights).
        f32 = torch.float32
        a = [torch.nn.Linear(d_in, rank, bias=False, dtype=f32) for _ in range(experts)]
        router = torch.nn.Linear(d_in, experts, bias=False, dtype=f32)
        if impl == "official":
            for i in range(experts):
                setattr(self, f"lora_A{i}", a[i])
                setattr(self, f"lora_B{i}", torch.nn.Linear(rank, d_out, bias=False, dtype=f32))
                torch.nn.init.zeros_(getattr(self, f"lora_B{i}").weight)
            self.lora_route = router
            self.lora_dropout = torch.nn.Identity()
        else:
            a_router = torch.cat([m.weight.data for m in a] + [router.weight.data])  # (N r + N, d_in)
            self.a_router = torch.nn.Parameter(a_router)
            self.b_cat = torch.nn.Parameter(torch.zeros(d_out, experts * rank, dtype=f32))  # (d_out, N r)

    def forward(self, x):  # x (B, T, d_in) -> (B, T, d_out), in the base's dtype
        # float32: the adapters add into the frozen product as the official code does. bfloat16: they
        # compute on x cast to float32, and their float32 sum is cast to bf16 once, then added.
        mixed = x.dtype != torch.float32
        xa = x.float()  # x itself when float32
        if self.impl == "official":
            result = F.linear(x, self.weight)
            gates = torch.softmax(self.lora_route(xa), dim=-1, dtype=torch.float32)  # (B, T, N)
            adapter = None if mixed else result
            for i in range(self.experts):
                expert = getattr(self, f"lora_B{i}")(getattr(self, f"lora_A{i}")(self.lora_dropout(xa)))
                term = torch.unsqueeze(gates[:, :, i], -1) * expert * self.scaling
                adapter = term if adapter is None else adapter + term
            result = (result + adapter.to(result.dtype)) if mixed else adapter
        else:
            x2, xa2 = x.reshape(-1, x.shape[-1]), xa.reshape(-1, x.shape[-1])  # (B T, d_in)
            projected = F.linear(xa2, self.a_router)  # (B T, N r + N)
            low_rank, logits = projected[:, : self.experts * self.rank], projected[:, self.experts * self.rank :]
            flat_gates = torch.softmax(logits, dim=-1)  # (B T, N)
            repeated = flat_gates.repeat_interleave(self.rank, dim=1)  # (B T, N r)
            if mixed:
                adapter = torch.mm(low_rank * repeated * self.scaling, self.b_cat.t())
                result = F.linear(x2, self.weight) + adapter.to(x.dtype)
            else:
                result = torch.addmm(F.linear(x2, self.weight), low_rank * repeated * self.scaling, self.b_cat.t())
            result = result.view(*x.shape[:-1], -1)
            gates = flat_gates.view(*x.shape[:-1], self.experts)
        self.gates_sink.append(gates)
        return result


def lbc(gates, mask, task_type, expert_type, delta):
    """cv^2 of the sample-by-expert gate mass, weighted by task: gates (B, T, N), mask (B, T), task_type (B)."""
    mass = (gates * mask[..., None].to(gates.dtype)).sum(1)  # (B, N)
    weight = torch.where(task_type[:, None] == expert_type[None, :], 1.0 + delta, 1.0 - delta)
    z = (mass * weight).flatten()
    if z.numel() == 1:
        return gates.sum() * 0
    return z.var() / (z.mean() ** 2 + 1e-10)


def read_examples(path, max_length, bos=BOS, eos=EOS):
    """(ids, labels, task_type) per line, tokenized as `loramoe train` does with the byte tokenizer."""
    examples = []
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        e = json.loads(line)
        if "text" in e:
            prompt, target = [bos], list(e["text"].encode()) + [eos]
        else:
            instruction = e.get("instruction", "") + ("\n" + e["input"] if e.get("input") else "")
            prompt, target = [bos] + list(instruction.encode()), list(e.get("output", "").encode()) + [eos]
        ids = (prompt + target)[:max_length]
        labels = ([-100] * len(prompt) + target)[:max_length]
        examples.append((ids, labels, int(e.get("task_type", 0))))
    return examples


def collate(members, pad=PAD):
    """Right-padded (B, T) ids, mask and labels, and the (B) task types."""
    width = max(len(ids) for ids, _, _ in members)
    ids = torch.full((len(members), width), pad, dtype=torch.long)
    mask = torch.zeros((len(members), width), dtype=torch.long)
    labels = torch.full((len(members), width), -100, dtype=torch.long)
    for row, (i, l, _) in enumerate(members):
        ids[row, : len(i)], mask[row, : len(i)], labels[row, : len(l)] = torch.tensor(i), 1, torch.tensor(l)
    return ids, mask, labels, torch.tensor([t for _, _, t in members])


MASK64 = (1 << 64) - 1


def mix64(z):
    """splitmix64's finaliser, as include/loramoe/core/random.hpp has it."""
    z = (z + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def epoch_order(count, seed, epoch):
    """`loramoe train`'s order of the examples in an epoch (train/batching.hpp's epoch_order): Fisher-Yates
    over its counter-based generator, so that both sides see the same batches."""
    order, counter = list(range(count)), 0
    for i in range(count, 1, -1):
        bits = mix64((mix64(seed ^ mix64(epoch)) + counter) & MASK64)
        counter += 1
        j = int((bits >> 11) * 2.0**-53 * i)
        order[i - 1], order[j] = order[j], order[i - 1]
    return order


def batches(examples, batch_size, seed, pad=PAD):
    """The batches of each epoch in `loramoe train`'s order, forever."""
    for epoch in itertools.count():
        order = epoch_order(len(examples), seed, epoch)
        for start in range(0, len(order), batch_size):
            yield collate([examples[i] for i in order[start : start + batch_size]], pad)


def special_ids(model_dir):
    """(BOS, EOS, PAD) as `loramoe train` settles them: config.json's where it names them, else the byte
    tokenizer's; the folder must have the byte tokenizer."""
    tokenizer = json.loads((Path(model_dir) / "tokenizer_config.json").read_text())
    if tokenizer.get("tokenizer_class") != "LoramoeByteTokenizer":
        sys.exit(f"train_peer: {model_dir} has no LoramoeByteTokenizer (the only tokenizer this peer reads)")
    config = json.loads((Path(model_dir) / "config.json").read_text())
    eos = config.get("eos_token_id")
    if isinstance(eos, list):  # HF allows several: the first, as ours
        eos = eos[0] if eos else None
    bos = config.get("bos_token_id")
    pad = config.get("pad_token_id")
    return (BOS if bos is None else bos), (EOS if eos is None else eos), (PAD if pad is None else pad)


def setup_line(threads, blas_check, dtype):
    line = {"setup": "peer", "torch": torch.__version__, "transformers": transformers.__version__,
            "threads": threads, "dtype": dtype, "blas": ", ".join(blas_libraries()) or "none found"}
    if blas_check:
        a, b = torch.randn(512, 4096), torch.randn(4096, 4096)
        ms = median_ms(lambda: torch.mm(a, b), 5, time.perf_counter)
        line["matmul_512x4096x4096_gflops"] = round(2 * 512 * 4096 * 4096 / ms * 1e-6, 1)
    return line


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="HF LLaMA folder with the LoramoeByteTokenizer")
    parser.add_argument("--data", help="JSONL: instruction, input, output, task_type per line")
    parser.add_argument("--impl", choices=("official", "fused"))
    parser.add_argument("--steps", type=int, help="optimizer steps (default: one epoch)")
    parser.add_argument("--warmup", type=int, default=3, help="first steps left out of the tokens/s")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--experts", type=int, default=6)
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--alpha", type=float, default=32)
    parser.add_argument("--blc-alpha", type=float, default=0.1)
    parser.add_argument("--blc-weight", type=float, default=0.1)
    parser.add_argument("--target-modules", default="gate_proj,up_proj,down_proj")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                        help="the frozen base's dtype; the adapters stay float32 (see above)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--blas-check", action="store_true",
                        help="print the setup with a matrix product's GFLOP/s and stop")
    args = parser.parse_args()

    set_threads(args.threads)
    torch.manual_seed(args.seed)
    print(json.dumps(setup_line(torch.get_num_threads(), args.blas_check, args.dtype)), flush=True)
    if args.blas_check:
        return
    if not (args.model and args.data and args.impl):
        parser.error("--model, --data and --impl are needed to train")
    bos, eos, pad = special_ids(args.model)

    runtime_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Python, PyTorch, transformers
    model = LlamaForCausalLM.from_pretrained(args.model, torch_dtype=getattr(torch, args.dtype))
    model.config.use_cache = False
    for p in model.parameters():
        p.requires_grad_(False)
    gates = []  # the gates of every adapted linear in the current forward, (B, T, N) each
    targets = args.target_modules.split(",")
    adapted = 0
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if child_name in targets and isinstance(child, torch.nn.Linear):
                setattr(module, child_name, LoramoeLinear(child, args.impl, args.experts, args.rank, args.alpha, gates))
                adapted += 1
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    expert_type = torch.tensor([1] * (args.experts // 2) + [0] * (args.experts - args.experts // 2))

    examples = read_examples(args.data, args.max_length, bos, eos)
    steps = args.steps or math.ceil(len(examples) / args.batch_size)
    optimizer = torch.optim.AdamW(trainable, lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    schedule = get_cosine_schedule_with_warmup(optimizer, math.ceil(0.03 * steps), steps)
    data = batches(examples, args.batch_size, args.seed, pad)

    tokens, seconds, first = 0, 0.0, None
    for step in range(1, steps + 1):
        start = time.perf_counter()
        ids, mask, labels, task_type = next(data)
        gates.clear()
        # HF's shifted cross-entropy (mean over the target tokens), in float32 from the logits cast to it
        # (what HF 4.35 does itself when given the labels), whatever the base's dtype.
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        ce = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))
        balance = sum(lbc(g, mask, task_type, expert_type, args.blc_alpha) for g in gates) \
            if args.blc_weight else ce * 0
        loss = ce + args.blc_weight * balance
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        lr = schedule.get_last_lr()[0]
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        elapsed = time.perf_counter() - start
        report = {"step": step, "loss": round(loss.item(), 4), "ce": round(ce.item(), 4),
                  "lbc": round(float(balance), 4), "lr": lr, "grad_norm": round(grad_norm.item(), 3),
                  "tokens": int(mask.sum()), "seconds": round(elapsed, 4)}
        print(json.dumps(report), flush=True)
        first = first or report
        if step > args.warmup:
            tokens += report["tokens"]
            seconds += elapsed
    print(json.dumps({
        "impl": args.impl, "dtype": args.dtype, "steps": steps, "warmup": args.warmup,
        "batch_size": args.batch_size,
        "adapted_linears": adapted, "trainable_parameters": sum(p.numel() for p in trainable),
        "tokens": tokens, "seconds": round(seconds, 3),
        "tokens_per_s": round(tokens / seconds, 1) if seconds else None,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_model_mib": round(runtime_rss, 1),
        "first": {k: first[k] for k in ("loss", "ce", "lbc")}, "last": {k: report[k] for k in ("loss", "ce", "lbc")},
    }), flush=True)


if __name__ == "__main__":
    main()
