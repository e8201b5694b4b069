"""Instruction examples of an exact length in byte tokens, for the benchmarks' random models
(bench/make_train_case.py, bench/make_scaled_checkpoint.py): ASCII words, so that a byte is a token."""
import random

WORDS = ("the of and to in is was for on that with as by at from his her are were which this be an or had "
         "river mountain city capital language century king queen war treaty planet element music paint "
         "north south east west ancient modern small large first last number answer question list sort "
         "count reverse name year country ocean island forest bridge library museum school garden").split()


def text_of(rng, length):
    """ASCII words, exactly `length` bytes, not starting or ending with a space."""
    words = []
    while sum(len(w) + 1 for w in words) < length + 1:
        words.append(rng.choice(WORDS))
    text = " ".join(words)[:length]
    return text if not text.endswith(" ") else text[:-1] + "s"


def examples(count, length, seed, alternate_tasks=False):
    """`count` examples of exactly `length` tokens under the byte tokenizer and the plain template (BOS +
    instruction, then output + EOS), the prompt 1/8 to 1/2 of each; task_type drawn at random, or 0 and 1
    in turn with `alternate_tasks`."""
    rng = random.Random(seed)
    body = length - 2  # BOS and EOS
    for i in range(count):
        prompt = rng.randint(max(1, body // 8), body // 2)
        yield {"instruction": text_of(rng, prompt), "input": "", "output": text_of(rng, body - prompt),
               "task_type": i % 2 if alternate_tasks else rng.randint(0, 1)}
