#!/usr/bin/env python3
"""Runs every ```python block of docs/tutorial.md, in order, in one namespace, as a reader would.

Each block computes a backward by hand and compares it with autograd, so a block that raises is a
backward the tutorial states wrongly. Exits 77 (ctest's skip) when PyTorch is not installed.

    /usr/bin/python3 tests/docs/check_tutorial.py [docs/tutorial.md]
"""
import pathlib
import re
import sys
import traceback

try:
    import torch  # noqa: F401  (the blocks import it themselves)
except ImportError:
    print("check_tutorial: PyTorch is not installed for this Python; skipped")
    sys.exit(77)

path = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parents[2] / "docs/tutorial.md")
text = path.read_text(encoding="utf-8")
# (line of the block's first statement, the heading above it, its code)
blocks = [(text.count("\n", 0, m.start()) + 2, re.findall(r"^#+ (.*)$", text[:m.start()], re.M)[-1], m.group(1))
          for m in re.finditer(r"^```python\n(.*?)^```$", text, re.S | re.M)]
if not blocks:
    sys.exit(f"check_tutorial: {path} has no python block")

namespace = {"__name__": "tutorial"}
for line, heading, code in blocks:
    try:
        exec(compile(code, f"{path.name}:{line}", "exec"), namespace)
    except Exception:
        traceback.print_exc()
        sys.exit(f"check_tutorial: the block at {path.name}:{line} ({heading}) failed")
    print(f"ok  {path.name}:{line}  {heading}")
print(f"check_tutorial: all {len(blocks)} blocks agree with autograd")
