#!/usr/bin/python3
"""Writes a random LLaMA checkpoint of any size (LLaMA-2-7B's by default) and instruction data for it.

    /usr/bin/python3 bench/make_scaled_checkpoint.py [--model DIR] [--force] [--layers 32] [--hidden 4096]
        [--ffn 11008] [--heads 32] [--vocab 32000] [--dtype bfloat16] [--shard-bytes 2e9] [--seed 0]
        [--data FILE --examples N --length L]

--model DIR: the folder as HF transformers' save_pretrained writes a LlamaForCausalLM in bfloat16 with
sharding: config.json, model-0000i-of-0000n.safetensors (BF16, about --shard-bytes each, tensors in
state_dict order; F16 or F32 with --dtype float16 or float32), model.safetensors.index.json, and a
tokenizer_config.json naming the
LoramoeByteTokenizer (loramoe's vocabulary-free tokenizer: bytes 0-255, so that no tokenizer.model is
needed; the model's vocabulary may be larger). The special ids are LLaMA's (BOS 1, EOS 2, in
config.json). Norm weights are 1; matrices hold random bfloat16 values drawn from N(0, 0.02^2), except
lm_head's rows past the byte tokenizer's 259 ids, which are zero so that greedy generation only picks
ids the byte tokenizer can decode (the products are the same size; only the values differ). The values
are bfloat16's in every --dtype (F16 holds them all but the smallest exactly, F32 all of them): a
model loaded in bfloat16 from either is the BF16 one.
A folder already complete with this shape (its .complete marker) is kept; another shape is refused
unless --force. Nothing is downloaded; about 25 s of numpy per 7e9 values, plus the disk.

--data FILE: --examples instruction examples of exactly --length tokens each under the byte tokenizer
and the plain template (BOS + instruction, then output + EOS), so that batches carry no padding;
task_type alternates 0 and 1 (the LBC's two groups).

Debian's /usr/bin/python3 (numpy); prints one line per thing written.
"""
import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from instruction_text import examples

BYTE_IDS = 259  # the LoramoeByteTokenizer's ids (include/loramoe/io/byte_tokenizer.hpp)
CHUNK = 16 << 20  # values generated at once: 32 MiB of bfloat16, so Python never holds much
# --dtype: the safetensors name, the element type, and 1.0's bits
DTYPES = {"bfloat16": ("BF16", np.uint16, 0x3F80), "float16": ("F16", np.float16, 1.0),
          "float32": ("F32", np.uint32, 0x3F800000)}


def config_of(args):
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": args.hidden,
            "intermediate_size": args.ffn, "num_hidden_layers": args.layers,
            "num_attention_heads": args.heads, "num_key_value_heads": args.heads, "vocab_size": args.vocab,
            "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
            "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": args.dtype,
            "bos_token_id": 1, "eos_token_id": 2}


def tensors(args):
    """(name, shape, kind) in LlamaForCausalLM's state_dict order; kind: "matrix", "norm" or "head"."""
    d, f, v = args.hidden, args.ffn, args.vocab
    yield "model.embed_tokens.weight", (v, d), "matrix"
    for l in range(args.layers):
        p = f"model.layers.{l}."
        for proj in "qkvo":
            yield f"{p}self_attn.{proj}_proj.weight", (d, d), "matrix"
        yield f"{p}mlp.gate_proj.weight", (f, d), "matrix"
        yield f"{p}mlp.up_proj.weight", (f, d), "matrix"
        yield f"{p}mlp.down_proj.weight", (d, f), "matrix"
        yield f"{p}input_layernorm.weight", (d,), "norm"
        yield f"{p}post_attention_layernorm.weight", (d,), "norm"
    yield "model.norm.weight", (d,), "norm"
    yield "lm_head.weight", (v, d), "head"


def write_values(f, shape, kind, rng, table, dtype):
    """Streams one tensor's values (table's type) into f, CHUNK values at a time."""
    count = int(np.prod(shape))
    if kind == "norm":
        f.write(np.full(count, DTYPES[dtype][2], table.dtype).tobytes())  # 1.0
        return
    # Past the byte ids, lm_head is zero (see the top); the embedding stays random everywhere.
    random_count = min(count, BYTE_IDS * shape[1]) if kind == "head" else count
    for begin in range(0, random_count, CHUNK):
        # A random 16-bit index into a table of 65536 normal draws: a normal sample at numpy's
        # integer speed (about 4x faster than standard_normal, with no float conversion).
        f.write(table[rng.integers(0, 1 << 16, min(CHUNK, random_count - begin), dtype=np.uint16)].tobytes())
    zeros = np.zeros(min(CHUNK, count - random_count), table.dtype)
    for begin in range(random_count, count, CHUNK):
        f.write(zeros[:min(CHUNK, count - begin)].tobytes())


def header_of(entries, dtype):
    """The safetensors header: its JSON padded with spaces to 8 bytes, after its length."""
    header, offset = {}, 0
    name_of, element = DTYPES[dtype][0], np.dtype(DTYPES[dtype][1]).itemsize
    for name, shape, _ in entries:
        size = element * int(np.prod(shape))
        header[name] = {"dtype": name_of, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text


def write_atomically(path, write):
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as f:
        write(f)
    os.replace(temporary, path)


def write_model(args):
    folder, marker = args.model, args.model / ".complete"
    config = config_of(args)
    if marker.is_file() and not args.force:
        if json.loads(marker.read_text()) == config:
            print(f"model: {folder} is already complete with this shape; kept (--force writes it again)")
            return
        sys.exit(f"make_scaled_checkpoint: {folder} holds a model of another shape; pass --force to replace it "
                 "or choose another folder")
    if folder.exists():
        shutil.rmtree(folder)  # an unfinished or replaced one: no stale shards may stay behind
    folder.mkdir(parents=True)
    start = time.perf_counter()

    # HF's sharding: tensors in order, a new shard when the next would pass the limit.
    element = np.dtype(DTYPES[args.dtype][1]).itemsize
    shards, filled = [[]], 0
    for entry in tensors(args):
        size = element * int(np.prod(entry[1]))
        if shards[-1] and filled + size > args.shard_bytes:
            shards, filled = shards + [[]], 0
        shards[-1].append(entry)
        filled += size

    rng = np.random.default_rng(args.seed)
    bits = (rng.standard_normal(1 << 16, dtype=np.float32) * 0.02).view(np.uint32)
    table = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)  # rounded to nearest even
    if args.dtype == "float32":  # the same values: a float32's bits are its bfloat16's, then zeros
        table = table.astype(np.uint32) << 16
    elif args.dtype == "float16":
        table = (table.astype(np.uint32) << 16).view(np.float32).astype(np.float16)
    weight_map, total = {}, 0
    for i, entries in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"

        def write(f):
            f.write(header_of(entries, args.dtype))
            for _, shape, kind in entries:
                write_values(f, shape, kind, rng, table, args.dtype)

        write_atomically(folder / name, write)
        for tensor, shape, _ in entries:
            weight_map[tensor] = name
            total += element * int(np.prod(shape))
        print(f"model: wrote {name} ({(folder / name).stat().st_size / 1e9:.2f} GB, "
              f"{time.perf_counter() - start:.0f} s so far)", flush=True)

    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    for path, value in ((folder / "model.safetensors.index.json", index), (folder / "config.json", config),
                        (folder / "tokenizer_config.json", {"tokenizer_class": "LoramoeByteTokenizer"})):
        write_atomically(path, lambda f: f.write((json.dumps(value, indent=2) + "\n").encode()))
    marker.write_text(json.dumps(config) + "\n")  # last: its presence means every file above is whole
    print(f"model: {folder}, {total / 1e9:.2f} GB of {args.dtype} in {len(shards)} shards, "
          f"{total // element:,} parameters, {time.perf_counter() - start:.0f} s")


def write_data(args):
    lines = [json.dumps(e) + "\n" for e in examples(args.examples, args.length, args.seed, alternate_tasks=True)]
    args.data.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(args.data, lambda f: f.write("".join(lines).encode()))
    print(f"data: {args.data}, {args.examples} examples of {args.length} tokens")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="write the checkpoint into this folder")
    parser.add_argument("--force", action="store_true", help="write the model even when it is complete")
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=4096)
    parser.add_argument("--ffn", type=int, default=11008)
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--dtype", choices=DTYPES, default="bfloat16", help="of the safetensors (same values)")
    parser.add_argument("--shard-bytes", type=float, default=2e9, help="a shard's size at most (one tensor more)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, help="write instruction data (JSONL) to this file")
    parser.add_argument("--examples", type=int, default=4)
    parser.add_argument("--length", type=int, default=128, help="tokens per example, BOS and EOS included")
    args = parser.parse_args()
    if args.hidden % args.heads or (args.hidden // args.heads) % 2:
        parser.error(f"hidden = {args.hidden} needs an even head size with {args.heads} heads")
    if args.vocab < BYTE_IDS:
        parser.error(f"--vocab must hold the byte tokenizer's {BYTE_IDS} ids")
    if args.length < 4:
        parser.error("--length must be at least 4")
    if not args.model and not args.data:
        parser.error("nothing to do: give --model, --data or both")
    if args.model:
        write_model(args)
    if args.data:
        write_data(args)


if __name__ == "__main__":
    main()
