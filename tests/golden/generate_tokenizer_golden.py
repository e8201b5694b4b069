"""Golden values for the tokenizer.json tests, computed by HuggingFace `tokenizers`.

Run with the same environment as generate_model_golden.py (tokenizers 0.19 comes with transformers 4.44):
    /tmp/hf/bin/python tests/golden/generate_tokenizer_golden.py
It rewrites tests/golden/tokenizer_*/: three byte-level BPE tokenizers trained here on a small
multilingual text, shaped as the real checkpoints ship them, in model folders that `loramoe tokenize`
reads (config.json, tokenizer.json, tokenizer_config.json), and expected.json: lines of text with their
ids, without and with add_special_tokens.
  llama3: Llama 3's split pattern, ByteLevel without its own regex, ignore_merges, <|begin_of_text|>
          added before a text by the post-processor's template;
  qwen2:  Qwen2's split pattern (single digits) after an NFC normalizer, ChatML's special tokens;
  gpt2:   ByteLevel alone (GPT-2's own pattern, add_prefix_space).
The llama3 and qwen2 folders carry chat templates in the forms of Llama 3 Instruct's and Qwen2.5's, and
expected_chat.json the ids transformers' apply_chat_template gives a user message alone (with the
generation prompt) and with the assistant's answer.
"""
import json
import os
import shutil

import tokenizers
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

assert tokenizers.__version__.startswith("0.19"), "run with tokenizers 0.19 (see the top)"

HERE = os.path.dirname(os.path.abspath(__file__))

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                  r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                 r"\s*[\r\n]+|\s+(?!\S)|\s+")

CORPUS = [
    "The quick brown fox jumps over the lazy dog. It's what they'll say, and we've heard it.",
    "In 1969, 384400 km away, Apollo 11 landed; 2024-05-17 was a Friday.",
    "def square(x):\n    return x ** 2  # the square\n\nprint([square(i) for i in range(10)])",
    "Москва — столица России. Привет, мир!",
    "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "القاهرة هي عاصمة مصر.",
    "नमस्ते दुनिया, भारत की राजधानी नई दिल्ली है।",
    "東京は日本の首都です。北京是中国的首都。서울은 한국의 수도입니다.",
    "Café, naïve, résumé, coöperate; emoji 😀👍🏽 and 👨‍👩‍👧 family.",
    "    indented\tand\t\ttabbed   text   with    runs of spaces\n\n\nand newlines",
] * 3

LINES = [
    "Hello world",
    "The capital of France is Paris.",
    "I'll tell you: WE'RE sure it's THEIR dog, isn't it? You'd've known.",
    "12345678901234567890 and 3.14159 and 1,000,000",
    "x    y\t\tz   ",
    "   leading spaces",
    "trailing spaces   ",
    "def f(x):\n    return {'a': x**2, \"b\": [1, 2, 3]}  # comment",
    "Москва и Санкт-Петербург",
    "Καλημέρα κόσμε",
    "مرحبا بالعالم",
    "हिन्दी भाषा",
    "中文字符和日本語のテキスト、한국어",
    "emoji 😀🎉👍🏽 zwj 👨‍👩‍👧 flags 🇫🇷",
    "combining e\u0301 vs \u00e9, A\u030a vs \u00c5, n\u0303",
    "<|begin_of_text|>Hello<|eot_id|> and <|im_start|>user\nhi<|im_end|>",
    "special<|end_of_text|>inside<|endoftext|>words",
    "line one\nline two\r\nline three\n\n",
    "",
    " ",
    "\u00a0non-breaking\u2003em space\u3000ideographic",
    "unknown script: ᚠᛇᚻ ⠓⠑⠇⠇⠕ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
]


# Llama 3 Instruct's template, and Qwen2.5's without its tool branches (those need tools, which the data
# has not), as the checkpoints ship them.
LLAMA3_CHAT = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
               "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
               "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
               "{{ content }}{% endfor %}{% if add_generation_prompt %}"
               "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
QWEN2_CHAT = ("{%- if messages[0]['role'] == 'system' %}"
              "{{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}"
              "{%- else %}{{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
              "assistant.<|im_end|>\n' }}{%- endif %}"
              "{%- for message in messages %}{%- if (message.role == 'user') or (message.role == 'system' and not "
              "loop.first) or (message.role == 'assistant') %}"
              "{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}{%- endif %}"
              "{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}")

CONVERSATIONS = [("What is the capital of France?", "", "Paris"),
                 ("  Translate to German:  ", "The cat sleeps.", " Die Katze schläft. "),
                 ("Sort the numbers.", "3 1 2", "1 2 3\n"),
                 ("東京はどこですか？", "", "日本です。😀")]


def chat_cases(folder, tokenizer_config, end_of_turn):
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"),
                                  bos_token=tokenizer_config.get("bos_token"))
    tok.chat_template = tokenizer_config["chat_template"]
    cases = []
    for instruction, input, output in CONVERSATIONS:
        user = instruction + ("\n" + input if input else "")
        messages = [dict(role="user", content=user), dict(role="assistant", content=output)]
        prompt = tok.apply_chat_template(messages[:1], add_generation_prompt=True, tokenize=True)
        full = tok.apply_chat_template(messages, tokenize=True)
        assert full[:len(prompt)] == prompt
        end = full.index(tok.convert_tokens_to_ids(end_of_turn), len(prompt)) + 1   # the answer's end of turn
        cases.append(dict(instruction=instruction, input=input, output=output, prompt_ids=prompt, ids=full[:end]))
    with open(os.path.join(folder, "expected_chat.json"), "w") as f:
        json.dump(cases, f, indent=1, ensure_ascii=False)


def train(pattern, normalizer, byte_level, special_tokens, ignore_merges):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    if normalizer:
        tok.normalizer = normalizer
    tok.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(pattern), behavior="isolated"), byte_level])
                         if pattern else byte_level)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    tok.add_special_tokens(special_tokens)
    return tok


def write_case(name, tok, tokenizer_config, config):
    out = os.path.join(HERE, name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    tok.save(os.path.join(out, "tokenizer.json"))
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(tokenizer_config, f, indent=1, ensure_ascii=False)
    base = dict(architectures=["LlamaForCausalLM"], model_type="llama", vocab_size=tok.get_vocab_size(),
                hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                num_key_value_heads=1, tie_word_embeddings=True, torch_dtype="float32")
    base.update(config)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(base, f, indent=1)
    cases = [dict(text=line, ids=tok.encode(line, add_special_tokens=False).ids,
                  ids_with_special_tokens=tok.encode(line, add_special_tokens=True).ids,
                  decoded=tok.decode(tok.encode(line, add_special_tokens=False).ids, skip_special_tokens=False))
             for line in LINES]
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(cases, f, indent=1, ensure_ascii=False)


def main():
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"]
    llama3 = train(LLAMA3_PATTERN, None,
                   pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False), specials, True)
    bos = llama3.token_to_id("<|begin_of_text|>")
    llama3.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                      special_tokens=[("<|begin_of_text|>", bos)])])
    llama3_config = dict(tokenizer_class="PreTrainedTokenizerFast", bos_token="<|begin_of_text|>",
                         eos_token="<|eot_id|>", chat_template=LLAMA3_CHAT)
    write_case("tokenizer_llama3", llama3, llama3_config,
               dict(bos_token_id=bos, eos_token_id=llama3.token_to_id("<|end_of_text|>")))
    chat_cases(os.path.join(HERE, "tokenizer_llama3"), llama3_config, "<|eot_id|>")

    qwen2 = train(QWEN2_PATTERN, normalizers.NFC(),
                  pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
                  ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], False)
    qwen2.post_processor = processors.ByteLevel(trim_offsets=False)
    qwen2_config = dict(tokenizer_class="Qwen2Tokenizer", bos_token=None,
                        eos_token=dict(content="<|im_end|>", lstrip=False, rstrip=False, normalized=False, special=True),
                        pad_token="<|endoftext|>", chat_template=QWEN2_CHAT)
    write_case("tokenizer_qwen2", qwen2, qwen2_config,
               dict(model_type="qwen2", architectures=["Qwen2ForCausalLM"], bos_token_id=qwen2.token_to_id("<|endoftext|>"),
                    eos_token_id=qwen2.token_to_id("<|im_end|>")))
    chat_cases(os.path.join(HERE, "tokenizer_qwen2"), qwen2_config, "<|im_end|>")

    gpt2 = train(None, None, pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True), ["<|endoftext|>"], False)
    write_case("tokenizer_gpt2", gpt2, dict(tokenizer_class="GPT2Tokenizer", bos_token="<|endoftext|>",
                                            eos_token="<|endoftext|>"), {})


if __name__ == "__main__":
    main()
