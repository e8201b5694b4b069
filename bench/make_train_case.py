#!/usr/bin/python3
"""Makes the training benchmark's case: a random-initialised LLaMA folder and JSONL instruction data.

    /usr/bin/python3 bench/make_train_case.py --out DIR [--layers 12] [--hidden 768] [--ffn 2048]
                                              [--heads HIDDEN/64] [--examples 160] [--length 256] [--seed 0]

Writes, with nothing downloaded:
  DIR/model/        config.json and model.safetensors (float32) as HF transformers' save_pretrained
                    writes them for a LlamaForCausalLM with its own random initialisation, and a
                    tokenizer_config.json naming the LoramoeByteTokenizer (bytes 0-255, BOS 256, EOS 257,
                    PAD 258; vocabulary 259), which both `loramoe train` and bench/peers/train_peer.py read
  DIR/train.jsonl   --examples instruction examples of exactly --length tokens each under the byte
                    tokenizer and the plain template (BOS + instruction, then output + EOS: the
                    instruction and output have --length - 2 bytes together), so that batches carry no
                    padding and every step processes batch x length real tokens; the prompt takes 1/8
                    to 1/2 of each; task_type 0 and 1 drawn at random

Prints one JSON line describing the case. Debian's /usr/bin/python3 (PyTorch 1.13, transformers 4.35.2).
"""
import argparse
import json
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from instruction_text import examples

BOS, EOS, PAD, VOCAB = 256, 257, 258, 259  # the LoramoeByteTokenizer's ids (include/loramoe/io/byte_tokenizer.hpp)

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--ffn", type=int, default=2048)
    parser.add_argument("--heads", type=int, help="attention heads (default: hidden / 64)")
    parser.add_argument("--examples", type=int, default=160)
    parser.add_argument("--length", type=int, default=256, help="tokens per example, BOS and EOS included")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    heads = args.heads or max(1, args.hidden // 64)
    if args.hidden % heads or (args.hidden // heads) % 2:
        parser.error(f"hidden = {args.hidden} needs an even head size with {heads} heads")
    if args.length < 4:
        parser.error("--length must be at least 4")

    torch.manual_seed(args.seed)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=args.hidden, intermediate_size=args.ffn,
                         num_hidden_layers=args.layers, num_attention_heads=heads, num_key_value_heads=heads,
                         max_position_embeddings=max(2048, args.length), bos_token_id=BOS, eos_token_id=EOS,
                         pad_token_id=PAD, tie_word_embeddings=False, torch_dtype="float32")
    model_dir = args.out / "model"
    LlamaForCausalLM(config).save_pretrained(model_dir, safe_serialization=True)
    (model_dir / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "LoramoeByteTokenizer"}) + "\n")

    data = args.out / "train.jsonl"
    with data.open("w") as f:
        for example in examples(args.examples, args.length, args.seed):
            f.write(json.dumps(example) + "\n")
    print(json.dumps({"model": str(model_dir), "data": str(data), "layers": args.layers, "hidden": args.hidden,
                      "ffn": args.ffn, "heads": heads, "vocab": VOCAB, "examples": args.examples,
                      "tokens_per_example": args.length}))


if __name__ == "__main__":
    main()
