"""Every Python code block of the migration guides runs (in order, one namespace per page)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
GUIDES = ["migration-hopfield-layers.md", "migration-hamux.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _blocks(name: str) -> list[str]:
    return BLOCK.findall((DOCS / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", GUIDES)
def test_every_code_block_of_the_guide_runs(name: str) -> None:
    blocks = _blocks(name)
    assert len(blocks) >= 4, f"{name}: expected worked examples, found {len(blocks)} blocks"
    namespace: dict[str, object] = {"__name__": f"docs.{name}"}
    for index, block in enumerate(blocks):
        try:
            exec(compile(block, f"{name}[block {index}]", "exec"), namespace)
        except Exception as error:  # name the failing block
            raise AssertionError(f"{name}, code block {index} failed: {error!r}") from error
