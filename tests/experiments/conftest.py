"""Shared fixtures of the app-layer tests: each quick study runs once per session."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
import torch


class StudyRun(NamedTuple):
    """Exit code, output folder and printed text of one ``hopfield study`` run."""

    code: int
    out: Path
    stdout: str


QuickStudy = Callable[..., StudyRun]


@pytest.fixture(scope="session")
def quick_study(tmp_path_factory: pytest.TempPathFactory) -> QuickStudy:
    """``quick_study(name, *flags)`` runs ``hopfield study name --quick *flags`` once per
    session (in-process, seeded, no progress bar) and returns its :class:`StudyRun`; the
    file-set test and each study's own assertions share that run."""
    cache: dict[tuple[str, ...], StudyRun] = {}

    def run(name: str, *flags: str) -> StudyRun:
        from hopfield.cli import main

        key = (name, *flags)
        if key not in cache:
            out = tmp_path_factory.mktemp(f"study-{name}")
            text = io.StringIO()
            torch.manual_seed(0)
            with contextlib.redirect_stdout(text):
                code = main(["study", name, "--quick", "--no-progress", "--out", str(out), *flags])
            cache[key] = StudyRun(code, out, text.getvalue())
        return cache[key]

    return run
