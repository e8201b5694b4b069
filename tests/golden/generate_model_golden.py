"""Golden values for the model tests, computed by HuggingFace transformers' LlamaForCausalLM,
MistralForCausalLM and Qwen2ForCausalLM.

Run with Debian's Python (torch 1.13) and transformers 4.44 in a virtual environment that sees it:
    /usr/bin/python3 -m venv --system-site-packages /tmp/hf && /tmp/hf/bin/pip install transformers==4.44.2
    /tmp/hf/bin/python tests/golden/generate_model_golden.py
It rewrites tests/golden/model_*/. The LoRAMoE part below is written here from the paper and the
official code's semantics (dense softmax router per adapted linear, experts added as
g_i * (alpha/r) * B_i A_i x, LBC = cv^2 of I o Q with padding masked out of Q).

HF computes RoPE's frequencies and angles in float32; the script recomputes them in float64 with HF's
own functions (loramoe computes them exactly in double), after checking that they agree with HF's to
float32's precision. HF still computes RMSNorm and the attention softmax in float32 for a float64
model, so the F64 goldens agree with loramoe to about 1e-6, not 1e-12.

A query that may see no key (a left-padded position) attends uniformly to all keys, as in HF 4.30 (the
official LoRAMoE code's version) and HF >= 4.40: the convention loramoe follows.
"""
import json
import os
import shutil
import types

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
import transformers
import transformers.modeling_rope_utils as rope_utils
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

assert transformers.__version__.startswith("4.44"), "run with transformers 4.44 (see the top)"

HERE = os.path.dirname(os.path.abspath(__file__))


class LoramoeLinear(torch.nn.Module):
    def __init__(self, base, experts, rank, alpha, gen, dtype):
        super().__init__()
        self.base = base
        din, dout = base.in_features, base.out_features
        rnd = lambda *s, scale: torch.nn.Parameter((torch.randn(*s, generator=gen, dtype=torch.float64) * scale).to(dtype))
        self.A = torch.nn.ParameterList([rnd(rank, din, scale=din ** -0.5) for _ in range(experts)])
        self.B = torch.nn.ParameterList([rnd(dout, rank, scale=0.3) for _ in range(experts)])
        self.route = rnd(experts, din, scale=din ** -0.5)
        self.scaling = alpha / rank
        self.gates = None

    def forward(self, x):
        y = self.base(x)
        self.gates = torch.softmax(F.linear(x, self.route), dim=-1)
        for i in range(len(self.A)):
            y = y + self.gates[..., i:i + 1] * F.linear(F.linear(x, self.A[i]), self.B[i]) * self.scaling
        return y


def lbc(gates, mask, task_types, expert_types, delta, statistic):
    q = (gates * mask[..., None].to(gates.dtype)).sum(1)
    same = task_types[:, None] == expert_types[None, :]
    z = (q * torch.where(same, 1.0 + delta, 1.0 - delta).to(gates.dtype)).flatten()
    if z.numel() == 1:
        return gates.sum() * 0
    return z.var() / (z.mean() ** 2 + 1e-10) if statistic == "cv2" else z.var() / z.mean()


def exact_default_frequencies(config, device=None, seq_len=None, **kwargs):
    """HF's _compute_default_rope_parameters in float64."""
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return 1.0 / (config.rope_theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)), 1.0


def exact_rope(model, dtype, check=True):
    """Replaces every rotary table of `model` by the same one computed in float64 (checked against HF's
    float32 one unless the model went through bfloat16, which rounds it)."""
    rope_utils._compute_default_rope_parameters = exact_default_frequencies  # HF's scalings call it by name
    rope_utils.ROPE_INIT_FUNCTIONS["default"] = exact_default_frequencies
    for module in model.modules():
        if not hasattr(module, "inv_freq"):
            continue
        assert getattr(module, "attention_scaling", 1.0) == 1.0
        if hasattr(module, "rope_init_fn"):  # Llama: the scaled frequencies, by HF's own functions
            exact, _ = rope_utils.ROPE_INIT_FUNCTIONS[module.rope_type](module.config, "cpu")
        else:  # Mistral, Qwen2: unscaled
            exact = 1.0 / (module.base ** (torch.arange(0, module.dim, 2, dtype=torch.float64) / module.dim))
        assert not check or torch.allclose(exact, module.inv_freq.double(), rtol=1e-6, atol=0), (exact, module.inv_freq)
        if hasattr(module, "_set_cos_sin_cache"):  # Qwen2: a table by position
            module.inv_freq = exact
            module._set_cos_sin_cache(module.max_position_embeddings, "cpu", dtype)
        else:  # Llama, Mistral: the angles of the position ids, computed in forward
            module.exact_inv_freq = exact

            def forward(self, x, position_ids):
                angles = position_ids[..., None].double() * self.exact_inv_freq
                angles = torch.cat((angles, angles), dim=-1)
                return angles.cos().to(x.dtype), angles.sin().to(x.dtype)

            module.forward = types.MethodType(forward, module)


def make_case(name, dtype, config, adapter, batch, seed, model_type="llama"):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    torch.set_default_dtype(dtype)
    hf_config = transformers.CONFIG_MAPPING[model_type](**config, attn_implementation="eager")
    model = AutoModelForCausalLM.from_config(hf_config).to(dtype)
    with torch.no_grad():   # weights of a trained model's scale, not HF's tiny init
        for n, p in model.named_parameters():
            if "norm" in n:
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
            else:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * p.shape[-1] ** -0.5)
    exact_rope(model, dtype)
    out = os.path.join(HERE, name)
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(os.path.join(out, "model"), safe_serialization=True)

    modules = {}
    for l, layer in enumerate(model.model.layers):
        for parent, names in ((layer.self_attn, ("q_proj", "k_proj", "v_proj", "o_proj")),
                              (layer.mlp, ("gate_proj", "up_proj", "down_proj"))):
            for m in names:
                if m in adapter["target_modules"]:
                    wrapped = LoramoeLinear(getattr(parent, m), adapter["lora_nums"], adapter["r"], adapter["lora_alpha"], gen, dtype)
                    setattr(parent, m, wrapped)
                    kind = "self_attn" if parent is layer.self_attn else "mlp"
                    modules[f"base_model.model.model.layers.{l}.{kind}.{m}"] = wrapped
    for p in model.parameters():
        p.requires_grad_(False)
    tensors = {}
    for prefix, mod in modules.items():
        for i, (a, b) in enumerate(zip(mod.A, mod.B)):
            tensors[f"{prefix}.lora_A{i}.weight"], tensors[f"{prefix}.lora_B{i}.weight"] = a, b
        tensors[f"{prefix}.lora_route.weight"] = mod.route
    for t in tensors.values():
        t.requires_grad_(True)

    ids, mask, labels = (torch.tensor(batch[k]) for k in ("input_ids", "attention_mask", "labels"))
    task_types = torch.tensor(batch["task_types"])
    n = adapter["lora_nums"]
    expert_types = torch.tensor(adapter.get("expert_types", [1] * (n // 2) + [0] * (n - n // 2)))
    result = model(input_ids=ids, attention_mask=mask, labels=labels)
    ce = result.loss
    lb = sum(lbc(m.gates, mask, task_types, expert_types, adapter["blc_alpha"], adapter.get("blc_statistic", "cv2"))
             for m in modules.values())
    loss = ce + adapter["blc_weight"] * lb
    loss.backward()

    os.makedirs(os.path.join(out, "adapter"))
    with open(os.path.join(out, "adapter", "adapter_config.json"), "w") as f:
        json.dump(adapter, f, indent=1)
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, os.path.join(out, "adapter", "adapter_model.safetensors"))
    save_file({k: torch.tensor(v) for k, v in batch.items()}, os.path.join(out, "batch.safetensors"))
    expected = {"loss": loss.detach().reshape(()), "ce_loss": ce.detach().reshape(()), "lbc_loss": lb.detach().reshape(()),
                "logits": result.logits.detach()}
    for k, v in tensors.items():
        expected["grad." + k] = v.grad.detach()
    save_file({k: v.contiguous() for k, v in expected.items()}, os.path.join(out, "expected.safetensors"))


def make_bf16_sharded(name, seed):
    """A BF16 checkpoint in several shards, and the float32 logits of its (bf16-rounded) weights."""
    torch.set_default_dtype(torch.float32)
    gen = torch.Generator().manual_seed(seed)
    config = dict(vocab_size=48, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False)
    model = LlamaForCausalLM(LlamaConfig(**config))
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen) if "norm" in n else torch.randn(p.shape, generator=gen) * p.shape[-1] ** -0.5)
    out = os.path.join(HERE, name)
    shutil.rmtree(out, ignore_errors=True)
    model.to(torch.bfloat16).save_pretrained(os.path.join(out, "model"), safe_serialization=True, max_shard_size="8KB")
    model = model.to(torch.float32)   # the bf16-rounded weights, computed in float32
    exact_rope(model, torch.float32, check=False)
    ids = torch.randint(0, 48, (2, 7), generator=gen)
    mask = torch.ones(2, 7, dtype=torch.int64)
    mask[1, 5:] = 0
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits
    save_file({"input_ids": ids, "attention_mask": mask, "logits": logits.contiguous()}, os.path.join(out, "expected.safetensors"))


def main():
    make_case("model_f64_gqa", torch.float64,
              dict(vocab_size=40, hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False,
                   max_position_embeddings=32),
              dict(peft_type="LORA", task_type="CAUSAL_LM", r=2, lora_alpha=8.0, lora_dropout=0.0, lora_nums=3,
                   blc_alpha=0.1, blc_weight=0.5, target_modules=["q_proj", "v_proj", "gate_proj", "up_proj", "down_proj"],
                   bias="none"),
              dict(input_ids=[[3, 17, 22, 9, 30, 1, 5], [12, 8, 39, 2, 2, 0, 0]],
                   attention_mask=[[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]],
                   labels=[[-100, -100, 22, 9, 30, 1, 5], [-100, 8, 39, 2, 2, -100, -100]],
                   task_types=[1, 0]),
              seed=11)
    make_case("model_f32_tied_left_padded", torch.float32,
              dict(vocab_size=33, hidden_size=16, intermediate_size=40, num_hidden_layers=2, num_attention_heads=2,
                   num_key_value_heads=1, rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=True,
                   attention_bias=True, max_position_embeddings=32),
              dict(peft_type="LORA", task_type="CAUSAL_LM", r=1, lora_alpha=4.0, lora_dropout=0.0, lora_nums=4,
                   blc_alpha=0.25, blc_weight=0.1, blc_statistic="var_over_mean",
                   target_modules=["gate_proj", "up_proj", "down_proj"], bias="none"),
              dict(input_ids=[[0, 0, 4, 19, 7, 31, 2], [5, 6, 7, 8, 9, 10, 11], [1, 2, 3, 0, 0, 0, 0]],
                   attention_mask=[[0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0, 0]],
                   labels=[[-100, -100, -100, 19, 7, 31, 2], [-100, 6, 7, 8, 9, 10, 11], [-100, 2, 3, -100, -100, -100, -100]],
                   task_types=[0, 1, 1]),
              seed=12)
    make_bf16_sharded("model_bf16_sharded", seed=13)
    # Llama 3.1/3.2: rope_scaling llama3 with all three bands (theta 100, head_dim 8: wavelengths 6.3 kept,
    # 20 and 63 interpolated, 199 stretched), tied head, one kv head, adapters on all seven linears
    make_case("model_llama3_f64", torch.float64,
              dict(vocab_size=40, hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=2,
                   num_key_value_heads=1, rms_norm_eps=1e-5, rope_theta=100.0, tie_word_embeddings=True,
                   max_position_embeddings=256,
                   rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                     original_max_position_embeddings=64)),
              dict(peft_type="LORA", task_type="CAUSAL_LM", r=2, lora_alpha=4.0, lora_dropout=0.0, lora_nums=2,
                   blc_alpha=0.1, blc_weight=0.2,
                   target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                   bias="none"),
              dict(input_ids=[[3, 17, 22, 9, 30, 1, 5, 8, 12, 39, 4, 6], [12, 8, 39, 2, 2, 7, 21, 33, 14, 0, 0, 0]],
                   attention_mask=[[1] * 12, [1] * 9 + [0] * 3],
                   labels=[[-100, -100, 22, 9, 30, 1, 5, 8, 12, 39, 4, 6], [-100, 8, 39, 2, 2, 7, 21, 33, 14, -100, -100, -100]],
                   task_types=[1, 0]),
              seed=21)
    # linear RoPE scaling, given with the old key "type"
    make_case("model_llama_linear_f32", torch.float32,
              dict(vocab_size=36, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=4, rms_norm_eps=1e-5, rope_theta=100.0, tie_word_embeddings=False,
                   max_position_embeddings=64, rope_scaling=dict(type="linear", factor=2.0)),
              dict(peft_type="LORA", task_type="CAUSAL_LM", r=2, lora_alpha=4.0, lora_dropout=0.0, lora_nums=2,
                   blc_alpha=0.1, blc_weight=0.2, target_modules=["q_proj", "k_proj", "down_proj"], bias="none"),
              dict(input_ids=[[3, 17, 22, 9, 30, 1, 5, 8, 12, 35]], attention_mask=[[1] * 10],
                   labels=[[-100, 17, 22, 9, 30, 1, 5, 8, 12, 35]], task_types=[0]),
              seed=22)
    # Qwen2: biases on q, k, v (not o), GQA, tied head (as Qwen2.5's small models), no sliding window
    make_case("model_qwen2_f64", torch.float64,
              dict(vocab_size=48, hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=1000.0, tie_word_embeddings=True,
                   max_position_embeddings=64, use_sliding_window=False),
              dict(peft_type="LORA", task_type="CAUSAL_LM", r=2, lora_alpha=8.0, lora_dropout=0.0, lora_nums=3,
                   blc_alpha=0.1, blc_weight=0.5, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"],
                   bias="none"),
              dict(input_ids=[[3, 17, 22, 9, 30, 1, 5], [12, 8, 47, 2, 2, 0, 0]],
                   attention_mask=[[1] * 7, [1] * 5 + [0] * 2],
                   labels=[[-100, -100, 22, 9, 30, 1, 5], [-100, 8, 47, 2, 2, -100, -100]],
                   task_types=[1, 0]),
              seed=23, model_type="qwen2")
    # Mistral: a sliding window of 3 keys over 8 positions, head_dim 8 with hidden 16 and 4 heads, a
    # left-padded and a right-padded sample. In float32: a float64 HF model turns the queries that see no
    # key into NaN (its mask's float64 minimum becomes -inf in the float32 softmax).
    make_case("model_mistral_f32", torch.float32,
              dict(vocab_size=40, hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, head_dim=8, rms_norm_eps=1e-5, rope_theta=100.0, tie_word_embeddings=False,
                   max_position_embeddings=64, sliding_window=3),
              dict(peft_type="LORA", task_type="CAUSAL_LM", r=2, lora_alpha=4.0, lora_dropout=0.0, lora_nums=2,
                   blc_alpha=0.1, blc_weight=0.3, target_modules=["q_proj", "v_proj", "o_proj", "up_proj"], bias="none"),
              dict(input_ids=[[3, 17, 22, 9, 30, 1, 5, 8], [0, 0, 12, 8, 39, 2, 2, 7], [5, 6, 7, 8, 9, 0, 0, 0]],
                   attention_mask=[[1] * 8, [0, 0] + [1] * 6, [1] * 5 + [0] * 3],
                   labels=[[-100, 17, 22, 9, 30, 1, 5, 8], [-100, -100, -100, 8, 39, 2, 2, 7], [-100, 6, 7, 8, 9, -100, -100, -100]],
                   task_types=[1, 0, 1]),
              seed=24, model_type="mistral")


if __name__ == "__main__":
    main()
