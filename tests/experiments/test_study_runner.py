"""The one study runner: every study in ``--quick`` mode writes the same file set."""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest

from hopfield.experiments.report import new_figure
from hopfield.experiments.runner import (
    STANDARD_FILES,
    Study,
    StudyContext,
    StudyResult,
    Table,
    no_progress,
    run_study,
    write_study_outputs,
)
from hopfield.experiments.studies import STUDIES, load_study

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("HOPFIELD_DATA", REPO.parent / "shared" / "data"))
# flags that keep a quick study small where its own quick mode is long for the fast tier
# (the same flags as the study's own test, so that both share one run)
SMALLER = {
    "gam": ("--steps", "12"),
    "et-vs-mae": ("--data-root", str(DATA), "--datasets", "mnist", "--steps", "6", "--seeds", "1"),
}
NEEDS_DATA = {"et-vs-mae": DATA / "mnist"}


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_every_quick_study_writes_the_standard_files(name: str, quick_study: Any) -> None:
    if name in NEEDS_DATA and not NEEDS_DATA[name].is_dir():
        pytest.skip(f"{name} reads local files; none under {NEEDS_DATA[name]}")
    run = quick_study(name, *SMALLER.get(name, ()))
    assert run.code == 0
    files = {p.name for p in run.out.iterdir()}
    assert set(STANDARD_FILES) <= files
    figures = sorted(run.out.glob("*.png"))
    assert figures and all(p.stat().st_size > 1000 for p in figures)
    page = (run.out / "index.html").read_text()
    for path in [*figures, run.out / "results.csv", run.out / "summary.md"]:
        assert f'"{path.name}"' in page, path.name
    payload = json.loads((run.out / "results.json").read_text())
    assert payload["metadata"]["study"] == name and payload["metadata"]["quick"] is True
    with (run.out / "results.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == len(payload["rows"]) > 0
    for table in payload["tables"]:
        assert table == next(iter(payload["tables"])) or (run.out / f"{table}.csv").is_file()
    summary = (run.out / "summary.md").read_text()
    assert summary.startswith(f"# {load_study(name).title}")
    # the printed table is the summary, followed by the list of files
    assert summary.strip() in run.stdout and "wrote " in run.stdout


def _tiny_study(figures: bool = True, table_name: str = "main") -> Study:
    def compute(context: StudyContext) -> StudyResult:
        rows = [{"x": i, "y": i * i} for i in context.progress(range(3), desc="t")]
        fig = new_figure((2, 2))
        fig.subplots().plot([r["x"] for r in rows], [r["y"] for r in rows])
        return StudyResult(
            tables=[Table("main", "Main", rows), Table(table_name, "Second", rows[:1])],
            figures={"plot.png": fig} if figures else {},
            metadata={"note": float("nan")},
            notes=["a note"],
        )

    return Study("tiny", "Tiny study", compute)


def test_run_study_writes_tables_figure_json_and_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(out=tmp_path, quick=True, seed=3, no_progress=True)
    assert run_study(_tiny_study(table_name="second"), args) == 0
    assert {p.name for p in tmp_path.iterdir()} == {*STANDARD_FILES, "plot.png", "second.csv"}
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["metadata"]["note"] is None and payload["metadata"]["seed"] == 3
    assert payload["rows"] == [{"x": 0, "y": 0}, {"x": 1, "y": 1}, {"x": 2, "y": 4}]
    assert payload["tables"]["second"] == [{"x": 0, "y": 0}]
    out = capsys.readouterr().out
    assert "| x | y |" in out and "a note" in out and "plot.png" in out


def test_runner_rejects_a_study_without_figure_or_with_clashing_names(tmp_path: Path) -> None:
    context = StudyContext(args=argparse.Namespace(), out=tmp_path, show_progress=False)
    with pytest.raises(ValueError, match="no figure"):
        write_study_outputs(
            tmp_path, _tiny_study(figures=False), _tiny_study(False).compute(context)
        )
    study = _tiny_study(table_name="results")
    with pytest.raises(ValueError, match="file stem"):
        write_study_outputs(tmp_path, study, study.compute(context))


def test_progress_is_off_without_a_terminal_or_with_the_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    items = [1, 2, 3]
    off = StudyContext(args=argparse.Namespace(), out=Path("."), show_progress=False)
    assert off.progress(items, desc="x") is items
    assert list(no_progress(items, desc="x")) == items
    on = StudyContext(args=argparse.Namespace(), out=Path("."), show_progress=True)
    assert list(on.progress(items, desc="x")) == items  # stderr is captured: no TTY
    assert capsys.readouterr().err == ""
