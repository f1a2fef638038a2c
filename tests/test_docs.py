"""The README's example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```")[1]
    assert "make benchmark" in first_block and "make test" in first_block


def test_readme_python_example_runs(capsys):
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python example"
    assert len(blocks[0].strip().splitlines()) <= 6
    exec(compile(blocks[0], "README.md", "exec"), {})
    assert "purchase" in capsys.readouterr().out
