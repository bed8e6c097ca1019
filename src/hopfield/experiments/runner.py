"""One study runner: every ``hopfield study <name>`` goes through :func:`run_study`.

A study is described by a :class:`Study` (its name, a title, a ``compute`` function and
optionally its own command-line options). ``compute`` receives a :class:`StudyContext`
(parsed arguments, ``quick``, ``seed``, output folder and a progress bar factory) and
returns a :class:`StudyResult`: tables (plain row dictionaries), figures (bare
matplotlib figures from :func:`~hopfield.experiments.report.new_figure`), metadata and
notes. It writes nothing itself. The runner then writes the same files for every study:

* ``results.json`` — ``{"study", "title", "metadata", "rows", "tables"}``: ``rows`` is the
  first (main) table, ``tables`` maps every table's name to its rows;
* ``results.csv`` — the main table; every further table also as ``<table name>.csv``;
* ``summary.md`` — the title, every table as markdown, and the notes;
* one PNG per figure (at least one: a study without a figure is an error);
* ``index.html`` — a self-contained page showing the figures, the tables and the notes,
  linking every file above;

and prints ``summary.md`` followed by the list of files written.

Progress: ``context.progress(iterable, desc=...)`` wraps long loops in a ``tqdm`` bar on
stderr; it is off when stderr is not a terminal or with ``--no-progress``. Library
helpers that a study calls take an optional ``progress`` argument of the same shape
(:data:`Progress`, default :func:`no_progress`).

Adding a study: write ``experiments/study_<name>.py`` with a module-level ``STUDY =
Study(...)`` and register its module path in :data:`hopfield.experiments.studies.STUDIES`;
``tests/experiments/test_study_runner.py`` then runs it in ``--quick`` mode and checks the
file set.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from hopfield.experiments.report import (
    ReportSection,
    metrics_markdown,
    save_figure,
    write_index_html,
    write_metrics_csv,
    write_metrics_json,
)

__all__ = [
    "STANDARD_FILES",
    "Progress",
    "Study",
    "StudyContext",
    "StudyResult",
    "Table",
    "add_common_arguments",
    "default_out_dir",
    "no_progress",
    "run_study",
    "write_study_outputs",
]

T = TypeVar("T")
Row = Mapping[str, Any]

STANDARD_FILES: tuple[str, ...] = ("results.json", "results.csv", "summary.md", "index.html")
"""Files every study writes (besides its figures and the CSV of each further table)."""


class Progress(Protocol):
    """``progress(iterable, desc=..., total=...)`` yields the items of ``iterable``."""

    def __call__(
        self, iterable: Iterable[T], *, desc: str = "", total: int | None = None
    ) -> Iterable[T]: ...


def no_progress(iterable: Iterable[T], *, desc: str = "", total: int | None = None) -> Iterable[T]:
    """The silent :data:`Progress`: yields ``iterable`` unchanged."""
    del desc, total
    return iterable


@dataclass
class Table:
    """One table of a study: ``name`` is the CSV file stem (the first table is written as
    ``results.csv``), ``title`` its heading, ``rows`` one mapping per record."""

    name: str
    title: str
    rows: Sequence[Row]
    columns: Sequence[str] | None = None
    digits: int = 3
    note: str = ""


@dataclass
class StudyResult:
    """What ``Study.compute`` returns: tables (the first is the main one), figures
    ``{file name (.png): matplotlib Figure}``, JSON-able metadata and free-text notes."""

    tables: Sequence[Table]
    figures: Mapping[str, Any]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    notes: Sequence[str] = ()


@dataclass
class StudyContext:
    """What ``Study.compute`` receives: the parsed arguments and the common options."""

    args: argparse.Namespace
    out: Path
    quick: bool = False
    seed: int = 0
    show_progress: bool = True

    def progress(
        self, iterable: Iterable[T], *, desc: str = "", total: int | None = None
    ) -> Iterable[T]:
        """``iterable`` wrapped in a tqdm bar on stderr (off when stderr is not a TTY)."""
        if not self.show_progress:
            return iterable
        from tqdm.auto import tqdm

        # disable=None: tqdm turns itself off when stderr is not a terminal
        bar: Iterable[T] = tqdm(
            iterable, desc=desc, total=total, file=sys.stderr, leave=False, disable=None
        )
        return bar


@dataclass(frozen=True)
class Study:
    """A ``hopfield study`` entry: ``compute(context) -> StudyResult`` plus its options.

    ``title`` heads ``summary.md`` and ``index.html``; ``add_arguments(parser)`` adds the
    study's own flags besides the common ``--quick``, ``--out``, ``--seed``,
    ``--no-progress``.
    """

    name: str
    title: str
    compute: Callable[[StudyContext], StudyResult]
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None


def _csv_name(table: Table, index: int) -> str:
    if index == 0:
        return "results.csv"
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", table.name) or table.name == "results":
        raise ValueError(f"table name {table.name!r} is not a plain, unique file stem")
    return f"{table.name}.csv"


def summary_markdown(title: str, result: StudyResult) -> str:
    """``summary.md``: the title, each table (with its note) and the notes."""
    parts = [f"# {title}", ""]
    for table in result.tables:
        parts += [
            f"## {table.title}",
            "",
            metrics_markdown(table.rows, table.columns, digits=table.digits),
            "",
        ]
        if table.note:
            parts += [table.note, ""]
    parts += [note for text in result.notes for note in (text, "")]
    return "\n".join(parts)


def write_study_outputs(
    out: Path, study: Study, result: StudyResult, *, metadata: Mapping[str, Any] | None = None
) -> tuple[str, list[Path]]:
    """Write the standard files of ``result`` into ``out``; return (summary, paths)."""
    if not result.tables or not result.tables[0].rows:
        raise ValueError(f"study {study.name!r} returned no table rows")
    if not result.figures:
        raise ValueError(f"study {study.name!r} returned no figure")
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for name, figure in result.figures.items():
        if not name.endswith(".png") or "/" in name or name in STANDARD_FILES:
            raise ValueError(f"figure name {name!r} must be a plain '<name>.png'")
        paths.append(save_figure(figure, out / name))
    csv_names = [_csv_name(t, i) for i, t in enumerate(result.tables)]
    if len(set(csv_names)) != len(csv_names):
        raise ValueError(f"table names repeat: {csv_names}")
    for table, csv_name in zip(result.tables, csv_names, strict=True):
        paths.append(write_metrics_csv(out / csv_name, table.rows, table.columns))
    info = {"study": study.name, "title": study.title, **dict(metadata or {})}
    json_path = write_metrics_json(
        out / "results.json",
        result.tables[0].rows,
        metadata={**info, **result.metadata},
        tables={t.name: t.rows for t in result.tables},
    )
    summary = summary_markdown(study.title, result)
    summary_path = out / "summary.md"
    summary_path.write_text(summary + "\n", encoding="utf-8")
    paths += [json_path, summary_path]
    sections = [ReportSection(title="Figures", images=list(result.figures))]
    sections += [
        ReportSection(
            title=t.title, text=t.note, table=list(t.rows), columns=t.columns, links=[csv_name]
        )
        for t, csv_name in zip(result.tables, csv_names, strict=True)
    ]
    sections.append(
        ReportSection(
            title="Notes and files",
            text=" ".join(result.notes),
            links=["summary.md", "results.json"],
        )
    )
    paths.append(write_index_html(out, study.title, sections))
    return summary, paths


def add_common_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """``--quick``, ``--out`` (default ``runs/study-<name>``), ``--seed``, ``--no-progress``."""
    from hopfield.experiments.cli_types import output_dir, seed

    parser.add_argument("--quick", action="store_true", help="small, fast version of the study")
    parser.add_argument(
        "--out", type=output_dir, default=default_out_dir(name), help="output folder"
    )
    parser.add_argument("--seed", type=seed, default=0, help="base random seed")
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (it is also off when stderr is not a terminal)",
    )


def default_out_dir(name: str) -> Path:
    """``runs/study-<name>``, relative to the working directory."""
    return Path("runs") / f"study-{name}"


def run_study(study: Study, args: argparse.Namespace) -> int:
    """Compute ``study`` for ``args``, write its files into ``args.out``, print the table."""
    out = Path(args.out)
    context = StudyContext(
        args=args,
        out=out,
        quick=bool(getattr(args, "quick", False)),
        seed=int(getattr(args, "seed", 0)),
        show_progress=not bool(getattr(args, "no_progress", False)),
    )
    result = study.compute(context)
    summary, paths = write_study_outputs(
        out, study, result, metadata={"seed": context.seed, "quick": context.quick}
    )
    print(summary)
    print(f"wrote {out}: " + ", ".join(p.name for p in paths))
    return 0
