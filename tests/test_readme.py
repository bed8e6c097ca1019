"""The README's Python examples run as written, and its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from hopfield.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_python_examples_run() -> None:
    blocks = _blocks("python")
    assert blocks, "README has no python example"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})


def test_readme_commands_are_cli_commands() -> None:
    parser = build_parser()
    known = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    used = {
        line.split()[1]
        for block in _blocks("bash")
        for line in block.splitlines()
        if line.startswith("hopfield ")
    }
    assert used and used <= known, f"README uses unknown commands: {sorted(used - known)}"


def test_readme_studies_are_registered() -> None:
    from hopfield.experiments.studies import STUDIES

    listed = re.search(r"Studies \(each.*?\n\n", README.read_text(), flags=re.DOTALL)
    assert listed is not None
    names = set(re.findall(r"`([a-z-]+)`", listed.group(0))) - {"runs"}
    assert names == set(STUDIES), f"README and STUDIES differ: {names ^ set(STUDIES)}"
