"""The README's Python examples run as written, and its commands exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hopfield.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_python_examples_run() -> None:
    blocks = _blocks("python")
    assert blocks, "README has no python example"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})


def _ham_block() -> str:
    (block,) = [b for b in _blocks("python") if "DenseMemorySynapse.from_memories" in b]
    return block


def test_readme_ham_example_recalls_and_its_comment_holds() -> None:
    """The block asserts recall at β = 40; at β = 4 the state settles in a mixture."""
    block = _ham_block()
    assert "beta=40.0" in block
    assert 'run.states["image"].sign() == patterns[:8]).all()' in block
    recall_check = block.index('assert (run.states["image"]')
    namespace: dict[str, Any] = {}
    weak_beta = block[:recall_check].replace("beta=40.0", "beta=4.0")
    exec(compile(weak_beta, "README", "exec"), namespace)
    matched = (namespace["run"].states["image"].sign() == namespace["patterns"][:8]).float()
    assert round(matched.mean().item(), 2) == 0.61  # the comment's "61 % of signs right"


def test_readme_commands_are_cli_commands() -> None:
    parser = build_parser()
    known = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    used = {
        line.split()[1]
        for block in _blocks("bash")
        for line in block.splitlines()
        if line.startswith("hopfield ") and not line.split()[1].startswith("-")
    }
    assert used and used <= known, f"README uses unknown commands: {sorted(used - known)}"


def test_readme_studies_are_registered() -> None:
    from hopfield.experiments.studies import STUDIES

    listed = re.search(r"Studies \(each.*?\n\n", README.read_text(), flags=re.DOTALL)
    assert listed is not None
    names = set(re.findall(r"`([a-z-]+)`", listed.group(0))) - {"runs"}
    assert names == set(STUDIES), f"README and STUDIES differ: {names ^ set(STUDIES)}"
